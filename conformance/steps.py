"""The step vocabulary scenarios are written in, parsed strictly from catalogue tables.

A step is one small inline table whose first key names what it does and whose value is its main
argument; the other keys are options. Steps are plain frozen data that the engine interprets.
Every table is checked here, so a typo in the catalogue fails loudly at load time instead of
quietly testing nothing. Connections are named ("main" unless `on` says otherwise); `send`
opens a connection it has not seen.

    { connect = "b", recv_buffer = 1024 }         open connection b (small buffer: a slow reader)
    { send = "GET / ...", on = "b" }              send bytes; a list of strings sends fragments
        pause = 0.05, bytewise = true,            with a pause between them, or byte by byte,
        and_half_close = true                     or with the FIN riding on the last data
    { expect = 200 | [400, 404] | "4xx" | "any",  read one response and judge it:
        on, method = "HEAD",                      the request's method (HEAD has no body),
        headers = [...], absent = [...],          header fields present or absent,
        match = { Name = "regex" },               field values matching a pattern,
        body_file = "f", body_range = [0, 9],     the body equal to a document root file (part),
        empty_body = true,                        or empty,
        not_body_file = "f",                      or anything but that file's bytes,
        content_length_of = "f",                  Content-Length (if sent) equal to f's size,
        or_close = true,                          a close without response accepted (ending it),
        then = "open" | "closed" |                and what the connection does after it
               "may-close" | "announced" }
    { expect_one_of = [ {status = ..., ...}, ... ], or_close, then }  alternatives, each
        optionally with a `label` naming the server's choice in the report
    { closed = "b", clean = true }                the server closes (cleanly: not a reset)
    { silent = "b", seconds = 0.05, clean }       no byte arrives for a while
    { half_close = "b" }  { close = "b" }  { reset = "b" }   client-side endings
    { read_bytes = 8192, on = "b" }               read raw bytes without judging them
    { check_alive = true }                        a fresh GET / is still answered
    { wait = 0.05 }                               let time pass
    { repeat = 10, steps = [...] }                run nested steps several times

Bytes to send are TOML strings in which each character stands for one byte (U+0000..U+00FF), so
any byte value can be written with a `\\u00XX` escape. Large inputs are generated rather than
spelled out: `{{TEXT*COUNT}}` expands to TEXT repeated COUNT times (e.g. a 64 KiB URI).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from conformance.transcript import escape

DEFAULT_CONNECTION = "main"
MAX_GENERATED_BYTES = 1 << 20
THEN_RULES = ("open", "closed", "may-close", "announced")

_NAME = re.compile(r"[a-z][a-z0-9_-]*")
_STATUS = re.compile(r"[1-5](\d\d|xx)")
_TEMPLATE = re.compile(r"\{\{(.+?)\*(\d+)\}\}", re.DOTALL)


class StepError(ValueError):
    """A step table does not follow the vocabulary; the message says which key and why."""


STEP_KINDS: dict[str, type[Step]] = {}


class Step:
    """One kind of step: its table key(s), how it is parsed, and how it reads in words.

    Subclassing registers the kind under its `keys`, so a new kind of step is one class here (its
    fields, `from_table` and `describe`) and one `_step_<key>` method of the Session that runs it.
    """

    keys: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for key in cls.keys:
            STEP_KINDS[key] = cls

    @classmethod
    def from_table(cls, table: _Table) -> Step:
        """Build the step from its catalogue table (every key is read, or it is an error)."""
        raise NotImplementedError

    @property
    def connection(self) -> str | None:
        """The name of the connection the step acts on, if any."""
        on = getattr(self, "on", None)
        return on if isinstance(on, str) else None

    def describe(self) -> str:
        """The step in words, for `h1check explain`."""
        raise NotImplementedError


@dataclass(frozen=True)
class Connect(Step):
    """Open a named connection (optionally with a small receive buffer, to stop reading early)."""

    keys: ClassVar[tuple[str, ...]] = ("connect",)

    name: str
    recv_buffer: int | None = None

    @property
    def connection(self) -> str | None:
        """See Step.connection: the connection this step opens."""
        return self.name

    @classmethod
    def from_table(cls, table: _Table) -> Connect:
        """See Step.from_table."""
        return cls(table.name("connect"), table.get("recv_buffer", int))

    def describe(self) -> str:
        """The step in words, for `h1check explain`."""
        small = f" with a {self.recv_buffer}-byte receive buffer" if self.recv_buffer else ""
        return f"opens connection {self.name}{small}"


@dataclass(frozen=True)
class Send(Step):
    """Send bytes, in fragments separated by a pause, or one byte at a time.

    With `and_half_close` the FIN (SHUT_WR) rides on the last data, so the server sees the request
    and the end of the stream at once, however fast it reads.
    """

    keys: ClassVar[tuple[str, ...]] = ("send",)

    on: str
    fragments: tuple[bytes, ...]
    pause: float | None = None
    bytewise: bool = False
    and_half_close: bool = False

    @property
    def data(self) -> bytes:
        """All the bytes this step sends."""
        return b"".join(self.fragments)

    @classmethod
    def from_table(cls, table: _Table) -> Send:
        """See Step.from_table."""
        value = table.get("send", (str, list))
        texts = value if isinstance(value, list) else [value]
        if not texts or not all(isinstance(text, str) and text for text in texts):
            raise StepError("send: must be a non-empty string or a list of non-empty strings")
        step = cls(
            on=table.name("on"),
            fragments=tuple(expand_template(text) for text in texts),
            pause=table.seconds("pause"),
            bytewise=table.get("bytewise", bool, False),
            and_half_close=table.get("and_half_close", bool, False),
        )
        if step.bytewise and len(step.data) > 4096:
            raise StepError("send: bytewise sending is limited to 4096 bytes to stay fast")
        return step

    def describe(self) -> str:
        """The step in words, for `h1check explain`."""
        shown = escape(self.data[:160]) + (
            f" ... ({len(self.data)} bytes)" if len(self.data) > 160 else ""
        )
        how = " one byte at a time" if self.bytewise else ""
        if len(self.fragments) > 1:
            how = f" in {len(self.fragments)} pieces with a pause between them"
        fin = ", then half-closes" if self.and_half_close else ""
        return f"sends on {self.on}{how}{fin}: {shown}"


@dataclass(frozen=True)
class ResponseSpec:
    """One acceptable response: status pattern(s), header rules and body rule (unset = any)."""

    statuses: tuple[str, ...] | None = None
    headers: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    match: tuple[tuple[str, str], ...] = ()
    body_file: str | None = None
    body_range: tuple[int, int] | None = None
    not_body_file: str | None = None
    empty_body: bool = False
    content_length_of: str | None = None
    label: str | None = None

    def accepts_status(self, status: int) -> bool:
        """Whether `status` fits one of the patterns ("200", "4xx"); no patterns accept any."""
        if self.statuses is None:
            return True
        code = str(status)
        return any(
            pattern == code or (pattern.endswith("xx") and pattern[0] == code[0])
            for pattern in self.statuses
        )

    def describe_status(self) -> str:
        """The accepted statuses in words, e.g. "405 or 501"."""
        return "any status" if self.statuses is None else " or ".join(self.statuses)


@dataclass(frozen=True)
class Expect(Step):
    """Read one response on a connection and require it to fit one of the alternatives.

    `then` adds a rule about the connection after the response: "open" (not announced closed),
    "closed" (the server closes it), "may-close" (if the server closes it now the scenario ends
    there) or "announced" (a close must be announced with `Connection: close`, and then happen).
    """

    keys: ClassVar[tuple[str, ...]] = ("expect", "expect_one_of")

    on: str
    alternatives: tuple[ResponseSpec, ...]
    method: str = "GET"
    or_close: bool = False
    then: str | None = None

    @classmethod
    def from_table(cls, table: _Table) -> Expect:
        """See Step.from_table."""
        kind = table.kind
        alternatives: tuple[ResponseSpec, ...]
        if kind == "expect":
            statuses = _parse_statuses(kind, table.get(kind, object))
            alternatives = (_parse_response_spec(table, statuses),)
        else:
            options = table.get(kind, list)
            if not options or not all(isinstance(option, dict) for option in options):
                raise StepError(f"{kind}: must be a non-empty list of response tables")
            alternatives = tuple(_parse_alternative(option) for option in options)
        then = table.get("then", str)
        if then is not None and then not in THEN_RULES:
            raise StepError(f"{kind}: then must be one of {', '.join(THEN_RULES)}")
        method = table.get("method", str, "GET")
        if not re.fullmatch(r"[A-Z]+", method):
            raise StepError(f"{kind}: method {method!r} is not an uppercase method name")
        return cls(
            on=table.name("on"),
            alternatives=alternatives,
            method=method,
            or_close=table.get("or_close", bool, False),
            then=then,
        )

    def describe(self) -> str:
        """The step in words, for `h1check explain`."""
        options = [spec.describe_status() for spec in self.alternatives]
        said = f"expects on {self.on} a response: {'; or '.join(options)}"
        if self.or_close:
            said += "; or the connection closed"
        return said + (f" (then the connection must be {self.then})" if self.then else "")


@dataclass(frozen=True)
class ExpectClosed(Step):
    """The server closes the connection within the timeout without sending anything more."""

    keys: ClassVar[tuple[str, ...]] = ("closed",)

    on: str
    clean: bool = False

    @classmethod
    def from_table(cls, table: _Table) -> ExpectClosed:
        """See Step.from_table."""
        return cls(table.name("closed"), table.get("clean", bool, False))

    def describe(self) -> str:
        """The step in words, for `h1check explain`."""
        return f"expects the server to close {self.on}" + (
            " cleanly (no reset)" if self.clean else ""
        )


@dataclass(frozen=True)
class ExpectSilence(Step):
    """No byte arrives for a while (`seconds`, or the engine's quiet period); a close is fine,
    but with `clean` not a reset (which means the server left request bytes unread)."""

    keys: ClassVar[tuple[str, ...]] = ("silent",)

    on: str
    seconds: float | None = None
    clean: bool = False

    @classmethod
    def from_table(cls, table: _Table) -> ExpectSilence:
        """See Step.from_table."""
        return cls(table.name("silent"), table.seconds("seconds"), table.get("clean", bool, False))

    def describe(self) -> str:
        """The step in words, for `h1check explain`."""
        return f"expects no bytes on {self.on} for a while" + (
            " and no reset" if self.clean else ""
        )


@dataclass(frozen=True)
class HalfClose(Step):
    """Shut down the sending side (SHUT_WR) and keep reading."""

    keys: ClassVar[tuple[str, ...]] = ("half_close",)

    on: str

    @classmethod
    def from_table(cls, table: _Table) -> HalfClose:
        """See Step.from_table."""
        return cls(table.name("half_close"))

    def describe(self) -> str:
        """The step in words, for `h1check explain`."""
        return f"half-closes {self.on} (SHUT_WR) and keeps reading"


@dataclass(frozen=True)
class Close(Step):
    """Close the connection from the client side."""

    keys: ClassVar[tuple[str, ...]] = ("close",)

    on: str

    @classmethod
    def from_table(cls, table: _Table) -> Close:
        """See Step.from_table."""
        return cls(table.name("close"))

    def describe(self) -> str:
        """The step in words, for `h1check explain`."""
        return f"closes {self.on}"


@dataclass(frozen=True)
class Reset(Step):
    """Abort the connection with a TCP reset (SO_LINGER 0)."""

    keys: ClassVar[tuple[str, ...]] = ("reset",)

    on: str

    @classmethod
    def from_table(cls, table: _Table) -> Reset:
        """See Step.from_table."""
        return cls(table.name("reset"))

    def describe(self) -> str:
        """The step in words, for `h1check explain`."""
        return f"resets {self.on} (RST)"


@dataclass(frozen=True)
class ReadBytes(Step):
    """Read at least `count` raw bytes (e.g. the start of a download) without judging them."""

    keys: ClassVar[tuple[str, ...]] = ("read_bytes",)

    on: str
    count: int

    @classmethod
    def from_table(cls, table: _Table) -> ReadBytes:
        """See Step.from_table."""
        return cls(table.name("on"), _positive(table, "read_bytes", MAX_GENERATED_BYTES))

    def describe(self) -> str:
        """The step in words, for `h1check explain`."""
        return f"reads {self.count} bytes on {self.on} without judging them"


@dataclass(frozen=True)
class CheckAlive(Step):
    """A fresh connection's GET / gets a response within the timeout."""

    keys: ClassVar[tuple[str, ...]] = ("check_alive",)

    @classmethod
    def from_table(cls, table: _Table) -> CheckAlive:
        """See Step.from_table."""
        if not table.get("check_alive", bool):
            raise StepError(f"{table.kind}: the only meaningful value is true")
        return cls()

    def describe(self) -> str:
        """The step in words, for `h1check explain`."""
        return "checks that a fresh GET / is still answered"


@dataclass(frozen=True)
class Wait(Step):
    """Let time pass without doing anything (bounded, a fraction of a second)."""

    keys: ClassVar[tuple[str, ...]] = ("wait",)

    seconds: float

    @classmethod
    def from_table(cls, table: _Table) -> Wait:
        """See Step.from_table."""
        seconds = table.seconds("wait")
        assert seconds is not None  # `wait` is the table's own key, so it is there.
        return cls(seconds)

    def describe(self) -> str:
        """The step in words, for `h1check explain`."""
        return f"waits {self.seconds:g} s"


@dataclass(frozen=True)
class Repeat(Step):
    """Run the nested steps `times` times in a row."""

    keys: ClassVar[tuple[str, ...]] = ("repeat",)

    times: int
    steps: tuple[Step, ...]

    @classmethod
    def from_table(cls, table: _Table) -> Repeat:
        """See Step.from_table."""
        nested = table.get("steps", list)
        if not nested:
            raise StepError("repeat: needs a non-empty steps list")
        return cls(times=_positive(table, "repeat", 100), steps=parse_steps(nested))

    def describe(self) -> str:
        """The step in words, for `h1check explain`."""
        inner = "; ".join(step.describe() for step in self.steps)
        return f"{self.times} times: {inner}"


def expand_template(text: str) -> bytes:
    """Expand `{{TEXT*COUNT}}` runs and encode one byte per character."""
    total = 0

    def repeat(found: re.Match[str]) -> str:
        nonlocal total
        total += len(found.group(1)) * int(found.group(2))
        if total > MAX_GENERATED_BYTES:
            raise StepError(f"generated data exceeds {MAX_GENERATED_BYTES} bytes")
        return found.group(1) * int(found.group(2))

    expanded = _TEMPLATE.sub(repeat, text)
    try:
        return expanded.encode("latin-1")
    except UnicodeEncodeError as error:
        raise StepError(
            f"character {expanded[error.start]!r} is not one byte; write bytes as \\u00XX escapes"
        ) from None


class _Table:
    """Typed, strict access to one step table: every key must be read exactly once."""

    def __init__(self, table: dict[str, Any], kind: str) -> None:
        self.table, self.kind, self.unread = table, kind, set(table)

    def get(self, key: str, types: type | tuple[type, ...], default: Any = None) -> Any:
        if key not in self.table:
            return default
        self.unread.discard(key)
        value = self.table[key]
        # TOML booleans are ints to isinstance(); keep the two apart.
        if isinstance(value, bool) and bool not in _as_tuple(types):
            raise StepError(f"{self.kind}: {key} must be {_type_names(types)}, not a boolean")
        if not isinstance(value, types):
            raise StepError(f"{self.kind}: {key} must be {_type_names(types)}, got {value!r}")
        return value

    def name(self, key: str) -> str:
        value = self.get(key, str, DEFAULT_CONNECTION)
        if not _NAME.fullmatch(value):
            raise StepError(f"{self.kind}: connection name {value!r} is not a lowercase word")
        return value

    def seconds(self, key: str, default: float | None = None) -> float | None:
        value = self.get(key, (int, float), default)
        if value is not None and not 0 <= value <= 5:
            raise StepError(f"{self.kind}: {key} must be between 0 and 5 seconds")
        return value

    def names(self, key: str) -> tuple[str, ...]:
        values = self.get(key, list, [])
        if not all(isinstance(item, str) and item for item in values):
            raise StepError(f"{self.kind}: {key} must be a list of header names")
        return tuple(values)

    def done(self) -> None:
        if self.unread:
            raise StepError(f"{self.kind}: unknown key(s) {', '.join(sorted(self.unread))}")


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _type_names(types: type | tuple[type, ...]) -> str:
    return " or ".join(kind.__name__ for kind in _as_tuple(types))


def _parse_statuses(kind: str, value: Any) -> tuple[str, ...] | None:
    if value == "any":
        return None
    items = value if isinstance(value, list) else [value]
    statuses = []
    for item in items:
        text = str(item) if isinstance(item, int) and not isinstance(item, bool) else item
        if not isinstance(text, str) or not _STATUS.fullmatch(text):
            raise StepError(f"{kind}: status {item!r} is not a code like 200 or a class like 4xx")
        statuses.append(text)
    if not statuses:
        raise StepError(f"{kind}: at least one status is required")
    return tuple(statuses)


def _parse_response_spec(table: _Table, statuses: tuple[str, ...] | None) -> ResponseSpec:
    match = table.get("match", dict, {})
    for name, pattern in match.items():
        if not isinstance(pattern, str):
            raise StepError(f"{table.kind}: match.{name} must be a regular expression string")
        try:
            re.compile(pattern)
        except re.error as error:
            raise StepError(f"{table.kind}: match.{name} is not a valid regex: {error}") from None
    body_range = table.get("body_range", list)
    if body_range is not None and not (
        len(body_range) == 2
        and all(isinstance(n, int) for n in body_range)
        and 0 <= body_range[0] <= body_range[1]
    ):
        raise StepError(f"{table.kind}: body_range must be [first, last] byte offsets")
    spec = ResponseSpec(
        statuses=statuses,
        headers=table.names("headers"),
        absent=table.names("absent"),
        match=tuple(match.items()),
        body_file=table.get("body_file", str),
        body_range=tuple(body_range) if body_range is not None else None,
        not_body_file=table.get("not_body_file", str),
        empty_body=table.get("empty_body", bool, False),
        content_length_of=table.get("content_length_of", str),
        label=table.get("label", str),
    )
    if spec.body_range is not None and spec.body_file is None:
        raise StepError(f"{table.kind}: body_range needs body_file")
    if spec.empty_body and spec.body_file is not None:
        raise StepError(f"{table.kind}: empty_body and body_file contradict each other")
    return spec


def _parse_alternative(option: dict[str, Any]) -> ResponseSpec:
    table = _Table(option, "expect_one_of")
    spec = _parse_response_spec(
        table, _parse_statuses("expect_one_of", table.get("status", object, "any"))
    )
    table.done()
    return spec


def _positive(table: _Table, key: str, limit: int) -> int:
    value = table.get(key, int)
    if not 0 < value <= limit:
        raise StepError(f"{table.kind}: {key} must be between 1 and {limit}")
    return value


def parse_step(table: Any) -> Step:
    """Parse one step table, raising StepError on anything outside the vocabulary."""
    if not isinstance(table, dict):
        raise StepError(f"a step must be a table, got {table!r}")
    kinds = [key for key in table if key in STEP_KINDS]
    if len(kinds) != 1:
        found = ", ".join(kinds) if kinds else "none"
        raise StepError(f"a step needs exactly one of {', '.join(STEP_KINDS)} (found {found})")
    parsed = _Table(table, kinds[0])
    step = STEP_KINDS[kinds[0]].from_table(parsed)
    parsed.done()
    return step


def parse_steps(tables: Iterable[Any]) -> tuple[Step, ...]:
    """Parse a list of step tables and check connections are opened before they are used."""
    steps = tuple(parse_step(table) for table in tables)
    check_connection_use(steps)
    return steps


def check_connection_use(steps: Iterable[Step], opened: set[str] | None = None) -> set[str]:
    """Reject steps on a connection that was never opened or was already closed.

    `send` opens a connection it has never seen, so most scenarios need no `connect` step.
    """
    opened = set() if opened is None else opened
    seen: set[str] = set(opened)
    for step in steps:
        if isinstance(step, Repeat):
            check_connection_use(step.steps, opened)
            continue
        name = step.connection
        if name is None:
            continue
        if isinstance(step, Connect) or (isinstance(step, Send) and name not in seen):
            opened.add(name)
            seen.add(name)
        elif name not in opened:
            state = "was closed" if name in seen else "was never opened"
            raise StepError(f"{type(step).__name__.lower()}: connection {name!r} {state}")
        if isinstance(step, Close | Reset):
            opened.discard(name)
    return opened
