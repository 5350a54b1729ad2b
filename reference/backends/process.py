"""One forked process per connection.

The parent only accepts: it forks, closes its own copy of the client socket
(otherwise the connection would stay open after the child closes it), and
goes back to accepting. The child closes its copy of the listener, serves the
one connection and exits. Finished children are reaped as soon as the
kernel reports them (SIGCHLD), so none is left a zombie; at shutdown the
parent waits for the rest within the grace, then kills what remains.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

from reference.backends.base import Backend, accept_until_stopped
from reference.blocking import serve_connection


class ProcessBackend(Backend):
    """Fork a child per accepted connection."""

    def serve(self) -> None:
        children: set[int] = set()
        previous = signal.signal(signal.SIGCHLD, lambda *_: _reap(children, block=False))
        try:
            for client in accept_until_stopped(self):
                # Hold SIGCHLD until the pid is recorded, or a child that exits at once
                # would be reaped before we know it and its pid kept forever.
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
                pid = os.fork()
                if pid == 0:
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
                    self.listener.close()
                    try:
                        serve_connection(client, self.site)
                    finally:
                        os._exit(0)
                children.add(pid)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
                client.close()
            self._finish(children)
        finally:
            signal.signal(signal.SIGCHLD, previous)

    def _finish(self, children: set[int]) -> None:
        give_up = time.monotonic() + self.site.limits.shutdown_grace
        while _reap(children, block=False) and time.monotonic() < give_up:
            time.sleep(0.02)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _reap(children, block=True)


def _reap(children: set[int], *, block: bool) -> set[int]:
    """Collect exited children (with ``block``, all of them); returns those still running."""
    while children:
        try:
            pid, _ = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            children.clear()
        else:
            if pid == 0:
                break
            children.discard(pid)
    return children
