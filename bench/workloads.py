"""What the harness asks of each server: five throughput workloads and the idle-capacity test.

Each throughput workload is one question about a server. Small file, keep-alive, one
connection: the cost of one request, end to end (latency-bound). The same at 50 connections:
how the server shares itself out. Connection: close: the cost of accepting and closing, which
keep-alive hides. 16 KiB: a response that no longer fits one small write. 1 MiB: bulk
throughput, where sendfile and buffer sizes matter and per-request overhead does not.
The idle workload is a different kind of question and is answered by bench.idle.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from bench.load import LoadSpec, Measurement, run_python_load, run_wrk
from bench.servers import RunningServer

#: The name of the idle-capacity workload, which bench.idle runs.
IDLE = "idle"


@dataclass(frozen=True)
class Workload:
    """One throughput measurement's shape: which file, how many connections, keep-alive or not."""

    name: str
    title: str
    path: str
    connections: int
    close: bool = False
    #: "rps" (requests per second) or "MiB/s": what the table reports for it.
    unit: str = "rps"

    def spec(self, server: RunningServer, duration: float) -> LoadSpec:
        """The load run of this workload against `server`."""
        return LoadSpec(server.host, server.port, self.path, self.connections, duration, self.close)

    @property
    def cost_unit(self) -> str:
        """The unit of the server's CPU per unit of work: per request, or per MiB for bulk files,
        where one request's cost is mostly the size of its file."""
        return "ms/MiB" if self.unit == "MiB/s" else "µs/req"


WORKLOADS: dict[str, Workload] = {
    workload.name: workload
    for workload in (
        Workload("small-c1", "small file, keep-alive, c=1", "/index.html", 1),
        Workload("small-c50", "small file, keep-alive, c=50", "/index.html", 50),
        Workload("small-close", "small file, Connection: close, c=50", "/index.html", 50, True),
        Workload("16k", "16 KiB file, keep-alive, c=50", "/bench-16k.bin", 50),
        Workload("1m", "1 MiB file, keep-alive, c=50", "/bench-1m.bin", 50, unit="MiB/s"),
    )
}
#: Every workload name `--workloads` accepts, throughput first.
ALL_WORKLOADS = (*WORKLOADS, IDLE)


def measure(workload: Workload, server: RunningServer, duration: float, tool: str) -> Measurement:
    """Run `workload` against `server` for `duration` seconds with "wrk" or "python", and record
    the CPU the server's process tree spent meanwhile."""
    spec = workload.spec(server, duration)
    # Sampled as close to the load as possible: an idle server burns next to nothing, so the
    # difference is what serving this run cost.
    before = server.cpu_s()
    measured = run_wrk(spec) if tool == "wrk" else run_python_load(spec)
    after = server.cpu_s()
    # A server that died (or lost its first process) mid-run has no meaningful difference.
    spent = after - before if before is not None and after is not None else None
    if spent is None or spent < 0:
        return measured
    return dataclasses.replace(measured, server_cpu_s=spent)


def headline(workload: Workload, measurement: Measurement) -> float:
    """The number the table shows for a measurement: requests/s, or MiB/s for bulk files."""
    return measurement.mib_per_s if workload.unit == "MiB/s" else measurement.requests_per_s


def server_cost(workload: Workload, measurement: Measurement) -> float | None:
    """The server's CPU per unit of work, in `workload.cost_unit`: µs per request, or ms per
    MiB for bulk files (None when the CPU was not recorded or nothing was served)."""
    if measurement.server_cpu_s is None:
        return None
    if workload.unit == "MiB/s":
        mib = measurement.bytes_read / 2**20
        return measurement.server_cpu_s * 1e3 / mib if mib > 0 else None
    requests = measurement.requests
    return measurement.server_cpu_s * 1e6 / requests if requests > 0 else None
