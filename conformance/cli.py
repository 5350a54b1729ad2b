"""`h1check`: list the catalogue, write the document root, and run the suite against a server.

Exit status of `run`: 0 when every deciding scenario passed, 1 when any failed, 2 when nothing
was checked — bad input, a server that could not start, or an empty selection. Mistakes in the
input get one line naming the problem, never a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from conformance import __version__, baseline
from conformance.docroot import docroot_files, write_docroot
from conformance.engine import run
from conformance.explain import explain_scenario
from conformance.grade.command import add_grade_parser, grade_command
from conformance.grade.exporters import ExportError, add_exporter_parsers, exporter_command
from conformance.grade.rubric import RubricError
from conformance.grade.submissions import SubmissionsError
from conformance.properties.replay import script_name, write_script
from conformance.report import (
    EXIT_FAILED,
    EXIT_GREEN,
    EXIT_UNCHECKED,
    RunReport,
    catalogue,
    exit_status,
)
from conformance.report.formats import FILE_FORMATS
from conformance.report.terminal import one_line_summary, render_run, use_color
from conformance.reproduce import DEFAULT_LEVELS, Reproducer
from conformance.scenarios import CatalogueError, Scenario, SelectionError, load_catalogue
from conformance.scenarios import select as select_scenarios
from conformance.settings import Settings
from conformance.target import LaunchedTarget, ReferenceTarget, RunningTarget, Target, TargetError
from conformance.verdicts import UNJUDGED, Outcome, Verdict

REPORT_NAMES = {"json": "JSON", "junit": "JUnit", "html": "HTML"}


class UsageError(Exception):
    """The command line asks for something impossible; the message is one line."""


class Parser(argparse.ArgumentParser):
    """An argument parser that raises instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        """Turn argparse's complaint into a UsageError."""
        raise UsageError(message)


def build_parser() -> Parser:
    """The `h1check` command line."""
    parser = Parser(prog="h1check", description="HTTP/1.1 conformance suite for web servers.")
    parser.add_argument("--version", action="version", version=f"h1check {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    listing = commands.add_parser("list", help="print the scenario catalogue")
    listing.add_argument("--markdown", action="store_true", help="print docs/SCENARIOS.md")
    docroot = commands.add_parser("docroot", help="write the suite's document root to DEST")
    docroot.add_argument("dest", type=Path, metavar="DEST")
    explain = commands.add_parser(
        "explain", help="print a scenario's steps, its RFC paragraph in context, and its hint"
    )
    explain.add_argument("scenario_id", metavar="ID")
    run_parser = commands.add_parser(
        "run",
        help="check a server",
        usage=RUN_USAGE,
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_parser(run_parser)
    add_grade_parser(commands)
    add_exporter_parsers(commands)
    return parser


RUN_USAGE = (
    "h1check run [options] (--target HOST:PORT [--root DIR] | --reference BACKEND|all"
    " | -- COMMAND [ARGS...])"
)
RUN_EPILOG = """examples:
  h1check run -- python server.py {port}       launch a server; {port} and {root} are filled
                                               in, $PORT and $DOCROOT set, cwd holds ./html
  h1check run --port 8080 -- python server.py  a server whose port is fixed
  h1check run --target 127.0.0.1:8080          a server already running (serving the files
                                               `h1check docroot DIR` writes)
  h1check run --reference all                  the bundled reference server, every backend

levels: MUST, SHOULD and MAY are the RFC's keywords; POLICY is h1check's robustness policy
(what a server must survive although the RFC text has no keyword for it). MUST and POLICY
failures decide the exit status, SHOULD ones only with --strict, MAY ones never.

exit status: 0 every deciding scenario passed, 1 one did not, 2 nothing was decided
"""


def add_run_parser(run_parser: argparse.ArgumentParser) -> None:
    """Options of `h1check run`; the server command itself follows `--`."""
    select = run_parser.add_argument_group("selection")
    select.add_argument(
        "--category", action="extend", type=comma_list, metavar="C[,C...]", help="categories"
    )
    select.add_argument(
        "--id", action="extend", type=comma_list, metavar="GLOB", dest="id_globs", help="id globs"
    )
    select.add_argument(
        "--level",
        type=comma_list,
        metavar="L[,L...]",
        help="levels to run among MUST,POLICY,SHOULD,MAY (default MUST,POLICY,SHOULD)",
    )
    select.add_argument("--strict", action="store_true", help="SHOULD failures fail the run too")
    run_parser.add_argument(
        "--timeout", type=positive_seconds, metavar="S", help="seconds to wait per response"
    )
    run_parser.add_argument(
        "--verbose", action="store_true", help="explain every failure in full, whole transcripts"
    )
    files = run_parser.add_argument_group(
        "report files (with several backends, FILE.NAME.EXT per backend)"
    )
    files.add_argument("--json", type=Path, metavar="FILE", help="write the JSON report")
    files.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report")
    files.add_argument("--html", type=Path, metavar="FILE", help="write a self-contained HTML page")
    recorded = run_parser.add_argument_group(
        "baselines (FILE may contain {backend}, filled in per reference backend)"
    )
    recorded.add_argument(
        "--baseline",
        metavar="FILE",
        help="exit 1 when any outcome differs from FILE's (pass vs not pass), else 0",
    )
    recorded.add_argument("--write-baseline", metavar="FILE", help="record the outcomes in FILE")
    run_parser.add_argument("--port", type=port_number, help="port the launched server uses")
    generated = run_parser.add_argument_group("property layer (generated requests)")
    generated.add_argument(
        "--deep", action="store_true", help="many examples per property (CI soak runs, fuzzing)"
    )
    generated.add_argument(
        "--seed", type=int, default=0, metavar="N", help="where the generated examples start (0)"
    )
    generated.add_argument(
        "--replay-dir",
        type=Path,
        metavar="DIR",
        help="where failing properties' replay scripts go (default: beside the first report"
        " file, else ./h1check-replay)",
    )
    where = run_parser.add_argument_group("server (exactly one)")
    where.add_argument("--target", type=host_port, metavar="HOST:PORT", help="a running server")
    where.add_argument("--root", type=Path, metavar="DIR", help="document root of --target")
    where.add_argument(
        "--reference", metavar="BACKEND[,...]", help="reference server backends, or all"
    )


def comma_list(text: str) -> list[str]:
    """Split 'a,b' into ['a', 'b'] so options may be repeated or comma-joined."""
    return [part.strip() for part in text.split(",") if part.strip()]


def positive_seconds(text: str) -> float:
    """Parse a timeout in seconds."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < seconds <= 600:
        raise argparse.ArgumentTypeError(f"timeout must be between 0 and 600 s: {text}")
    return seconds


def port_number(text: str) -> int:
    """Parse a TCP port."""
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text!r}")
    return int(text)


def host_port(text: str) -> tuple[str, int]:
    """Parse HOST:PORT, with [::1]:PORT for IPv6."""
    host, _, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, port_number(port)


def main(argv: Sequence[str] | None = None) -> int:
    """Run `h1check` and return its exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    command: list[str] = []
    if "--" in arguments:
        split = arguments.index("--")
        arguments, command = arguments[:split], arguments[split + 1 :]
    try:
        options = build_parser().parse_args(arguments)
        if options.command == "run":
            return run_command(options, command)
        if command:
            raise UsageError(f"a server command after '--' goes with 'run', not {options.command}")
        handlers: dict[str, Callable[[argparse.Namespace], int]] = {
            "list": list_command,
            "docroot": docroot_command,
            "explain": explain_command,
            "grade": grade_command,
            "gradescope-setup": exporter_command,
            "github-classroom": exporter_command,
        }
        return handlers[options.command](options)
    except (
        UsageError,
        CatalogueError,
        SelectionError,
        TargetError,
        baseline.BaselineError,
        SubmissionsError,
        RubricError,
        ExportError,
    ) as error:
        print(f"h1check: error: {error}", file=sys.stderr)
        return EXIT_UNCHECKED
    except KeyboardInterrupt:
        print("h1check: interrupted", file=sys.stderr)
        return 130


def list_command(options: argparse.Namespace) -> int:
    """Print the catalogue as a table, or as the markdown of docs/SCENARIOS.md."""
    render = catalogue.markdown if options.markdown else catalogue.table
    sys.stdout.write(render(load_catalogue()))
    return 0


def explain_command(options: argparse.Namespace) -> int:
    """Print one scenario explained; an unknown id names the closest ones."""
    scenarios = {scenario.id: scenario for scenario in load_catalogue()}
    scenario = scenarios.get(options.scenario_id)
    if scenario is None:
        close = difflib.get_close_matches(options.scenario_id, scenarios, n=3)
        known = f" (did you mean {', '.join(close)}?)" if close else " (see `h1check list`)"
        raise UsageError(f"no scenario {options.scenario_id!r}{known}")
    sys.stdout.write(explain_scenario(scenario))
    return 0


def docroot_command(options: argparse.Namespace) -> int:
    """Write the document root and the canary, and say how to point a server at them."""
    root, canary = write_docroot(options.dest)
    print(f"document root: {root}")
    print(f"canary:        {canary} (outside the root: no response may ever contain it)")
    print(f"serve {root} as the root, then: h1check run --target HOST:PORT --root {root}")
    return 0


def run_command(options: argparse.Namespace, command: list[str]) -> int:
    """Check each chosen server with the selected scenarios; return the worst exit status."""
    settings = Settings(deep=options.deep, seed=options.seed)
    if options.timeout is not None:
        settings.response_timeout = options.timeout
    targets = choose_targets(options, command, settings)
    reproduce = {name: reproduce_command(options, command, name) for name in targets}
    scenarios = select_scenarios(
        load_catalogue(),
        categories=options.category,
        id_globs=options.id_globs,
        levels=options.level or DEFAULT_LEVELS,
    )
    if not scenarios:
        raise UsageError("nothing selected: no scenario matches every --category/--id/--level")
    for name in FILE_FORMATS:
        path = getattr(options, name)
        if path is not None and not path.parent.is_dir():
            raise UsageError(f"cannot write {path}: {path.parent} is not a directory")
    several = len(targets) > 1
    if options.baseline and options.write_baseline:
        raise UsageError("--baseline compares and --write-baseline records: use one")
    for pattern in (options.baseline, options.write_baseline):
        if pattern and several and "{backend}" not in pattern:
            raise UsageError(f"{pattern}: several backends need {{backend}} in the file name")
    statuses, summaries = [], []
    for name, target in targets.items():
        try:
            files = {
                kind: report_path(getattr(options, kind), name, several) for kind in FILE_FORMATS
            }
            verdicts = check(target, scenarios, settings, options, files, reproduce[name])
        except TargetError as error:
            if not several:
                raise
            print(f"h1check: error: {target.description}: {error}", file=sys.stderr)
            statuses.append(EXIT_UNCHECKED)
            summaries.append(f"{name:<12} NOT CHECKED: the server did not start")
            continue
        if options.baseline or options.write_baseline:
            status, summary = apply_baseline(options, name, target, verdicts)
        else:
            status = exit_status(verdicts, options.strict)
            summary = one_line_summary(verdicts, options.strict)
        statuses.append(status)
        summaries.append(f"{name:<12} {summary}")
    if several:
        print("\n" + "\n".join(summaries))
    return max(statuses)


def choose_targets(
    options: argparse.Namespace, command: list[str], settings: Settings
) -> dict[str, Target]:
    """The server(s) the options name, keyed by a short name; exactly one way must be used."""
    chosen = [bool(options.target), bool(options.reference), bool(command)]
    if sum(chosen) != 1:
        raise UsageError(
            "name exactly one server: --target HOST:PORT, --reference BACKEND|all, or -- COMMAND"
        )
    if options.root and not options.target:
        raise UsageError("--root only goes with --target (a launched server gets its own copy)")
    if options.port and options.target:
        raise UsageError("--port is for a launched server; --target already names the port")
    if options.root:
        require_suite_docroot(options.root)
    if options.target:
        host, port = options.target
        probe_timeout = settings.response_timeout
        return {"target": RunningTarget(host, port, options.root, probe_timeout=probe_timeout)}
    if command:
        return {"server": LaunchedTarget(command, port=options.port)}
    backends = reference_backends()
    names = list(backends) if options.reference == "all" else comma_list(options.reference)
    unknown = [name for name in names if name not in backends]
    if unknown:
        raise UsageError(f"unknown backend {unknown[0]!r} (known: {', '.join(backends)}, all)")
    if options.port and len(names) > 1:
        raise UsageError("--port needs a single backend: the backends run one after another")
    return {name: ReferenceTarget(name, port=options.port) for name in names}


def require_suite_docroot(root: Path) -> None:
    """Refuse a --root that does not hold the suite's document root, before any scenario runs.

    Every body is compared with the files under --root, so a wrong directory would otherwise
    turn most scenarios into harness errors.
    """
    if not root.is_dir():
        raise UsageError(f"--root {root} is not a directory")
    for name, content in docroot_files().items():
        try:
            matches = (root / name).read_bytes() == content
        except OSError:
            matches = False
        if not matches:
            raise UsageError(
                f"--root {root} is not the suite's document root ({name} is missing or differs):"
                f" write one with `h1check docroot DIR`, serve DIR/html, and pass --root DIR/html"
            )


def apply_baseline(
    options: argparse.Namespace, name: str, target: Target, verdicts: list[Verdict]
) -> tuple[int, str]:
    """Record or compare a run's outcomes; the exit status and a one-line summary."""
    pattern = options.write_baseline or options.baseline
    scorecard = one_line_summary(verdicts, options.strict)
    path = Path(pattern.replace("{backend}", name))
    if all(verdict.outcome is Outcome.SKIP for verdict in verdicts):
        return EXIT_UNCHECKED, "nothing was judged"
    if options.write_baseline:
        if any(verdict.outcome in UNJUDGED for verdict in verdicts):
            print(f"h1check: not recording {path}: some scenarios were not judged", file=sys.stderr)
            return EXIT_FAILED, "baseline NOT recorded: harness errors or a server that was gone"
        baseline.record(path, verdicts, target.description)
        print(f"baseline recorded: {path}")
        return EXIT_GREEN, f"{scorecard}; baseline recorded in {path}"
    differences = baseline.compare(baseline.load(path), verdicts)
    if not differences:
        print(f"baseline {path}: every outcome as recorded")
        return EXIT_GREEN, f"{scorecard}; as recorded in {path}"
    print(f"baseline {path}: {len(differences)} difference(s)")
    for difference in differences:
        print(f"  {difference.describe()}")
    return EXIT_FAILED, f"{scorecard}; {len(differences)} difference(s) from {path}"


def reference_backends() -> dict[str, str]:
    """The reference server's backend registry (name -> dotted path)."""
    try:
        registry = importlib.import_module("reference.backends")
        return dict(registry.BACKENDS)
    except (ImportError, AttributeError) as error:
        raise UsageError(f"the reference backends' registry is unavailable: {error}") from None


def report_path(requested: Path | None, name: str, several: bool) -> Path | None:
    """Where one target's report file goes: FILE itself, or FILE.NAME.EXT for several targets."""
    if requested is None or not several:
        return requested
    return requested.with_name(f"{requested.stem}.{name}{requested.suffix}")


def reproduce_command(options: argparse.Namespace, command: list[str], name: str) -> Reproducer:
    """How to check one scenario of this server again, the way the user started it.

    A launched server is started again by the user's own command (not by the port of a run that
    is over), so the line works on the student's own machine.
    """
    words = ["h1check", "run"]
    if options.timeout is not None:
        words += ["--timeout", f"{options.timeout:g}"]
    words += ["--deep"] if options.deep else []
    words += ["--seed", str(options.seed)] if options.seed else []
    if options.target:
        host, port = options.target
        words += ["--target", f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
        words += ["--root", str(options.root)] if options.root else []
        return Reproducer(words)
    if command:
        words += ["--port", str(options.port)] if options.port else []
        return Reproducer(words, command)
    return Reproducer([*words, "--reference", name])


def write_replay_scripts(verdicts: list[Verdict], directory: Path, reports_in: Path) -> int:
    """Write a standalone replay script for each failed property scenario, and point its verdict
    at the script (relative to where the report files are, so they can move together).

    Returns how many were written."""
    failed = [verdict for verdict in verdicts if verdict.replay is not None]
    if not failed:
        return 0
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for verdict in failed:
            path = directory / script_name(verdict.scenario.id)
            write_script(path, verdict.scenario.id, verdict.message, verdict.replay or {})
            verdict.replay_script = os.path.relpath(path, reports_in)
    except OSError as error:
        raise UsageError(f"cannot write the replay scripts in {directory}: {error}") from None
    return len(failed)


def run_as(target: Target) -> str:
    """The server as it was run: its command with {port} and {root} filled in."""
    if isinstance(target, LaunchedTarget) and not isinstance(target, ReferenceTarget):
        return shlex.join(target.substitute(argument) for argument in target.command)
    return target.description


def check(
    target: Target,
    scenarios: list[Scenario],
    settings: Settings,
    options: argparse.Namespace,
    files: dict[str, Path | None],
    reproduce: Reproducer,
) -> list[Verdict]:
    """Run the scenarios against one target, print the report and write the report files.

    Raises TargetError when the server cannot be started.
    """
    started = datetime.now(UTC)
    clock = time.monotonic()
    try:
        with target:
            verdicts = run(scenarios, target, settings, on_verdict=progress(len(scenarios)))
            described = run_as(target)
    finally:
        clear_progress()
    for verdict in verdicts:
        verdict.reproduction = reproduce(verdict.scenario)
    written = [path for path in files.values() if path is not None]
    replay_dir = options.replay_dir or (
        written[0].with_name(f"{written[0].stem}-replay") if written else Path("h1check-replay")
    )
    replays = write_replay_scripts(
        verdicts, replay_dir, written[0].parent if written else Path.cwd()
    )
    report = RunReport(
        verdicts=tuple(verdicts),
        target=described,
        started=started,
        duration_s=time.monotonic() - clock,
        strict=options.strict,
    )
    print(
        render_run(
            verdicts,
            target=report.target,
            duration_s=report.duration_s,
            strict=options.strict,
            color=use_color(sys.stdout),
            verbose=options.verbose,
        )
    )
    for kind, path in files.items():
        if path is None:
            continue
        try:
            path.write_text(FILE_FORMATS[kind](report), encoding="utf-8")
        except OSError as error:
            raise UsageError(f"cannot write {path}: {error.strerror}") from None
        print(f"{REPORT_NAMES[kind]} report: {path}")
    if replays:
        print(f"Replay scripts: {replay_dir}{os.sep} ({replays} failed properties)")
    return verdicts


def progress(total: int) -> Callable[[Verdict], None] | None:
    """A callback that shows which scenario is running, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None
    done = 0

    def show(verdict: Verdict) -> None:
        nonlocal done
        done += 1
        sys.stderr.write(f"\r\x1b[K[{done}/{total}] {verdict.scenario.id}")
        sys.stderr.flush()

    return show


def clear_progress() -> None:
    """Erase the progress line, if one was drawn."""
    if sys.stderr.isatty():
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()
