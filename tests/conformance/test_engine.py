"""The engine against small servers started here: a careful one passes, each defect gets its verdict."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from conformance.engine import Settings, run
from conformance.scenarios import load_catalogue, select
from conformance.target import LaunchedTarget, RunningTarget
from conformance.transcript import MAX_LINES, Transcript
from conformance.verdicts import Outcome
from tests.conformance.conftest import read_head

FAST = Settings(response_timeout=0.5, connect_timeout=0.5)
TOY_CATEGORIES = [
    "basic",
    "files",
    "not-found",
    "head",
    "framing",
    "keep-alive",
    "pipelining",
    "partial-reads",
    "closed-clients",
    "concurrency",
    "security",
]

CRASHES_ON_EMPTY_CONNECTION = """
import socket, sys
listener = socket.create_server(("127.0.0.1", int(sys.argv[1])))
while True:
    conn, _ = listener.accept()
    request = conn.recv(65536)
    path = request.split()[1]  # IndexError on an empty request: the classic course-server crash
    conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nok")
    conn.close()
"""


def by_id(ids: list[str]) -> list:
    """The catalogue's scenarios with these ids, in the order given."""
    found = {scenario.id: scenario for scenario in select(load_catalogue(), id_globs=ids)}
    return [found[scenario_id] for scenario_id in ids]


def outcomes(verdicts: list) -> dict[str, Outcome]:
    return {verdict.scenario.id: verdict.outcome for verdict in verdicts}


def test_a_careful_server_passes_every_scenario_it_implements(thread_target):
    scenarios = select(load_catalogue(), categories=TOY_CATEGORIES)
    started = time.monotonic()
    verdicts = run(scenarios, thread_target())
    failures = [
        f"{v.scenario.id}: {v.outcome} {v.message}" for v in verdicts if v.outcome != "pass"
    ]
    assert failures == []
    assert time.monotonic() - started < 10


def test_a_server_that_closes_without_length_passes_basic_and_fails_framing(thread_target):
    target = thread_target(no_length=True, close_unannounced=True)
    verdicts = run(by_id(["basic.get-root", "framing.close-announced"]), target, FAST)
    basic, framing = verdicts
    assert basic.outcome is Outcome.PASS
    assert framing.outcome is Outcome.FAIL
    assert "without announcing" in framing.message
    assert "Connection: close" in framing.expected


def test_a_body_sent_for_head_fails_both_head_scenarios(thread_target):
    verdicts = run(
        by_id(["head.no-body", "head.then-get"]), thread_target(body_for_head=True), FAST
    )
    no_body, then_get = verdicts
    assert no_body.outcome is Outcome.FAIL
    assert "unexpected bytes" in no_body.message
    assert then_get.outcome is Outcome.FAIL
    # The body is read as the start of the next response, and h11 says why it cannot parse it.
    assert "malformed response" in then_get.message


def test_a_server_that_never_answers_hangs_within_the_timeout(thread_target):
    verdicts = run(by_id(["basic.get-root"]), thread_target(never_answer=True), FAST)
    (verdict,) = verdicts
    assert verdict.outcome is Outcome.HANG
    assert "no response within 0.5 s" in verdict.message
    assert verdict.duration_s < 2


def test_serving_the_canary_fails_the_scenario(thread_target):
    (verdict,) = run(by_id(["security.dotdot"]), thread_target(unsafe_paths=True), FAST)
    assert verdict.outcome is Outcome.FAIL
    assert "canary" in verdict.message


def test_a_crash_is_attributed_to_its_scenario_and_the_server_restarted(script_target):
    target = script_target(CRASHES_ON_EMPTY_CONNECTION)
    scenarios = by_id(["closed-clients.connect-and-close", "basic.get-root"])
    crashed, after = run(scenarios, target, FAST)
    assert crashed.outcome is Outcome.CRASH
    assert "IndexError" in (crashed.server_output or "")
    assert target.restarts == 1
    assert after.outcome is Outcome.FAIL  # Answered again, though not with index.html.
    assert "body" in after.message


def test_a_server_that_cannot_be_restarted_blocks_the_rest_of_the_run(thread_target):
    target = thread_target()
    server_stopped: list[bool] = []

    def stop_after_first(verdict) -> None:
        if not server_stopped:
            server_stopped.append(True)
            target.port = _closed_port()

    scenarios = by_id(["basic.get-root", "files.css", "files.png"])
    first, second, third = run(scenarios, target, FAST, on_verdict=stop_after_first)
    assert first.outcome is Outcome.PASS
    assert "stopped accepting connections" in first.notes[0]
    for blocked in (second, third):
        assert blocked.outcome is Outcome.BLOCKED
        assert blocked.message.startswith("not run:")
        assert "cannot restart a server it did not start" in blocked.message


def test_a_harness_problem_is_an_error_never_the_servers_fault(thread_target, make_scenario):
    broken = make_scenario(
        [
            {"send": "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"},
            {"expect": 200, "body_file": "not-in-the-docroot.txt"},
        ]
    )
    fine = by_id(["basic.get-root"])[0]
    verdicts = run([broken, fine], thread_target(), FAST)
    assert [v.outcome for v in verdicts] == [Outcome.ERROR, Outcome.PASS]
    assert "harness error" in verdicts[0].message


def test_a_check_function_judges_revalidation(thread_target):
    scenarios = by_id(["conditional.if-none-match", "conditional.if-modified-since"])
    etag, last_modified = run(scenarios, thread_target(), FAST)
    assert etag.outcome is Outcome.PASS
    assert last_modified.outcome is Outcome.FAIL
    assert "no Last-Modified" in last_modified.message


def test_alternatives_record_the_servers_choice(thread_target):
    (verdict,) = run(by_id(["range.content-range"]), thread_target(), FAST)
    assert verdict.outcome is Outcome.PASS
    assert verdict.choice == "200 whole file"


def test_no_time_wait_is_left_on_the_servers_port(thread_target):
    target = thread_target(no_length=True, close_unannounced=True)
    run(select(load_catalogue(), categories=["basic", "files", "head"]), target, FAST)
    assert _time_wait_on_local_port(target.port) == 0


def test_failures_carry_their_transcript(thread_target):
    (verdict,) = run(by_id(["basic.get-root"]), thread_target(no_length=True), FAST)
    assert verdict.outcome is Outcome.PASS
    assert verdict.transcript[0] == "> GET / HTTP/1.1\\r\\n"
    assert any(line.startswith("< HTTP/1.1 200 OK") for line in verdict.transcript)


def test_transcript_stays_short_for_large_transfers():
    transcript = Transcript()
    transcript.sent("main", b"GET /" + b"a" * 65536 + b" HTTP/1.1\r\n\r\n")
    for _ in range(100):
        transcript.received("main", b"x" * 4096 + b"\n")
    assert len(transcript.lines) < 10
    assert transcript.lines[-1] == "< ... (409060 more bytes)"
    for index in range(MAX_LINES * 2):
        transcript.note("main", f"event {index}")
    assert len(transcript.lines) == MAX_LINES + 1


def _closed_port() -> int:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


def _time_wait_on_local_port(port: int) -> int:
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "06":
            count += 1
    return count


def test_every_step_kind_runs_against_a_careful_server(thread_target, make_scenario):
    request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    scenario = make_scenario(
        [
            {"connect": "a", "recv_buffer": 4096},
            {"send": ["GET / HTTP/1.1\r\nHost: x\r\n", "\r\n"], "on": "a", "pause": 0.01},
            {"expect": 200, "on": "a", "body_file": "index.html", "then": "open"},
            {"send": "GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n", "on": "a"},
            {"half_close": "a"},
            {"expect": 200, "on": "a", "body_file": "style.css", "headers": ["Date"]},
            {"closed": "a", "clean": True},
            {"send": "GET /large.bin HTTP/1.1\r\nHost: x\r\n\r\n", "on": "b"},
            {"read_bytes": 1000, "on": "b"},
            {"reset": "b"},
            {"wait": 0.01},
            {"check_alive": True},
            {"repeat": 2, "steps": [{"send": request, "on": "c"}, {"expect": "2xx", "on": "c"}]},
            {"send": request, "on": "c", "bytewise": True},
            {"expect": 200, "on": "c", "match": {"Content-Type": "^text/html"}},
            {"silent": "c", "seconds": 0.05, "clean": True},
            {"close": "c"},
        ]
    )
    (verdict,) = run([scenario], thread_target(), FAST)
    assert (verdict.outcome, verdict.message) == (Outcome.PASS, "passed")
    assert "* a: client half-closed (SHUT_WR)" in verdict.transcript
    assert "* b: client reset the connection (RST)" in verdict.transcript


DIES_WHEN_A_CLIENT_HANGS_UP = """
import email.utils, socket, sys
listener = socket.create_server(("127.0.0.1", int(sys.argv[1])))
page = open("html/index.html", "rb").read()
while True:
    conn, _ = listener.accept()
    while True:
        request = conn.recv(65536)
        if not request:
            raise RuntimeError("client hung up")  # The course bug: b"" was never expected.
        close = b"connection: close" in request.lower()
        date = email.utils.formatdate(usegmt=True).encode()
        head = b"HTTP/1.1 200 OK\\r\\nDate: %s\\r\\nContent-Length: %d\\r\\n" % (date, len(page))
        conn.sendall(head + (b"Connection: close\\r\\n" if close else b"") + b"\\r\\n" + page)
        if close:
            conn.close()
            break
"""

DIES_ON_EVERY_REQUEST = """
import socket, sys
listener = socket.create_server(("127.0.0.1", int(sys.argv[1])))
while True:
    conn, _ = listener.accept()
    if conn.recv(65536):
        respnse = b"HTTP/1.1 200 OK\\r\\n\\r\\n"
        conn.sendall(response)  # NameError: the typo kills the server on any request.
"""

CLIENT_CLOSE = [
    "keep-alive.ten-sequential",
    "closed-clients.close-after-response",
    "basic.get-root",
]


def test_a_death_when_a_client_hangs_up_is_charged_to_closed_clients_once(script_target):
    target = script_target(DIES_WHEN_A_CLIENT_HANGS_UP)
    kept_alive, owner, after = run(by_id(CLIENT_CLOSE), target, FAST)
    assert kept_alive.outcome is Outcome.PASS  # Judged on its own concern: both answers came.
    assert len(kept_alive.notes) == 1
    assert "client closed a connection the server held open" in kept_alive.notes[0]
    assert "restarted" in kept_alive.notes[0]
    assert owner.outcome is Outcome.CRASH
    assert "RuntimeError: client hung up" in (owner.server_output or "")
    assert any("keep-alive.ten-sequential" in note for note in owner.notes)
    assert after.outcome is Outcome.PASS


def test_without_its_owner_the_death_is_charged_where_first_met(script_target):
    target = script_target(DIES_WHEN_A_CLIENT_HANGS_UP)
    scenarios = by_id(["keep-alive.ten-sequential", "basic.get-root"])
    first, second = run(scenarios, target, FAST)
    assert first.outcome is Outcome.CRASH
    assert "the scenario that owns this rule is not in the run" in first.message
    assert second.outcome is Outcome.PASS


def test_a_server_that_cannot_be_restarted_says_so_and_charges_closed_clients(script_target):
    target = script_target(DIES_WHEN_A_CLIENT_HANGS_UP)
    # As for --target: h1check did not start it, so it can neither see it exit nor restart it.
    target.restartable = False
    target.is_running = lambda: True
    kept_alive, owner, after = run(by_id(CLIENT_CLOSE), target, FAST)
    assert kept_alive.outcome is Outcome.PASS
    assert re.search("stopped (accepting connections|answering) when", kept_alive.notes[0])
    assert "cannot restart a server it did not start" in kept_alive.notes[0]
    assert owner.outcome is Outcome.CRASH
    assert "keep-alive.ten-sequential" in owner.message
    assert after.outcome is Outcome.BLOCKED
    assert target.restarts == 0


def test_a_server_that_crashes_on_every_request_is_judged_the_same_every_time(script_target):
    scenarios = by_id(["basic.get-root", "files.css", "closed-clients.connect-and-close"])
    runs = [run(scenarios, script_target(DIES_ON_EVERY_REQUEST), FAST) for _ in range(2)]
    for verdicts in runs:
        assert [verdict.outcome for verdict in verdicts] == [Outcome.CRASH] * 3
        assert all("NameError" in (verdict.server_output or "") for verdict in verdicts)
    assert [v.message for v in runs[0]] == [v.message for v in runs[1]]


def test_a_late_response_says_how_late(thread_target):
    def answer_late(conn, docroot) -> None:
        if read_head(conn, b"") is not None:
            time.sleep(0.8)  # Longer than FAST's 0.5 s timeout, shorter than twice it.
            page = (docroot / "index.html").read_bytes()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(page) + page)

    (verdict,) = run(by_id(["basic.get-root"]), thread_target(handler=answer_late), FAST)
    assert verdict.outcome is Outcome.HANG
    assert re.search(r"the response came 0\.\d s late: it took 0\.[89] s", verdict.message)
    assert verdict.actual.startswith("HTTP/1.1 200 OK")


def test_a_running_server_killed_by_the_first_check_is_charged_to_closed_clients(tmp_path):
    script = tmp_path / "server.py"
    keeps_every_connection = DIES_WHEN_A_CLIENT_HANGS_UP.replace(
        'close = b"connection: close" in request.lower()', "close = False"
    )
    script.write_text(keeps_every_connection)
    with LaunchedTarget([sys.executable, str(script), "{port}"]) as launched:
        target = RunningTarget(launched.host, launched.port, launched.docroot)
        target.start()  # Its GET / is answered; closing that connection kills the server.
        scenarios = by_id(["basic.get-root", "closed-clients.close-after-response"])
        first, owner = run(scenarios, target, FAST)
    assert first.outcome is Outcome.BLOCKED
    assert "cannot restart a server it did not start" in first.message
    assert owner.outcome is Outcome.CRASH
    assert "after h1check's first GET / closed its connection" in owner.message


def test_a_deleted_canary_is_put_back_so_traversal_is_still_caught(thread_target):
    target = thread_target(unsafe_paths=True)
    target.canary.unlink()  # As a submission hiding its traversal bug would.
    (verdict,) = run(by_id(["security.dotdot"]), target, FAST)
    assert verdict.outcome is Outcome.FAIL
    assert "canary" in verdict.message
    assert any("was gone; h1check put it back" in note for note in verdict.notes)
