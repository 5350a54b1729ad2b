"""Who listens on a loopback port, asked of the operating system rather than found by connecting.

The suite must know whether a server it launched listens yet, on which port, and who else holds
a port it wants, without ever opening a connection: a connect-and-close is itself a scenario that
some course servers die of (see conformance.target).

Sockets are read through psutil, so this works wherever psutil does (Linux, macOS, the BSDs), but
what a user may see differs. Any user may list the sockets of their own processes, and that is
cheap, so the server the suite launched (always ours) is watched that way, every poll. Listing
every socket of the system reads every process's descriptors, and macOS refuses it to anyone but
root; it is kept for the rare question of who else holds a port, and a refusal narrows the answer
to the processes this user may inspect. A socket in TIME_WAIT belongs to no process, and macOS
never shows it, so whether one blocks a port is asked of the kernel with a bind instead.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterable
from typing import NamedTuple

import psutil


class Listener(NamedTuple):
    """A socket in LISTEN state: its owner (None when not ours to see), port and family."""

    pid: int | None
    port: int
    family: socket.AddressFamily


def pick_free_port() -> int:
    """Return a loopback port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listeners(port: int) -> list[Listener]:
    """The sockets listening on `port` anywhere on this system (costly: use sparingly).

    Where the full listing is refused (macOS, unless root), only the sockets of processes this
    user may inspect are found.
    """
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return [found for found in listeners_of(psutil.pids()) if found.port == port]
    return [
        Listener(connection.pid, connection.laddr.port, connection.family)
        for connection in connections
        if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port
    ]


def group_listeners(group: int) -> list[Listener]:
    """The listening sockets of every process in process group `group`.

    Cheap enough to poll: one getpgid per process, and only the group's descriptors are read.
    """
    return listeners_of(pid for pid in psutil.pids() if process_group_of(pid) == group)


def listeners_of(pids: Iterable[int]) -> list[Listener]:
    """The listening sockets of the processes `pids`, skipping any gone or not ours to inspect."""
    found = []
    for pid in pids:
        try:
            connections = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.Error:
            continue
        found += [
            Listener(pid, connection.laddr.port, connection.family)
            for connection in connections
            if connection.status == psutil.CONN_LISTEN
        ]
    return found


def process_group_of(pid: int) -> int | None:
    """The process group of `pid`, or None when it has exited."""
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def port_holder(port: int) -> str | None:
    """Describe who listens on `port` (None when nobody this user may see does)."""
    holders = listeners(port)
    if not holders:
        return None
    owners = [holder.pid for holder in holders if holder.pid is not None]
    return describe_process(min(owners)) if owners else "another process"


def describe_process(pid: int) -> str:
    """Name a process for an error message, e.g. 'pid 1234: python3 server.py'."""
    try:
        process = psutil.Process(pid)
        command = ""
        # Another user's command line may be hidden (macOS) while its name is not.
        with contextlib.suppress(psutil.AccessDenied):
            command = " ".join(process.cmdline())
        command = command or process.name()
    except psutil.Error:
        return f"pid {pid}"
    return f"pid {pid}: {command}" if command else f"pid {pid}"


def held_only_by_time_wait(host: str, port: int) -> bool:
    """Whether connections still closing (TIME_WAIT) are all that keep `port` on `host` taken.

    That is the case when a bind fails without SO_REUSEADDR and succeeds with it. The probe binds
    and never listens, so no server sees it.
    """
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
