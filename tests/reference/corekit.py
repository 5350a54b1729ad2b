"""Drive the sans-I/O core in memory, the way a backend would, and read what it sent."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from reference.core import Close, Connection, Send, SendFile, ShutdownWrite
from reference.limits import Limits

ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", "..", "html"))


@dataclass
class Wire:
    """Everything a driver would have written, and how the connection ended."""

    output: bytearray = field(default_factory=bytearray)
    half_closed: bool = False
    closed: bool = False


def new_connection(
    limits: Limits | None = None, now: float = 0.0, parser: str = "fast"
) -> Connection:
    """A core connection serving the repository's html/ directory, reading with ``parser``."""
    return Connection(ROOT, limits or Limits(), now, parser=parser)


def perform(connection: Connection, actions: list, wire: Wire, now: float = 0.0) -> None:
    """Carry out actions like a driver whose every write succeeds at once."""
    while actions:
        for action in actions:
            if isinstance(action, Send):
                assert not wire.half_closed, "data sent after half-close"
                wire.output += action.data
            elif isinstance(action, SendFile):
                with open(action.segment.path, "rb") as stream:
                    stream.seek(action.segment.offset)
                    wire.output += stream.read(action.segment.count)
            elif isinstance(action, ShutdownWrite):
                wire.half_closed = True
            elif isinstance(action, Close):
                wire.closed = True
        actions = connection.output_drained(now)


def feed(connection: Connection, chunks: list[bytes], *, eof: bool = True) -> Wire:
    """Deliver chunks (then EOF) while the connection wants input; return what it sent."""
    wire = Wire()
    for chunk in [*chunks, b""] if eof else chunks:
        if connection.closed:
            break
        assert connection.wants_read
        perform(connection, connection.data_received(chunk, 0.0), wire)
    return wire
