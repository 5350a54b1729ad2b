"""The properties a server must have, each judged over generated examples on live sockets.

The fixed catalogue checks the requests we thought of; these check the ones a real client might
send instead. The rule that decides is always the same: a request h11 accepts is answered as the
server answers its plain, canonical equivalent (same status class; for a file, the same bytes);
a request the oracle says must be refused (classify.py) gets a 4xx/5xx or a close; and nothing
may hang, crash, or send bytes an h11 client rejects. Comparing with the server's own answer to
the canonical request, not with our idea of it, keeps each property about its one concern: a
server that cannot serve a file at all fails the fixed catalogue, not this layer.

Each property is registered in PROPERTIES under the name a catalogue record gives in its
`property` key; it raises Violation (explore.py) for a failing example.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from hypothesis import strategies as st

from conformance.oracle import ReadResponse, describe_response
from conformance.properties.classify import Expectation, classify, http09_shaped
from conformance.properties.exchange import (
    CLOSING_REQUEST,
    Ending,
    Exchange,
    Turn,
    Write,
    converse,
)
from conformance.properties.explore import Profile, Search, Violation, explore, profile_for
from conformance.properties.replay import Check, Wanted, record
from conformance.properties.requests import (
    MUTATIONS,
    VARIATIONS,
    Mutation,
    RequestCase,
    mutations,
    pipelines,
    requests,
)
from conformance.settings import Settings

if TYPE_CHECKING:
    from conformance.session import Session
import itertools

from conformance.transcript import escape
from conformance.verdicts import Outcome, ScenarioFailed, ScenarioSkipped

SPLIT_REQUESTS = (
    b"GET /style.css HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    b"GET /style.css HTTP/1.1\r\nHost: localhost\r\n\r\n"
    b"HEAD /no-such-file.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
)
SPLIT_METHODS = (("GET",), ("GET", "HEAD"))
DEEP_SPLIT_REQUESTS = (
    b"HEAD / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    b"GET /logo.png HTTP/1.1\r\nHost: localhost\r\n\r\n"
    b"GET /no-such-file.html HTTP/1.1\r\nHost: localhost\r\n\r\n"
    b"GET /utf8.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
)
DEEP_SPLIT_METHODS = (("HEAD",), ("GET", "GET", "GET"))
PAUSES_S = (0.0, 0.001, 0.005, 0.02)


@dataclass(frozen=True)
class Plain:
    """What the server does with the plain form of a request: what every variant must match.

    Its answer to the plain request with `Connection: close`; whether it then closed; and whether
    a connection kept open after the plain request still answers a closing GET /. A variant is
    held only to what the plain form shows, so a server that mishandles keep-alive or framing for
    every request fails those scenarios, not each property in turn.
    """

    answer: ReadResponse | None
    closes: bool
    keeps_alive: bool


class PropertyRun:
    """One property against one server: the plain forms it compares with, each asked once."""

    def __init__(
        self,
        host: str,
        port: int,
        settings: Settings,
        profile: Profile,
        plain_forms: dict[tuple[str, str], Plain] | None = None,
    ) -> None:
        self.host, self.port, self.settings, self.profile = host, port, settings, profile
        # Shared by the run's property scenarios while the server lives (engine.py).
        self._plain = {} if plain_forms is None else plain_forms
        # Whether the last exchange ended with h1check closing a connection the server held.
        self.left_open = False
        self.died_at_client_close = False

    def converse(
        self,
        turns: tuple[Turn, ...],
        await_close: bool,
        close_wait_s: float | None = None,
        may_close: bool = False,
    ) -> Exchange:
        """One exchange; a refused connection means the server is gone, and ends the search.

        A server found gone right after h1check closed a connection it still held died of
        that close: the classic course bug the closed-clients scenarios own. The property then
        cannot be judged past it, and is skipped rather than charged with the crash.
        """
        exchange = converse(
            self.host,
            self.port,
            turns,
            self.settings,
            await_close=await_close,
            close_wait_s=close_wait_s,
            may_close=may_close,
        )
        left_open = self.left_open
        self.left_open = exchange.ending is not Ending.REFUSED and not exchange.closed_by_server
        if exchange.ending is Ending.REFUSED and left_open:
            self.died_at_client_close = True
            raise ScenarioSkipped(
                "the server died when h1check closed a connection it held open, so the rest"
                " could not be judged (closed-clients.close-after-response charges that)"
            )
        if exchange.ending is Ending.REFUSED:
            raise Violation(
                Outcome.CRASH,
                "the server refused the connection: it is gone",
                "a connection",
                exchange.detail,
                [exchange],
                gone=True,
            )
        return exchange

    def plain(self, method: str, path: str) -> Plain:
        """How the server treats the plain request for `path`, closing and kept open."""
        key = (method, path)
        if key not in self._plain:
            line = f"{method} {_quote(path)} HTTP/1.1\r\nHost: localhost\r\n".encode()
            closing = Turn((Write(line + b"Connection: close\r\n\r\n"),), (method,))
            # A server that honours the close does so at once; one that does not should not
            # cost a whole timeout per file to find out (it is keep-alive's concern, and the
            # variants are held to nothing here).
            alone = self.converse((closing,), True, close_wait_s=2 * self.settings.quiet_period)
            kept = Turn((Write(line + b"\r\n"),), (method,))
            follow = Turn((Write(CLOSING_REQUEST),), ("GET",))
            both = self.converse((kept, follow), True, close_wait_s=2 * self.settings.quiet_period)
            self._plain[key] = Plain(
                alone.responses[0] if alone.responses else None,
                alone.closed_by_server,
                len(both.responses) == 2 and not both.responses[0].announces_close,
            )
        return self._plain[key]

    def want_like(self, method: str, path: str, words: str, required: bool = True) -> Wanted:
        """The answer a request equivalent to the plain one must get.

        With `required`, a server that leaves the plain request unanswered cannot be judged by
        comparison, and the scenario is skipped (the fixed catalogue shows why); without it, any
        response will do.
        """
        answer = self.plain(method, path).answer
        if answer is None and required:
            raise ScenarioSkipped(
                f"the plain `{method} {_quote(path)}` got no response, so requests equivalent to"
                " it cannot be compared with it; the basic and files scenarios show why"
            )
        if answer is None:
            return Wanted(f"a response to {words}")
        status_class = f"{answer.status // 100}xx"
        digest = None
        if method == "GET" and 200 <= answer.status < 300:
            digest = hashlib.sha256(answer.body).hexdigest()
        body = f" with the {len(answer.body)} bytes it gets" if digest else ""
        return Wanted(
            f"{status_class}{body}, as the plain `{method} {_quote(path)}` gets {answer.status}",
            (status_class,),
            digest,
        )


# Judging ----------------------------------------------------------------------------------------


def judge_exchange(exchange: Exchange, wanted: list[Wanted], must_close: bool) -> None:
    """Raise Violation unless each response is what it must be, in order, then the close.

    The violation carries the rule with the exchange, so a standalone script can judge a replay.
    """
    try:
        _judge_exchange(exchange, wanted, must_close)
    except Violation as violation:
        violation.checks = [Check(exchange, tuple(wanted), must_close)]
        # Finding it meant waiting out the timeout: shrinking such failures is costly.
        violation.slow = exchange.ending is Ending.TIMEOUT or (
            must_close and not exchange.closed_by_server
        )
        raise


def _judge_exchange(exchange: Exchange, wanted: list[Wanted], must_close: bool) -> None:
    for ordinal, want in enumerate(wanted, start=1):
        where = f"response {ordinal} of {len(wanted)}: " if len(wanted) > 1 else ""
        if ordinal <= len(exchange.responses):
            _judge_response(exchange, exchange.responses[ordinal - 1], want, where)
            continue
        if exchange.responses and exchange.responses[-1].announces_close:
            return  # The server said the connection ends: it need not answer the rest.
        _missing(exchange, want, where)
    if must_close and not exchange.closed_by_server:
        raise Violation(
            Outcome.FAIL,
            "the request asked the server to close the connection, but it kept it open",
            "the server closes the connection after the response (Connection: close)",
            "the connection still open after the response",
            [exchange],
        )


def _judge_response(exchange: Exchange, response: ReadResponse, want: Wanted, where: str) -> None:
    status_class = f"{response.status // 100}xx"
    if want.classes and status_class not in want.classes:
        raise Violation(
            Outcome.FAIL,
            f"{where}answered {response.status} where {want.text}",
            want.text,
            describe_response(response),
            [exchange],
        )
    if want.body_sha256 and hashlib.sha256(response.body).hexdigest() != want.body_sha256:
        raise Violation(
            Outcome.FAIL,
            f"{where}the body differs from the one the plain request gets",
            want.text,
            f"{describe_response(response)}, {len(response.body)} bytes of other content",
            [exchange],
        )


def _missing(exchange: Exchange, want: Wanted, where: str) -> None:
    if exchange.ending in (Ending.CLOSED, Ending.RESET) and want.close_instead:
        return
    if exchange.ending is Ending.TIMEOUT and want.wait_ok:
        return
    # An HTTP/0.9 reply (the body alone, then a close) to a 0.9-shaped request.
    http09_reply = exchange.closed_by_server and not bytes(exchange.received).startswith(b"HTTP/")
    if exchange.ending is Ending.MALFORMED and want.http09_ok and http09_reply:
        return
    outcome = Outcome.HANG if exchange.ending is Ending.TIMEOUT else Outcome.FAIL
    raise Violation(
        outcome,
        f"{where}{exchange.detail or 'no response'}",
        want.text,
        exchange.detail or exchange.ending,
        [exchange],
    )


# The properties ---------------------------------------------------------------------------------


def answers_like_canonical(run: PropertyRun, vary: frozenset[str]) -> Search:
    """Requests that differ from the plain one only in `vary` get the plain one's answer."""

    def judge(case: RequestCase) -> None:
        plain = run.plain(case.method, case.path)
        wanted = [run.want_like(case.method, case.path, _first_line(case.data))]
        turns = [Turn((Write(case.data),), (case.method,))]
        # An HTTP/1.1 connection kept open must still work, as it does after the plain request:
        # a closing GET / follows and ends it. (Whether an HTTP/1.0 one persists is the server's
        # choice, so nothing follows there.)
        follow = not case.close and case.version == "1.1" and plain.keeps_alive
        if follow:
            turns.append(Turn((Write(CLOSING_REQUEST),), ("GET",)))
            wanted.append(run.want_like("GET", "/", "GET /"))
        must_close = plain.closes and (follow or _asks_to_close(case.data))
        # An HTTP/1.0 request may be closed: see the FIN, so no TIME_WAIT is left on the server.
        exchange = run.converse(tuple(turns), must_close, may_close=case.close and plain.closes)
        judge_exchange(exchange, wanted, must_close)

    return explore(requests(vary), judge, run.profile, _describe_case)


# Where the RFC itself requires a refusal (not only h11): these kinds must get a 4xx/5xx or a
# close. Any other request h11 rejects may be recovered from (RFC 9110 §2.4: "a recipient MAY
# attempt to recover a usable protocol element from an invalid construct"), except an invalid
# request line, which SHOULD be refused (RFC 9112 §3.2) and is judged at that level.
REQUIRED_REFUSALS = {
    "missing-host": "RFC 9112 §3.2: a server MUST respond 400 to a request without Host",
    "two-hosts": "RFC 9112 §3.2: a server MUST respond 400 to more than one Host",
    "space-before-colon": "RFC 9112 §5.1: a server MUST reject whitespace before the colon",
    "two-content-lengths": "RFC 9112 §6.3: an invalid Content-Length MUST get 400",
    "bad-content-length": "RFC 9112 §6.3: an invalid Content-Length MUST get 400",
}
REQUEST_LINE_MUTATIONS = (
    "garbage-method",
    "missing-version",
    "bad-version",
    "lowercase-version",
    "extra-words",
    "empty-target",
    "control-in-target",
)


def refuses_what_the_rfc_refuses(run: PropertyRun) -> Search:
    """Malformed requests never hang; those the RFC says MUST be refused are (a 4xx/5xx or a
    close); those h11 accepts are answered like their plain form."""
    return _judge_mutations(run, tuple(MUTATIONS), REQUIRED_REFUSALS)


def refuses_invalid_request_lines(run: PropertyRun) -> Search:
    """Invalid request lines h11 rejects get a 400 or 301 (or any 4xx/5xx), or a close."""
    every_one = dict.fromkeys(REQUEST_LINE_MUTATIONS, "RFC 9112 §3.2: SHOULD respond 400 or 301")
    return _judge_mutations(run, REQUEST_LINE_MUTATIONS, every_one)


def _judge_mutations(run: PropertyRun, kinds: tuple[str, ...], refused: dict[str, str]) -> Search:
    def judge(mutation: Mutation) -> None:
        verdict = classify(mutation.data)
        # A head that never ends in CRLF CRLF (bare LFs) has not ended at all for a server that
        # only knows CRLF, which RFC 9112 §2.2 allows: waiting for the rest is not a hang.
        unended = b"\r\n\r\n" not in mutation.data
        http09 = http09_shaped(mutation.data)
        if verdict.expectation is Expectation.ANSWER and verdict.method in ("GET", "HEAD"):
            path = verdict.path or mutation.base.path
            want = run.want_like(verdict.method, path, "it", required=False)
        elif verdict.expectation is Expectation.REFUSE and mutation.kind in refused:
            want = Wanted(
                f"a 4xx or 5xx status (or 301), or a close ({refused[mutation.kind]}; {verdict.reason})",
                ("4xx", "5xx", "301"),
                close_instead=True,
                wait_ok=unended,
                http09_ok=http09,
            )
        else:
            want = Wanted(
                f"any response, or a close ({verdict.reason})",
                close_instead=True,
                wait_ok=unended,
                http09_ok=http09,
            )
        method = verdict.method or mutation.base.method
        turns = [Turn((Write(mutation.data),), (method,))]
        # A connection the server keeps after answering is ended by a closing GET / (not
        # judged), so the server closes first, as it does after the plain one: a course server
        # that dies when a client hangs up is the closed-clients scenarios' concern.
        follow = run.plain("GET", "/").keeps_alive
        if follow:
            turns.append(Turn((Write(CLOSING_REQUEST),), ("GET",)))
        exchange = run.converse(tuple(turns), follow, may_close=not follow)
        judge_exchange(exchange, [want], must_close=False)

    return explore(mutations(kinds), judge, run.profile, _describe_mutation)


def survives_every_split(run: PropertyRun) -> Search:
    """The same bytes cut anywhere, in one or many places, get the same responses as whole."""
    deep = run.profile.name == "deep"
    streams = SPLIT_REQUESTS + (DEEP_SPLIT_REQUESTS if deep else ())
    methods = SPLIT_METHODS + (DEEP_SPLIT_METHODS if deep else ())
    baselines, closed = [], []
    for data, names in zip(streams, methods, strict=True):
        whole = run.converse((Turn((Write(data),), names),), await_close=True)
        cut_short = len(whole.responses) < len(names) and not whole.announced_close
        if whole.ending is not Ending.ANSWERED or not whole.responses or cut_short:
            raise ScenarioSkipped(
                f"the unsplit requests were not all answered ({whole.detail or whole.ending}),"
                " so splitting them cannot be judged; the basic and pipelining scenarios show why"
            )
        baselines.append([_wanted_same(response) for response in whole.responses])
        closed.append(whole.closed_by_server)

    def judge_split(stream: int, cuts: tuple[int, ...], pauses: tuple[float, ...]) -> None:
        writes = _cut(streams[stream], cuts, pauses)
        wanted = baselines[stream]
        exchange = run.converse((Turn(writes, methods[stream]),), closed[stream])
        judge_exchange(exchange, wanted, must_close=closed[stream])

    pause = run.profile.split_pause_s
    for stream, data in enumerate(streams):
        for cut in range(1, len(data)):
            try:
                judge_split(stream, (cut,), (pause,))
            except Violation as violation:
                violation.example = f"split after byte {cut} of {len(data)}"
                return Search(violation, cut, 0.0, False)

    schedules = st.integers(0, len(streams) - 1).flatmap(
        lambda stream: st.tuples(
            st.just(stream),
            st.lists(st.integers(1, len(streams[stream]) - 1), min_size=2, max_size=8, unique=True)
            .map(sorted)
            .map(tuple),
            st.lists(st.sampled_from(PAUSES_S), min_size=1, max_size=8).map(tuple),
        )
    )
    return explore(schedules, lambda s: judge_split(*s), run.profile, _describe_schedule)


def answers_pipelines_in_order(run: PropertyRun) -> Search:
    """1-8 requests in one write or in random chunks: every answer, in order, then the close."""
    chunked = st.tuples(
        pipelines(min_size=1, max_size=8, vary=frozenset()),
        st.lists(st.integers(1, 1 << 16), max_size=6),
        st.sampled_from(PAUSES_S),
    )

    def judge(example: tuple[list[RequestCase], list[int], float]) -> None:
        cases, cut_points, pause = example
        data = b"".join(case.data for case in cases)
        cuts = sorted({point % len(data) for point in cut_points} - {0})
        try:
            _judge_sequence(run, cases, (Turn(_cut(data, tuple(cuts), (pause,)), _methods(cases)),))
        except Violation as violation:
            if violation.gone:
                raise
            # The same requests one at a time, each after the previous answer: if they fail
            # too, the defect is keep-alive's or framing's (their scenarios say so), not
            # pipelining's, and the property cannot be judged past it.
            alone = tuple(Turn((Write(case.data),), (case.method,)) for case in cases)
            try:
                _judge_sequence(run, cases, alone)
            except Violation as sequential:
                raise ScenarioSkipped(
                    "the generated requests fail even sent one at a time, each after the"
                    f" previous answer ({sequential.message}), so pipelining them cannot be"
                    " judged; the keep-alive, head and framing scenarios show why"
                ) from None
            raise

    return explore(chunked, judge, run.profile, _describe_pipeline)


def _judge_sequence(run: PropertyRun, cases: list[RequestCase], turns: tuple[Turn, ...]) -> None:
    """Requests on one connection: each answered like its plain form, in order, then the close
    when the last one asked for it and the server closes after the plain one."""
    wanted = [run.want_like(case.method, case.path, _first_line(case.data)) for case in cases]
    last = cases[-1]
    follow = not last.close and run.plain("GET", "/").keeps_alive
    if follow:
        turns += (Turn((Write(CLOSING_REQUEST),), ("GET",)),)
        wanted.append(run.want_like("GET", "/", "GET /"))
    closes = follow or _asks_to_close(last.data)
    must_close = closes and run.plain(last.method, last.path).closes
    exchange = run.converse(turns, must_close)
    judge_exchange(exchange, wanted, must_close)


def _methods(cases: list[RequestCase]) -> tuple[str, ...]:
    return tuple(case.method for case in cases)


@dataclass(frozen=True)
class Property:
    """A registered property: what it generates and holds the server to, and its search."""

    summary: str
    search: Callable[[PropertyRun], Search]


def _varying(*names: str) -> Callable[[PropertyRun], Search]:
    return lambda run: answers_like_canonical(run, frozenset(names))


_LIKE_CANONICAL = (
    "answers each as it answers the plain request for the same file (same status class, and"
    " for a file the same bytes); asking to close closes, and a kept-open connection still"
    " answers a closing GET /"
)
PROPERTIES: dict[str, Property] = {
    "name-case": Property(
        f"sends GET and HEAD requests whose field names are in any letter case; {_LIKE_CANONICAL}",
        _varying("name-case"),
    ),
    "whitespace": Property(
        "sends GET and HEAD requests with spaces and tabs before and after field values;"
        f" {_LIKE_CANONICAL}",
        _varying("whitespace"),
    ),
    "target-forms": Property(
        "sends GET and HEAD requests whose targets carry needless percent-encoding (upper- or"
        f" lower-case hex), a query, or the absolute form; {_LIKE_CANONICAL}",
        _varying("percent-encoding", "query", "absolute-form"),
    ),
    "any-valid-request": Property(
        "sends GET and HEAD requests varied in every way real clients differ (field order,"
        " letter case, whitespace, extra fields, query, percent-encoding, absolute form,"
        f" HTTP/1.0 or 1.1); {_LIKE_CANONICAL}",
        _varying(*VARIATIONS),
    ),
    "malformed": Property(
        "sends requests broken in one way each (request line, field syntax, framing, Host,"
        " size, control bytes); none may go unanswered or get a broken response, those the"
        " RFC says MUST be refused (Host, whitespace before a colon, Content-Length) get a"
        " 4xx/5xx or a close, and those h11 accepts get their plain form's answer",
        refuses_what_the_rfc_refuses,
    ),
    "invalid-request-line": Property(
        "sends requests whose request line is invalid (method, version, target, extra words,"
        " control bytes); each must get a 400 or 301 (any 4xx/5xx will do), or a close",
        refuses_invalid_request_lines,
    ),
    "every-split": Property(
        "sends plain requests and a pipeline cut after every byte (one connection per cut), then"
        " cut in many places with pauses; the answers must equal those to the unsplit bytes",
        survives_every_split,
    ),
    "pipelines": Property(
        "sends 1-8 pipelined requests (files, missing files, HEAD, a final close) in one write"
        " or in pieces; every answer must come, in order, each right, then the close",
        answers_pipelines_in_order,
    ),
}


def _cut(data: bytes, cuts: tuple[int, ...], pauses: tuple[float, ...]) -> tuple[Write, ...]:
    """`data` as writes cut at `cuts`, each after the next of `pauses` (cycling) but the first."""
    bounds = [0, *cuts, len(data)]
    return tuple(
        Write(data[start:end], pauses[index % len(pauses)] if index else 0.0)
        for index, (start, end) in enumerate(itertools.pairwise(bounds))
    )


# Words ------------------------------------------------------------------------------------------


def _wanted_same(response: ReadResponse) -> Wanted:
    digest = hashlib.sha256(response.body).hexdigest()
    return Wanted(
        f"{response.status}, as the unsplit bytes got, with the same {len(response.body)}-byte body",
        (f"{response.status // 100}xx",),
        digest,
    )


def _quote(path: str) -> str:
    return quote(path, safe="/")


def _first_line(data: bytes) -> str:
    return "`" + escape(data.split(b"\n", 1)[0].rstrip(b"\r")[:100]) + "`"


def _asks_to_close(data: bytes) -> bool:
    """Whether a field line names the "close" connection option, in any case or spacing."""
    head = data.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        options = [token.strip().lower() for token in value.split(b",")]
        if colon and name.strip().lower() == b"connection" and b"close" in options:
            return True
    return False


def _describe_case(case: RequestCase) -> str:
    varied = ", ".join(case.varied) or "nothing"
    return f"{_first_line(case.data)} varying {varied}: {escape(case.data)}"


def _describe_mutation(mutation: Mutation) -> str:
    return f"{mutation.kind}: {escape(mutation.data[:300])}"


def _describe_schedule(schedule: tuple[int, tuple[int, ...], tuple[float, ...]]) -> str:
    stream, cuts, pauses = schedule
    return f"request bytes #{stream + 1} cut after bytes {list(cuts)}, pauses {list(pauses)} s"


def _describe_pipeline(example: tuple[list[RequestCase], list[int], float]) -> str:
    cases, cuts, _pause = example
    lines = "; ".join(_first_line(case.data) for case in cases)
    return f"{len(cases)} pipelined requests ({lines}) in {len(cuts) + 1} writes or fewer"


# The scenario's side -----------------------------------------------------------------------------


class PropertyFailed(ScenarioFailed):
    """A property scenario's failure, with the record that replays it."""

    def __init__(self, violation: Violation, replay: dict[str, Any]) -> None:
        super().__init__(violation.outcome, violation.message, violation.expected, violation.actual)
        self.replay = replay


def check_property(name: str, session: Session) -> None:
    """Explore property `name` against the session's server; raise PropertyFailed on a failure."""
    profile = profile_for(session.settings)
    run = PropertyRun(
        session.clients.host, session.clients.port, session.settings, profile, session.plain_forms
    )
    try:
        search = PROPERTIES[name].search(run)
    finally:
        session.died_at_client_close = run.died_at_client_close
    effort = f"{search.examples} examples in {search.seconds:.1f} s, {profile.describe()}"
    if search.exhausted_budget:
        effort += f" (stopped at its {profile.seconds:g} s budget)"
    session.transcript.note("main", effort)
    violation = search.violation
    if violation is None:
        return
    session.transcript.note("main", f"the smallest failing example: {violation.example}")
    for number, exchange in enumerate(violation.exchanges, start=1):
        for line in exchange.transcript(f"socket {number}" if number > 1 else "main"):
            session.transcript.lines.append(line)
    replay = record(
        violation.checks,
        violation.exchanges,
        seed=profile.seed,
        profile=profile.name,
        example=violation.example,
    )
    raise PropertyFailed(violation, replay)
