"""The terminal and JSON reports of a run, and which verdicts decide it."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from conformance.report import EXIT_FAILED, EXIT_GREEN, EXIT_UNCHECKED, RunReport, exit_status
from conformance.report.json_report import build_report
from conformance.report.terminal import explain, one_line_summary, render_run, use_color
from conformance.scenarios import Scenario
from conformance.verdicts import Outcome, Verdict


def scenario(ident: str, level: str = "MUST") -> Scenario:
    """A scenario record for report tests; its steps are never run."""
    category = ident.split(".")[0]
    return Scenario(
        id=ident,
        title=f"title of {ident}",
        category=category,
        level=level,
        rfc="RFC 9112 §9.6",
        requires=f"requirement of {ident}",
        hint=f"hint for {ident}",
        steps=(),
    )


def verdict(ident: str, outcome: Outcome, level: str = "MUST", **details: object) -> Verdict:
    """A verdict with a one-line message naming its outcome."""
    return Verdict(scenario(ident, level), outcome, f"{outcome} message", **details)


class FakeTerminal(io.StringIO):
    """A text stream that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color(FakeTerminal())
    assert not use_color(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color(FakeTerminal())


def test_colour_codes_appear_only_when_asked() -> None:
    verdicts = [verdict("basic.a", Outcome.PASS), verdict("framing.b", Outcome.FAIL)]
    plain = render_run(verdicts, target="t", duration_s=1.0, strict=False)
    painted = render_run(verdicts, target="t", duration_s=1.0, strict=False, color=True)
    assert "\x1b[" not in plain
    assert "\x1b[31m" in painted and "\x1b[32m" in painted


def test_scorecard_counts_per_category_and_level() -> None:
    verdicts = [
        verdict("basic.a", Outcome.PASS),
        verdict("basic.b", Outcome.PASS),
        verdict("framing.c", Outcome.HANG),
        verdict("framing.d", Outcome.PASS, level="SHOULD"),
    ]
    text = render_run(verdicts, target="my server", duration_s=1.234, strict=False)
    lines = text.splitlines()
    assert lines[0] == "h1check 0.1.0 · my server"
    assert "  basic            2/2" in lines
    assert "  framing          1/2   1 hang" in lines
    assert "  passed: MUST 2/3 · SHOULD 1/1" in lines
    assert "  (MUST: the RFC's absolute requirement; SHOULD: the RFC's recommendation)" in lines
    assert lines[-1] == "FAIL: 1 MUST and POLICY scenario did not pass (4 run in 1.23 s)"


def test_failure_explanation_has_everything_needed_to_act() -> None:
    failed = verdict(
        "keep-alive.close",
        Outcome.FAIL,
        expected="the connection closed",
        actual="it stayed open",
        transcript=["> GET / HTTP/1.1\\r\\n", "< HTTP/1.1 200 OK\\r\\n"],
        reproduction="printf 'GET / HTTP/1.1\\r\\n\\r\\n' | nc 127.0.0.1 8080",
        choice="closed",
    )
    text = explain(failed, deciding=True, strict=False)
    expected_block = [
        "FAIL  keep-alive.close  [MUST · RFC 9112 §9.6]  title of keep-alive.close",
        "  fail message",
        "  Expected: the connection closed",
        "  Actual:   it stayed open",
        "  Allowed:  the server answered with closed, which the RFC permits",
        "  On the wire (> sent, < received):",
        "    > GET / HTTP/1.1\\r\\n",
        "    < HTTP/1.1 200 OK\\r\\n",
        '  RFC 9112 §9.6: "requirement of keep-alive.close"',
        "  Hint:     hint for keep-alive.close",
        "  Reproduce: printf 'GET / HTTP/1.1\\r\\n\\r\\n' | nc 127.0.0.1 8080",
    ]
    assert "\n".join(expected_block) in text


def test_should_failure_is_reported_but_decides_only_when_strict() -> None:
    verdicts = [verdict("headers.a", Outcome.PASS), verdict("headers.b", Outcome.FAIL, "SHOULD")]
    relaxed = render_run(verdicts, target="t", duration_s=0.1, strict=False, verbose=True)
    strict = render_run(verdicts, target="t", duration_s=0.1, strict=True)
    assert "only --strict makes it decide" in relaxed
    assert relaxed.splitlines()[-1].startswith("PASS: every MUST and POLICY scenario passed")
    assert strict.splitlines()[-1].startswith(
        "FAIL: 1 MUST, POLICY and SHOULD scenario did not pass"
    )
    assert exit_status(verdicts, strict=False) == EXIT_GREEN
    assert exit_status(verdicts, strict=True) == EXIT_FAILED


def test_deciding_problems_are_explained_before_the_others() -> None:
    verdicts = [
        verdict("basic.may", Outcome.FAIL, "MAY"),
        verdict("basic.should", Outcome.FAIL, "SHOULD"),
        verdict("basic.must", Outcome.FAIL),
    ]
    text = render_run(verdicts, target="t", duration_s=0.1, strict=False, verbose=True)
    text = text.split("Every failure in full", 1)[1]
    assert text.index("FAIL  basic.must") < text.index("FAIL  basic.should")
    assert "MAY: reported, never decides the exit status" in text


def test_crash_shows_the_server_output_and_error_blames_the_harness() -> None:
    crashed = verdict("closed-clients.a", Outcome.CRASH, server_output="server killed\nOSError")
    harness = verdict("closed-clients.b", Outcome.ERROR)
    text = render_run([crashed, harness], target="t", duration_s=0.1, strict=False, verbose=True)
    assert "  Server output:\n    server killed\n    OSError" in text
    assert "(a problem in h1check itself, not in the server)" in text


def test_a_run_that_skipped_everything_is_never_green() -> None:
    verdicts = [verdict("basic.a", Outcome.SKIP)]
    text = render_run(verdicts, target="t", duration_s=0.1, strict=False)
    assert exit_status(verdicts, strict=False) == EXIT_UNCHECKED
    assert text.splitlines()[-1].startswith("NOTHING DECIDED")


def test_a_selection_without_a_deciding_level_decides_nothing() -> None:
    verdicts = [verdict("range.a", Outcome.PASS, "MAY"), verdict("range.b", Outcome.PASS, "SHOULD")]
    text = render_run(verdicts, target="t", duration_s=0.1, strict=False)
    assert exit_status(verdicts, strict=False) == EXIT_UNCHECKED
    assert text.splitlines()[-1].startswith("NOTHING DECIDED: no MUST and POLICY scenario")
    assert exit_status(verdicts, strict=True) == EXIT_GREEN


def test_policy_failures_decide_like_must_and_blocked_ones_too() -> None:
    assert exit_status([verdict("basic.a", Outcome.FAIL, "POLICY")], strict=False) == EXIT_FAILED
    blocked = [verdict("basic.a", Outcome.PASS), verdict("basic.b", Outcome.BLOCKED)]
    assert exit_status(blocked, strict=False) == EXIT_FAILED


def test_a_repeated_crash_is_one_cause_with_its_output_once() -> None:
    output = "server exited with status 1\nNameError: name 'Ture' is not defined"
    crashes = [verdict(f"basic.c{n}", Outcome.CRASH, server_output=output) for n in range(3)]
    text = render_run(crashes, target="t", duration_s=0.1, strict=False)
    assert "1. Your server crashed: NameError: name 'Ture' is not defined" in text
    assert text.count("Server output:") == 1
    assert "   Also explains: basic.c1, basic.c2" in text


def test_causes_come_first_and_other_failures_take_one_line_each() -> None:
    verdicts = [
        verdict("partial-reads.split-method", Outcome.FAIL, "POLICY"),
        verdict("partial-reads.byte-by-byte", Outcome.FAIL, "POLICY"),
        verdict("headers.date-format", Outcome.FAIL),
    ]
    lines = render_run(verdicts, target="t", duration_s=0.1, strict=False).splitlines()
    cause = lines.index("1. Your server treats one recv() as the whole request")
    others = lines.index("Other failures")
    assert cause < others
    assert "   Also explains: partial-reads.byte-by-byte" in lines
    assert lines[others + 1].startswith("  FAIL  headers.date-format  [MUST · RFC 9112 §9.6]")
    assert len(lines) < 40


def test_a_long_body_is_shown_by_its_first_and_last_lines() -> None:
    body = [f"< line {n}\\n" for n in range(40)]
    transcript = ["> GET / HTTP/1.1\\r\\n", *body]
    failed = verdict("partial-reads.a", Outcome.FAIL, "POLICY", transcript=transcript)
    text = render_run([failed], target="t", duration_s=0.1, strict=False)
    assert "< line 0\\n" in text and "< line 39\\n" in text
    assert "< ... (34 more lines)" in text
    assert "< line 20\\n" not in text
    assert "< line 20\\n" in render_run(
        [failed], target="t", duration_s=0.1, strict=False, verbose=True
    )


def test_json_summary_names_the_deciding_failures() -> None:
    verdicts = [verdict("basic.a", Outcome.CRASH), verdict("basic.b", Outcome.FAIL, "SHOULD")]
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    run = RunReport(tuple(verdicts), target="t", started=started, duration_s=1.23456, strict=False)
    report = build_report(run)
    assert report["started"] == "2026-01-02T03:04:05+00:00"
    assert report["duration_s"] == 1.235
    summary = report["summary"]
    assert summary["deciding_failures"] == ["basic.a"]
    assert summary["outcomes"]["crash"] == 1 and summary["outcomes"]["fail"] == 1
    assert (summary["exit_status"], summary["green"], summary["strict"]) == (1, False, False)


def test_one_line_summary_names_the_categories_with_problems() -> None:
    verdicts = [
        verdict("basic.a", Outcome.PASS),
        verdict("concurrency.b", Outcome.HANG),
        verdict("concurrency.c", Outcome.PASS),
        verdict("range.d", Outcome.FAIL, "MAY"),
    ]
    assert one_line_summary(verdicts, strict=False) == "FAIL  concurrency 1/2  range 0/1"
    assert one_line_summary(verdicts[:1], strict=False) == "PASS"
