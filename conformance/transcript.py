"""A readable record of the bytes a scenario exchanged, escaped and truncated for reports.

Lines look like `> GET / HTTP/1.1\\r\\n` (sent) and `< HTTP/1.1 200 OK\\r\\n` (received); on a
connection other than "main" the arrow carries its name (`b> `). A long run of bytes in one
direction shows its start and then how many bytes were left out, so a 320 KiB download or a
64 KiB header stays a few lines long while the interesting part, the start, is kept.
"""

from __future__ import annotations

MAIN = "main"
MAX_LINES = 120
MAX_LINE_CHARS = 160
MAX_RUN_BYTES = 640

_NAMED = {ord("\r"): "\\r", ord("\n"): "\\n", ord("\t"): "\\t", ord("\\"): "\\\\"}


def escape(data: bytes) -> str:
    """Render bytes as printable ASCII: CR/LF/TAB/backslash as escapes, others as \\xNN."""
    return "".join(
        _NAMED.get(byte) or (chr(byte) if 0x20 <= byte < 0x7F else f"\\x{byte:02x}")
        for byte in data
    )


def _lines(data: bytes) -> list[bytes]:
    """Split after each LF, keeping the line endings."""
    return data.splitlines(keepends=True) if data else []


class Transcript:
    """Collects sent/received bytes and notes as escaped, bounded lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._run: tuple[str, str] | None = None
        self._run_shown = 0
        self._run_hidden = 0
        self._truncated = False

    def sent(self, connection: str, data: bytes) -> None:
        """Record bytes the client sent."""
        self._bytes(connection, ">", data)

    def received(self, connection: str, data: bytes) -> None:
        """Record bytes the server sent."""
        self._bytes(connection, "<", data)

    def note(self, connection: str, text: str) -> None:
        """Record an event such as a close, a reset or a pause."""
        self._run = None
        label = "" if connection == MAIN else f"{connection}: "
        self._append(f"* {label}{text}")

    def _bytes(self, connection: str, arrow: str, data: bytes) -> None:
        prefix = ("" if connection == MAIN else connection) + arrow + " "
        if self._run != (connection, arrow):
            self._run, self._run_shown, self._run_hidden = (connection, arrow), 0, 0
        shown = data[: max(0, MAX_RUN_BYTES - self._run_shown)]
        self._run_shown += len(shown)
        for line in _lines(shown):
            text = escape(line)
            if len(text) > MAX_LINE_CHARS:
                text = text[:MAX_LINE_CHARS] + "..."
            self._append(prefix + text)
        hidden = len(data) - len(shown)
        if hidden:
            if self._run_hidden and self.lines and self.lines[-1].startswith(prefix + "..."):
                self.lines.pop()
            self._run_hidden += hidden
            self._append(f"{prefix}... ({self._run_hidden} more bytes)")

    def _append(self, line: str) -> None:
        if len(self.lines) < MAX_LINES:
            self.lines.append(line)
        elif not self._truncated:
            self._truncated = True
            self.lines.append("* ... (transcript truncated)")
