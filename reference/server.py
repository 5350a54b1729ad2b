"""Run a backend: bind the listener, handle signals, optionally prefork workers."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass

from reference.backends import load_backend
from reference.backends.base import Backend
from reference.site import Site

log = logging.getLogger("reference")


class StartupError(Exception):
    """The server cannot start; the message is one line meant for the user."""


@dataclass(frozen=True)
class ServerOptions:
    """Everything the command line decides."""

    backend: str
    host: str
    port: int
    workers: int = 1
    backlog: int = 128


def bind(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A socket bound to host:port (not yet listening), or a StartupError saying why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        reason = (error.strerror or str(error)).lower()
        raise StartupError(f"cannot listen on {host}:{port}: {reason}") from None
    return sock


def announce(sock: socket.socket) -> None:
    """Print the one line tools wait for, once connections are being accepted."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"listening on http://{shown}:{port}", flush=True)


def run(options: ServerOptions, site: Site) -> int:
    """Serve until SIGINT or SIGTERM; the exit status for the process."""
    backend_class = load_backend(options.backend)
    if options.workers > 1 and not backend_class.supports_workers:
        raise StartupError(f"the {options.backend} backend does not support --workers")
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: site.stop_signal.set())
    if options.workers == 1:
        listener = bind(options.host, options.port, reuse_port=False)
        listener.listen(options.backlog)
        announce(listener)
        _serve(backend_class, listener, site)
        return 0
    return _prefork(backend_class, options, site)


def _serve(backend_class: type[Backend], listener: socket.socket, site: Site) -> None:
    try:
        backend_class(listener, site).serve()
    finally:
        listener.close()


def _prefork(backend_class: type[Backend], options: ServerOptions, site: Site) -> int:
    """N workers, each with its own SO_REUSEPORT listener, so the kernel spreads connections.

    The parent binds first without listening: that reserves the port (and
    resolves --port 0) but takes no connections, since the kernel only
    balances among listening sockets.
    """
    reservation = bind(options.host, options.port, reuse_port=True)
    port = reservation.getsockname()[1]
    ready_read, ready_write = os.pipe()
    workers = []
    for _ in range(options.workers):
        pid = os.fork()
        if pid == 0:
            os.close(ready_read)
            status = 1
            try:
                listener = bind(options.host, port, reuse_port=True)
                listener.listen(options.backlog)
                os.write(ready_write, b"1")
                _serve(backend_class, listener, site)
                status = 0
            except Exception:
                log.exception("worker failed")
            finally:
                os._exit(status)
        workers.append(pid)
    os.close(ready_write)
    started = 0
    while started < options.workers and os.read(ready_read, 1):
        started += 1
    os.close(ready_read)
    if started == options.workers:
        announce(reservation)
    else:
        site.stop_signal.set()
    # waitpid is retried after a signal handler runs (PEP 475), so SIGTERM cannot cut this short.
    failed = sum(os.waitpid(pid, 0)[1] != 0 for pid in workers)
    reservation.close()
    return 1 if failed or started < options.workers else 0


def configure_logging(verbose: bool) -> None:
    """Warnings by default; --verbose shows each connection ending early."""
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
    )
