"""One thread per connection.

Each accepted connection gets a thread running the blocking driver, so an
idle or slow client only ever blocks its own thread. Threads are daemonic so
that a stuck one can never keep the process alive past the shutdown grace.
"""

from __future__ import annotations

import threading
import time

from reference.backends.base import Backend, accept_until_stopped
from reference.blocking import serve_connection


class ThreadBackend(Backend):
    """Accept in the main thread; serve each connection in a thread of its own."""

    def serve(self) -> None:
        threads: set[threading.Thread] = set()
        for client in accept_until_stopped(self):
            thread = threading.Thread(
                target=serve_connection, args=(client, self.site), daemon=True
            )
            thread.start()
            threads = {t for t in threads if t.is_alive()} | {thread}
        # The stop signal has woken every idle connection; give busy ones the grace.
        give_up = time.monotonic() + self.site.limits.shutdown_grace
        for thread in threads:
            thread.join(max(give_up - time.monotonic(), 0))
