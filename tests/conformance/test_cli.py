"""The `h1check` command line: listings, the document root, runs, exit statuses and errors."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.docroot import CANARY_NAME, CANARY_TEXT
from conformance.ports import pick_free_port
from conformance.report import catalogue
from conformance.scenarios import load_catalogue
from conformance.target import LaunchedTarget
from reference.backends import BACKENDS
from tests.conformance.toyservers import live_processes_mentioning, write_always_500

REPO = Path(__file__).resolve().parents[2]
CORRECT_SERVER = [sys.executable, str(REPO / "fixtures" / "servers" / "correct.py"), "{port}"]


@pytest.fixture
def always_500(tmp_path: Path) -> list[str]:
    """The command line of a server that answers 500 to everything."""
    return write_always_500(tmp_path)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run `h1check ARGV` in-process; return (status, stdout, stderr)."""
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def one_line_error(stderr: str) -> str:
    """Assert stderr is exactly one `h1check: error:` line and return it."""
    assert stderr.count("\n") == 1 and stderr.startswith("h1check: error: "), stderr
    assert "Traceback" not in stderr
    return stderr.strip()


def test_list_prints_every_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capsys, "list")
    scenarios = load_catalogue()
    assert status == 0
    assert out.splitlines()[0].split() == ["ID", "CATEGORY", "LEVEL", "RFC", "TITLE"]
    for scenario in scenarios:
        assert any(line.startswith(scenario.id + " ") for line in out.splitlines())
    assert out.endswith(f"\n{len(scenarios)} scenarios\n")


def test_list_markdown_is_the_scenarios_document(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capsys, "list", "--markdown")
    assert status == 0
    assert out == catalogue.markdown(load_catalogue())


def test_docroot_writes_root_and_canary(tmp_path: Path, capsys) -> None:
    status, out, _ = run_cli(capsys, "docroot", str(tmp_path / "site"))
    assert status == 0
    assert (tmp_path / "site" / "html" / "index.html").is_file()
    assert (tmp_path / "site" / CANARY_NAME).read_text() == CANARY_TEXT
    assert f"canary:        {tmp_path / 'site' / CANARY_NAME}" in out
    assert f"--root {tmp_path / 'site' / 'html'}" in out


def test_run_against_a_correct_server_is_green(capsys) -> None:
    status, out, _ = run_cli(capsys, "run", "--category", "basic", "--", *CORRECT_SERVER)
    assert status == 0
    assert "  basic " in out
    assert "PASS: every MUST and POLICY scenario passed" in out


def test_run_against_a_wrong_server_fails_and_explains(always_500, capsys) -> None:
    status, out, _ = run_cli(capsys, "run", "--id", "basic.get-root", "--", *always_500)
    assert status == 1
    assert "FAIL: 1 MUST and POLICY scenario did not pass" in out
    assert "basic.get-root  [POLICY · RFC 9110 §9.3.1]" in out
    assert "  Expected: " in out
    assert "     < HTTP/1.1 500 Oops\\r\\n" in out
    # The line re-runs the user's own command, not a port of a server that is gone.
    reproduce = shlex.join(["h1check", "run", "--id", "basic.get-root", "--", *always_500])
    assert f"Reproduce: {reproduce}" in out
    header = out.splitlines()[0]
    assert re.fullmatch(rf"h1check 0\.1\.0 · {re.escape(shlex.join(always_500[:-1]))} \d+", header)
    assert live_processes_mentioning(always_500[1]) == []


def test_json_report_has_the_documented_fields(always_500, tmp_path: Path, capsys) -> None:
    report_path = tmp_path / "report.json"
    argv = ["run", "--category", "basic", "--json", str(report_path), "--", *always_500]
    status, out, _ = run_cli(capsys, *argv)
    report = json.loads(report_path.read_text())
    assert status == 1
    assert f"JSON report: {report_path}" in out
    assert list(report) == [
        "tool",
        "version",
        "target",
        "started",
        "duration_s",
        "scenarios",
        "summary",
    ]
    assert report["tool"] == "h1check"
    basic = [s.id for s in load_catalogue() if s.category == "basic"]
    assert [record["id"] for record in report["scenarios"]] == basic
    assert {"id", "category", "level", "rfc", "title", "outcome", "message", "duration_s"} <= set(
        report["scenarios"][0]
    )
    assert report["summary"]["deciding_failures"] == basic
    assert report["summary"]["exit_status"] == 1


def test_reference_backend_runs(capsys) -> None:
    status, out, _ = run_cli(capsys, "run", "--reference", "epoll", "--category", "basic")
    assert status == 0
    assert out.startswith("h1check 0.1.0 · reference server (epoll backend)\n")


def test_every_reference_backend_gets_a_scorecard_and_a_report(tmp_path: Path, capsys) -> None:
    argv = ["run", "--reference", "all", "--category", "basic", "--json", str(tmp_path / "r.json")]
    status, out, _ = run_cli(capsys, *argv)
    assert status == 0
    for backend in BACKENDS:
        assert f"h1check 0.1.0 · reference server ({backend} backend)\n" in out
        assert f"\n{backend:<12} PASS" in out
        report = json.loads((tmp_path / f"r.{backend}.json").read_text())
        assert report["target"] == f"reference server ({backend} backend)"


def test_running_target_is_checked_in_place(capsys) -> None:
    with LaunchedTarget(CORRECT_SERVER) as server:
        address = f"{server.host}:{server.port}"
        argv = ["run", "--target", address, "--root", str(server.docroot), "--category", "basic"]
        status, out, _ = run_cli(capsys, *argv)
    assert status == 0
    assert out.startswith(f"h1check 0.1.0 · {address}\n")


def test_a_wrong_root_is_one_error_before_any_scenario(tmp_path: Path, capsys) -> None:
    (tmp_path / "index.html").write_text("<p>my own site</p>")
    port = pick_free_port()  # Nothing listens: the root is refused before any connection.
    status, out, err = run_cli(
        capsys, "run", "--target", f"127.0.0.1:{port}", "--root", str(tmp_path)
    )
    assert (status, out) == (2, "")
    message = one_line_error(err)
    assert "is not the suite's document root" in message
    assert "h1check docroot DIR" in message


def test_a_selection_with_no_deciding_level_decides_nothing(capsys) -> None:
    selection = ["--id", "errors.unknown-method", "--level", "SHOULD"]
    status, out, _ = run_cli(capsys, "run", *selection, "--", *CORRECT_SERVER)
    assert status == 2
    assert out.splitlines()[-1].startswith("NOTHING DECIDED: no MUST and POLICY scenario")
    status, out, _ = run_cli(capsys, "run", *selection, "--strict", "--", *CORRECT_SERVER)
    assert status == 0


def test_held_port_is_refused_before_launching(capsys) -> None:
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        status, _, err = run_cli(capsys, "run", "--port", str(port), "--", *CORRECT_SERVER)
    assert status == 2
    assert one_line_error(err).startswith(f"h1check: error: port {port} is already in use by pid ")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--", "no-such-server"], "command not found: no-such-server"),
        (["run", "--category", "nope", "--", "true"], "unknown category 'nope'"),
        (["run", "--id", "basic.nope*", "--", "true"], "no scenario id matches 'basic.nope*'"),
        (["run", "--level", "SOMETIMES", "--", "true"], "unknown level 'SOMETIMES'"),
        (["run", "--id", "basic.get-root", "--level", "MAY", "--", "true"], "nothing selected"),
        (["run", "--category", "basic"], "name exactly one server"),
        (["run", "--target", "localhost", "--", "true"], "expected HOST:PORT"),
        (["run", "--timeout", "soon", "--", "true"], "not a number of seconds: 'soon'"),
        (["run", "--reference", "nope"], "unknown backend 'nope' (known: serial,"),
        (["run", "--root", "html", "--", "true"], "--root only goes with --target"),
        (["list", "--", "true"], "a server command after '--' goes with 'run'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], message: str, capsys) -> None:
    status, _, err = run_cli(capsys, *argv)
    assert status == 2
    assert message in one_line_error(err)


def test_command_exiting_at_once_is_one_line(capsys) -> None:
    status, _, err = run_cli(capsys, "run", "--", sys.executable, "-c", "print('no html dir')")
    assert status == 2
    assert re.fullmatch(
        r"h1check: error: server exited with status 0 before listening on port \d+: no html dir",
        one_line_error(err),
    )


def test_unreachable_target_is_one_line(capsys) -> None:
    port = pick_free_port()
    status, _, err = run_cli(capsys, "run", "--target", f"127.0.0.1:{port}")
    assert status == 2
    assert one_line_error(err) == (
        f"h1check: error: cannot connect to 127.0.0.1:{port}: Connection refused"
    )


def test_console_entry_point_never_shows_a_traceback() -> None:
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "conformance", "run", "--category", "nope", "--", "true"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("h1check: error: unknown category 'nope'")
    assert result.stderr.count("\n") == 1


def test_a_seed_style_server_report_fits_a_screenful_and_leads_with_its_cause(
    capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # Replay scripts of failed properties go to ./h1check-replay.
    server = [sys.executable, str(REPO / "fixtures" / "servers" / "seed_style.py"), "{port}"]
    status, out, _ = run_cli(capsys, "run", "--", *server)
    lines = out.splitlines()
    assert status == 1
    assert len(lines) <= 120
    causes = [line for line in lines if re.match(r"\d+\. ", line)]
    assert causes[0] == "1. Your responses are a status line and a body, with no header fields"
    reproduce = [line.strip() for line in lines if "Reproduce:" in line]
    assert reproduce and all(
        line.startswith("Reproduce: h1check run --id ")
        and line.endswith(shlex.join(["--", *server]))
        for line in reproduce
    )


def test_report_files_come_from_one_run(always_500, tmp_path: Path, capsys) -> None:
    junit, page = tmp_path / "r.xml", tmp_path / "r.html"
    argv = ["run", "--category", "basic", "--junit", str(junit), "--html", str(page)]
    status, out, _ = run_cli(capsys, *argv, "--", *always_500)
    assert status == 1
    assert f"JUnit report: {junit}" in out and f"HTML report: {page}" in out
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "2"
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html and "http://" not in html
    assert "basic.get-root" in html and "HTTP/1.1 500 Oops" in html


def test_explain_prints_the_rfc_paragraph_and_the_steps(capsys) -> None:
    status, out, _ = run_cli(capsys, "explain", "keep-alive.client-close")
    assert status == 0
    assert '  >> A server that receives a "close" connection option MUST initiate' in out
    assert "  1. sends on main: GET / HTTP/1.1\\r\\n" in out
    assert "Hint:" in out
    status, _, err = run_cli(capsys, "explain", "keep-alive.clientclose")
    assert status == 2
    assert "did you mean keep-alive.client-close" in one_line_error(err)


def test_a_failed_property_leaves_a_replay_script_the_reports_point_to(
    tmp_path: Path, capsys
) -> None:
    server = [sys.executable, str(REPO / "fixtures" / "servers" / "percent_upper_hex.py"), "{port}"]
    report, page = tmp_path / "out" / "r.json", tmp_path / "out" / "r.html"
    report.parent.mkdir()
    argv = [
        "run",
        "--id",
        "files.property-target-forms",
        "--json",
        str(report),
        "--html",
        str(page),
    ]
    status, out, _ = run_cli(capsys, *argv, "--", *server)
    assert status == 1
    (record,) = json.loads(report.read_text())["scenarios"]
    assert record["outcome"] == "fail" and record["property"] == "target-forms"
    assert record["replay_script"] == "r-replay/files-property-target-forms.py"
    assert (report.parent / record["replay_script"]).is_file()
    assert record["replay"]["seed"] == 0 and record["replay"]["sockets"][0]["sent"]
    assert f'href="{record["replay_script"]}"' in page.read_text()
    assert f"Replay scripts: {tmp_path / 'out' / 'r-replay'}{os.sep}" in out
