"""python -m bench: measure the reference backends against nginx, http.server and gunicorn."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from bench import report
from bench.harness import Options, run
from bench.idle import IDLE_LEVELS
from bench.load import wrk_available
from bench.servers import DEFAULT_SERVERS, RECIPES
from bench.workloads import ALL_WORKLOADS


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the reference server's backends against nginx measured in the"
        " same run: interleaved rounds, medians, ratios. `bash bench/setup.sh` installs wrk"
        " and nginx.",
    )
    parser.add_argument(
        "--servers",
        type=_names(RECIPES),
        default=list(DEFAULT_SERVERS),
        help=f"comma-separated, from: {', '.join(RECIPES)} (default: {','.join(DEFAULT_SERVERS)})",
    )
    parser.add_argument(
        "--workloads",
        type=_names(ALL_WORKLOADS),
        default=list(ALL_WORKLOADS),
        help=f"comma-separated, from: {', '.join(ALL_WORKLOADS)} (default: all)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument(
        "--duration", type=float, default=5.0, help="seconds per measurement (default 5)"
    )
    parser.add_argument(
        "--load",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="load generator: wrk, the built-in Python one, or wrk when installed (default)",
    )
    parser.add_argument(
        "--idle-levels",
        type=_levels,
        default=IDLE_LEVELS,
        help="idle connections to try, comma-separated (default: 1000,10000)",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=30.0,
        help="minutes after which remaining rounds and idle tests are skipped (default 30)",
    )
    parser.add_argument("--markdown", type=Path, help="also write the report as Markdown here")
    parser.add_argument("--json", type=Path, help="also write every measurement as JSON here")
    parser.add_argument("--list", action="store_true", help="list the servers and exit")
    parser.add_argument(
        "--from-json",
        type=Path,
        help="measure nothing: report again what an earlier --json file holds",
    )
    arguments = parser.parse_args(argv)
    if arguments.rounds < 1 or arguments.duration <= 0:
        parser.error("--rounds must be at least 1 and --duration positive")
    return arguments


def _names(known: Iterable[str]) -> Callable[[str], list[str]]:
    """An argparse type for a comma-separated list of names from `known`."""
    choices = list(known)

    def parse(value: str) -> list[str]:
        names = [name.strip() for name in value.split(",") if name.strip()]
        unknown = [name for name in names if name not in choices]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown: {', '.join(unknown) or '(none given)'}; choose from {', '.join(choices)}"
            )
        return names

    return parse


def _levels(value: str) -> tuple[int, ...]:
    try:
        levels = tuple(sorted(int(level) for level in value.split(",")))
    except ValueError:
        raise argparse.ArgumentTypeError("idle levels are whole numbers") from None
    if not levels or levels[0] < 1:
        raise argparse.ArgumentTypeError("idle levels must be at least 1")
    return levels


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    arguments = parse_arguments(argv)
    if arguments.list:
        for name, recipe in RECIPES.items():
            missing = recipe.missing()
            print(f"{name:<18} {recipe.family:<10} {'missing: ' + missing if missing else 'ok'}")
        return 0
    if arguments.from_json:
        results = report.from_json(json.loads(arguments.from_json.read_text()))
        return write_report(results, arguments.markdown, None)
    tool = arguments.load
    if tool == "auto":
        tool = "wrk" if wrk_available() else "python"
        if tool == "python":
            print("wrk is not installed (bash bench/setup.sh): using the Python load generator,")
            print("whose own ceiling caps the faster servers; see the client CPU column.")
    elif tool == "wrk" and not wrk_available():
        print("error: wrk is not installed; run bash bench/setup.sh", file=sys.stderr)
        return 2
    options = Options(
        servers=arguments.servers,
        workloads=arguments.workloads,
        rounds=arguments.rounds,
        duration=arguments.duration,
        tool=tool,
        idle_levels=arguments.idle_levels,
        time_limit_s=arguments.time_limit * 60,
    )
    results = run(options, command=shlex.join(["python", "-m", "bench", *argv]))
    print()
    return write_report(results, arguments.markdown, arguments.json)


def write_report(results: report.Results, markdown: Path | None, json_path: Path | None) -> int:
    """Print the tables, write the Markdown and JSON files asked for; the exit status."""
    print(report.text(results))
    if markdown:
        markdown.write_text(report.markdown(results))
        print(f"Markdown written to {markdown}")
    if json_path:
        json_path.write_text(json.dumps(report.to_json(results), indent=1))
        print(f"JSON written to {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
