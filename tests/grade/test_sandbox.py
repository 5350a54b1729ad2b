"""Checking one submission in a sandbox: every way a student server goes wrong gets a verdict.

These run real servers in real sandboxes, each bounded in time by its wall limit.
Where the machine refuses a layer (no namespaces, no pids cgroup) the sandbox works without it,
and the tests that need the layer say so and skip.
"""

from __future__ import annotations

import shutil
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest

from conformance.grade import SandboxResult, Submission, sandbox
from conformance.grade.sandbox import Limits, run_sandboxed
from conformance.ports import pick_free_port

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sandboxes are Linux")

CORRECT = Path(__file__).resolve().parents[2] / "fixtures" / "servers" / "correct.py"
NAMESPACES = bool(sandbox.namespace_prefix()[0])
needs_namespaces = pytest.mark.skipif(not NAMESPACES, reason=sandbox.namespace_prefix()[1])

# A course server with its port written into the code, as most hand-ins have it.
HARD_CODED = """
import runpy, sys
sys.argv = ["correct.py", "{port}"]
runpy.run_path("correct.py", run_name="__main__")
"""


def make_submission(root: Path, name: str, source: str, *, correct: bool = False) -> Submission:
    """A submission folder holding `source` as server.py (and correct.py when it uses it)."""
    folder = root / "submissions" / name
    folder.mkdir(parents=True)
    (folder / "server.py").write_text(source)
    if correct:
        shutil.copy(CORRECT, folder / "correct.py")
    return Submission(name, folder, (sys.executable, "server.py"))


def grade(
    submission: Submission, root: Path, port: int, *, wall_limit: float = 60.0, **limits: Any
) -> SandboxResult:
    """Check a submission with the default limits, or the ones a test chooses."""
    return run_sandboxed(
        submission,
        out_dir=root / "out" / submission.name,
        port=port,
        timeout=1.0,
        wall_limit=wall_limit,
        limits=Limits(**limits),
    )


def processes_mentioning(marker: str) -> list[psutil.Process]:
    """Live processes whose command line holds `marker`."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        command = " ".join(process.info["cmdline"] or [])
        if marker in command and process.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(process)
    return found


def without_namespaces_or_cgroup(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the sandbox fall back to what it does where the OS refuses both layers."""
    monkeypatch.setattr(sandbox, "namespace_prefix", lambda: ((), "turned off by the test"))
    monkeypatch.setattr(sandbox.PidsCgroup, "create", lambda limit: "turned off by the test")


def test_a_correct_server_is_checked_and_green(tmp_path: Path) -> None:
    port = pick_free_port()
    submission = make_submission(tmp_path, "ada", HARD_CODED.format(port=port), correct=True)
    result = grade(submission, tmp_path, port)
    assert result.status == "checked", result.message
    assert result.report is not None and result.report["summary"]["green"]
    assert result.report["target"].endswith(" server.py")
    assert (tmp_path / "out" / "ada" / "report.json").is_file()
    assert {"workdir", "env", "rlimits", "session", "wall-limit"} <= set(result.layers)


def test_a_missing_entry_file_runs_nothing(tmp_path: Path) -> None:
    submission = Submission("bo", tmp_path, None, "no entry file: expected server.py")
    result = grade(submission, tmp_path, 7890)
    assert (result.status, result.message) == ("no-entry", "no entry file: expected server.py")
    assert not (tmp_path / "out").exists()


def test_a_syntax_error_did_not_start_and_names_it(tmp_path: Path) -> None:
    submission = make_submission(tmp_path, "cy", "def serve(:\n    pass\n")
    result = grade(submission, tmp_path, 7890)
    assert result.status == "did-not-start"
    assert "before listening on port 7890: SyntaxError" in result.message
    assert "SyntaxError" in result.output_tail


def test_an_infinite_loop_before_binding_did_not_start_within_the_start_limit(
    tmp_path: Path,
) -> None:
    submission = make_submission(tmp_path, "dee", "while True:\n    pass\n")
    result = grade(submission, tmp_path, 7890, start_s=1.0)
    assert result.status == "did-not-start"
    assert result.message == "server did not listen on port 7890 within 1 s"
    assert result.wall_s < 15


def test_a_check_over_the_wall_limit_is_timed_out(tmp_path: Path) -> None:
    marker = f"h1check-test-{uuid.uuid4().hex}"
    source = f"import time\nwhile True:\n    time.sleep(1)  # {marker}\n"
    submission = make_submission(tmp_path, "eve", source)
    submission = Submission("eve", submission.path, (sys.executable, "server.py", marker))
    result = grade(submission, tmp_path, 7890, start_s=60.0, wall_limit=1.5)
    assert result.status == "timed-out"
    assert result.message == "the check took longer than 1.5 s and was stopped"
    assert result.wall_s < 10
    assert not processes_mentioning(marker)


def test_a_server_on_another_port_is_told_which(tmp_path: Path) -> None:
    expected, other = pick_free_port(), pick_free_port()
    source = f"import socket, time\nlistener = socket.create_server(('127.0.0.1', {other}))\ntime.sleep(60)\n"
    result = grade(make_submission(tmp_path, "fay", source), tmp_path, expected)
    assert result.status == "did-not-start"
    assert result.message.startswith(f"server listens on port {other}, not on {expected}")


def test_unbounded_allocation_meets_the_address_space_limit(tmp_path: Path) -> None:
    source = "hoard = []\nwhile True:\n    hoard.append(bytearray(1 << 24))\n"
    result = grade(make_submission(tmp_path, "gus", source), tmp_path, 7890, address_space=1 << 28)
    assert result.status == "did-not-start"
    assert result.message.endswith("MemoryError")


def test_megabytes_of_printing_are_cut_off_and_only_a_tail_kept(tmp_path: Path) -> None:
    source = "while True:\n    print('spam ' * 200)\n"
    result = grade(make_submission(tmp_path, "hal", source), tmp_path, 7890, file_size=1 << 20)
    assert result.status == "did-not-start"
    assert "its output reached the 1 MiB limit" in result.message
    assert len(result.message) < 500
    assert "spam" in result.output_tail and len(result.output_tail) <= 8192


def test_the_server_sees_a_scrubbed_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("H1CHECK_TEST_SECRET", "grader's own")
    source = "import os\nprint(sorted(os.environ))\nprint(os.environ['HOME'])\n"
    result = grade(make_submission(tmp_path, "ida", source), tmp_path, 7890)
    names, home = result.output_tail.splitlines()[-2:]
    assert names == str(["DOCROOT", "HOME", "LANG", "PATH", "PORT", "PYTHONDONTWRITEBYTECODE"])
    assert home.endswith("/home") and not home.startswith(str(Path.home()))


def test_deleting_the_files_around_it_harms_only_the_copy(tmp_path: Path) -> None:
    outside = tmp_path / "grader-file.txt"
    outside.write_text("keep me")
    source = f"""
import os, pathlib, shutil
for entry in pathlib.Path('.').iterdir():
    if entry.is_dir():
        shutil.rmtree(entry)
    elif entry.name != 'server-output.log':
        entry.unlink()
# The grader's file, and the sandbox's own files a level up.
for path in ({str(outside)!r}, '../job.json'):
    try:
        os.remove(path)
    except OSError as error:
        print('refused:', error.strerror)
"""
    submission = make_submission(tmp_path, "jo", source)
    result = grade(submission, tmp_path, 7890)
    assert result.status == "did-not-start"
    assert (submission.path / "server.py").read_text() == source
    if "readonly-fs" in result.layers:
        assert outside.read_text() == "keep me"
        assert result.output_tail.count("refused: Read-only file system") == 2


def fork_bomb_modes() -> list[object]:
    """The process caps to try: the pids cgroup where there is one, and the guard alone."""
    modes: list[object] = []
    if isinstance(sandbox.pids_hierarchy(), Path):
        modes.append("cgroup")
    if NAMESPACES:
        modes.append("guard")
    return modes or [pytest.param("none", marks=pytest.mark.skip(reason="no process cap here"))]


@pytest.mark.parametrize("mode", fork_bomb_modes())
def test_a_fork_bomb_is_contained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    if mode == "guard":
        monkeypatch.setattr(sandbox.PidsCgroup, "create", lambda limit: "turned off by the test")
    marker = f"h1check-test-{uuid.uuid4().hex}"
    source = (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    )
    submission = make_submission(tmp_path, "kit", source)
    submission = Submission("kit", submission.path, (sys.executable, "server.py", marker))
    started = time.monotonic()
    result = grade(submission, tmp_path, 7890, start_s=2.0, wall_limit=20.0)
    assert time.monotonic() - started < 30
    assert result.status == "did-not-start"
    assert result.details["guard_kills"] >= 1, result.details
    assert "the sandbox killed all its processes" in result.message
    assert not processes_mentioning(marker)


@pytest.mark.slow
@pytest.mark.skipif(not NAMESPACES, reason="needs its own port and PID namespace")
def test_a_server_that_forks_without_end_per_request_is_checked_restart_after_restart(
    tmp_path: Path,
) -> None:
    marker = f"h1check-test-{uuid.uuid4().hex}"
    source = """
import os, socket
listener = socket.create_server(("127.0.0.1", 7890))
listener.accept()
while True:
    try:
        os.fork()
    except OSError:
        pass
"""
    submission = make_submission(tmp_path, "lev", source)
    submission = Submission("lev", submission.path, (sys.executable, "server.py", marker))
    result = grade(submission, tmp_path, 7890, wall_limit=90.0)
    assert result.status == "checked", result.message
    assert result.report is not None and not result.report["summary"]["green"]
    outcomes = result.report["summary"]["outcomes"]
    # Each restart came up: the guard never killed a server the engine had just started.
    assert outcomes["blocked"] == 0 and outcomes["crash"] > 0, outcomes
    assert result.details["guard_kills"] > 1
    assert not processes_mentioning(marker)


@needs_namespaces
def test_two_servers_on_the_same_hard_coded_port_are_checked_side_by_side(
    tmp_path: Path,
) -> None:
    source = HARD_CODED.format(port=7890)
    submissions = [make_submission(tmp_path, name, source, correct=True) for name in ("lu", "mo")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda s: grade(s, tmp_path, 7890), submissions))
    assert [result.status for result in results] == ["checked", "checked"], results
    assert all(result.report and result.report["summary"]["green"] for result in results)
    assert {"netns", "pidns"} <= set(results[0].layers)


def test_without_network_namespaces_one_hard_coded_port_is_checked_in_turns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    without_namespaces_or_cgroup(monkeypatch)
    port = pick_free_port()
    source = HARD_CODED.format(port=port)
    submissions = [
        make_submission(tmp_path, name, source, correct=True) for name in ("pia", "quin")
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda s: grade(s, tmp_path, port), submissions))
    assert [result.status for result in results] == ["checked", "checked"], results
    assert "netns" not in results[0].layers


@pytest.mark.parametrize("layers", ["all", "no namespaces or cgroup"])
def test_no_process_outlives_its_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layers: str
) -> None:
    if layers != "all":
        without_namespaces_or_cgroup(monkeypatch)
    marker = f"h1check-test-{uuid.uuid4().hex}"
    port = pick_free_port()
    # A double fork with setsid: the sleeper leaves the server's process group and session.
    source = f"""
import os, sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp(sys.executable, [sys.executable, "-c", "import time; time.sleep(120)", {marker!r}])
    os._exit(0)
{HARD_CODED.format(port=port)}
"""
    result = grade(make_submission(tmp_path, "ned", source, correct=True), tmp_path, port)
    assert result.status == "checked", result.message
    assert not processes_mentioning(marker)


def test_a_layer_the_os_refuses_is_named_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    without_namespaces_or_cgroup(monkeypatch)
    result = grade(make_submission(tmp_path, "oz", "raise SystemExit('bye')\n"), tmp_path, 7890)
    assert result.status == "did-not-start"
    assert not {"netns", "pidns", "cgroup-pids"} & set(result.layers)
    missing = result.details["missing"]
    assert missing["netns"] == missing["pidns"] == "turned off by the test"
    assert missing["cgroup-pids"] == "turned off by the test"
