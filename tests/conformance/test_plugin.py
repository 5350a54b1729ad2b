"""The pytest plugin: scenarios as test items, only when a server is named."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from conformance.scenarios import load_catalogue
from tests.conformance.toyservers import live_processes_mentioning, write_always_500

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's project directory with one ordinary test of its own."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_own.py").write_text("def test_own():\n    pass\n")
    return tmp_path


def pytest_in(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run pytest with the plugin in `project` (installed entry points left out, so the plugin
    is loaded exactly once whether or not h1check is installed)."""
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "NO_COLOR": "1",
    }
    plugin = ["-p", "conformance.plugin", "-p", "no:cacheprovider"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", *plugin, *args],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def junit_cases(path: Path) -> dict[str, str]:
    """Map each JUnit test case name to its result: passed, failure, skipped or error."""
    cases = {}
    for case in ElementTree.parse(path).iter("testcase"):
        results = [child.tag for child in case if child.tag in ("failure", "skipped", "error")]
        cases[case.get("name")] = results[0] if results else "passed"
    return cases


def test_without_a_server_the_plugin_adds_nothing(project: Path) -> None:
    result = pytest_in(project, "--collect-only", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == "test_own.py::test_own"
    assert "h1check" not in result.stdout


def test_every_scenario_becomes_an_item_named_by_its_id(project: Path) -> None:
    result = pytest_in(project, "--h1-reference", "epoll", "--collect-only", "-q")
    items = [line for line in result.stdout.splitlines() if line.startswith("h1check::")]
    assert items == [f"h1check::{scenario.id}" for scenario in load_catalogue()]


def test_keyword_marker_and_junit_selection(project: Path) -> None:
    basic = [s.id for s in load_catalogue() if s.category == "basic" and s.level == "POLICY"]
    assert basic
    report = project / "junit.xml"
    result = pytest_in(
        project, "--h1-reference", "epoll", "-k", "basic", "-m", "policy", f"--junitxml={report}"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert junit_cases(report) == dict.fromkeys(basic, "passed")


def test_failing_scenario_reports_the_verdict(project: Path) -> None:
    command = write_always_500(project)
    report = project / "junit.xml"
    result = pytest_in(
        project,
        "--h1-server-cmd",
        f"{sys.executable} always_500.py {{port}}",
        "-k",
        "basic.get-root",
        f"--junitxml={report}",
    )
    assert result.returncode == 1
    assert junit_cases(report) == {"basic.get-root": "failure"}
    assert "FAIL  basic.get-root  [POLICY · RFC 9110 §9.3.1]" in result.stdout
    assert "  Expected: status 200" in result.stdout
    assert live_processes_mentioning(command[1]) == []


@pytest.mark.parametrize(
    ("strict", "status", "result"), [([], 0, "skipped"), (["--h1-strict"], 1, "failure")]
)
def test_should_failure_is_xfail_unless_strict(
    project: Path, strict: list[str], status: int, result: str
) -> None:
    command = write_always_500(project)
    report = project / "junit.xml"
    server = ["--h1-server-cmd", shlex.join(command)]
    options = ["-k", "headers.content-type and not syntax", f"--junitxml={report}", *strict]
    completed = pytest_in(project, *server, *options)
    assert completed.returncode == status, completed.stdout
    assert junit_cases(report) == {"headers.content-type": result}


def test_server_that_cannot_start_stops_the_session(project: Path) -> None:
    result = pytest_in(project, "--h1-server-cmd", "no-such-server {port}")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert "h1check: command not found: no-such-server" in result.stdout + result.stderr


def test_only_one_server_may_be_named(project: Path) -> None:
    result = pytest_in(project, "--h1-reference", "epoll", "--h1-target", "127.0.0.1:1")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert "name one server" in result.stderr


def test_a_crash_on_client_close_fails_only_closed_clients_items(project: Path) -> None:
    server = REPO / "fixtures" / "servers" / "crash_on_close.py"
    report = project / "junit.xml"
    selection = "keep-alive or closed-clients"
    command = f"{sys.executable} {server} {{port}}"
    pytest_in(project, "--h1-server-cmd", command, "-k", selection, f"--junitxml={report}")
    cases = junit_cases(report)
    failed = {name for name, result in cases.items() if result == "failure"}
    assert failed and all(name.startswith("closed-clients.") for name in failed)
    assert all(cases[name] == "passed" for name in cases if name.startswith("keep-alive."))
