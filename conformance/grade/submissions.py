"""Finding the submissions in a folder, and the command that starts each one.

Each subdirectory is one student's submission. The start command is a template (`python {entry}`
by default) whose `{entry}` is the submission's entry file: its `run.sh`, or its single `*.py`
file, or among several `server.py` then `main.py`. A submission that cannot be started gets a
one-line problem instead of a command, and is still graded (zero, with the reason), so one
student's mistake never stops the class.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from conformance.grade import Submission

DEFAULT_COMMAND = "python {entry}"
PYTHON_NAMES = ("python", "python3")
PREFERRED_ENTRIES = ("server.py", "main.py")


class SubmissionsError(Exception):
    """The submissions folder itself cannot be graded; the message is one line."""


def find_submissions(folder: Path, template: str = DEFAULT_COMMAND) -> list[Submission]:
    """Every submission in `folder`, sorted by name, each with its command or its problem."""
    if not folder.is_dir():
        raise SubmissionsError(f"{folder} is not a folder of submissions")
    folders = sorted(
        (path for path in folder.iterdir() if path.is_dir() and not path.name.startswith(".")),
        key=lambda path: path.name,
    )
    if not folders:
        raise SubmissionsError(f"{folder} holds no submission folders (one per student)")
    seen: dict[str, Path] = {}
    submissions = []
    for path in folders:
        key = path.name.casefold()
        if key in seen:
            problem = f"duplicate name: {seen[key].name} and {path.name} differ only in case"
            submissions.append(Submission(path.name, path, None, problem))
            continue
        seen[key] = path
        submissions.append(_submission(path, template))
    return submissions


def _submission(path: Path, template: str) -> Submission:
    try:
        entry = find_entry(path)
    except (OSError, SubmissionsError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        return Submission(path.name, path, None, reason)
    if not os.access(path / entry, os.R_OK):
        return Submission(path.name, path, None, f"{entry} is not readable")
    if entry.endswith(".sh") and "{entry}" in template and template == DEFAULT_COMMAND:
        return Submission(path.name, path, ("sh", entry))
    words = [word.replace("{entry}", entry) for word in shlex.split(template)]
    if words and words[0] in PYTHON_NAMES:
        # "python" means the interpreter running h1check: the sandbox's scrubbed PATH may have
        # no `python` at all (Debian ships only python3), and students expect the course's one.
        words[0] = sys.executable
    return Submission(path.name, path, tuple(words))


def find_entry(path: Path) -> str:
    """The file that starts this submission's server, relative to its folder."""
    if (path / "run.sh").is_file():
        return "run.sh"
    sources = sorted(entry.name for entry in path.glob("*.py") if entry.is_file())
    if len(sources) == 1:
        return sources[0]
    for preferred in PREFERRED_ENTRIES:
        if preferred in sources:
            return preferred
    if not sources:
        raise SubmissionsError("no entry file: expected run.sh or a .py file")
    raise SubmissionsError(
        f"several .py files ({', '.join(sources)}) and none is server.py or main.py:"
        " rename the one that starts the server"
    )
