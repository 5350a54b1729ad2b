"""A pool of forked processes, one connection per process at a time (Apache's prefork).

Forking costs milliseconds, so forking per connection caps a server of short
connections at a few hundred a second. Instead children are forked ahead of
time and each one loops: wait until the shared listener is readable, accept
(the listener is non-blocking, since a sibling woken by the same connection
may win it), serve that one connection to its end, repeat. A slow or idle
client still blocks only its own process.

Concurrency must not be capped by the pool's size, so the parent keeps *spare*
(idle) children ready: each child writes "busy" or "idle", with its pid, to a
pipe the parent reads, and whenever fewer than ``MIN_SPARE`` are idle the
parent forks more at once. Three spares absorb a small burst while the parent
forks; one connection more than that costs one fork, as before. Above
``MAX_SPARE`` idle children the parent sends one of them away every
``TRIM_INTERVAL`` by writing a byte to a "leave" pipe every idle child watches:
whoever reads it exits (Apache's pipe of death). Trimming slowly is what keeps
a pool from forking and trimming in turn under bursty load; ten spares are
little memory and, since every idle child is woken by each new connection
before one wins it, not too many wakeups for nothing.

Only the parent holds the leave pipe's write end, so if the parent dies the
pipe reads as ended and every idle child leaves too: no orphan keeps serving.
The parent reaps with ``waitpid`` in its own loop, never in a signal handler,
so a child that exits at once cannot be reaped before its pid is recorded.
A child that crashes is reaped there and replaced when spares run low. At
shutdown the stop signal reaches every child: idle ones exit, busy ones
finish what is in flight; the parent waits for them within the grace, then
kills what remains and reaps it. A child always ends in ``os._exit``, so it
never runs the parent's cleanup.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import struct
import time

from reference.backends.base import Backend
from reference.blocking import serve_connection, wait_readable

log = logging.getLogger("reference")

MIN_SPARE = 3
MAX_SPARE = 10
#: Seconds between two idle children sent away; also the parent's longest sleep.
TRIM_INTERVAL = 0.5
#: A child's report: its pid and whether it is busy. Five bytes, so each write is atomic.
REPORT = struct.Struct("=i?")


class ProcessBackend(Backend):
    """Pre-forked children accept and serve; the parent keeps enough of them idle."""

    def serve(self) -> None:
        self.listener.setblocking(False)
        reports, self._report_end = os.pipe()
        self._leave_end, leave = os.pipe()
        os.set_blocking(self._leave_end, False)
        busy: dict[int, bool] = {}  # pid -> busy, for every child not yet reaped
        stop = self.site.stop_signal.fileno
        next_trim = time.monotonic()
        try:
            while True:
                _reap(busy, block=False)
                idle = list(busy.values()).count(False)
                for _ in range(MIN_SPARE - idle):
                    try:
                        busy[self._fork(reports, leave)] = False
                    except OSError as error:  # out of processes or memory: retry on the next tick
                        log.warning("cannot fork: %s", error)
                        break
                if idle > MAX_SPARE and time.monotonic() >= next_trim:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._leave_end, 1)  # a byte nobody took yet: send it again
                    os.write(leave, b"x")
                    next_trim = time.monotonic() + TRIM_INTERVAL
                readable, _, _ = wait_readable([stop, reports], [], [], TRIM_INTERVAL)
                if stop in readable:
                    break
                if reports in readable:
                    # Writes of whole reports are atomic, so reads stay aligned with them.
                    data = os.read(reports, REPORT.size * 512)
                    for pid, is_busy in REPORT.iter_unpack(data):
                        if pid in busy:  # else already reaped (a crash right after reporting)
                            busy[pid] = is_busy
            self._finish(busy)
        finally:
            for fd in (reports, self._report_end, self._leave_end, leave):
                os.close(fd)

    def _fork(self, reports: int, leave: int) -> int:
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                os.close(reports)
                os.close(leave)
                self._accept_and_serve()
                status = 0
            except BaseException:
                log.exception("process backend child failed")
            finally:
                os._exit(status)
        return pid

    def _accept_and_serve(self) -> None:
        """The child's loop: one connection at a time until stopped or sent away."""
        stop = self.site.stop_signal.fileno
        me = os.getpid()
        while True:
            readable, _, _ = wait_readable([stop, self.listener, self._leave_end], [], [])
            if stop in readable:
                return
            if self.listener in readable:
                try:
                    client, _ = self.listener.accept()
                except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                    continue  # a sibling won it
                except OSError as error:
                    log.warning("accept failed: %s", error)  # out of descriptors: wait a little
                    wait_readable([stop], [], [], 0.1)
                    continue
                os.write(self._report_end, REPORT.pack(me, True))
                serve_connection(client, self.site)
                os.write(self._report_end, REPORT.pack(me, False))
            elif self._leave_end in readable:
                with contextlib.suppress(BlockingIOError):  # a sibling took the byte
                    os.read(self._leave_end, 1)  # a byte, or end of file: the parent is gone
                    return

    def _finish(self, children: dict[int, bool]) -> None:
        give_up = time.monotonic() + self.site.limits.shutdown_grace
        while _reap(children, block=False) and time.monotonic() < give_up:
            time.sleep(0.02)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _reap(children, block=True)


def _reap(children: dict[int, bool], *, block: bool) -> dict[int, bool]:
    """Collect exited children (with ``block``, all of them); returns those still running."""
    while children:
        try:
            pid, _ = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            children.clear()
        else:
            if pid == 0:
                break
            children.pop(pid, None)
    return children
