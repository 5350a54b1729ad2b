"""The small interface every backend implements."""

from __future__ import annotations

import logging
import socket
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import ClassVar

from reference.blocking import wait_readable
from reference.site import Site

log = logging.getLogger("reference")


class Backend(ABC):
    """Accepts connections on a listening socket and serves each until the server stops.

    The runner creates the listening socket, installs signal handlers that set
    ``site.stop_signal``, then calls :meth:`serve`. A backend stops accepting
    once the stop signal is set, lets responses in flight finish within
    ``site.limits.shutdown_grace`` seconds, and returns.
    """

    #: Whether ``--workers N`` may run N copies of this backend on one port.
    supports_workers: ClassVar[bool] = False

    def __init__(self, listener: socket.socket, site: Site) -> None:
        self.listener = listener
        self.site = site

    @abstractmethod
    def serve(self) -> None:
        """Serve until the stop signal is set and in-flight work is done (or the grace ends)."""


def accept_until_stopped(
    backend: Backend, wait: Callable[..., tuple[list, list, list]] | None = None
) -> Iterator[socket.socket]:
    """Yield accepted connections until the stop signal is set.

    A blocking ``accept()`` cannot be interrupted cleanly, so we wait on the
    listener and the stop signal together and accept only when a connection
    is really there.
    """
    wait = wait or wait_readable
    stop = backend.site.stop_signal.fileno
    while True:
        readable, _, _ = wait([backend.listener, stop], [], [])
        if stop in readable:
            return
        try:
            client, _ = backend.listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            continue
        except OSError as error:
            # Out of file descriptors: drop nothing, wait for a connection to end.
            log.warning("accept failed: %s", error)
            wait([stop], [], [], 0.1)
            continue
        yield client
