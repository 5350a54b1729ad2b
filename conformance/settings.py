"""How long h1check waits, how it paces what it sends, and how hard it searches: a run's knobs.

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
    # The property layer: the deep profile's many examples instead of the quick default, and
    # the seed its searches start from (fixed by default, so two runs judge alike).
    deep: bool = False
    seed: int = 0
