"""The Gradescope bundle and the GitHub Actions grader, run here the way their engines run them.

The scripts are the product, so they are executed, not read: run_autograder with every
Gradescope path moved under a temporary AUTOGRADER_ROOT, grade.sh inside a temporary copy of a
starter repository with the variables GitHub Actions sets. The slow tests grade a real server
with the real `h1check grade`; the quick ones cover what happens when h1check is missing or
fails, with a stand-in h1check first on PATH. setup.sh installs system packages, so it is only
checked for syntax.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conformance.grade import exporters
from conformance.grade.exporters import (
    CLASSROOM_DIR,
    FULL_MARKS,
    NOT_GRADED,
    POINTS_MISSING,
    WORKFLOW,
    add_exporter_parsers,
    exporter_command,
    points,
    report_points,
)

REPO = Path(__file__).resolve().parents[2]
SERVERS = REPO / "fixtures" / "servers"
WHEEL_NAME = "h1check-0.1.0-py3-none-any.whl"
# Fixture servers take their port as their one argument; the default command would not pass it.
PORT_ARGUMENT = "python {entry} {port}"
SCRIPT_TIMEOUT = 300.0
# Only these actions may run students' grading: GitHub's own.
OFFICIAL_ACTIONS = {"actions/checkout", "actions/setup-python", "actions/upload-artifact"}
# A PATH with the shell's tools and no h1check (which lives in a venv's bin/).
SYSTEM_PATH = "/usr/bin:/bin"


def export(*argv: str | Path) -> int:
    """Run `h1check gradescope-setup|github-classroom ARGV` as the command line would."""
    parser = argparse.ArgumentParser(prog="h1check")
    add_exporter_parsers(parser.add_subparsers(dest="command", required=True))
    return exporter_command(parser.parse_args([str(argument) for argument in argv]))


@pytest.fixture
def wheel(tmp_path: Path) -> Path:
    """A file named like h1check's wheel, for exports whose setup is never run here."""
    path = tmp_path / "dist" / WHEEL_NAME
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("conformance/__init__.py", "")
    return path


def script_env(path: str | None = None, **extra: str) -> dict[str, str]:
    """This environment without CI's or the engines' variables, h1check's bin/ first on PATH."""
    kept = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GITHUB_", "H1CHECK_", "AUTOGRADER_", "PYTHONPATH"))
    }
    kept["PATH"] = path or f"{Path(sys.executable).parent}{os.pathsep}{kept.get('PATH', '')}"
    return kept | extra


def run_script(
    argv: list[str | Path], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run one of the generated scripts to completion and capture what it printed."""
    return subprocess.run(
        [str(argument) for argument in argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
    )


def fake_h1check(folder: Path, body: str) -> Path:
    """A stand-in `h1check` in `folder`: a shell script with `body`, for PATH."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "h1check"
    script.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    script.chmod(0o755)
    return folder


def server_folder(folder: Path, defect: str = "correct") -> Path:
    """A submission: the fixture server `defect` as server.py, with correct.py it builds on."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SERVERS / f"{defect}.py", folder / "server.py")
    if defect != "correct":
        shutil.copyfile(SERVERS / "correct.py", folder / "correct.py")
    return folder


# --- Gradescope -------------------------------------------------------------------------------


def gradescope_root(tmp_path: Path, bundle: Path, submission: Path | None) -> Path:
    """An /autograder laid out as Gradescope does: the bundle in source/, the submission."""
    root = tmp_path / "autograder"
    shutil.copytree(bundle, root / "source")
    (root / "results").mkdir()
    if submission is not None:
        shutil.copytree(submission, root / "submission")
    return root


def run_autograder(root: Path, path: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the bundle's run_autograder as Gradescope would, with its paths under `root`."""
    env = script_env(path, AUTOGRADER_ROOT=str(root))
    return run_script([root / "source" / "run_autograder"], cwd=root, env=env)


def results_of(root: Path) -> dict[str, object]:
    """The results.json run_autograder left for Gradescope."""
    document = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def test_gradescope_bundle_holds_what_to_upload(tmp_path: Path, wheel: Path) -> None:
    rubric = tmp_path / "course.toml"
    rubric.write_text("gating = true\n", encoding="utf-8")
    bundle = tmp_path / "bundle"
    options = ["--port", "7890", "--cmd", PORT_ARGUMENT, "--rubric", rubric, "--wheel", wheel]
    assert export("gradescope-setup", bundle, *options) == 0
    assert sorted(path.name for path in bundle.iterdir()) == sorted(
        ["README.txt", "rubric.toml", "run_autograder", "setup.sh", WHEEL_NAME]
    )
    for script in ("setup.sh", "run_autograder"):
        assert os.access(bundle / script, os.X_OK), script
        check = subprocess.run(["bash", "-n", bundle / script], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
    assert WHEEL_NAME in (bundle / "setup.sh").read_text(encoding="utf-8")
    runner = (bundle / "run_autograder").read_text(encoding="utf-8")
    assert "--cmd 'python {entry} {port}' --port 7890" in runner
    assert '--rubric "$AUTOGRADER_ROOT/source"/rubric.toml' in runner
    assert (bundle / "rubric.toml").read_text(encoding="utf-8") == "gating = true\n"
    readme = (bundle / "README.txt").read_text(encoding="utf-8")
    assert "zip -r" in readme and "course.toml" in readme


def test_gradescope_bundle_outside_a_checkout_asks_for_the_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(exporters, "project_root", lambda: None)
    assert export("gradescope-setup", tmp_path / "bundle") == 2
    error = capsys.readouterr().err
    assert error.startswith("h1check: error:") and "--wheel FILE" in error
    assert error.count("\n") == 1


@pytest.mark.parametrize(
    ("option", "value", "complaint"),
    [
        ("--rubric", "missing.toml", "cannot read it"),
        ("--cmd", "python 'server.py", "--cmd"),
        ("--wheel", "h1check.tar.gz", "not h1check's wheel file"),
    ],
)
def test_mistakes_are_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, complaint: str
) -> None:
    bundle = tmp_path / "bundle"
    argument = value if option == "--cmd" else tmp_path / value
    assert export("gradescope-setup", bundle, option, argument) == 2
    assert complaint in capsys.readouterr().err
    assert not (bundle / "run_autograder").exists()


def test_a_new_wheel_replaces_the_old_one(tmp_path: Path, wheel: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "h1check-0.0.9-py3-none-any.whl").write_bytes(b"old")
    assert export("gradescope-setup", bundle, "--wheel", wheel) == 0
    assert sorted(path.name for path in bundle.glob("*.whl")) == [WHEEL_NAME]


def test_run_autograder_without_h1check_still_leaves_results(tmp_path: Path, wheel: Path) -> None:
    assert shutil.which("h1check", path=SYSTEM_PATH) is None
    export("gradescope-setup", tmp_path / "bundle", "--wheel", wheel)
    root = gradescope_root(tmp_path, tmp_path / "bundle", server_folder(tmp_path / "student"))
    finished = run_autograder(root, path=SYSTEM_PATH)
    assert finished.returncode == 0, finished.stderr
    results = results_of(root)
    assert results["score"] == 0
    assert "h1check is not installed" in str(results["output"])
    assert "not with your server" in str(results["output"])


def test_run_autograder_when_grading_fails_says_so_in_valid_json(
    tmp_path: Path, wheel: Path
) -> None:
    # Output that would break JSON quoted naively: quotes, a backslash, a tab, colour codes.
    noisy = 'printf "Traceback: \\"boom\\"\\t C:\\\\x \\033[31mred\\033[0m ✓\\n"; exit 3'
    bin_dir = fake_h1check(tmp_path / "bin", noisy)
    export("gradescope-setup", tmp_path / "bundle", "--wheel", wheel)
    root = gradescope_root(tmp_path, tmp_path / "bundle", server_folder(tmp_path / "student"))
    finished = run_autograder(root, path=f"{bin_dir}{os.pathsep}{SYSTEM_PATH}")
    assert finished.returncode == 0, finished.stderr
    results = results_of(root)
    output = str(results["output"])
    assert results["score"] == 0
    assert "exit status 3" in output
    assert 'Traceback: "boom"\t C:\\x [31mred[0m ✓' in output
    assert results["tests"] == [
        {
            "name": "h1check could not grade this submission",
            "score": 0,
            "status": "failed",
            "output": output,
        }
    ]


@pytest.mark.slow
def test_run_autograder_grades_the_submission(tmp_path: Path, wheel: Path) -> None:
    export("gradescope-setup", tmp_path / "bundle", "--cmd", PORT_ARGUMENT, "--wheel", wheel)
    root = gradescope_root(tmp_path, tmp_path / "bundle", server_folder(tmp_path / "student"))
    finished = run_autograder(root)
    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr
    results = results_of(root)
    tests = results["tests"]
    assert isinstance(tests, list) and len(tests) > 50
    assert isinstance(results["score"], int | float)
    earned, maximum = points(results)
    assert maximum > 0 and earned == maximum, "the careful fixture server earns every point"
    assert all({"name", "score", "max_score", "status"} <= set(test) for test in tests)
    assert not (root / "submission" / "html").exists(), "grading must not touch the upload"


@pytest.mark.slow
def test_gradescope_setup_builds_the_wheel_from_the_checkout(tmp_path: Path) -> None:
    assert export("gradescope-setup", tmp_path / "bundle") == 0
    (built,) = (tmp_path / "bundle").glob("h1check-*.whl")
    with zipfile.ZipFile(built) as archive:
        assert "conformance/grade/exporters.py" in archive.namelist()


# --- GitHub Actions ---------------------------------------------------------------------------


def starter_repository(tmp_path: Path, defect: str = "correct", *options: str) -> Path:
    """A student's repository: a server, git's folder, and the exported workflow and script."""
    repository = server_folder(tmp_path / "repo", defect)
    (repository / ".git").mkdir()
    (repository / ".git" / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    assert export("github-classroom", repository, "--cmd", PORT_ARGUMENT, *options) == 0
    return repository


def grade_sh(
    repository: Path, tmp_path: Path, path: str | None = None
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run grade.sh as the workflow does; what it printed, and the job summary it wrote."""
    summary = tmp_path / "summary.md"
    summary.touch()
    env = script_env(
        path,
        GITHUB_ACTIONS="true",
        GITHUB_STEP_SUMMARY=str(summary),
        H1CHECK_OUT=str(tmp_path / "report"),
    )
    script = repository / CLASSROOM_DIR / "grade.sh"
    finished = run_script(["bash", script], cwd=repository, env=env)
    return finished, summary.read_text(encoding="utf-8")


def test_github_export_writes_the_workflow_script_and_wheel(tmp_path: Path, wheel: Path) -> None:
    repository = starter_repository(tmp_path, "correct", "--wheel", str(wheel))
    script = repository / CLASSROOM_DIR / "grade.sh"
    assert os.access(script, os.X_OK)
    check = subprocess.run(["bash", "-n", script], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert (repository / CLASSROOM_DIR / WHEEL_NAME).is_file()
    workflow = (repository / WORKFLOW).read_text(encoding="utf-8")
    assert f"pip install --quiet {CLASSROOM_DIR.as_posix()}/{WHEEL_NAME}" in workflow
    assert f"run: bash {CLASSROOM_DIR.as_posix()}/grade.sh" in workflow


def test_github_export_with_install_spec_ships_no_wheel(tmp_path: Path) -> None:
    repository = starter_repository(tmp_path, "correct", "--install", "h1check==0.1.0")
    assert not list((repository / CLASSROOM_DIR).glob("*.whl"))
    assert "pip install --quiet h1check==0.1.0" in (repository / WORKFLOW).read_text("utf-8")


def test_workflow_keeps_the_names_classroom_read_and_official_actions(
    tmp_path: Path, wheel: Path
) -> None:
    """A light check of the YAML (PyYAML is not a dependency): shape, names and actions."""
    repository = starter_repository(tmp_path, "correct", "--wheel", str(wheel))
    text = (repository / WORKFLOW).read_text(encoding="utf-8")
    assert "\t" not in text
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert all((len(line) - len(line.lstrip(" "))) % 2 == 0 for line in lines)
    top = [line.split(":")[0] for line in lines if not line.startswith(" ")]
    assert top == ["name", "'on'", "permissions", "jobs"]
    assert "name: Autograding Tests" in lines
    jobs = lines[lines.index("jobs:") + 1 :]
    assert [line for line in jobs if re.fullmatch(r"  \S.*", line)] == ["  run-autograding-tests:"]
    used = {re.sub(r"@.*", "", line.split("uses:")[1].strip()) for line in lines if "uses:" in line}
    assert used == OFFICIAL_ACTIONS


def test_workflow_parses_as_yaml(tmp_path: Path, wheel: Path) -> None:
    yaml = pytest.importorskip("yaml")
    repository = starter_repository(tmp_path, "correct", "--wheel", str(wheel))
    workflow = yaml.safe_load((repository / WORKFLOW).read_text(encoding="utf-8"))
    assert workflow["name"] == "Autograding Tests"
    assert workflow["on"] == ["push", "workflow_dispatch", "repository_dispatch"]
    (job_id, job), *others = workflow["jobs"].items()
    assert (job_id, others) == ("run-autograding-tests", [])
    steps = {step["name"]: step for step in job["steps"]}
    assert steps["Grade with h1check"]["run"] == f"bash {CLASSROOM_DIR.as_posix()}/grade.sh"
    assert steps["Set up Python"]["with"]["python-version"] == "3.11"


def test_grade_sh_without_h1check_reports_not_graded(tmp_path: Path, wheel: Path) -> None:
    assert shutil.which("h1check", path=SYSTEM_PATH) is None
    repository = starter_repository(tmp_path, "correct", "--wheel", str(wheel))
    finished, summary = grade_sh(repository, tmp_path, path=SYSTEM_PATH)
    assert finished.returncode == NOT_GRADED
    assert "::error title=h1check could not grade this push::h1check is not installed" in (
        finished.stdout
    )
    assert summary.startswith("## h1check could not grade this push")
    assert "::notice" not in finished.stdout, "no points are reported for a push not graded"


def test_grade_sh_when_grading_fails_reports_not_graded(tmp_path: Path, wheel: Path) -> None:
    # The stand-in lists the submission it was given ($2 is the class), then fails.
    body = 'ls -A "$2/submission"; echo "grading broke"; exit 3'
    bin_dir = fake_h1check(tmp_path / "bin", body)
    repository = starter_repository(tmp_path, "correct", "--wheel", str(wheel))
    # The stand-in's shebang names no Python, so grade.sh falls back to python3: this venv's.
    path = f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{SYSTEM_PATH}"
    finished, summary = grade_sh(repository, tmp_path, path=path)
    assert finished.returncode == NOT_GRADED
    lines = finished.stdout.splitlines()
    assert lines[lines.index("::group::h1check grade") + 1 :][:2] == ["server.py", "grading broke"]
    assert "exit status 3" in summary


@pytest.mark.slow
def test_grade_sh_full_marks(tmp_path: Path, wheel: Path) -> None:
    repository = starter_repository(tmp_path, "correct", "--wheel", str(wheel))
    finished, summary = grade_sh(repository, tmp_path)
    assert finished.returncode == FULL_MARKS, finished.stdout[-4000:] + finished.stderr
    complete = r"^::notice title=Autograding complete::Points (\S+)/(\S+)$"
    notice = re.search(complete, finished.stdout, re.MULTILINE)
    assert notice and notice[1] == notice[2]
    report = re.search(r"^::notice title=Autograding report::(.*)$", finished.stdout, re.M)
    assert report and json.loads(report[1]) == {
        "totalPoints": json.loads(notice[1]),
        "maxPoints": json.loads(notice[2]),
    }
    assert "# h1check feedback: submission" in finished.stdout
    assert summary.startswith(f"## h1check: {notice[1]} / {notice[2]} points")
    assert (tmp_path / "report" / "class.html").is_file(), "the artifact's HTML report"


@pytest.mark.slow
def test_grade_sh_points_missing(tmp_path: Path, wheel: Path) -> None:
    repository = starter_repository(tmp_path, "single_recv", "--wheel", str(wheel))
    finished, summary = grade_sh(repository, tmp_path)
    assert finished.returncode == POINTS_MISSING, finished.stdout[-4000:] + finished.stderr
    notice = re.search(r"Points (\S+)/(\S+)$", finished.stdout, re.MULTILINE)
    assert notice and float(notice[1]) < float(notice[2])
    assert "What to fix first" in summary


# --- points -----------------------------------------------------------------------------------


def graded_folder(tmp_path: Path, results: dict[str, object], feedback: str = "") -> Path:
    """OUT/submission as `h1check grade` leaves it: results.json and feedback.md."""
    folder = tmp_path / "out" / "submission"
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(results), encoding="utf-8")
    (folder / "feedback.md").write_text(feedback, encoding="utf-8")
    return folder


TESTS = [
    {"name": "a", "score": 2.0, "max_score": 2.0, "status": "passed"},
    {"name": "b", "score": 0.0, "max_score": 1.5, "status": "failed"},
    {"name": "c", "score": 0.0, "max_score": 0.0, "status": "failed"},  # a skip: out of the max
]


def test_points_trust_gradescopes_top_level_score() -> None:
    assert points({"tests": TESTS}) == (2.0, 3.5)
    # Gating can set the total below what the tests earned; Gradescope shows the top level.
    assert points({"score": 0, "tests": TESTS}) == (0.0, 3.5)


def test_report_points_outside_actions_prints_the_points_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    graded = graded_folder(tmp_path, {"score": 2.0, "tests": TESTS})
    assert report_points(graded, {}) == POINTS_MISSING
    assert capsys.readouterr().out == "h1check: 2/3.5 points\n"


def test_report_points_under_actions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    full = [{**test, "score": test["max_score"]} for test in TESTS]
    graded = graded_folder(tmp_path, {"score": 3.5, "tests": full}, "# h1check feedback\n")
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    environ = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    assert report_points(graded, environ) == FULL_MARKS
    assert capsys.readouterr().out.splitlines()[1:] == [
        "::notice title=Autograding complete::Points 3.5/3.5",
        '::notice title=Autograding report::{"totalPoints": 3.5, "maxPoints": 3.5}',
    ]
    assert summary.read_text(encoding="utf-8") == (
        "earlier step\n## h1check: 3.5 / 3.5 points\n\n# h1check feedback\n\n"
    )


def test_a_huge_feedback_is_cut_for_the_job_summary(tmp_path: Path) -> None:
    graded = graded_folder(tmp_path, {"tests": TESTS}, "é" * exporters.SUMMARY_LIMIT)
    summary = tmp_path / "summary.md"
    report_points(graded, {"GITHUB_STEP_SUMMARY": str(summary)})
    written = summary.read_bytes()
    assert len(written) < exporters.SUMMARY_LIMIT + 200
    assert exporters.SUMMARY_CUT in written.decode("utf-8")


def test_report_points_without_results_is_not_graded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert exporters.main(["report-points", str(tmp_path)]) == NOT_GRADED
    assert capsys.readouterr().err.startswith("h1check: cannot read the grade:")
