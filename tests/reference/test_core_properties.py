"""The sans-I/O core fuzzed with the property layer's generators, and judged by its oracle.

No sockets: bytes go into a core `Connection` in chunks, then the end of input, and what it sends
is read back with an h11 client. Whatever the input, the core must not raise, must send what h11
reads as exactly one response per request it answered, and must be closed once the input ends.
On top of that its answers must agree with `classify`: a request the oracle accepts is answered as
the core answers the request's canonical form on a fresh connection (the same status class; for a
GET of a file, the same bytes), one it refuses gets a 4xx/5xx or a close, and where the RFC lets a
server choose, the core makes the stricter choice parser.py documents (400 for a bare LF, obs-fold
and Content-Length with Transfer-Encoding).

Every input a fuzzer ever finds failing is kept in fixtures/regressions/ and replayed here, whole
and cut at every byte, for good; a known bug's input stays there under a strict xfail until it is
fixed. The normal run is short; `H1CHECK_FUZZ=deep` searches for minutes instead of seconds.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from conformance.properties.classify import DEPARTURES, Classification, Expectation, classify
from conformance.properties.requests import (
    Mutation,
    RequestCase,
    mutations,
    pipelines,
    requests,
)
from tests.reference.corekit import feed, new_connection, perform

DEEP = os.environ.get("H1CHECK_FUZZ") == "deep"


def examples(normal: int, deep: int) -> settings:
    """Hypothesis settings running `normal` examples, or `deep` under H1CHECK_FUZZ=deep."""
    # No deadline: a 20 KiB mutation cut into pieces can take a slow CI machine past 200 ms, and
    # speed is not what these tests are about. The large mutations are meant to be large.
    return settings(
        max_examples=deep if DEEP else normal,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


REGRESSIONS = Path(__file__).resolve().parents[2] / "fixtures" / "regressions"
#: Regression inputs of bugs not fixed yet, with what is wrong; each replay is a strict xfail, so
#: the fix shows up as an XPASS that asks for its entry here to be removed.
KNOWN_BUGS: dict[str, str] = {}
#: The departures from h11 where the reference answers 400 (parser.py says why), by name, with
#: the mutation kind that makes each.
STRICTER = {
    "bare-lf": "bare-lf",
    "obs-fold": "obs-fold",
    "content-length-and-transfer-encoding": "te-and-cl",
}
CLOSING_GET = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
#: The empty lines the core skips before a request line (RFC 9112 §2.2); h11 does not.
_LEADING_CRLFS = re.compile(rb"\A(?:\r\n)+")
_DATE = re.compile(rb"(\r\nDate: )[^\r]*")


# Driving the core and reading what it sent ------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One response as an h11 client reads it."""

    status: int
    body: bytes
    announces_close: bool
    content_length: int | None


@dataclass(frozen=True)
class Transcript:
    """Everything the core did with one input, which must not depend on how it was cut."""

    #: What it sent, every Date value masked: the clock may tick between two runs.
    output: bytes
    #: How many responses it had started, and whether it had closed or half-closed, before it was
    #: told the input ended: what it does of its own accord, not because the client went away.
    answered_before_end: int
    closed_before_end: bool
    #: How many responses it started in all.
    responses: int


@dataclass(frozen=True)
class Run:
    """What the core did with one input, its output read by h11."""

    transcript: Transcript
    answers: list[Answer]

    @property
    def answered_before_end(self) -> int:
        return self.transcript.answered_before_end

    @property
    def closed_before_end(self) -> bool:
        return self.transcript.closed_before_end


def run_core(chunks: Sequence[bytes]) -> Transcript:
    """Feed `chunks` to a fresh core, then the end of input, after which it must be closed."""
    connection = new_connection()
    wire = feed(connection, list(chunks), eof=False)
    answered, closed = connection.responses, wire.half_closed or wire.closed
    if not connection.closed:
        perform(connection, connection.data_received(b"", 0.0), wire)
    assert connection.closed, "the core kept the connection open after the input ended"
    output = _DATE.sub(b"\\1*", bytes(wire.output))
    return Transcript(output, answered, closed, connection.responses)


def drive(chunks: Sequence[bytes], methods: Sequence[str]) -> Run:
    """Run the core on `chunks` and check that h11 reads exactly its responses in its output.

    `methods` are those of the requests, in order, so that h11 frames each response as the
    client that sent them would (a response to HEAD has no body); any more are read as GET's.
    """
    transcript = run_core(chunks)
    framing = [*methods, *["GET"] * transcript.responses][: transcript.responses]
    answers, leftover = read_answers(transcript.output, framing)
    assert not leftover, f"bytes after the last response: {leftover[:80]!r}"
    return Run(transcript, answers)


def read_answers(output: bytes, methods: Sequence[str]) -> tuple[list[Answer], bytes]:
    """The responses in `output` as h11 reads them for requests of `methods`, and what is left."""
    client = h11.Connection(h11.CLIENT)
    client.receive_data(output)
    client.receive_data(b"")
    answers: list[Answer] = []
    for ordinal, method in enumerate(methods, start=1):
        if ordinal > 1:
            done = {h11.CLIENT: h11.DONE, h11.SERVER: h11.DONE}
            assert client.states == done, f"response {ordinal} follows one that ended the exchange"
            client.start_next_cycle()
        client.send(h11.Request(method=method, target="/", headers=[("Host", "localhost")]))
        client.send(h11.EndOfMessage())
        response, body = None, bytearray()
        while not isinstance(event := client.next_event(), h11.EndOfMessage):
            assert event is not h11.NEED_DATA, f"response {ordinal} is cut short"
            assert not isinstance(event, h11.ConnectionClosed), f"response {ordinal} never came"
            if isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                body += event.data
        assert response is not None
        answers.append(_answer(response, bytes(body)))
    return answers, bytes(client.trailing_data[0])


def _answer(response: h11.Response, body: bytes) -> Answer:
    options = {
        option.strip().lower()
        for name, value in response.headers
        if name == b"connection"
        for option in value.split(b",")
    }
    lengths = [int(value) for name, value in response.headers if name == b"content-length"]
    length = lengths[0] if lengths else None
    return Answer(response.status_code, body, b"close" in options, length)


def cut(data: bytes, points: Iterable[int]) -> list[bytes]:
    """`data` as reads cut at `points`; never an empty read, which would mean end of input."""
    bounds = [0, *sorted(set(points)), len(data)]
    return [data[start:end] for start, end in itertools.pairwise(bounds) if end > start]


def cut_points(data: bytes, max_cuts: int) -> SearchStrategy[list[int]]:
    """One to `max_cuts` places to cut `data`, each inside it."""
    return st.lists(st.integers(1, len(data) - 1), min_size=1, max_size=max_cuts, unique=True)


def methods_in(data: bytes) -> list[str]:
    """The method of each request in `data`, as its client would frame the response.

    h11 reads the requests one after the other; the first it cannot read counts as HEAD if its
    request line starts so (a client that sent it expects no body), else as GET, and ends the list:
    the core closes after a request it cannot read.
    """
    methods: list[str] = []
    rest = data
    while rest := _LEADING_CRLFS.sub(b"", rest):
        server = h11.Connection(h11.SERVER, max_incomplete_event_size=len(rest) + 1)
        server.receive_data(rest)
        read = len(methods)
        try:
            while not isinstance(event := server.next_event(), h11.EndOfMessage):
                if event is h11.NEED_DATA:
                    raise h11.RemoteProtocolError("the request has not ended")
                if isinstance(event, h11.Request):
                    methods.append(event.method.decode("ascii"))
        except h11.RemoteProtocolError:
            if len(methods) == read:
                methods.append("HEAD" if rest.startswith(b"HEAD ") else "GET")
            return methods
        rest = server.trailing_data[0]
    return methods


# Judging ----------------------------------------------------------------------------------------


@functools.cache
def canonical_answer(method: str, path: str) -> Answer:
    """The core's answer to the plain request for `path`, on a fresh connection."""
    plain = RequestCase(b"", method, path, "1.1", True, ()).canonical
    return drive([plain], [method]).answers[0]


def assert_like_canonical(answer: Answer, method: str, path: str) -> None:
    """The same status class as the plain request gets, and for a GET of a file the same bytes."""
    plain = canonical_answer(method, path)
    assert answer.status // 100 == plain.status // 100, (
        f"answered {answer.status} where the plain {method} {path} gets {plain.status}"
    )
    if method == "GET" and 200 <= plain.status < 300:
        assert answer.body == plain.body, f"the body differs from the plain {method} {path}'s"


def judge(data: bytes, run: Run, verdict: Classification) -> None:
    """The core's first answer to `data` is what `classify` says a server must do with it."""
    why = f"classify: {verdict.expectation} ({verdict.reason})"
    if verdict.expectation is Expectation.ANSWER:
        assert run.answered_before_end, f"no response; {why}"
        if verdict.method in ("GET", "HEAD") and verdict.path is not None:
            assert_like_canonical(run.answers[0], verdict.method, verdict.path)
    elif verdict.expectation is Expectation.REFUSE and not incomplete(data):
        # A request that has not ended yet may be waited for, or answered as soon as its head is
        # whole; one that has must be refused now, and nothing after it trusted.
        assert run.closed_before_end, f"the connection stayed open; {why}"
        if run.answered_before_end:
            assert run.answers[0].status >= 400, f"answered {run.answers[0].status}; {why}"
    elif verdict.expectation is Expectation.EITHER and stricter(verdict):
        assert run.answers and run.answers[0].status == 400, f"the reference answers 400; {why}"
    if verdict.close and run.answered_before_end:
        assert run.closed_before_end, f"the connection stayed open after the response; {why}"


def stricter(verdict: Classification) -> bool:
    """True when only departures where the reference answers 400 decided `verdict`."""
    deciding = {d.name for d in DEPARTURES if d.summary in verdict.reason}
    return bool(deciding) and deciding <= set(STRICTER)


def incomplete(data: bytes) -> bool:
    """True when h11 waits for more of the first request: its head or its body has not ended."""
    server = h11.Connection(h11.SERVER, max_incomplete_event_size=len(data) + 1)
    server.receive_data(data)
    try:
        while not isinstance(event := server.next_event(), h11.EndOfMessage):
            if event is h11.NEED_DATA:
                return True
    except h11.RemoteProtocolError:
        return False
    return False


# Generated requests -----------------------------------------------------------------------------


@examples(normal=60, deep=3000)
@given(requests(), st.data())
def test_a_valid_request_is_answered_like_its_canonical_form_however_it_is_cut(
    case: RequestCase, data: st.DataObject
):
    # An HTTP/1.1 request that does not ask to close must leave the connection usable: a closing
    # GET / follows it and must be answered too. Whether HTTP/1.0 persists is the server's choice.
    follow = case.version == "1.1" and not case.close
    stream = case.data + (CLOSING_GET if follow else b"")
    methods = [case.method, *(["GET"] if follow else [])]
    whole = drive([stream], methods)
    assert whole.answered_before_end == len(methods), "a request went unanswered"
    assert_like_canonical(whole.answers[0], case.method, case.path)
    if follow:
        assert_like_canonical(whole.answers[1], "GET", "/")
    if case.close or follow:
        assert whole.closed_before_end, "the connection stayed open after a request to close it"
    points = data.draw(cut_points(stream, max_cuts=6), label="cut points")
    assert run_core(cut(stream, points)) == whole.transcript


@examples(normal=40, deep=2000)
@given(pipelines(1, 8), st.data())
def test_pipelined_requests_get_their_answers_in_order(
    cases: list[RequestCase], data: st.DataObject
):
    stream = b"".join(case.data for case in cases)
    points = data.draw(cut_points(stream, max_cuts=12), label="cut points")
    run = drive(cut(stream, points), [case.method for case in cases])
    assert run.answers, "no response at all"
    assert len(run.answers) <= len(cases)
    if len(run.answers) < len(cases):
        assert run.answers[-1].announces_close, "requests went unanswered on an open connection"
    for case, answer in zip(cases, run.answers, strict=False):
        assert_like_canonical(answer, case.method, case.path)


@examples(normal=100, deep=4000)
@given(mutations(), st.data())
def test_a_broken_request_gets_what_the_oracle_says_however_it_is_cut(
    mutation: Mutation, data: st.DataObject
):
    verdict = classify(mutation.data)
    methods = methods_in(mutation.data)
    whole = drive([mutation.data], methods)
    judge(mutation.data, whole, verdict)
    if mutation.kind in STRICTER.values():
        # The RFC lets a server accept these; the reference refuses each as a smuggling vector.
        assert whole.answers[0].status == 400, f"{mutation.kind}: {whole.answers[0].status}"
    points = data.draw(cut_points(mutation.data, max_cuts=6), label="cut points")
    assert run_core(cut(mutation.data, points)) == whole.transcript


# Regression inputs ------------------------------------------------------------------------------


def _regressions():
    return [
        pytest.param(
            path,
            id=path.stem,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[path.name])]
            if path.name in KNOWN_BUGS
            else [],
        )
        for path in sorted(REGRESSIONS.glob("*.http"))
    ]


def test_the_regression_inputs_are_there_and_every_known_bug_has_one():
    names = {path.name for path in REGRESSIONS.glob("*.http")}
    # A wrong path would otherwise replay nothing, and pass.
    assert len(names) >= 10
    assert set(KNOWN_BUGS) <= names


@pytest.mark.parametrize("path", _regressions())
def test_a_regression_input_is_handled_whole_and_cut_anywhere(path: Path):
    data = path.read_bytes()
    methods = methods_in(data)
    whole = drive([data], methods)
    judge(data, whole, classify(data))
    # The same bytes as whole, so h11 reads them the same: no need to read them again.
    for at in range(1, len(data)):
        split = run_core([data[:at], data[at:]])
        assert split == whole.transcript, f"cut after byte {at} of {len(data)}"


def test_a_refused_head_request_gets_no_content():
    """RFC 9110 §9.3.2: no content in any response to HEAD, a refusal included."""
    data = (REGRESSIONS / "head-with-two-host-fields.http").read_bytes()
    run = drive([data], methods_in(data))
    assert run.answers[0].status == 400
    assert run.answers[0].body == b"" and run.transcript.output.endswith(b"\r\n\r\n")
