"""hypothesis strategies for requests a correct server must answer like their plain equivalent.

Every request names a file of the document root (or one that is missing) and differs from its
canonical form, `GET /path HTTP/1.1` with Host and `Connection: close`, only in ways that do not
change what it asks for: field order, name case, optional whitespace, harmless extra fields, a
query, needless percent-escapes, the absolute form, HTTP/1.0. Each variation is drawn behind a
switch of its own, so when a property fails hypothesis shrinks the request down to the
variations that matter, and `RequestCase.varied` names them in the report.

`mutations()` breaks such a request in one of the ways listed in `MUTATIONS`. What a server must
do with the result is decided in `classify.py`, not here: the generator and the oracle are written
apart so that each can be checked against the other.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import quote

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

#: Decoded paths of real files in html/; "/nested/" is served by its index.html.
FILES: tuple[str, ...] = (
    "/",
    "/index.html",
    "/style.css",
    "/logo.png",
    "/utf8.txt",
    "/empty.txt",
    "/café.txt",
    "/with space.txt",
    "/nested/",
    "/nested/page.html",
)
#: Decoded paths that name nothing in html/.
MISSING: tuple[str, ...] = ("/no-such-file.html", "/missing/deeper.txt")
#: The ways a generated request may differ from its canonical equivalent.
VARIATIONS: tuple[str, ...] = (
    "order",
    "name-case",
    "whitespace",
    "extra-fields",
    "query",
    "percent-encoding",
    "absolute-form",
    "version",
)

_UNRESERVED = string.ascii_letters + string.digits + "-._~"
#: Visible ASCII characters a token (a method or a field name) may not contain.
_NOT_TOKEN = '"(),/:;<=>?@[\\]{}'
_OWS = st.text(alphabet=" \t", max_size=3)
_QUERIES = st.text(alphabet=_UNRESERVED + "=&", max_size=16)
_TOKENS = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=12)
#: Fields a static-file server has no reason to act on. None of them makes the answer
#: conditional, partial, negotiated or framed differently, so the canonical answer still applies:
#: every Accept value ends in */*, and only the identity coding is offered.
_HARMLESS_FIELDS: tuple[tuple[str, str], ...] = (
    ("User-Agent", "h1check/0.1"),
    ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
    ("Accept", "*/*"),
    ("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"),
    ("Accept-Language", "en"),
    ("Accept-Language", "fr-CA, fr;q=0.9, en;q=0.5"),
    ("Accept-Encoding", "identity"),
    ("Cache-Control", "no-cache"),
    ("Pragma", "no-cache"),
    ("DNT", "1"),
    ("Referer", "http://localhost/"),
)
_EXTRA_FIELDS = st.sampled_from(_HARMLESS_FIELDS) | st.tuples(_TOKENS.map("X-".__add__), _TOKENS)


@dataclass(frozen=True)
class RequestCase:
    """One valid request head, with what it asks for in the terms of its canonical equivalent.

    `close` follows RFC 9112 §9.3: True when the server must close the connection after the
    response. For HTTP/1.0 with a keep-alive option it is False although the server may still
    close, since honouring keep-alive is up to the server; only for HTTP/1.1 does False mean
    the connection must stay open.
    """

    data: bytes
    method: str
    path: str
    version: str
    close: bool
    varied: tuple[str, ...]

    @property
    def canonical(self) -> bytes:
        """The plain request this one is equivalent to: same method and path, HTTP/1.1, closing."""
        target = quote(self.path, safe="/")
        return f"{self.method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()


@dataclass(frozen=True)
class Mutation:
    """A generated request broken in one of the ways of `MUTATIONS`."""

    kind: str
    data: bytes
    base: RequestCase


def requests(
    vary: Iterable[str] = VARIATIONS,
    *,
    paths: Sequence[str] = FILES + MISSING,
    methods: Sequence[str] = ("GET", "HEAD"),
    close: bool | None = None,
) -> SearchStrategy[RequestCase]:
    """Valid requests that differ from their canonical form only in the variations `vary` names.

    `close` forces whether the request asks to close the connection; None draws it.
    """
    for path in paths:
        segments = path.split("/")
        # A dot segment is resolved away by a server (RFC 3986 §5.2.4), so the request would no
        # longer name the path it claims to.
        if not path.startswith("/") or "." in segments or ".." in segments:
            raise ValueError(f"not an absolute path without dot segments: {path!r}")
    return _drafts(_variations(vary), tuple(paths), tuple(methods), close).map(_Draft.case)


def pipelines(
    min_size: int = 1, max_size: int = 8, vary: Iterable[str] = VARIATIONS
) -> SearchStrategy[list[RequestCase]]:
    """Requests to send on one connection: every one but the last keeps it open.

    Those before the last are HTTP/1.1: whether an HTTP/1.0 connection persists is the server's
    choice (RFC 9112 §9.3), so a correct server may close after one and never read the rest.
    """
    if not 1 <= min_size <= max_size:
        raise ValueError(f"need 1 <= min_size <= max_size, not {min_size} and {max_size}")
    chosen = _variations(vary)
    kept_open = requests(chosen - {"version"}, close=False)
    return st.builds(
        lambda first, last: [*first, last],
        st.lists(kept_open, min_size=min_size - 1, max_size=max_size - 1),
        requests(chosen),
    )


def _variations(vary: Iterable[str]) -> frozenset[str]:
    chosen = frozenset(vary)
    if unknown := chosen - set(VARIATIONS):
        raise ValueError(f"unknown variations {sorted(unknown)}; known: {', '.join(VARIATIONS)}")
    return chosen


# Valid requests ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Draft:
    """A valid request in pieces, so that a mutation can break one piece and keep the others."""

    method: str
    target: bytes
    version: str
    #: Each field as (its name in lower case, its line as sent), in the order sent.
    fields: tuple[tuple[str, bytes], ...]
    path: str
    close: bool
    varied: tuple[str, ...]

    def words(self) -> list[bytes]:
        """The request line's three parts."""
        return [self.method.encode(), self.target, f"HTTP/{self.version}".encode()]

    def lines(self) -> list[bytes]:
        """The field lines, in order."""
        return [line for _, line in self.fields]

    def case(self) -> RequestCase:
        data = _head(b" ".join(self.words()), self.lines())
        return RequestCase(data, self.method, self.path, self.version, self.close, self.varied)


def _head(request_line: bytes, lines: Iterable[bytes], body: bytes = b"") -> bytes:
    return b"".join(line + b"\r\n" for line in (request_line, *lines)) + b"\r\n" + body


@st.composite
def _drafts(
    draw: st.DrawFn,
    vary: frozenset[str],
    paths: tuple[str, ...],
    methods: tuple[str, ...],
    close: bool | None,
) -> _Draft:
    # Every switch is a boolean whose False is the canonical form, so shrinking turns variations
    # off one by one and a failure is reported with only those it needs.
    varied: set[str] = set()
    method = draw(st.sampled_from(methods))
    path = draw(st.sampled_from(paths))
    version = "1.1"
    if "version" in vary and draw(st.booleans()):
        version = "1.0"
        varied.add("version")
    if close is None:
        close = draw(st.booleans())

    target = _target(draw, path, "percent-encoding" in vary)
    if target != quote(path, safe="/").encode():
        varied.add("percent-encoding")
    if "query" in vary and draw(st.booleans()):
        target += b"?" + draw(_QUERIES).encode()
        varied.add("query")
    authority = "localhost"
    if "absolute-form" in vary and draw(st.booleans()):
        port = draw(st.none() | st.integers(1, 65535))
        authority += "" if port is None else f":{port}"
        # The origin server must use the target's authority over Host (RFC 9112 §3.2.2), but a
        # client must send Host equal to it (§3.2), so they agree: only the target's form varies.
        target = f"http://{authority}".encode() + target
        varied.add("absolute-form")

    fields: list[tuple[str, str]] = []
    # Host is required of HTTP/1.1 requests only (RFC 9112 §3.2); HTTP/1.0 clients may omit it.
    if version == "1.1" or not draw(st.booleans()):
        fields.append(("Host", authority))
    option = _connection_option(draw, version, close)
    if option is not None:
        fields.append(("Connection", option))
    if "extra-fields" in vary:
        extras = draw(st.lists(_EXTRA_FIELDS, max_size=3))
        fields += extras
        if extras:
            varied.add("extra-fields")

    lines: list[tuple[str, bytes]] = []
    for name, value in fields:
        sent_name, sent_value = name, value
        if "name-case" in vary:
            sent_name = _cased(draw, name)
            # Connection options are case-insensitive too (RFC 9110 §7.6.1).
            if name == "Connection":
                sent_value = _cased(draw, value)
            if (sent_name, sent_value) != (name, value):
                varied.add("name-case")
        before, after = " ", ""
        if "whitespace" in vary and draw(st.booleans()):
            before, after = draw(_OWS), draw(_OWS)
            if (before, after) != (" ", ""):
                varied.add("whitespace")
        lines.append((name.lower(), f"{sent_name}:{before}{sent_value}{after}".encode()))
    if "order" in vary:
        order = draw(st.permutations(range(len(lines))))
        if order != sorted(order):
            lines = [lines[index] for index in order]
            varied.add("order")

    ordered = tuple(variation for variation in VARIATIONS if variation in varied)
    return _Draft(method, target, version, tuple(lines), path, close, ordered)


def _target(draw: st.DrawFn, path: str, vary: bool) -> bytes:
    """The path percent-encoded as quote() does it, or, when varied, with needless escapes too.

    Unreserved characters mean the same escaped or not (RFC 3986 §2.3), and hex digits are
    case-insensitive (§2.1). "/" is never escaped: %2F is data inside a segment, another path.
    """
    parts: list[str] = []
    for char in path:
        if char == "/" or (char in _UNRESERVED and not (vary and draw(st.booleans()))):
            parts.append(char)
        else:
            for byte in char.encode():
                escape = f"%{byte:02X}"
                parts.append(escape.lower() if vary and draw(st.booleans()) else escape)
    return "".join(parts).encode("ascii")


def _connection_option(draw: st.DrawFn, version: str, close: bool) -> str | None:
    """The Connection option that makes a request of `version` close, or keep, its connection.

    HTTP/1.1 keeps a connection unless told "close"; HTTP/1.0 closes it unless told
    "keep-alive" (RFC 9112 §9.3). So each version may also state its default, or not.
    """
    if version == "1.1":
        return "close" if close else draw(st.sampled_from((None, "keep-alive")))
    return draw(st.sampled_from(("close", None))) if close else "keep-alive"


def _cased(draw: st.DrawFn, word: str) -> str:
    """`word` as written, in lower or upper case, or in a mix drawn letter by letter."""
    style = draw(st.sampled_from(("as-is", "lower", "upper", "mixed")))
    if style == "mixed":
        return "".join(char.upper() if draw(st.booleans()) else char.lower() for char in word)
    return {"as-is": word, "lower": word.lower(), "upper": word.upper()}[style]


# Malformed requests -----------------------------------------------------------------------------

_Mutator = Callable[[st.DrawFn, _Draft], bytes]


def _garbage_method(draw: st.DrawFn, draft: _Draft) -> bytes:
    words = draft.words()
    words[0] = _inserted(draw, words[0], draw(st.sampled_from(_NOT_TOKEN)).encode())
    return _head(b" ".join(words), draft.lines())


def _missing_version(draw: st.DrawFn, draft: _Draft) -> bytes:
    return _head(b" ".join(draft.words()[:2]), draft.lines())


def _bad_version(draw: st.DrawFn, draft: _Draft) -> bytes:
    words = draft.words()
    versions = (b"HTTP/1.1x", b"HTTP/1.1.1", b"HTTP/1.", b"HTTP/11", b"HTTPS/1.1", b"HTTP/1.1/")
    words[2] = draw(st.sampled_from(versions))
    return _head(b" ".join(words), draft.lines())


def _lowercase_version(draw: st.DrawFn, draft: _Draft) -> bytes:
    words = draft.words()
    words[2] = draw(st.sampled_from((b"http/1.1", b"Http/1.1", b"hTTP/1.1")))
    return _head(b" ".join(words), draft.lines())


def _extra_words(draw: st.DrawFn, draft: _Draft) -> bytes:
    words = draft.words()
    words.insert(draw(st.integers(0, 3)), draw(st.sampled_from((b"extra", b"/", b"HTTP/1.1"))))
    return _head(b" ".join(words), draft.lines())


def _request_line_whitespace(draw: st.DrawFn, draft: _Draft) -> bytes:
    method, target, version = draft.words()
    # One gap is drawn from the irregular ones so that at least one is not a single SP.
    irregular = draw(st.integers(0, 2))
    gaps = [
        draw(st.sampled_from(_IRREGULAR_GAPS if gap == irregular else (b" ", *_IRREGULAR_GAPS)))
        for gap in range(2)
    ]
    trailing = (b" ", b"\t") if irregular == 2 else (b"", b" ", b"\t")
    line = method + gaps[0] + target + gaps[1] + version + draw(st.sampled_from(trailing))
    return _head(line, draft.lines())


_IRREGULAR_GAPS = (b"  ", b"\t", b" \t", b"\t\t", b"   ")


def _empty_target(draw: st.DrawFn, draft: _Draft) -> bytes:
    method, _, version = draft.words()
    return _head(method + b"  " + version, draft.lines())


def _no_colon(draw: st.DrawFn, draft: _Draft) -> bytes:
    line = draw(st.sampled_from((b"X-No-Colon value", b"X-No-Colon", b"Accept */*")))
    return _head(b" ".join(draft.words()), _inserted_line(draw, draft.lines(), line))


def _space_before_colon(draw: st.DrawFn, draft: _Draft) -> bytes:
    lines = draft.lines()
    index = draw(st.integers(0, len(lines) - 1))
    name, _, rest = lines[index].partition(b":")
    lines[index] = name + draw(st.sampled_from((b" ", b"\t", b"  "))) + b":" + rest
    return _head(b" ".join(draft.words()), lines)


def _bad_name_char(draw: st.DrawFn, draft: _Draft) -> bytes:
    # ":" would only end the name early; every other non-token character makes it invalid.
    char = draw(st.sampled_from(_NOT_TOKEN.replace(":", ""))).encode()
    line = _inserted(draw, b"X-Bad-Name", char) + b": value"
    return _head(b" ".join(draft.words()), _inserted_line(draw, draft.lines(), line))


def _obs_fold(draw: st.DrawFn, draft: _Draft) -> bytes:
    # The continuation follows a field line of its own: right after the request line it would be
    # whitespace before the first field, a different rule (RFC 9112 §2.2).
    fold = b"\r\n" + draw(st.text(" \t", min_size=1, max_size=3)).encode()
    line = b"X-Folded: first" + fold + b"second"
    return _head(b" ".join(draft.words()), _inserted_line(draw, draft.lines(), line))


def _bare_lf(draw: st.DrawFn, draft: _Draft) -> bytes:
    lines = [b" ".join(draft.words()), *draft.lines()]
    bare = [draw(st.booleans()) for _ in lines]
    bare[draw(st.integers(0, len(lines) - 1))] = True
    # The last line's ending and the blank line's are the same kind, so the head ends in CRLF
    # CRLF or LF LF: a server looking for either sees where it ends.
    endings = [b"\n" if lf else b"\r\n" for lf in bare]
    return b"".join(map(bytes.__add__, lines, endings)) + endings[-1]


def _two_content_lengths(draw: st.DrawFn, draft: _Draft) -> bytes:
    first = draw(st.integers(0, 9))
    second = draw(st.integers(0, 9).filter(lambda length: length != first))
    lines = _inserted_line(draw, draft.lines(), b"Content-Length: %d" % first)
    lines = _inserted_line(draw, lines, b"Content-Length: %d" % second)
    return _head(b" ".join(draft.words()), lines)


def _both_framings(draw: st.DrawFn, draft: _Draft) -> bytes:
    length = draw(st.integers(0, 10))
    lines = _inserted_line(draw, draft.lines(), b"Transfer-Encoding: chunked")
    lines = _inserted_line(draw, lines, b"Content-Length: %d" % length)
    # The chunked body is complete and empty: a server that frames by Transfer-Encoding, as it
    # must when it accepts the request, has nothing left over.
    return _head(b" ".join(draft.words()), lines, b"0\r\n\r\n")


def _bad_content_length(draw: st.DrawFn, draft: _Draft) -> bytes:
    value = draw(st.sampled_from((b"ten", b"-1", b"1.5", b"0x10", b"+5", b"5 5", b"")))
    lines = _inserted_line(draw, draft.lines(), b"Content-Length: " + value)
    return _head(b" ".join(draft.words()), lines)


def _missing_host(draw: st.DrawFn, draft: _Draft) -> bytes:
    lines = [line for name, line in draft.fields if name != "host"]
    return _head(b" ".join(draft.words()), lines)


def _two_hosts(draw: st.DrawFn, draft: _Draft) -> bytes:
    name = draw(st.sampled_from((b"Host", b"host", b"HOST")))
    value = draw(st.sampled_from((b"localhost", b"example.com")))
    lines = _inserted_line(draw, draft.lines(), name + b": " + value)
    return _head(b" ".join(draft.words()), lines)


def _long_target(draw: st.DrawFn, draft: _Draft) -> bytes:
    # The padding is a query, which a static-file server ignores: a server whose limits allow
    # this length answers as it answers the short request.
    size = draw(st.integers(9 * 1024, 20 * 1024))
    target = draft.target + (b"&" if b"?" in draft.target else b"?") + b"pad="
    words = draft.words()
    words[1] = target + b"a" * max(0, size - len(target))
    return _head(b" ".join(words), draft.lines())


def _long_field(draw: st.DrawFn, draft: _Draft) -> bytes:
    line = b"X-Padding: " + b"a" * draw(st.integers(9 * 1024, 20 * 1024))
    return _head(b" ".join(draft.words()), _inserted_line(draw, draft.lines(), line))


def _many_fields(draw: st.DrawFn, draft: _Draft) -> bytes:
    count = draw(st.integers(150, 300))
    extra = [b"X-Field-%d: %d" % (number, number) for number in range(count)]
    return _head(b" ".join(draft.words()), [*draft.lines(), *extra])


#: C0 controls and DEL, less HTAB, LF, VT, FF and CR: in a request line those are whitespace or a
#: line ending (RFC 9112 §3), which other mutations cover.
_TARGET_CONTROLS = bytes([*range(0x00, 0x09), *range(0x0E, 0x20), 0x7F])
#: Every C0 control but HTAB (allowed in a value) and LF (it would end the line), and DEL.
_VALUE_CONTROLS = bytes([*range(0x00, 0x09), 0x0B, 0x0C, 0x0D, *range(0x0E, 0x20), 0x7F])


def _control_in_target(draw: st.DrawFn, draft: _Draft) -> bytes:
    words = draft.words()
    target = words[1]
    # After the first byte, so the target still starts like one ("/" or "http:"), and never
    # inside a percent-escape, so the byte is the one thing wrong with it.
    places = [at for at in range(1, len(target) + 1) if b"%" not in target[max(0, at - 2) : at]]
    at = draw(st.sampled_from(places))
    words[1] = target[:at] + bytes([draw(st.sampled_from(_TARGET_CONTROLS))]) + target[at:]
    return _head(b" ".join(words), draft.lines())


def _control_in_field_value(draw: st.DrawFn, draft: _Draft) -> bytes:
    # In a field of its own, between visible characters: not at the value's edges, where some
    # parsers strip it as whitespace, and not in Host, where it would make the value invalid.
    control = bytes([draw(st.sampled_from(_VALUE_CONTROLS))])
    line = b"X-Control: a" + control + b"b"
    return _head(b" ".join(draft.words()), _inserted_line(draw, draft.lines(), line))


def _inserted(draw: st.DrawFn, word: bytes, part: bytes) -> bytes:
    at = draw(st.integers(0, len(word)))
    return word[:at] + part + word[at:]


def _inserted_line(draw: st.DrawFn, lines: list[bytes], line: bytes) -> list[bytes]:
    at = draw(st.integers(0, len(lines)))
    return [*lines[:at], line, *lines[at:]]


_MUTATORS: dict[str, tuple[str, _Mutator]] = {
    "garbage-method": ("a character a token may not hold, in the method", _garbage_method),
    "missing-version": ("a request line with no HTTP version", _missing_version),
    "bad-version": ('a malformed version such as "HTTP/1.1x" or "HTTP/11"', _bad_version),
    "lowercase-version": ('the version in the wrong case, "http/1.1"', _lowercase_version),
    "extra-words": ("a fourth word in the request line", _extra_words),
    "request-line-whitespace": (
        "several SP or an HTAB between the request line's parts, or after them",
        _request_line_whitespace,
    ),
    "empty-target": ("no target between the method and the version", _empty_target),
    "no-colon": ("a field line without a colon", _no_colon),
    "space-before-colon": ("whitespace between a field name and its colon", _space_before_colon),
    "bad-name-char": ("a character a token may not hold, in a field name", _bad_name_char),
    "obs-fold": ("a field value continued on a line that starts with whitespace", _obs_fold),
    "bare-lf": ("a bare LF ending one line or more instead of CRLF", _bare_lf),
    "two-content-lengths": ("two Content-Length fields that disagree", _two_content_lengths),
    "te-and-cl": (
        "Content-Length and Transfer-Encoding: chunked together, with a chunked body",
        _both_framings,
    ),
    "bad-content-length": ("a Content-Length that is not a number", _bad_content_length),
    "missing-host": ("an HTTP/1.1 request without Host", _missing_host),
    "two-hosts": ("a second Host field", _two_hosts),
    "long-target": ("a target of 9 to 20 KiB", _long_target),
    "long-field": ("a field value of 9 to 20 KiB", _long_field),
    "many-fields": ("150 to 300 extra fields", _many_fields),
    "control-in-target": ("a control byte (NUL, other C0, DEL) in the target", _control_in_target),
    "control-in-field-value": (
        "a control byte (NUL, CR, other C0, DEL) inside a field value",
        _control_in_field_value,
    ),
}
#: Each kind of malformed request `mutations()` makes, with what it breaks.
MUTATIONS: Mapping[str, str] = MappingProxyType(
    {kind: description for kind, (description, _) in _MUTATORS.items()}
)
#: Bases are HTTP/1.1, where every rule broken above is a rule: an HTTP/1.0 request may lack Host.
_BASE_VARIATIONS = frozenset(VARIATIONS) - {"version"}


def mutations(kinds: Iterable[str] = tuple(MUTATIONS)) -> SearchStrategy[Mutation]:
    """Generated requests broken in one of the ways `kinds` names (all of `MUTATIONS` by default)."""
    chosen = tuple(kinds)
    if unknown := set(chosen) - set(MUTATIONS):
        raise ValueError(f"unknown mutations {sorted(unknown)}; known: {', '.join(MUTATIONS)}")
    return _mutations(chosen)


@st.composite
def _mutations(draw: st.DrawFn, kinds: tuple[str, ...]) -> Mutation:
    kind = draw(st.sampled_from(kinds))
    draft = draw(_drafts(_BASE_VARIATIONS, FILES + MISSING, ("GET", "HEAD"), None))
    _, mutate = _MUTATORS[kind]
    return Mutation(kind, mutate(draw, draft), draft.case())
