"""How long h1check waits, and how it paces what it sends: the knobs of one run.

Every layer reads them (the client sockets, a scenario's session, the engine), so they live here
rather than in any one of those layers, which would then import each other in a circle.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Settings:
    """Timing knobs for a run; the defaults keep a good local server's run to a few seconds."""

    response_timeout: float = 2.0
    connect_timeout: float = 2.0
    pause: float = 0.05
    byte_pause: float = 0.002
    quiet_period: float = 0.2
