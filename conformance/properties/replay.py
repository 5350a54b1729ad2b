"""A property failure, kept so anyone can replay it: the report's record and a standalone script.

The script is what a student runs after fixing their server: plain Python, nothing to install,
the exact bytes on each socket with the pauses between writes, and the rule each response must
meet. It exits 1 while the failure is still there and 0 once it is gone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.properties.exchange import Exchange
from conformance.transcript import escape


@dataclass(frozen=True)
class Wanted:
    """What one response must be, in a form the standalone script can check too."""

    text: str
    classes: tuple[str, ...] = ()  # status classes like "2xx"; empty: any status
    body_sha256: str | None = None
    close_instead: bool = False  # a close without a response is acceptable
    wait_ok: bool = False  # no response at all is acceptable: the head has not ended for it
    http09_ok: bool = False  # an HTTP/0.9 reply (no status line, then a close) is acceptable


@dataclass(frozen=True)
class Check:
    """One exchange and the rule its responses were held to."""

    exchange: Exchange
    wanted: tuple[Wanted, ...]
    must_close: bool


def record(
    checks: list[Check], exchanges: list[Exchange], *, seed: int, profile: str, example: str
) -> dict[str, Any]:
    """The JSON report's account of a failure: the example, the seed, and each socket's bytes."""
    judged = {id(check.exchange): check for check in checks}
    sockets = []
    for exchange in exchanges:
        check = judged.get(id(exchange))
        sockets.append(
            {
                "sent": [
                    {"pause_s": write.pause_s, "bytes": write.data.decode("latin-1")}
                    for write in exchange.writes
                ],
                "methods": [method for turn in exchange.turns for method in turn.methods],
                "received": bytes(exchange.received).decode("latin-1"),
                "timeline": [
                    {"at_s": round(moment, 4), "event": kind, "bytes": len(data)}
                    if kind in "<>"
                    else {"at_s": round(moment, 4), "event": data.decode()}
                    for moment, kind, data in exchange.events
                ],
                "ending": str(exchange.ending),
                "wanted": [vars(want) | {"classes": list(want.classes)} for want in check.wanted]
                if check
                else [],
                "must_close": check.must_close if check else False,
            }
        )
    return {"seed": seed, "profile": profile, "example": example, "sockets": sockets}


def script_name(scenario_id: str) -> str:
    """The file name of a scenario's replay script."""
    return re.sub(r"[^a-z0-9]+", "-", scenario_id) + ".py"


def write_script(path: Path, scenario_id: str, message: str, replay: dict[str, Any]) -> None:
    """Write the standalone replay script for one failed property scenario."""
    sockets = [
        {
            "writes": [
                (write["pause_s"], write["bytes"].encode("latin-1")) for write in sock["sent"]
            ],
            "methods": sock["methods"],
            "wanted": sock["wanted"],
            "must_close": sock["must_close"],
        }
        for sock in replay["sockets"]
    ]
    header = (
        f'"""Replay h1check\'s failure of {scenario_id} against a running server.\n\n'
        f"    python {path.name} HOST:PORT\n\n"
        f"What failed: {escape(message.encode('latin-1', 'replace'))}\n"
        f"Found with seed {replay['seed']} ({replay['profile']} profile); the example, shrunk:\n"
        f"{escape(replay['example'].encode('latin-1', 'replace'))[:2000]}\n\n"
        "Exits 1 while the failure is still there, 0 once every response is as required.\n"
        '"""\n'
    )
    path.write_text(header + f"\nSOCKETS = {sockets!r}\n" + _RUNNER, encoding="utf-8")


_RUNNER = r'''
import hashlib
import socket
import sys
import time

TIMEOUT = 5.0


def show(arrow, data):
    for line in data.splitlines(keepends=True)[:40]:
        print(arrow, repr(line)[2:-1])


def receive(sock, buffer):
    data = sock.recv(65536)
    if not data:
        raise EOFError
    print(f"  ({len(data)} bytes arrived)")
    show("<", data)
    return buffer + data


def read_response(sock, buffer, method):
    """Return (status, body, connection header, rest) of the next final response."""
    while len(buffer) < 5:
        buffer = receive(sock, buffer)
    if not buffer.startswith(b"HTTP/"):
        raise ValueError("a reply with no status line")
    while True:
        while b"\r\n\r\n" not in buffer:
            buffer = receive(sock, buffer)
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip().lower()
        if status >= 200:
            break
    if method == "HEAD" or status in (204, 304):
        return status, b"", fields.get(b"connection", b""), buffer
    if b"chunked" in fields.get(b"transfer-encoding", b""):
        body = b""
        while True:
            while b"\r\n" not in buffer:
                buffer = receive(sock, buffer)
            size_line, _, buffer = buffer.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(buffer) < size + 2:
                buffer = receive(sock, buffer)
            body, buffer = body + buffer[:size], buffer[size + 2 :]
            if size == 0:
                while not buffer.startswith(b"\r\n") and b"\r\n\r\n" not in buffer:
                    buffer = receive(sock, buffer)
                buffer = buffer.partition(b"\r\n")[2] if buffer.startswith(b"\r\n") else buffer
                return status, body, fields.get(b"connection", b""), buffer
    if b"content-length" in fields:
        length = int(fields[b"content-length"])
        while len(buffer) < length:
            buffer = receive(sock, buffer)
        return status, buffer[:length], fields.get(b"connection", b""), buffer[length:]
    try:
        while True:
            buffer = receive(sock, buffer)
    except EOFError:
        return status, buffer, b"close", b""


def closes(sock):
    """Whether the server closes the connection within the timeout (reading what comes)."""
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


def replay(host, port, number, exchange):
    print(f"socket {number}: connecting to {host}:{port}")
    sock = socket.create_connection((host, port), timeout=TIMEOUT)
    problems = []
    with sock:
        for pause, data in exchange["writes"]:
            time.sleep(pause)
            print(f"  (after {pause * 1000:.0f} ms, sends {len(data)} bytes)")
            show(">", data)
            sock.sendall(data)
        buffer = b""
        for index, (method, want) in enumerate(zip(exchange["methods"], exchange["wanted"])):
            try:
                status, body, connection, buffer = read_response(sock, buffer, method)
            except ValueError as error:
                closed = closes(sock)
                if not (want["http09_ok"] and closed):
                    problems.append(f"response {index + 1}: {error}; wanted {want['text']}")
                return problems
            except (EOFError, ConnectionError):
                if not want["close_instead"]:
                    problems.append(f"response {index + 1}: the server closed instead; wanted {want['text']}")
                return problems
            except TimeoutError:
                if not want["wait_ok"]:
                    problems.append(f"response {index + 1}: nothing within {TIMEOUT:g} s; wanted {want['text']}")
                return problems
            if want["classes"] and f"{status // 100}xx" not in want["classes"]:
                problems.append(f"response {index + 1}: {status}; wanted {want['text']}")
            digest = want["body_sha256"]
            if digest and hashlib.sha256(body).hexdigest() != digest:
                problems.append(f"response {index + 1}: another body; wanted {want['text']}")
            if b"close" in connection:
                return problems
        if exchange["must_close"] and not closes(sock):
            problems.append(f"the server kept the connection open {TIMEOUT:g} s after the last response")
    return problems


def main():
    if len(sys.argv) != 2 or ":" not in sys.argv[1]:
        sys.exit(f"usage: python {sys.argv[0]} HOST:PORT")
    host, _, port = sys.argv[1].rpartition(":")
    problems = []
    for number, exchange in enumerate(SOCKETS, start=1):
        try:
            problems += replay(host.strip("[]"), int(port), number, exchange)
        except OSError as error:
            problems.append(f"socket {number}: {error}")
    print()
    if problems:
        print("STILL FAILING:")
        for problem in problems:
            print("  " + problem)
        sys.exit(1)
    print("PASSED: every response was as required")


if __name__ == "__main__":
    main()
'''
