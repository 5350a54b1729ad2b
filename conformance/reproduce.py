"""The command that checks one scenario again, the way the user (or student) started the server.

A Reproduce line must work on the reader's own machine after the run is over, so it repeats the
user's own command with `--id`, never the port of a server that is gone.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from conformance.scenarios import Scenario

DEFAULT_LEVELS = ("MUST", "POLICY", "SHOULD")


@dataclass(frozen=True)
class Reproducer:
    """`h1check run` words before the scenario's selection, and the server command after it."""

    options: list[str]
    server: list[str] = field(default_factory=list)

    def __call__(self, scenario: Scenario) -> str:
        """The command that runs `scenario` alone against the same server."""
        selection = ["--id", scenario.id]
        if scenario.level not in DEFAULT_LEVELS:
            selection += ["--level", scenario.level]
        server = ["--", *self.server] if self.server else []
        return shlex.join([*self.options, *selection, *server])
