"""Run-wide rules: which responses break them, and how settling charges a defect once."""

from __future__ import annotations

import pytest

from conformance.audits import RULES, Ledger
from conformance.engine import settle
from conformance.oracle import ReadResponse
from conformance.scenarios import load_catalogue
from conformance.verdicts import Outcome, Verdict
from tests.conformance.test_report import scenario

DATE = ("date", "Sun, 06 Nov 1994 08:49:37 GMT")


def response(
    status_line: str = "HTTP/1.1 200 OK", headers: tuple = (DATE,), body: bytes = b""
) -> ReadResponse:
    version, status, *reason = status_line.removeprefix("HTTP/").split(" ", 2)
    return ReadResponse(
        status=int(status),
        reason=reason[0] if reason else "",
        http_version=version,
        headers=headers,
        body=body,
        raw=status_line.encode() + b"\r\n",
        closed=False,
        reset=False,
        elapsed=0.0,
    )


def problems(checked: ReadResponse) -> list[str]:
    ledger = Ledger()
    ledger.inspect("basic.a", checked, "`GET / HTTP/1.1`")
    return [f.problem for findings in ledger.findings.values() for f in findings]


def test_every_rule_has_exactly_one_owner_in_the_catalogue() -> None:
    owners = [s.owns for s in load_catalogue() if s.owns is not None]
    assert sorted(owners) == sorted(RULES)


def test_a_careful_response_breaks_no_rule() -> None:
    headers = (DATE, ("content-type", 'text/html; charset="utf-8"'), ("content-length", "0"))
    assert problems(response(headers=headers)) == []


@pytest.mark.parametrize(
    ("status_line", "headers", "body", "complaint"),
    [
        ("HTTP/2.0 200 OK", (DATE,), b"", "claims HTTP/2.0"),
        ("HTTP/1.1 200", (DATE,), b"", "lacks the space after the status code"),
        ("HTTP/1.1 999 Odd", (DATE,), b"", "outside 100-599"),
        ("HTTP/1.1 404 Not Found", (), b"", "no Date header"),
        ("HTTP/1.1 200 OK", (("date", "2026-12-01 10:00:00"),), b"", "is not IMF-fixdate"),
        ("HTTP/1.1 200 OK", (DATE, ("content-type", "html")), b"", "is not a media type"),
        ("HTTP/1.1 200 OK", (DATE, ("content-type", "text/html;utf-8")), b"", "media type"),
        ("HTTP/1.1 405 Method Not Allowed", (DATE,), b"", "no Allow header"),
        ("HTTP/1.1 206 Partial Content", (DATE,), b"0123", "without Content-Range"),
        (
            "HTTP/1.1 206 Partial Content",
            (DATE, ("content-range", "bytes 0-9/100")),
            b"012345678",
            "announces 10 bytes, but the body has 9",
        ),
    ],
)
def test_each_rule_names_what_is_wrong(
    status_line: str, headers: tuple, body: bytes, complaint: str
) -> None:
    (problem,) = problems(response(status_line, headers, body))
    assert complaint in problem
    assert "answering `GET / HTTP/1.1`" in problem


def test_5xx_and_1xx_need_no_date() -> None:
    assert problems(response("HTTP/1.1 500 Internal Server Error", headers=())) == []


def verdicts_for(*ids: str, owns: dict[str, str] | None = None) -> list[Verdict]:
    made = []
    for ident in ids:
        record = scenario(ident)
        if owns and ident in owns:
            record = type(record)(**{**record.__dict__, "owns": owns[ident]})
        made.append(Verdict(record, Outcome.PASS, "passed"))
    return made


def test_settling_charges_the_owner_once_and_notes_the_others() -> None:
    owner, met, other = verdicts_for(
        "headers.date", "not-found.a", "files.b", owns={"headers.date": "date"}
    )
    ledger = Ledger({"date": "headers.date"})
    ledger.inspect("not-found.a", response("HTTP/1.1 404 Not Found", headers=()), "`GET /x`")
    ledger.inspect("files.b", response("HTTP/1.1 200 OK", headers=()), "`GET /y`")
    settle([owner, met, other], ledger)
    assert owner.outcome is Outcome.FAIL
    assert owner.message.startswith("no Date header: 'HTTP/1.1 404 Not Found' answering `GET /x`")
    assert owner.message.endswith("(and 1 more)")
    assert (met.outcome, other.outcome) == (Outcome.PASS, Outcome.PASS)
    assert met.charged_elsewhere == [
        "no Date header: 'HTTP/1.1 404 Not Found' answering `GET /x` (headers.date)"
    ]
    assert owner.notes == [
        "seen in not-found.a: no Date header: 'HTTP/1.1 404 Not Found' answering `GET /x`",
        "seen in files.b: no Date header: 'HTTP/1.1 200 OK' answering `GET /y`",
    ]


def test_without_the_owner_the_first_scenario_that_met_it_is_charged() -> None:
    met, later = verdicts_for("not-found.a", "files.b")
    ledger = Ledger()
    for name in ("not-found.a", "files.b"):
        ledger.inspect(name, response(headers=()), "`GET /`")
    settle([met, later], ledger)
    assert met.outcome is Outcome.FAIL
    assert "not in the run" in met.message
    assert later.outcome is Outcome.PASS


def test_an_owner_with_nothing_to_judge_is_skipped_not_passed() -> None:
    (owner,) = verdicts_for("headers.date-format", owns={"headers.date-format": "date-format"})
    settle([owner], Ledger({"date-format": "headers.date-format"}))
    assert owner.outcome is Outcome.SKIP
    assert "nothing to check" in owner.message
