"""The property layer's generators and its oracle, checked against each other and against the RFC.

Every generated request must be one h11 accepts as meaning what the generator says it means; every
mutation must get the verdict its kind calls for; every departure from h11 must quote its RFC
verbatim and show up where it claims to.
"""

from __future__ import annotations

import re

import h11
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from conformance import rfc
from conformance.docroot import source_docroot
from conformance.properties.classify import (
    DEPARTURES,
    Expectation,
    classify,
    describe_departures,
)
from conformance.properties.requests import (
    FILES,
    MISSING,
    MUTATIONS,
    VARIATIONS,
    RequestCase,
    mutations,
    pipelines,
    requests,
)
from tests.reference.corekit import feed, new_connection

# Enough examples to meet every variation many times over, few enough to run in seconds.
MODEST = settings(max_examples=100, deadline=None)
PER_KIND = settings(max_examples=15, deadline=None)
FIND = settings(max_examples=500, deadline=None, database=None)


def target_of(data: bytes) -> bytes:
    return data.split(b"\r\n", 1)[0].split(b" ")[1]


# The paths ----------------------------------------------------------------------------------------


def test_files_exist_in_the_document_root_and_missing_paths_do_not():
    root = source_docroot()
    for path in FILES:
        found = root / path.lstrip("/")
        assert found.is_file() or (found / "index.html").is_file(), path
    for path in MISSING:
        assert not (root / path.lstrip("/")).exists(), path


def test_a_path_with_a_dot_segment_is_refused_since_a_server_would_resolve_it_away():
    with pytest.raises(ValueError, match="dot segments"):
        requests(paths=("/nested/../index.html",))
    with pytest.raises(ValueError, match="unknown variations"):
        requests(vary={"name_case"})


# Valid requests: the generator and h11 agree --------------------------------------------------------


@MODEST
@given(requests())
def test_every_generated_request_is_answered_as_the_case_says(case: RequestCase):
    verdict = classify(case.data)
    assert verdict.expectation is Expectation.ANSWER, verdict.reason
    assert (verdict.method, verdict.path, verdict.version) == (case.method, case.path, case.version)
    assert verdict.close == case.close
    assert case.data.endswith(b"\r\n\r\n")


@MODEST
@given(requests())
def test_the_canonical_form_names_the_same_resource(case: RequestCase):
    verdict = classify(case.canonical)
    assert verdict.expectation is Expectation.ANSWER, verdict.reason
    assert (verdict.method, verdict.path, verdict.version) == (case.method, case.path, "1.1")
    assert verdict.close


@MODEST
@given(requests(vary=(), close=True))
def test_with_nothing_varied_a_closing_request_is_its_canonical_form(case: RequestCase):
    assert case.data == case.canonical
    assert case.varied == ()


@MODEST
@given(st.sampled_from(VARIATIONS).flatmap(lambda v: st.tuples(st.just(v), requests(vary={v}))))
def test_only_the_chosen_variation_is_applied(example: tuple[str, RequestCase]):
    variation, case = example
    assert set(case.varied) <= {variation}


@pytest.mark.parametrize("variation", VARIATIONS)
def test_each_variation_occurs(variation: str):
    case = find(requests(vary={variation}), lambda c: variation in c.varied, settings=FIND)
    assert classify(case.data).expectation is Expectation.ANSWER


# A particular shape of each variation, so that none is present in name only.
SHAPES = {
    "order": lambda c: not c.data.split(b"\r\n")[1].lower().startswith(b"host:"),
    "name-case": lambda c: b"\r\nhost:" in c.data and b"\r\nCONNECTION:" in c.data,
    "whitespace": lambda c: re.search(rb":\t[^\r]*[ \t]\r\n", c.data) is not None,
    "extra-fields": lambda c: len(c.data.split(b"\r\n")) >= 7,
    "query": lambda c: target_of(c.data).endswith(b"?"),
    "percent-encoding": lambda c: b"%c3%a9" in c.data and b"%2e" in c.data,
    "absolute-form": lambda c: target_of(c.data).startswith(b"http://localhost:"),
    "version": lambda c: c.version == "1.0" and b"host" not in c.data.lower(),
}


@pytest.mark.parametrize("variation", VARIATIONS)
def test_each_variation_takes_its_less_common_shapes_too(variation: str):
    strategy = requests(vary={variation}, paths=("/café.txt",))
    case = find(strategy, SHAPES[variation], settings=FIND)
    verdict = classify(case.data)
    assert verdict.expectation is Expectation.ANSWER and verdict.path == "/café.txt"


def test_an_http_1_0_request_may_ask_to_keep_its_connection():
    case = find(
        requests(vary={"version"}, close=False), lambda c: c.version == "1.0", settings=FIND
    )
    assert re.search(rb"(?i)\r\nconnection: keep-alive\r\n", case.data)
    assert classify(case.data).close is False


@settings(max_examples=40, deadline=None)
@given(pipelines(min_size=2, max_size=5))
def test_a_pipeline_keeps_its_connection_until_the_last_request(cases: list[RequestCase]):
    assert 2 <= len(cases) <= 5
    # An HTTP/1.0 connection may close after any request, so none comes before the last.
    assert all(not case.close and case.version == "1.1" for case in cases[:-1])
    for case in cases:
        assert classify(case.data).expectation is Expectation.ANSWER


def test_a_pipeline_ends_with_a_closing_request_or_not():
    short = pipelines(max_size=1, vary=())
    assert find(short, lambda cases: cases[-1].close, settings=FIND)
    assert find(short, lambda cases: not cases[-1].close, settings=FIND)


# Mutations: each kind gets its verdict ---------------------------------------------------------------

EXPECTED = {
    "garbage-method": Expectation.REFUSE,
    "missing-version": Expectation.REFUSE,
    "bad-version": Expectation.REFUSE,
    "lowercase-version": Expectation.REFUSE,
    "extra-words": Expectation.REFUSE,
    "request-line-whitespace": Expectation.EITHER,
    "empty-target": Expectation.REFUSE,
    "no-colon": Expectation.REFUSE,
    "space-before-colon": Expectation.REFUSE,
    "bad-name-char": Expectation.REFUSE,
    "obs-fold": Expectation.EITHER,
    "bare-lf": Expectation.EITHER,
    "two-content-lengths": Expectation.REFUSE,
    "te-and-cl": Expectation.EITHER,
    "bad-content-length": Expectation.REFUSE,
    "missing-host": Expectation.REFUSE,
    "two-hosts": Expectation.REFUSE,
    "long-target": Expectation.EITHER,
    "long-field": Expectation.EITHER,
    "many-fields": Expectation.EITHER,
    "control-in-target": Expectation.REFUSE,
    "control-in-field-value": Expectation.EITHER,
}


def test_every_kind_of_mutation_has_an_expected_verdict():
    assert set(EXPECTED) == set(MUTATIONS)


@pytest.mark.parametrize("kind", list(MUTATIONS))
def test_each_mutation_gets_the_verdict_its_kind_calls_for(kind: str):
    @PER_KIND
    @given(mutations([kind]))
    def check(mutation):
        assert mutation.kind == kind
        assert len(mutation.data) < 64 * 1024
        assert mutation.data.endswith((b"\r\n\r\n", b"\n\n"))
        assert classify(mutation.base.data).expectation is Expectation.ANSWER
        verdict = classify(mutation.data)
        assert verdict.expectation is EXPECTED[kind], verdict.reason
        if kind == "te-and-cl":
            assert verdict.close

    check()


def test_mutations_of_unknown_kinds_are_refused():
    with pytest.raises(ValueError, match="unknown mutations"):
        mutations(["two-host"])


# The oracle and its departures from h11 ---------------------------------------------------------------

HEAD = b"GET / HTTP/1.1\r\nHost: localhost\r\n"

# One request that each departure decides, and the verdict it gives.
DEPARTURE_EXAMPLES = {
    "invalid-absolute-target": (
        b"GET http://[/ HTTP/1.1\r\nHost: localhost\r\n\r\n",
        Expectation.EITHER,
    ),
    "bare-lf": (b"GET / HTTP/1.1\nHost: localhost\n\n", Expectation.EITHER),
    "obs-fold": (HEAD + b"X-Folded: a\r\n\tb\r\n\r\n", Expectation.EITHER),
    "whitespace-before-first-field": (
        b"GET / HTTP/1.1\r\n X-Indented: a\r\nHost: localhost\r\n\r\n",
        Expectation.EITHER,
    ),
    "leading-empty-line": (b"\r\n" + HEAD + b"\r\n", Expectation.EITHER),
    "request-line-whitespace": (
        b"GET\t/  HTTP/1.1 \r\nHost: localhost\r\n\r\n",
        Expectation.EITHER,
    ),
    "content-length-and-transfer-encoding": (
        HEAD + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        Expectation.EITHER,
    ),
    "transfer-encoding-in-http-1.0": (
        b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        Expectation.EITHER,
    ),
    "long-request-line": (
        b"GET /?" + b"a" * 8000 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
        Expectation.EITHER,
    ),
    "large-head": (
        HEAD + b"".join(b"X-%d: %d\r\n" % (n, n) for n in range(101)) + b"\r\n",
        Expectation.EITHER,
    ),
    "other-major-version": (b"GET / HTTP/2.0\r\nHost: localhost\r\n\r\n", Expectation.EITHER),
    "invalid-host": (b"GET / HTTP/1.1\r\nHost: local host\r\n\r\n", Expectation.REFUSE),
    "nul-or-cr-in-field-value": (HEAD + b"X-Nul: a\x00b\r\n\r\n", Expectation.EITHER),
    "control-in-field-value": (HEAD + b"X-Bell: a\x07b\r\n\r\n", Expectation.EITHER),
    "keep-alive-in-http-1.0": (
        b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
        Expectation.ANSWER,
    ),
}


def test_every_departure_quotes_its_rfc_verbatim():
    misquoted = [d.name for d in DEPARTURES if rfc.passage(d.rfc, d.quote) is None]
    assert misquoted == []


def test_every_departure_has_an_example_and_is_described():
    assert set(DEPARTURE_EXAMPLES) == {departure.name for departure in DEPARTURES}
    text = describe_departures()
    for departure in DEPARTURES:
        assert departure.name in text and departure.quote in text


@pytest.mark.parametrize("departure", DEPARTURES, ids=lambda d: d.name)
def test_each_departure_decides_its_example(departure):
    data, expected = DEPARTURE_EXAMPLES[departure.name]
    verdict = classify(data)
    assert verdict.expectation is expected
    assert departure.summary in verdict.reason and departure.rfc in verdict.reason
    if departure.close is not None:
        assert verdict.close is departure.close


def h11_accepts(data: bytes) -> bool:
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(data)
    try:
        return isinstance(connection.next_event(), h11.Request)
    except h11.RemoteProtocolError:
        return False


def reference_status(data: bytes) -> int:
    """The status the reference server's core answers `data` with."""
    output = bytes(feed(new_connection(), [data]).output)
    return int(output.split(b" ", 2)[1])


@pytest.mark.parametrize("name", ["bare-lf", "obs-fold", "content-length-and-transfer-encoding"])
def test_the_departure_is_real_h11_accepts_what_the_reference_refuses(name: str):
    data, _ = DEPARTURE_EXAMPLES[name]
    assert h11_accepts(data)
    assert reference_status(data) == 400


def test_a_refused_request_and_one_that_never_ends_both_close():
    cases = [b"GET / HTTP/1.1\r\n\r\n", b"GET / HTTP/1.1\r\nHost: a\r\n", HEAD + b"Host: b\r\n\r\n"]
    for data in cases:
        verdict = classify(data)
        assert verdict.expectation is Expectation.REFUSE and verdict.close
        assert verdict.method is None


def test_no_bytes_at_all_is_no_request_to_answer():
    assert classify(b"").expectation is Expectation.EITHER


def test_an_incomplete_body_is_refused_with_h11s_words():
    verdict = classify(HEAD + b"Content-Length: 5\r\n\r\nab")
    assert verdict.expectation is Expectation.REFUSE
    assert "received 2 bytes, expected 5" in verdict.reason


@pytest.mark.parametrize(
    ("target", "path"),
    [
        (b"/caf%C3%a9.txt?q=1", "/café.txt"),
        (b"http://localhost:8080/with%20space.txt", "/with space.txt"),
        (b"http://localhost?x", "/"),
        (b"/%ff", None),
        (b"*", None),
    ],
)
def test_the_path_is_decoded_from_any_target_form(target: bytes, path: str | None):
    verdict = classify(b"OPTIONS " + target + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert verdict.expectation is Expectation.ANSWER
    assert (verdict.method, verdict.path) == ("OPTIONS", path)


def test_a_method_other_than_get_or_head_is_judged_by_h11_all_the_same():
    verdict = classify(b"POST /form HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nab")
    assert verdict.expectation is Expectation.ANSWER and verdict.method == "POST"
