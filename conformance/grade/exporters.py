"""Grading beyond one machine: a Gradescope autograder bundle and a GitHub Actions grader.

Both engines hand us one submission in a throwaway machine, so neither export grades anything
itself: each writes a few files that install h1check from a wheel and run `h1check grade` on a
class of one (a temporary folder holding the submission as `submission/`), then translate what
it wrote into what the engine reads. Every way grading can fail still ends in something the
engine shows, with a message saying whose problem it is, because a bare "autograder failed"
sends a student hunting for a bug in a server that may have none.

- `h1check gradescope-setup DIR` writes setup.sh, run_autograder, the wheel, the rubric if
  any, and README.txt: zip DIR's contents and upload them as the autograder.
- `h1check github-classroom DIR` writes into a starter repository the workflow
  `.github/workflows/classroom.yml` and `.github/h1check/grade.sh` (with the wheel unless
  `--install SPEC` names another source). The script reports points the way GitHub Classroom's
  last autograding reporter did (education/autograding-grading-reporter, notify-classroom.js):
  a notice annotation "Points X/Y" titled "Autograding complete" and one titled "Autograding
  report" holding {"totalPoints", "maxPoints"}, in the job `run-autograding-tests` of the
  workflow `Autograding Tests`. Classroom itself was retired on 2026-08-28, so the script emits
  those annotations itself rather than depending on an action of a retired product; everything
  else it does (feedback in the log, the job summary, the HTML report as an artifact, a red or
  green run) is plain GitHub Actions and needs no Classroom.

`python -m conformance.grade.exporters report-points GRADED_DIR` is the step of grade.sh that
reads the graded submission's results.json and reports its points to GitHub Actions.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import conformance
from conformance.grade.rubric import RubricError, load_rubric

GRADESCOPE = "gradescope-setup"
CLASSROOM = "github-classroom"
WORKFLOW = Path(".github/workflows/classroom.yml")
CLASSROOM_DIR = Path(".github/h1check")
# The instructor's rubric travels under one name, so no file of theirs can shadow a script.
RUBRIC_NAME = "rubric.toml"
# Exit statuses of grade.sh and of report-points; 1 for "graded, points missing" matches what a
# failing test run means everywhere else in CI.
FULL_MARKS, POINTS_MISSING, NOT_GRADED = 0, 1, 2
# GitHub refuses a job summary over 1 MiB; feedback with every transcript can come close.
SUMMARY_LIMIT = 512 * 1024  # bytes
SUMMARY_CUT = "(feedback cut here: the whole of it is in the h1check-report artifact)"
EXIT_BAD_INPUT = 2  # As every h1check command: nothing was done, and the line says why.

WHEEL_HELP = "h1check's wheel to ship (default: built from the checkout h1check runs from)"
EXPORT_EPILOG = """examples:
  h1check gradescope-setup autograder/ --port 7890        then zip autograder/'s contents
  h1check gradescope-setup autograder/ --cmd 'python {entry} {port}' --rubric course.toml
  h1check github-classroom starter-repo/                  commits nothing: you do
  h1check github-classroom starter-repo/ --install 'h1check==0.1.0'
"""


class ExportError(Exception):
    """The export cannot be written as asked; the message is one line."""


@dataclass(frozen=True)
class GradeSettings:
    """The `h1check grade` options an export bakes into its scripts."""

    port: int | None = None
    command: str | None = None
    rubric: Path | None = None

    def bash_words(self, rubric_folder: str) -> str:
        """The options as the inside of a bash array; the rubric sits in `rubric_folder`."""
        words = []
        if self.command is not None:
            words += ["--cmd", shlex.quote(self.command)]
        if self.port is not None:
            words += ["--port", str(self.port)]
        if self.rubric is not None:
            words += ["--rubric", f'"{rubric_folder}"/{RUBRIC_NAME}']
        return " ".join(words)

    def describe(self) -> str:
        """One line for the instructor: what the scripts will pass to `h1check grade`."""
        words = ["h1check", "grade", "...", "--jobs", "1"]
        if self.command is not None:
            words += ["--cmd", self.command]
        if self.port is not None:
            words += ["--port", str(self.port)]
        if self.rubric is not None:
            words += ["--rubric", RUBRIC_NAME]
        return shlex.join(words)


def add_exporter_parsers(commands: argparse._SubParsersAction[Any]) -> None:
    """Register `h1check gradescope-setup` and `h1check github-classroom` and their options."""
    gradescope = commands.add_parser(
        GRADESCOPE,
        help="write a Gradescope autograder bundle",
        epilog=EXPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    gradescope.add_argument("dest", type=Path, metavar="DIR", help="where the bundle goes")
    _add_grade_options(gradescope)
    gradescope.add_argument("--wheel", type=Path, metavar="FILE", help=WHEEL_HELP)
    classroom = commands.add_parser(
        CLASSROOM,
        help="write a GitHub Actions autograding workflow into a starter repository",
        epilog=EXPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    classroom.add_argument("dest", type=Path, metavar="DIR", help="the starter repository")
    _add_grade_options(classroom)
    install = classroom.add_mutually_exclusive_group()
    install.add_argument(
        "--install",
        metavar="SPEC",
        help="what the workflow pip-installs (default: a wheel committed under .github/h1check/)",
    )
    install.add_argument("--wheel", type=Path, metavar="FILE", help=WHEEL_HELP)


def _add_grade_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=_port, metavar="N", help="the port every submission uses")
    parser.add_argument(
        "--cmd",
        metavar="TEMPLATE",
        help="start command; {entry}, {port}, {root} are filled in (default: h1check grade's)",
    )
    parser.add_argument("--rubric", type=Path, metavar="FILE", help="override the default rubric")


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text!r}")
    return int(text)


def exporter_command(options: argparse.Namespace) -> int:
    """Write the export `options.command` names; 0 when written, 2 with one line when not."""
    try:
        settings = _settings(options)
        if options.command == GRADESCOPE:
            written = write_gradescope_bundle(options.dest, settings, options.wheel)
            print(f"wrote a Gradescope autograder in {options.dest}: {_names(written)}")
            print(f"each submission is graded as: {settings.describe()}")
            print(f"next: see {options.dest / 'README.txt'} (zip the contents of {options.dest})")
        else:
            written = write_classroom_files(options.dest, settings, options.install, options.wheel)
            print(f"wrote into {options.dest}: {_names(written, options.dest)}")
            print(f"every push is graded as: {settings.describe()}")
            print(
                "next: commit them to the starter repository. Students can run"
                f" `bash {CLASSROOM_DIR / 'grade.sh'}` themselves; the workflow shows the"
                " feedback in the job summary and reports points as GitHub Classroom's"
                " autograding did (Classroom itself was retired on 2026-08-28)."
            )
    except ExportError as error:
        print(f"h1check: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def _settings(options: argparse.Namespace) -> GradeSettings:
    if options.cmd is not None:
        try:
            words = shlex.split(options.cmd)
        except ValueError as error:
            raise ExportError(f"--cmd {options.cmd!r}: {error}") from None
        if not words:
            raise ExportError("--cmd is empty")
    if options.rubric is not None:
        # Checked here, where the instructor can fix it, not on the first student's submission.
        try:
            load_rubric(options.rubric)
        except RubricError as error:
            raise ExportError(f"--rubric: {error}") from None
    return GradeSettings(port=options.port, command=options.cmd, rubric=options.rubric)


def _names(paths: Sequence[Path], root: Path | None = None) -> str:
    return ", ".join(str(path.relative_to(root)) if root else path.name for path in paths)


def write_gradescope_bundle(dest: Path, settings: GradeSettings, wheel: Path | None) -> list[Path]:
    """Write the autograder bundle into `dest`; the paths written, wheel included."""
    dest.mkdir(parents=True, exist_ok=True)
    placed = place_wheel(dest, wheel)
    written = [
        _write(dest / "setup.sh", _fill(SETUP_SH, WHEEL=shlex.quote(placed.name)), executable=True),
        _write(
            dest / "run_autograder",
            _fill(
                RUN_AUTOGRADER,
                JSON_STRING=JSON_STRING_FUNCTION,
                GRADE_OPTIONS=settings.bash_words("$AUTOGRADER_ROOT/source"),
            ),
            executable=True,
        ),
        placed,
    ]
    if settings.rubric is not None:
        written.append(_copy(settings.rubric, dest / RUBRIC_NAME))
    files = [("setup.sh", SETUP_ROLE), ("run_autograder", RUN_ROLE), (placed.name, WHEEL_ROLE)]
    if settings.rubric is not None:
        files.append(
            (RUBRIC_NAME, f"the rubric every submission is scored by ({settings.rubric.name})")
        )
    files.append(("README.txt", "this file"))
    width = max(len(name) for name, _ in files) + 2
    listing = "\n".join(f"  {name:<{width}}{role}" for name, role in files)
    readme = _fill(GRADESCOPE_README, FILES=listing, GRADE=settings.describe())
    written.append(_write(dest / "README.txt", readme))
    return written


def write_classroom_files(
    dest: Path, settings: GradeSettings, install: str | None, wheel: Path | None
) -> list[Path]:
    """Write the workflow and its grading script into the repository `dest`; the paths written."""
    if not dest.is_dir():
        raise ExportError(f"{dest} is not a folder: give the starter repository's checkout")
    folder = dest / CLASSROOM_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    if install is None:
        placed = place_wheel(folder, wheel)
        written.append(placed)
        install = (CLASSROOM_DIR / placed.name).as_posix()
    script = _fill(
        GRADE_SH,
        GRADE_OPTIONS=settings.bash_words("$here"),
        NOT_GRADED=str(NOT_GRADED),
    )
    written.append(_write(folder / "grade.sh", script, executable=True))
    if settings.rubric is not None:
        written.append(_copy(settings.rubric, folder / RUBRIC_NAME))
    workflow = _fill(
        CLASSROOM_YML,
        INSTALL=shlex.join(["python", "-m", "pip", "install", "--quiet", install]),
        SCRIPT=(CLASSROOM_DIR / "grade.sh").as_posix(),
    )
    (dest / WORKFLOW).parent.mkdir(parents=True, exist_ok=True)
    written.append(_write(dest / WORKFLOW, workflow))
    return written


def place_wheel(folder: Path, wheel: Path | None) -> Path:
    """Put h1check's wheel in `folder`: a copy of `wheel`, or one built from this checkout.

    Older h1check wheels there are removed, so the folder never ships two versions.
    """
    if wheel is not None:
        if not wheel.is_file() or not (
            wheel.name.startswith("h1check-") and wheel.suffix == ".whl"
        ):
            raise ExportError(f"--wheel {wheel} is not h1check's wheel file (h1check-*.whl)")
        source = wheel
    else:
        root = project_root()
        if root is None:
            raise ExportError(
                "h1check is installed, not run from its checkout, so it cannot build its own"
                " wheel: pass --wheel FILE (from `python -m pip wheel --no-deps -w dist .`"
                " in a checkout)"
            )
        with tempfile.TemporaryDirectory() as build:
            return _replace_wheels(folder, build_wheel(root, Path(build)))
    return _replace_wheels(folder, source)


def _replace_wheels(folder: Path, wheel: Path) -> Path:
    target = folder / wheel.name
    for old in folder.glob("h1check-*.whl"):
        if old.name != wheel.name:
            old.unlink()
    if wheel.resolve() != target.resolve():
        shutil.copyfile(wheel, target)
    return target


def project_root() -> Path | None:
    """The checkout h1check runs from, or None when it runs from an install."""
    root = Path(conformance.__file__).resolve().parent.parent
    try:
        project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return root if project.get("project", {}).get("name") == "h1check" else None


def build_wheel(root: Path, folder: Path) -> Path:
    """Build h1check's wheel from the checkout `root` into `folder` with pip; its path."""
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check"]
    command += ["--no-deps", "-w", str(folder), str(root)]
    built = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(folder.glob("h1check-*.whl"))
    if built.returncode != 0 or len(wheels) != 1:
        tail = " ".join((built.stderr or built.stdout).strip().splitlines()[-3:])
        raise ExportError(f"building h1check's wheel from {root} failed: {tail}")
    return wheels[0]


def _write(path: Path, text: str, executable: bool = False) -> Path:
    path.write_text(text, encoding="utf-8")
    if executable:
        path.chmod(0o755)
    return path


def _copy(source: Path, target: Path) -> Path:
    if source.resolve() != target.resolve():
        shutil.copyfile(source, target)
    return target


def _fill(template: str, **values: str) -> str:
    """The template with each @NAME@ replaced; bash's own $ and {} stay as they are."""
    for name, value in values.items():
        template = template.replace(f"@{name}@", value)
    return template


def points(results: Mapping[str, Any]) -> tuple[float, float]:
    """Score and maximum of a Gradescope results.json document.

    Gradescope's top-level "score", when present, overrides the sum of the tests' scores; the
    maximum is always the sum of the tests' max_score.
    """
    tests = results.get("tests") or []
    maximum = sum(float(test.get("max_score") or 0) for test in tests)
    score = results.get("score")
    if score is None:
        score = sum(float(test.get("score") or 0) for test in tests)
    return float(score), maximum


def _number(value: float) -> int | float:
    # Whole points as integers, as JavaScript printed them in the reporter's "Points X/Y".
    rounded = round(value, 2)
    return int(rounded) if rounded == int(rounded) else rounded


def report_points(graded: Path, environ: Mapping[str, str]) -> int:
    """Report a graded submission's points to GitHub Actions; FULL_MARKS or POINTS_MISSING.

    Prints the points, and under Actions the two notice annotations GitHub Classroom read, and
    adds the points and feedback.md to the job summary when $GITHUB_STEP_SUMMARY is set.
    """
    results = json.loads((graded / "results.json").read_text(encoding="utf-8"))
    score, maximum = points(results)
    if maximum <= 0:
        raise ValueError(f"{graded / 'results.json'} has no points to earn (no max_score)")
    earned, total = _number(score), _number(maximum)
    print(f"h1check: {earned}/{total} points")
    if environ.get("GITHUB_ACTIONS") == "true":
        report = json.dumps({"totalPoints": earned, "maxPoints": total})
        print(f"::notice title=Autograding complete::Points {earned}/{total}")
        print(f"::notice title=Autograding report::{report}")
    summary = environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        feedback = graded / "feedback.md"
        text = feedback.read_text(encoding="utf-8") if feedback.is_file() else ""
        if len(encoded := text.encode("utf-8")) > SUMMARY_LIMIT:
            text = encoded[:SUMMARY_LIMIT].decode("utf-8", "ignore") + f"\n\n{SUMMARY_CUT}\n"
        with open(summary, "a", encoding="utf-8") as out:
            out.write(f"## h1check: {earned} / {total} points\n\n{text}\n")
    return FULL_MARKS if score >= maximum else POINTS_MISSING


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m conformance.grade.exporters report-points GRADED_DIR`, for grade.sh."""
    parser = argparse.ArgumentParser(prog="python -m conformance.grade.exporters")
    steps = parser.add_subparsers(dest="step", required=True)
    report = steps.add_parser("report-points", help="report a graded submission's points")
    report.add_argument("graded", type=Path, metavar="GRADED_DIR", help="OUT/<student>")
    options = parser.parse_args(argv)
    try:
        return report_points(options.graded, os.environ)
    except (OSError, ValueError, TypeError, AttributeError) as error:
        print(f"h1check: cannot read the grade: {error}", file=sys.stderr)
        return NOT_GRADED


# Quoting in bash without Python, which may be what is missing when grading fails: a JSON
# string literal of $1. Control characters go, so a terminal's colour codes cannot break it.
JSON_STRING_FUNCTION = r"""json_string() {
    local text="$1"
    text="${text//\\/\\\\}"
    text="${text//\"/\\\"}"
    text="${text//$'\t'/\\t}"
    text="${text//$'\r'/}"
    text="${text//$'\n'/\\n}"
    printf '"%s"' "$(printf '%s' "$text" | tr -d '\000-\037\177')"
}"""

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image. It installs h1check
# from the wheel beside it into a venv of its own, with a Python new enough for h1check (3.11):
# Gradescope's Ubuntu 22.04 image ships 3.10, so there apt-get adds python3.11 beside it.
# Written by `h1check gradescope-setup`; AUTOGRADER_ROOT moves every path, to try it elsewhere.
set -euo pipefail

AUTOGRADER_ROOT="${AUTOGRADER_ROOT:-/autograder}"
WHEEL="$AUTOGRADER_ROOT/source/"@WHEEL@
VENV="$AUTOGRADER_ROOT/h1check-venv"

usable_python() {
    # The first Python on PATH that is new enough and can make a venv with pip in it.
    local candidate
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import ensurepip, sys, venv; sys.exit(sys.version_info < (3, 11))' \
                >/dev/null 2>&1; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

if ! python="$(usable_python)"; then
    echo "setup.sh: no Python >= 3.11 with venv and pip; installing one with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends python3 python3-pip python3-venv
    if ! python="$(usable_python)"; then
        apt-get install -y --no-install-recommends python3.11 python3.11-venv || true
        if ! python="$(usable_python)"; then
            echo "setup.sh: cannot install Python >= 3.11 here; choose a newer Ubuntu base" \
                "image in Gradescope's autograder settings" >&2
            exit 1
        fi
    fi
fi
"$python" -m venv "$VENV"
"$VENV/bin/python" -m pip install --disable-pip-version-check "$WHEEL"
"$VENV/bin/h1check" --version
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for every submission. It grades the one submission Gradescope unpacked,
# as a class of one, with `h1check grade`, and always leaves a results.json: when grading itself
# fails, one that says so, so the student sees why rather than a bare "autograder failed".
# Written by `h1check gradescope-setup`; AUTOGRADER_ROOT moves every path, to try it elsewhere.
set -uo pipefail

AUTOGRADER_ROOT="${AUTOGRADER_ROOT:-/autograder}"
SUBMISSION="$AUTOGRADER_ROOT/submission"
RESULTS="$AUTOGRADER_ROOT/results/results.json"
GRADE_OPTIONS=(@GRADE_OPTIONS@)

# setup.sh installed h1check in a venv of its own; without one, whichever h1check is on PATH.
if [ -x "$AUTOGRADER_ROOT/h1check-venv/bin/h1check" ]; then
    PATH="$AUTOGRADER_ROOT/h1check-venv/bin:$PATH"
fi

@JSON_STRING@

not_graded() {
    # A results.json with no points and the reason, for the student and the instructor alike.
    local message
    message="$(json_string "$1")"
    printf '{"score": 0, "output": %s, "tests": [{"name": "%s", "score": 0, "status": "failed", "output": %s}]}\n' \
        "$message" "h1check could not grade this submission" "$message" >"$RESULTS"
    echo "run_autograder: $1" >&2
    exit 0
}

mkdir -p "$(dirname "$RESULTS")"
AGAIN="This is a problem with the autograder, not with your server: tell your instructor, who can fix it and regrade."
command -v h1check >/dev/null 2>&1 ||
    not_graded "h1check is not installed (setup.sh failed when the autograder was built). $AGAIN"
[ -d "$SUBMISSION" ] || not_graded "there is no submission folder at $SUBMISSION. $AGAIN"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/class/submission"
cp -a "$SUBMISSION/." "$work/class/submission/" ||
    not_graded "could not copy the submission to grade it. $AGAIN"

h1check grade "$work/class" --out "$work/out" --jobs 1 "${GRADE_OPTIONS[@]}" 2>&1 |
    tee "$work/grade.log"
status="${PIPESTATUS[0]}"
graded="$work/out/submission/results.json"
if [ "$status" -ne 0 ] || [ ! -s "$graded" ]; then
    not_graded "h1check grade stopped (exit status $status) without grading this submission. $AGAIN
Its last lines:
$(tail -n 15 "$work/grade.log")"
fi
cp "$graded" "$RESULTS" || not_graded "could not copy the results to $RESULTS. $AGAIN"
"""

SETUP_ROLE = "run once, as root, to build the image: Python 3.11+ if missing, then h1check"
RUN_ROLE = "run for every submission: h1check grade, then results/results.json"
WHEEL_ROLE = "h1check itself, installed by setup.sh"

GRADESCOPE_README = """h1check autograder for Gradescope
=================================

What is here
@FILES@

Each submission is graded as:
  @GRADE@

Upload
  1. Zip the contents of this folder, not the folder itself:
       cd THIS_FOLDER && zip -r ../h1check-autograder.zip .
  2. In Gradescope: the assignment's Configure Autograder page, Zip file upload, choose the
     zip, an Ubuntu base image (22.04 or 24.04), then Update Autograder. The build installs
     h1check from PyPI's dependencies (h11, psutil, rich), so it needs the internet once.
  3. Set the autograder timeout to 10 minutes or more: a server that never answers costs up
     to 5 minutes before h1check gives up on it.
  4. Use "Test Autograder" with a known-good server before students submit.

Students upload their server's files (server.py, or run.sh, at the top level, beside anything
it imports). Their score and feedback come from h1check's rubric; when grading itself fails
(for example the build did not install h1check), the submission gets 0 points and a message
saying so, and you can regrade after fixing the autograder.

Trying it on your machine
  Every path comes from AUTOGRADER_ROOT (default /autograder). With h1check on PATH:
    mkdir -p /tmp/ag/source /tmp/ag/submission && cp -r . /tmp/ag/source
    cp server.py /tmp/ag/submission/
    AUTOGRADER_ROOT=/tmp/ag ./run_autograder && cat /tmp/ag/results/results.json
"""

GRADE_SH = r"""#!/usr/bin/env bash
# Grades this repository with h1check: on every push (.github/workflows/classroom.yml) and
# whenever you like, from the repository's top folder: bash .github/h1check/grade.sh
# It grades the repository as a class of one, prints the feedback and, under GitHub Actions,
# adds it to the job summary and reports the points as GitHub Classroom's autograding did.
# Exit status: 0 full marks, 1 points missing, 2 not graded (h1check itself could not run).
# The reports stay in $H1CHECK_OUT (default: a new folder under /tmp), class.html among them.
# Written by `h1check github-classroom`.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repository="$(cd "$here/../.." && pwd)"
GRADE_OPTIONS=(@GRADE_OPTIONS@)

not_graded() {
    echo "h1check: not graded: $1" >&2
    if [ "${GITHUB_ACTIONS:-}" = true ]; then
        echo "::error title=h1check could not grade this push::$1"
    fi
    if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
        printf '## h1check could not grade this push\n\n%s\n' "$1" >>"$GITHUB_STEP_SUMMARY"
    fi
    exit @NOT_GRADED@
}

h1check_python() {
    # The Python h1check is installed in: pip writes it on the first line of h1check's script.
    local first=""
    read -r first <"$(command -v h1check)" || true
    first="${first#\#!}"
    case "$first" in
        */python*) [ -x "$first" ] && echo "$first" && return ;;
    esac
    echo python3
}

command -v h1check >/dev/null 2>&1 ||
    not_graded "h1check is not installed: run 'pip install h1check' or see the workflow's install step"
python="${H1CHECK_PYTHON:-$(h1check_python)}"
"$python" -c 'import conformance.grade.exporters' 2>/dev/null ||
    not_graded "$python cannot import h1check; set H1CHECK_PYTHON to the Python it is installed in"

out="${H1CHECK_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/h1check-report.XXXXXX")}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The repository as one submission, without git's history or this grader itself.
mkdir -p "$work/class/submission"
(cd "$repository" && tar --exclude=./.git --exclude=./.github -cf - .) |
    tar -xf - -C "$work/class/submission" ||
    not_graded "could not copy $repository to grade it"

[ "${GITHUB_ACTIONS:-}" = true ] && echo "::group::h1check grade"
h1check grade "$work/class" --out "$out" --jobs 1 "${GRADE_OPTIONS[@]}" 2>&1
status=$?
[ "${GITHUB_ACTIONS:-}" = true ] && echo "::endgroup::"
graded="$out/submission"
if [ "$status" -ne 0 ] || [ ! -s "$graded/results.json" ]; then
    not_graded "h1check grade stopped with exit status $status; its output is above"
fi

echo
cat "$graded/feedback.md" 2>/dev/null
echo
echo "full report: $out/class.html"
"$python" -m conformance.grade.exporters report-points "$graded"
"""

CLASSROOM_YML = """# Grades every push with h1check; written by `h1check github-classroom`.
# GitHub Classroom read points only from a workflow named "Autograding Tests" whose one job is
# "run-autograding-tests": keep both names. grade.sh reports the points and writes the summary.
name: Autograding Tests
'on':
  - push
  - workflow_dispatch
  - repository_dispatch
permissions:
  contents: read
jobs:
  run-autograding-tests:
    runs-on: ubuntu-latest
    if: github.actor != 'github-classroom[bot]'
    timeout-minutes: 20
    steps:
      - name: Checkout code
        uses: actions/checkout@v4
      - name: Set up Python
        uses: actions/setup-python@v5
        with:
          python-version: '3.11'
      - name: Install h1check
        run: |
          @INSTALL@
      - name: Grade with h1check
        # Runs even when the install failed, so the run says why nothing was graded.
        if: ${{ !cancelled() }}
        env:
          H1CHECK_OUT: ${{ runner.temp }}/h1check-report
        run: bash @SCRIPT@
      - name: Keep the HTML report
        if: ${{ !cancelled() }}
        uses: actions/upload-artifact@v4
        with:
          name: h1check-report
          path: ${{ runner.temp }}/h1check-report
          if-no-files-found: ignore
"""


if __name__ == "__main__":
    raise SystemExit(main())
