"""One connection at a time: the course's first server.

The accept loop serves each connection to its end before accepting the next.
That is the whole model, and its limit: while one client holds a keep-alive
connection open — even idle — every other client waits in the listen
backlog, until the idle timeout closes the first. The conformance suite's
``concurrency`` scenarios fail here by design.
"""

from __future__ import annotations

from reference.backends.base import Backend, accept_until_stopped
from reference.blocking import serve_connection


class SerialBackend(Backend):
    """Accept, serve to the end, repeat."""

    def serve(self) -> None:
        for client in accept_until_stopped(self):
            serve_connection(client, self.site)
