"""Who listens on a loopback port, read from the kernel's socket tables rather than by connecting.

The suite must know whether a server it launched listens yet, on which port, and who else holds
a port it wants, without ever opening a connection: a connect-and-close is itself a scenario that
some course servers die of (see conformance.target).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

TCP_LISTEN = "0A"


def pick_free_port() -> int:
    """Return a loopback port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class TcpSocket(NamedTuple):
    """One row of /proc/net/tcp or /proc/net/tcp6."""

    table: str
    port: int
    state: str
    inode: int


def tcp_sockets() -> list[TcpSocket]:
    """Every TCP socket of this network namespace, IPv4 and IPv6."""
    found = []
    for table in ("tcp", "tcp6"):
        try:
            lines = Path("/proc/net", table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            port = int(fields[1].rsplit(":", 1)[1], 16)
            found.append(TcpSocket(table, port, fields[3], int(fields[9])))
    return found


def listeners(port: int) -> list[TcpSocket]:
    """The sockets in LISTEN state on `port`."""
    return [entry for entry in tcp_sockets() if entry.port == port and entry.state == TCP_LISTEN]


def open_sockets() -> Iterator[tuple[int, int]]:
    """Yield (pid, socket inode) for every socket descriptor this user may inspect."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            descriptors = list((proc / "fd").iterdir())
        except OSError:
            continue
        for descriptor in descriptors:
            # A descriptor may close between listing and reading; the listing's own one always does.
            with contextlib.suppress(OSError):
                link = os.readlink(descriptor)
                if link.startswith("socket:["):
                    yield int(proc.name), int(link[8:-1])


def describe_process(pid: int) -> str:
    """Name a process for an error message, e.g. 'pid 1234: python3 server.py'."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return f"pid {pid}"
    command = " ".join(part.decode(errors="replace") for part in argv if part)
    return f"pid {pid}: {command}" if command else f"pid {pid}"


def port_holder(port: int) -> str | None:
    """Describe who listens on `port` (None when nobody does)."""
    held_by = {entry.inode for entry in listeners(port)}
    if not held_by:
        return None
    owners = [pid for pid, inode in open_sockets() if inode in held_by]
    return describe_process(min(owners)) if owners else "another process"


def process_group_ports(group: int) -> list[int]:
    """Ports on which any process of `group` listens (to explain a server on a wrong port)."""
    inodes = {inode for pid, inode in open_sockets() if process_group_of(pid) == group}
    return sorted({e.port for e in tcp_sockets() if e.state == TCP_LISTEN and e.inode in inodes})


def process_group_of(pid: int) -> int | None:
    """The process group of `pid`, or None when it has exited."""
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def held_only_by_time_wait(host: str, port: int) -> bool:
    """Whether only connections still closing (TIME_WAIT) keep `port` on `host` from being bound:
    a bind fails without SO_REUSEADDR and succeeds with it. The probe binds and never listens, so
    no server sees it."""
    return not can_bind(host, port, reuse_address=False) and can_bind(
        host, port, reuse_address=True
    )


def can_bind(host: str, port: int, *, reuse_address: bool) -> bool:
    """Whether a socket could bind (host, port) right now; it is closed at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, int(reuse_address))
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True
