"""The tables: medians of the rounds and their ratios to nginx, as aligned text and Markdown.

A server is compared with nginx running as many worker processes, since a second worker on a
two-core machine is a second core. A number the client may have capped (it used most of its
core) is shown as a lower bound, "≥"; one whose run saw errors on more than 1% of its requests
carries a "*". The targets the reference server is held to are listed here as data, so the
report says which are met in this run without anyone reading the tables.

Beside throughput, every measurement records the CPU the server's process tree spent on it
(bench.cpu). Where the client was the bottleneck, that cost per request (or per MiB) is the
fair comparison, so the details show it and a client-bound target gets it as a second line.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.idle import FRESH_LIMIT_MS, IdleResult, LevelResult
from bench.load import Measurement
from bench.servers import RECIPES
from bench.workloads import WORKLOADS, headline, server_cost

#: Share of failed requests above which a number is marked.
ERROR_SHARE = 0.01
#: A cell that reads as a number: right-aligned in its column.
NUMERIC = re.compile(r"^([<≥]?[\d.,]+[kx%*]?( .*)?|—)$")


@dataclass
class Results:
    """Everything one run measured, and what it needs to be reproduced."""

    servers: list[str]
    workloads: list[str]
    tool: str
    duration: float
    rounds: int = 0
    samples: dict[tuple[str, str], list[Measurement]] = field(default_factory=dict)
    idle: dict[str, IdleResult] = field(default_factory=dict)
    #: One line per thing that went wrong: a server that would not start or crashed, a run lost.
    problems: list[str] = field(default_factory=list)
    machine: dict[str, str] = field(default_factory=dict)
    command: str = ""
    elapsed_s: float = 0.0

    def median(self, server: str, workload: str) -> float | None:
        """The median over rounds of the workload's headline number (None if never measured)."""
        samples = self.samples.get((server, workload))
        if not samples:
            return None
        return statistics.median(headline(WORKLOADS[workload], sample) for sample in samples)

    def ratio(self, server: str, workload: str, against: str) -> float | None:
        """The server's median divided by `against`'s (None if either is missing or zero)."""
        mine, theirs = self.median(server, workload), self.median(against, workload)
        return mine / theirs if mine is not None and theirs else None

    def client_bound(self, server: str, workload: str) -> bool:
        """Whether the client used most of its core in most rounds: the median is a floor."""
        samples = self.samples.get((server, workload), [])
        return sum(sample.client_bound for sample in samples) * 2 > len(samples)

    def cost(self, server: str, workload: str) -> float | None:
        """The median over rounds of the server's CPU per unit of work, in the workload's
        cost_unit (None if no round recorded it)."""
        costs = [
            cost
            for sample in self.samples.get((server, workload), [])
            if (cost := server_cost(WORKLOADS[workload], sample)) is not None
        ]
        return statistics.median(costs) if costs else None

    def cost_ratio(self, server: str, workload: str, against: str) -> float | None:
        """`against`'s CPU per unit divided by the server's, so that, like a throughput ratio,
        above 1 favours the server (None if either is missing or zero)."""
        mine, theirs = self.cost(server, workload), self.cost(against, workload)
        return theirs / mine if mine and theirs is not None else None

    def nginx_for(self, server: str) -> str:
        """The nginx recipe with as many workers as `server`."""
        return f"nginx-{RECIPES[server].workers}"


def to_json(results: Results) -> dict[str, Any]:
    """Everything in `results` as JSON-ready data (from_json reads it back)."""
    return {
        "servers": results.servers,
        "workloads": results.workloads,
        "tool": results.tool,
        "duration": results.duration,
        "rounds": results.rounds,
        "samples": [
            {"server": server, "workload": workload, **asdict(sample)}
            for (server, workload), samples in results.samples.items()
            for sample in samples
        ],
        "idle": {
            server: [asdict(level) for level in idle.levels]
            for server, idle in results.idle.items()
        },
        "problems": results.problems,
        "machine": results.machine,
        "command": results.command,
        "elapsed_s": results.elapsed_s,
    }


def from_json(data: dict[str, Any]) -> Results:
    """The Results that to_json wrote."""
    samples: dict[tuple[str, str], list[Measurement]] = {}
    for entry in data["samples"]:
        fields = dict(entry)
        key = (fields.pop("server"), fields.pop("workload"))
        samples.setdefault(key, []).append(Measurement(**fields))
    idle = {
        server: IdleResult([LevelResult(**level) for level in levels])
        for server, levels in data["idle"].items()
    }
    return Results(
        data["servers"],
        data["workloads"],
        data["tool"],
        data["duration"],
        data["rounds"],
        samples,
        idle,
        data["problems"],
        data["machine"],
        data["command"],
        data["elapsed_s"],
    )


@dataclass(frozen=True)
class Table:
    """Column headings and rows of already formatted cells."""

    headings: list[str]
    rows: list[list[str]]

    def numeric(self, column: int) -> bool:
        """Whether every cell of `column` holds a number (or a dash for none)."""
        return all(NUMERIC.match(row[column]) for row in self.rows if row[column])

    def markdown(self) -> str:
        """A GitHub-flavoured Markdown table; numeric columns are right-aligned."""
        rule = ["--:" if self.numeric(i) else "---" for i in range(len(self.headings))]
        lines = [_markdown_row(self.headings), _markdown_row(rule)]
        lines += [_markdown_row(row) for row in self.rows]
        return "\n".join(lines)

    def text(self) -> str:
        """The table as aligned plain text for a terminal."""
        widths = [
            max(len(row[i]) for row in [self.headings, *self.rows])
            for i in range(len(self.headings))
        ]
        lines = []
        for row in [self.headings, *self.rows]:
            cells = [
                cell.rjust(w) if self.numeric(i) else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ]
            lines.append("  ".join(cells).rstrip())
        lines.insert(1, "  ".join("-" * width for width in widths))
        return "\n".join(lines)


def _markdown_row(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def throughput_table(results: Results) -> Table:
    """One row per server, one column per throughput workload: median (ratio to nginx)."""
    workloads = [WORKLOADS[name] for name in results.workloads if name in WORKLOADS]
    headings = ["server", *(f"{w.name} ({w.unit})" for w in workloads)]
    rows = []
    for server in results.servers:
        row = [server]
        for workload in workloads:
            row.append(_throughput_cell(results, server, workload.name))
        rows.append(row)
    return Table(headings, rows)


def _throughput_cell(results: Results, server: str, workload: str) -> str:
    median = results.median(server, workload)
    if median is None:
        return "—"
    samples = results.samples[(server, workload)]
    bound = "≥" if results.client_bound(server, workload) else ""
    marked = "*" if any(_error_share(sample) > ERROR_SHARE for sample in samples) else ""
    ratio = results.ratio(server, workload, results.nginx_for(server))
    shown = f"{bound}{median:,.0f}{marked}"
    return f"{shown} ({ratio:.2f}x)" if ratio is not None else shown


def _error_share(sample: Measurement) -> float:
    return sample.errors / max(sample.requests + sample.errors, 1)


def idle_table(results: Results) -> Table:
    """One row per server: the highest level held, the fresh request's time, memory per
    connection, and why the next level failed."""
    headings = ["server", "held", "fresh request", "memory per idle connection", "next level"]
    rows = []
    for server in results.servers:
        idle = results.idle.get(server)
        if idle is None or idle.last is None:
            continue
        held_levels = [level for level in idle.levels if level.passed]
        shown = held_levels[-1] if held_levels else idle.last
        capacity = (
            _thousands(idle.capacity) if idle.capacity else f"<{_thousands(idle.levels[0].level)}"
        )
        fresh = f"{shown.fresh_ms:.1f} ms" if shown.fresh_ms is not None else "no answer"
        memory = (
            f"{shown.memory_per_connection / 1024:,.1f} KiB"
            if shown.memory_per_connection is not None
            else "—"
        )
        rows.append([server, capacity, fresh, memory, _why_not(idle)])
    return Table(headings, rows)


def _why_not(idle: IdleResult) -> str:
    failed = next((level for level in idle.levels if not level.passed), None)
    if failed is None:
        return ""
    reasons = [f"{_thousands(failed.level)}: held {failed.held:,}"]
    if failed.fresh_ms is None:
        reasons.append("fresh request unanswered")
    elif failed.fresh_ms >= FRESH_LIMIT_MS:
        reasons.append(f"fresh request {failed.fresh_ms:.0f} ms")
    if failed.stopped:
        reasons.append(failed.stopped)
    return "; ".join(reasons)


def _thousands(count: int) -> str:
    """1000 as "1k", 10000 as "10k"; other counts as they are."""
    return f"{count // 1000}k" if count >= 1000 and count % 1000 == 0 else f"{count:,}"


@dataclass(frozen=True)
class Target:
    """`server` at least `at_least` times `against` on each of `workloads` (none named: on
    every workload); the worst one counts."""

    server: str
    against: str
    at_least: float
    workloads: tuple[str, ...] = ()


#: The ratios the issue asks of the reference server.
TARGETS = (
    Target("epoll", "nginx-1", 0.8, ("small-c1",)),
    Target("epoll", "nginx-1", 0.5, ("small-c50",)),
    Target("epoll", "nginx-1", 0.7, ("small-close",)),
    Target("epoll-2", "nginx-2", 0.6, ("small-c50",)),
    Target("epoll", "nginx-1", 1.0, ("1m",)),
)
#: Every backend must beat http.server by this factor where per-request cost is what counts:
#: on a 1 MiB file both mostly copy bytes, and 20x faster copying is not on offer.
OVER_HTTP_SERVER = 20.0
SMALL_FILE = ("small-c1", "small-c50", "small-close")
#: Backends that must hold this many idle connections.
IDLE_TARGET = 10_000
IDLE_TARGET_SERVERS = ("epoll", "asyncio", "gevent")


def targets(results: Results) -> list[Target]:
    """The fixed targets, plus each reference backend against its gunicorn counterpart and
    against http.server."""
    found = list(TARGETS)
    for name in results.servers:
        recipe = RECIPES[name]
        if recipe.family != "reference":
            continue
        if recipe.counterpart:
            found.append(Target(name, recipe.counterpart, 1.0))
        found.append(Target(name, "http.server", OVER_HTTP_SERVER, SMALL_FILE))
    return found


def targets_table(results: Results) -> Table:
    """One row per target: what was asked, what this run measured (the worst workload), met.

    Where the client capped either side on that workload, the throughput ratio compares load
    generators more than servers, so a second line gives the servers' CPU cost ratio there.
    """
    rows = []
    for target in targets(results):
        if target.server not in results.servers or target.against not in results.servers:
            continue
        workloads = target.workloads or tuple(results.workloads)
        ratios = [
            (ratio, workload)
            for workload in workloads
            if workload in WORKLOADS
            and (ratio := results.ratio(target.server, workload, target.against)) is not None
        ]
        if not ratios:
            continue
        worst, where = min(ratios)
        named = ", ".join(target.workloads) if target.workloads else "every workload"
        on = where if len(workloads) == 1 else f"{named} (worst: {where})"
        asked = f"{target.server} ≥ {target.at_least:g}x {target.against} on {on}"
        bound = "≥" if results.client_bound(target.server, where) else ""
        met = "yes" if worst >= target.at_least else "no"
        rows.append([asked, f"{bound}{worst:.2f}x", met])
        if note := _cost_note(results, target, where):
            rows.append(note)
    for server in IDLE_TARGET_SERVERS:
        idle = results.idle.get(server)
        if idle is None:
            continue
        asked = f"{server} holds {_thousands(IDLE_TARGET)} idle connections"
        held = _thousands(idle.capacity) if idle.capacity else "none"
        rows.append([asked, held, "yes" if idle.capacity >= IDLE_TARGET else "no"])
    return Table(["target", "measured", "met"], rows)


def _cost_note(results: Results, target: Target, workload: str) -> list[str] | None:
    """The second line of a target whose ratio on `workload` is client-bound: the CPU ratio.

    It is not judged against the target, which asks for throughput; it says which server would
    be ahead were the client not in the way.
    """
    bound = [
        name for name in (target.server, target.against) if results.client_bound(name, workload)
    ]
    ratio = results.cost_ratio(target.server, workload, target.against)
    if not bound or ratio is None:
        return None
    who = "both" if len(bound) == 2 else bound[0]
    per = "per MiB" if WORKLOADS[workload].unit == "MiB/s" else "per request"
    asked = (
        f"↳ client-bound ({who}), so by server CPU: {target.against}'s {per} ÷ {target.server}'s"
    )
    return [asked, f"{ratio:.2f}x", ""]


def details_table(results: Results) -> Table:
    """Every server and workload: median, spread, latency, errors, the client's CPU and the
    server's CPU per unit of work."""
    headings = [
        "server",
        "workload",
        "median",
        "min",
        "max",
        "p50 ms",
        "p99 ms",
        "errors",
        "client CPU",
        "server CPU",
    ]
    rows = []
    for workload in results.workloads:
        if workload not in WORKLOADS:
            continue
        for server in results.servers:
            samples = results.samples.get((server, workload))
            median = results.median(server, workload)
            if not samples or median is None:
                continue
            values = [headline(WORKLOADS[workload], sample) for sample in samples]
            rows.append(
                [
                    server,
                    workload,
                    f"{median:,.0f}",
                    f"{min(values):,.0f}",
                    f"{max(values):,.0f}",
                    _latency(sample.latency_p50_ms for sample in samples),
                    _latency(sample.latency_p99_ms for sample in samples),
                    f"{sum(sample.errors for sample in samples):,}",
                    f"{max(sample.client_cpu for sample in samples):.0%}",
                    _cost_cell(results, server, workload),
                ]
            )
    return Table(headings, rows)


def _latency(values: Iterable[float | None]) -> str:
    known = [value for value in values if value is not None]
    return f"{statistics.median(known):.2f}" if known else "—"


def _cost_cell(results: Results, server: str, workload: str) -> str:
    cost = results.cost(server, workload)
    return f"{cost_text(cost)} {WORKLOADS[workload].cost_unit}" if cost is not None else "—"


def cost_text(value: float) -> str:
    """A CPU cost to three significant figures (whole numbers from 100 up)."""
    if value >= 100:
        return f"{value:,.0f}"
    decimals = 1 if value >= 10 else 2 if value >= 1 else 3
    return f"{value:.{decimals}f}"


LEGEND = (
    "Each cell is the median over the rounds (requests/s, or MiB/s for the 1 MiB file) and, in"
    " brackets, its ratio to nginx with as many worker processes, measured in the same run."
    " ≥: the load generator used most of its core in most rounds, so the server may be faster"
    " than shown. *: more than 1% of requests failed in some round (see the details)."
)

DETAILS_LEGEND = (
    "server CPU: the CPU time (user + system) the server's whole process tree spent during the"
    " load, per request (per MiB for the 1 MiB file), median over the rounds; less is better."
    " Where the client was CPU-bound (≥ in the throughput table), throughput shows the client's"
    " ceiling, not the server's, so compare servers by this column instead."
)

TARGETS_LEGEND = (
    "A ratio marked ≥ was capped by the client on our side. Where either side's client was"
    " CPU-bound, a second line (↳) gives the server-CPU ratio on the same workload: the other"
    " server's CPU per request (or per MiB) divided by ours, so that 1 or more means we spend at"
    " most as much CPU per unit of work. It is shown, not judged: the targets ask for throughput."
)

METHOD = """\
- Every server runs on loopback on the same machine as the load generator and serves the same
  files: the suite's document root (`h1check docroot`) plus a 16 KiB and a 1 MiB file.
  The small file is `index.html` (2.6 KB).
- Rounds are interleaved: each round runs every workload once against every server (in an order
  rotated each round), so noise from the machine spreads over all servers instead of landing on
  one. The tables show the median over rounds.
- wrk runs with one thread (the other core is the server's); without wrk, a Python load
  generator runs instead, and the "client CPU" column shows how close it came to being the
  bottleneck.
- Settings are each server's defaults but for three, the same for all: idle keep-alive
  connections live 75 s, connection caps are 20,000, and nginx has `sendfile on` (as Debian's
  nginx.conf sets it). gunicorn runs one worker (gthread with 8 threads) serving
  `bench/wsgi_static.py`.
- Idle capacity: connections are opened (each completing one GET, then silent) up to 1k, then
  10k; a level is held when all stay open and a fresh connection gets the small file in under
  100 ms (median of 5). Memory per idle connection is the growth of the server's process tree
  (PSS, so forked children's shared pages count once) divided by the connections held, at the
  highest level held.
- Server CPU: the user and system time of the server's process tree (its first process, every
  descendant, and the children they reaped) read from /proc just before and just after each load
  run; the difference is divided by the requests (or MiB) served. Idle servers beside it burn
  next to nothing, and the load generator's own CPU is not in it.
- `python -m bench --from-json FILE --markdown docs/PERFORMANCE.md` renders a saved run (`--json`)
  again without measuring anything.
"""


def markdown(results: Results) -> str:
    """The whole report as a Markdown document, for docs/PERFORMANCE.md."""
    machine = results.machine
    parts = [
        "# Performance\n",
        "Generated by `python -m bench` (the harness in `bench/`, see `bench/__init__.py`):"
        " one run on one machine. Compare ratios, not absolute numbers, between machines.\n",
        f"- Command: `{results.command}`",
        f"- Date: {machine.get('date', '?')}",
        f"- Machine: {machine.get('machine', '?')}",
        f"- Software: {machine.get('software', '?')}",
        f"- Code: {machine.get('code', '?')}",
        f"- Run: {_run_summary(results)}\n",
        "## Throughput\n",
        LEGEND + "\n",
        throughput_table(results).markdown() + "\n",
    ]
    if results.idle:
        parts += ["## Idle connections\n", idle_table(results).markdown() + "\n"]
    target_table = targets_table(results)
    if target_table.rows:
        parts += ["## Targets\n", TARGETS_LEGEND + "\n", target_table.markdown() + "\n"]
    if results.problems:
        parts += ["## Problems during the run\n", *(f"- {line}" for line in results.problems), ""]
    parts += ["## Every measurement\n", DETAILS_LEGEND + "\n"]
    parts += [details_table(results).markdown() + "\n"]
    parts += ["## How it is measured\n", METHOD]
    return "\n".join(parts)


def text(results: Results) -> str:
    """The report for a terminal: the throughput, idle and targets tables."""
    parts = [f"{_run_summary(results)}\n", throughput_table(results).text(), ""]
    if results.idle:
        parts += [idle_table(results).text(), ""]
    target_table = targets_table(results)
    if target_table.rows:
        parts += [target_table.text(), ""]
    parts += [f"problem: {line}" for line in results.problems]
    return "\n".join(parts)


def _run_summary(results: Results) -> str:
    throughput = [name for name in results.workloads if name in WORKLOADS]
    return (
        f"{results.rounds} interleaved round(s) of {len(throughput)} workload(s) x"
        f" {len(results.servers)} server(s), {results.duration:g} s each, load by"
        f" {results.tool}; {results.elapsed_s / 60:.1f} min in all"
    )
