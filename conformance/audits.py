"""Rules that hold for every response and connection of a run, each charged to one owner.

A server that never sends Date has one defect, not one per scenario that happens to read a
response. So no scenario looks for Date itself: every response a run reads passes through the
rules below, and one that breaks a rule becomes a *finding*. A finding is charged to the rule's
owner, the one catalogue scenario that declares `owns = "<rule>"` (headers.date owns "date").
Any other scenario that meets the defect is judged on its own concern and lists it under
`charged_elsewhere`. If the owner is not part of the run, the first scenario that met the defect
is charged instead, so a narrow selection is never lenient by accident.

Two rules concern what a connection did rather than one response, so the session and the engine
report them: "announce-close" (the server closed after a response without saying
`Connection: close`) and "client-close" (the server died or stopped answering once a client closed
a connection it was holding open).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from conformance.oracle import ReadResponse

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
MEDIA_TYPE = re.compile(
    rf"{_TOKEN}/{_TOKEN}(?:[ \t]*;[ \t]*(?:{_TOKEN}=(?:{_TOKEN}|{_QUOTED}))?)*",
)
IMF_FIXDATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    r" \d{4} \d\d:\d\d:\d\d GMT"
)
CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
STATUS_LINE = re.compile(r"HTTP/(\d)\.(\d) (\d{3})( ?)")


@dataclass(frozen=True)
class Finding:
    """One place where the server broke a rule: which scenario met it, and what was wrong."""

    rule: str
    scenario: str
    problem: str


@dataclass(frozen=True)
class ResponseRule:
    """A rule about single responses: which responses it concerns, and how one can break it."""

    name: str
    expected: str
    applies: Callable[[ReadResponse], bool]
    problem: Callable[[ReadResponse], str | None]


def _status_line_problem(response: ReadResponse) -> str | None:
    line = response.raw.split(b"\r\n", 1)[0].decode("latin-1")
    found = STATUS_LINE.match(line)
    if found is None:
        return f"the status line {line[:60]!r} does not start with HTTP/x.y and a status code"
    major, minor, status, space = found.groups()
    if major != "1":
        return f"the status line claims HTTP/{major}.{minor}, a version this server does not speak"
    if not 100 <= int(status) <= 599:
        return f"status code {status} is outside 100-599"
    if not space:
        return f"the status line {line!r} lacks the space after the status code"
    return None


def _content_range_problem(response: ReadResponse) -> str | None:
    value = response.header("content-range")
    if value is None:  # h1check asks for one range, so a multipart answer is wrong too.
        return "a 206 response without Content-Range"
    found = CONTENT_RANGE.fullmatch(value.strip())
    if found is None:
        return f"Content-Range {value!r} is not 'bytes FIRST-LAST/LENGTH'"
    first, last, complete = int(found.group(1)), int(found.group(2)), found.group(3)
    if last < first or (complete != "*" and last >= int(complete)):
        return f"Content-Range {value!r} is not a range inside the representation"
    if len(response.body) != last - first + 1:
        return (
            f"Content-Range {value!r} announces {last - first + 1} bytes,"
            f" but the body has {len(response.body)}"
        )
    return None


RESPONSE_RULES = (
    ResponseRule(
        "status-line",
        "every status line reads HTTP/1.x, a status code from 100 to 599, and a space",
        applies=lambda response: True,
        problem=_status_line_problem,
    ),
    ResponseRule(
        "date",
        "a Date header on every 2xx, 3xx and 4xx response",
        applies=lambda response: 200 <= response.status < 500,
        problem=lambda response: None if response.header("date") else "no Date header",
    ),
    ResponseRule(
        "date-format",
        "every Date in IMF-fixdate format, e.g. Sun, 06 Nov 1994 08:49:37 GMT",
        applies=lambda response: response.header("date") is not None,
        problem=lambda response: (
            None
            if IMF_FIXDATE.fullmatch(date := (response.header("date") or "").strip())
            else f"Date {date!r} is not IMF-fixdate"
        ),
    ),
    ResponseRule(
        "content-type",
        "every Content-Type a media type: type/subtype, then ;name=value parameters",
        applies=lambda response: response.header("content-type") is not None,
        problem=lambda response: (
            None
            if MEDIA_TYPE.fullmatch(value := (response.header("content-type") or "").strip())
            else f"Content-Type {value!r} is not a media type"
        ),
    ),
    ResponseRule(
        "allow",
        "an Allow header on every 405 response",
        applies=lambda response: response.status == 405,
        problem=lambda response: (
            None if response.header("allow") is not None else "no Allow header"
        ),
    ),
    ResponseRule(
        "content-range",
        "every 206 response carries a Content-Range that matches the bytes it encloses",
        applies=lambda response: response.status == 206,
        problem=_content_range_problem,
    ),
)
CONNECTION_RULES = {
    "announce-close": "Connection: close on every response after which the server closes",
    "client-close": "the server keeps serving after a client closes a connection",
}
EXPECTATIONS = {rule.name: rule.expected for rule in RESPONSE_RULES} | CONNECTION_RULES
# Owners that exist only to carry their rule: with nothing in the whole run for the rule to judge,
# they are skipped rather than passed. (range.content-range judges its own 200 or 206 as well.)
NOTHING_TO_CHECK = {
    "status-line": "no response was read",
    "date": "no 2xx, 3xx or 4xx response was read",
    "date-format": "no response carried a Date header (headers.date judges its absence)",
    "content-type": "no response carried a Content-Type header",
    "allow": "the server sent no 405 (Method Not Allowed) response",
}
RULES = tuple(EXPECTATIONS)


class Ledger:
    """Everything a run's rules found, and how many responses each rule had to judge.

    `owners` maps each rule to the scenario of this run that owns it (absent: no owner runs).
    """

    def __init__(self, owners: dict[str, str] | None = None) -> None:
        self.owners = dict(owners or {})
        self.findings: dict[str, list[Finding]] = defaultdict(list)
        self.judged: Counter[str] = Counter()

    def inspect(self, scenario: str, response: ReadResponse, request: str) -> None:
        """Hold one response against every response rule; `request` names what it answers."""
        for rule in RESPONSE_RULES:
            if not rule.applies(response):
                continue
            self.judged[rule.name] += 1
            problem = rule.problem(response)
            if problem is not None:
                where = f"{response.status_line!r} answering {request}"
                self.record(rule.name, scenario, f"{problem}: {where}")

    def record(self, rule: str, scenario: str, problem: str) -> None:
        """Note that `scenario` met a breach of `rule`."""
        self.judged[rule] += 1
        self.findings[rule].append(Finding(rule, scenario, problem))
