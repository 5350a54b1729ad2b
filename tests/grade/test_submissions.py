"""Finding the submissions of a class and the command that starts each one."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conformance.grade.submissions import SubmissionsError, find_submissions


def make(folder: Path, name: str, *files: str) -> None:
    """A submission folder holding the named (empty) files."""
    (folder / name).mkdir(parents=True)
    for file in files:
        (folder / name / file).write_text("print('hello')\n")


def test_each_folder_is_a_submission_with_its_entry(tmp_path: Path) -> None:
    make(tmp_path, "ada", "server.py", "helpers.py")
    make(tmp_path, "bruno", "app.py")
    make(tmp_path, "chen", "main.py", "util.py")
    make(tmp_path, "dana", "run.sh", "server.py")
    found = {s.name: s for s in find_submissions(tmp_path)}
    assert found["ada"].command == (sys.executable, "server.py")
    assert found["bruno"].command == (sys.executable, "app.py")
    assert found["chen"].command == (sys.executable, "main.py")
    assert found["dana"].command == ("sh", "run.sh")
    assert list(found) == ["ada", "bruno", "chen", "dana"]


def test_a_submission_that_cannot_start_says_why_and_the_rest_are_kept(tmp_path: Path) -> None:
    make(tmp_path, "empty", "README.txt")
    make(tmp_path, "unsure", "a.py", "b.py")
    make(tmp_path, "fine", "server.py")
    found = {s.name: s for s in find_submissions(tmp_path)}
    assert found["empty"].command is None and "no entry file" in (found["empty"].problem or "")
    assert found["unsure"].command is None
    assert "several .py files (a.py, b.py)" in (found["unsure"].problem or "")
    assert found["fine"].command is not None


def test_the_command_template_fills_in_the_entry(tmp_path: Path) -> None:
    make(tmp_path, "ada", "server.py")
    (submission,) = find_submissions(tmp_path, "python3 -u {entry} --port {port}")
    assert submission.command == (sys.executable, "-u", "server.py", "--port", "{port}")


def test_names_that_differ_only_in_case_are_a_duplicate(tmp_path: Path) -> None:
    make(tmp_path, "Ada", "server.py")
    make(tmp_path, "ada", "server.py")
    first, second = find_submissions(tmp_path)
    assert first.command is not None
    assert second.command is None and "duplicate name" in (second.problem or "")


@pytest.mark.parametrize("kind", ["missing", "empty"])
def test_a_folder_with_nothing_to_grade_is_one_error(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "class"
    if kind == "empty":
        folder.mkdir()
    with pytest.raises(SubmissionsError, match="submission"):
        find_submissions(folder)
