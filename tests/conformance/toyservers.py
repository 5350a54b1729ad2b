"""Tiny servers for the command line and plugin tests, and a check that none outlives its run."""

from __future__ import annotations

import sys
from pathlib import Path

# Answers every request with 500 and closes: it fails every `basic` scenario but stays alive.
ALWAYS_500 = """
import socket, sys
listener = socket.create_server(("127.0.0.1", int(sys.argv[1])))
while True:
    connection, _ = listener.accept()
    with connection:
        connection.settimeout(2)
        request = b""
        while b"\\r\\n\\r\\n" not in request and (chunk := connection.recv(4096)):
            request += chunk
        connection.sendall(b"HTTP/1.1 500 Oops\\r\\nContent-Length: 0\\r\\nConnection: close\\r\\n\\r\\n")
"""


def write_always_500(directory: Path) -> list[str]:
    """Write the always-500 server into `directory`; return its command line (port as {port})."""
    script = directory / "always_500.py"
    script.write_text(ALWAYS_500)
    return [sys.executable, str(script), "{port}"]


def live_processes_mentioning(text: str) -> list[int]:
    """Pids of live (not zombie) processes whose command line contains `text`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if text in cmdline and state != "Z":
            found.append(int(proc.name))
    return found
