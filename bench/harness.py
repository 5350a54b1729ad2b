"""The rounds: start every server, measure each workload against each in interleaved rounds,
then try each server's idle capacity on a fresh instance.

The throughput servers all run side by side for the whole run, each started once: idle ones
cost the one being measured nothing, and a server restarted between rounds would be measured
cold. The idle test starts each server afresh, since it measures memory growth and leaves tens
of thousands of closed connections behind. Every step is bounded: a load run by its duration
plus a margin, starting a server by conformance.target's timeout, idle levels by bench.idle's,
and the whole run by --time-limit, after which remaining rounds and idle tests are skipped and
the report says so.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import os
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bench.idle import DESCRIPTOR_MARGIN, IDLE_LEVELS, measure_idle, raise_descriptor_limit
from bench.load import LoadError, LoadSpec, run_python_load, run_wrk
from bench.report import Results, cost_text
from bench.servers import RECIPES, REPO, RunningServer, launch
from bench.workloads import IDLE, WORKLOADS, headline, measure, server_cost
from conformance.target import TargetError

#: Seconds of load each server gets before round 1, so no round measures a cold server.
WARM_UP_S = 1.0
#: Seconds a load run takes beyond its duration (start-up, connecting), for the estimate.
RUN_OVERHEAD_S = 0.3
#: Seconds the estimate allows for one server's idle test.
IDLE_ESTIMATE_S = 20.0


@dataclass(frozen=True)
class Options:
    """What to run: the command line's choices."""

    servers: list[str]
    workloads: list[str]
    rounds: int
    duration: float
    tool: str
    idle_levels: tuple[int, ...] = IDLE_LEVELS
    time_limit_s: float = 30 * 60.0


def estimate_s(options: Options) -> float:
    """Roughly how long the run will take, for the announcement before it starts."""
    throughput = [name for name in options.workloads if name in WORKLOADS]
    runs = options.rounds * len(throughput) * len(options.servers)
    idle = IDLE_ESTIMATE_S * len(options.servers) if IDLE in options.workloads else 0.0
    return runs * (options.duration + RUN_OVERHEAD_S) + idle


def run(options: Options, command: str, say: Callable[[str], None] = print) -> Results:
    """Measure everything `options` asks for; progress goes to `say`, one line at a time."""
    started = time.monotonic()
    runnable = [name for name in options.servers if RECIPES[name].missing() is None]
    results = Results(runnable, options.workloads, options.tool, options.duration)
    results.problems += [
        f"{name} skipped: {RECIPES[name].missing()}"
        for name in options.servers
        if name not in runnable
    ]
    options = dataclasses.replace(options, servers=runnable)
    results.command = command
    results.machine = describe_machine()
    nofile = raise_descriptor_limit(max(options.idle_levels, default=0) + DESCRIPTOR_MARGIN)
    say(f"descriptor limit {nofile}; about {estimate_s(options) / 60:.0f} min")
    deadline = started + options.time_limit_s
    throughput = [name for name in options.workloads if name in WORKLOADS]
    if throughput:
        run_rounds(options, results, throughput, nofile, deadline, say)
    if IDLE in options.workloads:
        run_idle(options, results, nofile, deadline, say)
    results.elapsed_s = time.monotonic() - started
    return results


def run_rounds(
    options: Options,
    results: Results,
    throughput: list[str],
    nofile: int,
    deadline: float,
    say: Callable[[str], None],
) -> None:
    """Start every server, warm each up, then run the interleaved rounds."""
    servers: dict[str, RunningServer] = {}
    try:
        for name in options.servers:
            try:
                servers[name] = launch(name, nofile=nofile)
            except TargetError as error:
                results.problems.append(f"{name} did not start: {error}")
        for server in servers.values():
            warm_up(server, options.tool)
        for number in range(1, options.rounds + 1):
            if time.monotonic() > deadline:
                results.problems.append(f"time limit reached: rounds after {number - 1} skipped")
                break
            # Rotating the order keeps any one server from always following the same neighbour.
            order = list(servers)
            shift = (number - 1) % len(order) if order else 0
            for workload in throughput:
                for name in order[shift:] + order[:shift]:
                    if name in servers:
                        measure_once(servers, name, workload, number, options, results, say)
            results.rounds = number
    finally:
        for server in servers.values():
            server.stop()


def measure_once(
    servers: dict[str, RunningServer],
    name: str,
    workload_name: str,
    number: int,
    options: Options,
    results: Results,
    say: Callable[[str], None],
) -> None:
    """One measurement into `results`; a server it killed is restarted, or dropped if it
    will not start again."""
    server, workload = servers[name], WORKLOADS[workload_name]
    where = f"round {number}, {workload_name}, {name}"
    try:
        sample = measure(workload, server, options.duration, options.tool)
    except LoadError as error:
        results.problems.append(f"{where}: {error}")
    else:
        results.samples.setdefault((name, workload_name), []).append(sample)
        cost = server_cost(workload, sample)
        say(
            f"round {number}/{options.rounds} {workload_name:<11} {name:<16}"
            f" {headline(workload, sample):>10,.0f} {workload.unit:<5}"
            f" errors {sample.errors:<5} client CPU {sample.client_cpu:.0%}"
            + (f" server CPU {cost_text(cost)} {workload.cost_unit}" if cost is not None else "")
        )
    if server.is_running():
        return
    crash = server.crash_details().splitlines()[0]
    try:
        server.restart()
    except TargetError as error:
        results.problems.append(f"{name} died in {where} ({crash}) and did not restart: {error}")
        server.stop()
        del servers[name]
    else:
        results.problems.append(f"{name} died in {where} ({crash}); restarted")


def warm_up(server: RunningServer, tool: str) -> None:
    """A short burst of small-file requests, so the first round does not meet a cold server."""
    spec = LoadSpec(server.host, server.port, "/index.html", 10, WARM_UP_S)
    with contextlib.suppress(LoadError):
        run_wrk(spec) if tool == "wrk" else run_python_load(spec)


def run_idle(
    options: Options,
    results: Results,
    nofile: int,
    deadline: float,
    say: Callable[[str], None],
) -> None:
    """Each server, started afresh, tried at each idle level."""
    for name in options.servers:
        if time.monotonic() > deadline:
            results.problems.append(f"time limit reached: idle test skipped from {name} on")
            return
        try:
            server = launch(name, nofile=nofile)
        except TargetError as error:
            results.problems.append(f"{name} did not start for the idle test: {error}")
            continue
        try:
            idle = measure_idle(server, options.idle_levels)
        finally:
            server.stop()
        results.idle[name] = idle
        last = idle.last
        shown = f"held {last.held:,} of {last.level:,}" if last else "nothing measured"
        say(f"idle {name:<16} capacity {idle.capacity:,} ({shown})")


def describe_machine() -> dict[str, str]:
    """Date, machine, software versions and code version, each as one line for the report."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores ({_cpu_model()}), Linux {platform.release()},"
        f" Python {platform.python_version()}",
        "software": ", ".join(
            filter(
                None,
                [
                    _first_line(["wrk", "-v"]),
                    _first_line(["nginx", "-v"]),
                    _distribution_version("gunicorn"),
                    _distribution_version("gevent"),
                ],
            )
        ),
        "code": _code_version(),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _first_line(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    output = (done.stdout + done.stderr).strip()
    if not output:
        return ""
    # "nginx version: nginx/1.22.1", "wrk 4.1.0 [epoll] Copyright (C) 2012 Will Glozer"
    first = output.splitlines()[0].removeprefix("nginx version: ")
    return first.partition(" Copyright")[0].strip()


def _distribution_version(name: str) -> str:
    try:
        return f"{name} {importlib.metadata.version(name)}"
    except importlib.metadata.PackageNotFoundError:
        return ""


def _code_version() -> str:
    def git(*arguments: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(REPO), *arguments], capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown commit"
    changed = git("status", "--porcelain", "--", "reference")
    return f"commit {commit}" + (" with uncommitted changes in reference/" if changed else "")
