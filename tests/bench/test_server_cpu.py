"""The server-side CPU cost: measured over a whole process tree, reported, and read back.

The tree test burns a known amount of CPU in a child and a grandchild and checks the tree's
measured CPU covers it. Nothing here asserts a speed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from bench import report
from bench.cpu import tree_cpu_s
from bench.load import Measurement

#: CPU seconds each of the two burning processes spends.
BURN_S = 0.2
#: What /proc's clock ticks may lose per process and field.
TICKS_S = 0.05
#: What the tree may spend besides burning: a fork, a print, the sample's own reads.
OVERHEAD_S = 0.25

# The first process waits for "go" so the first sample is taken after its interpreter started;
# then it forks a grandchild, and both burn BURN_S of their own CPU. With "stay" both report
# and stay alive until stdin closes; with "exit" the grandchild exits and is reaped before the
# first process reports, so its CPU is found only in its parent's children's times.
TREE = r"""
import os, sys, time

def burn(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass

def say(line):
    # One write each, so the two processes' lines cannot interleave in the pipe.
    os.write(1, line.encode() + b"\n")

seconds, stay = float(sys.argv[1]), sys.argv[2] == "stay"
say("ready")
sys.stdin.readline()
child = os.fork()
if child == 0:
    burn(seconds)
    if stay:
        say("grandchild burned")
        sys.stdin.read()
    os._exit(0)
burn(seconds)
if not stay:
    os.waitpid(child, 0)
say("child burned")
sys.stdin.read()
if stay:
    os.waitpid(child, 0)
"""


@pytest.mark.parametrize("stay", [True, False], ids=["alive", "reaped"])
def test_tree_cpu_counts_the_process_and_its_descendants(stay: bool):
    tree = subprocess.Popen(
        [sys.executable, "-c", TREE, str(BURN_S), "stay" if stay else "exit"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert tree.stdin is not None and tree.stdout is not None
    # Only a guard against a hung test, not synchronisation: the reads below wait on the tree.
    guard = threading.Timer(60, os.killpg, (tree.pid, signal.SIGKILL))
    guard.start()
    try:
        assert tree.stdout.readline() == "ready\n"
        before = tree_cpu_s(tree.pid)
        tree.stdin.write("go\n")
        tree.stdin.flush()
        reports = sorted(tree.stdout.readline() for _ in range(2 if stay else 1))
        after = tree_cpu_s(tree.pid)
    finally:
        tree.stdin.close()
        tree.wait(timeout=30)
        guard.cancel()
        tree.stdout.close()
    assert reports == (["child burned\n", "grandchild burned\n"] if stay else ["child burned\n"])
    assert tree.returncode == 0
    assert before is not None and after is not None
    spent = after - before
    assert 2 * BURN_S - TICKS_S <= spent < 2 * BURN_S + OVERHEAD_S


def test_tree_cpu_of_no_such_process_is_unknown():
    # Above Linux's largest pid_max (2**22), so no process can have it.
    assert tree_cpu_s(2**22 + 1) is None


def measurement(
    requests: int, mib: float, server_cpu_s: float | None, *, client_cpu: float = 0.3
) -> Measurement:
    """One second that served `requests` responses, `mib` MiB in all."""
    return Measurement(
        requests, 1.0, round(mib * 2**20), 0, 1.0, 2.0, client_cpu, "wrk", server_cpu_s
    )


def cpu_results() -> report.Results:
    """epoll and nginx-1 on small-c50 (epoll saturated, nginx not) and 1m (both client-bound)."""
    results = report.Results(["epoll", "nginx-1"], ["small-c50", "1m"], "wrk", 5.0, rounds=3)
    # nginx: 25 µs per request; epoll: 100, 110 and 90 µs per request.
    results.samples[("nginx-1", "small-c50")] = [measurement(20_000, 50, 0.5)] * 3
    results.samples[("epoll", "small-c50")] = [
        measurement(10_000, 25, 1.0),
        measurement(10_000, 25, 1.1),
        measurement(10_000, 25, 0.9),
    ]
    # 1000 MiB a second each, the client at full core: nginx 0.2 ms per MiB, epoll 0.5.
    results.samples[("nginx-1", "1m")] = [measurement(1000, 1000, 0.2, client_cpu=0.99)] * 3
    results.samples[("epoll", "1m")] = [measurement(990, 990, 0.495, client_cpu=0.99)] * 3
    return results


def test_details_show_server_cpu_per_request_and_per_mib():
    table = report.details_table(cpu_results())
    assert table.headings[-1] == "server CPU"
    cells = {(row[0], row[1]): row[-1] for row in table.rows}
    assert cells == {
        ("epoll", "small-c50"): "100 µs/req",
        ("nginx-1", "small-c50"): "25.0 µs/req",
        ("epoll", "1m"): "0.500 ms/MiB",
        ("nginx-1", "1m"): "0.200 ms/MiB",
    }
    # A column of numbers with units: right-aligned like the others.
    assert table.markdown().splitlines()[1].endswith("| --: |")


def test_client_bound_target_gets_a_server_cpu_line():
    rows = report.targets_table(cpu_results()).rows
    asked = [row[0] for row in rows]
    on_1m = asked.index("epoll ≥ 1x nginx-1 on 1m")
    assert rows[on_1m][1:] == ["≥0.99x", "no"]
    note = rows[on_1m + 1]
    assert note[0] == "↳ client-bound (both), so by server CPU: nginx-1's per MiB ÷ epoll's"
    # nginx's 0.2 ms per MiB over epoll's 0.5: epoll spends 2.5 times the CPU.
    assert note[1:] == ["0.40x", ""]
    # Neither client was bound on small-c50: the throughput ratio stands alone.
    on_c50 = asked.index("epoll ≥ 0.5x nginx-1 on small-c50")
    assert rows[on_c50][1:] == ["0.50x", "yes"]
    assert on_c50 + 1 == len(rows) or not rows[on_c50 + 1][0].startswith("↳")


def test_markdown_explains_the_server_cpu_column():
    document = report.markdown(cpu_results())
    assert "compare servers by this column instead" in document
    assert "↳ client-bound (both)" in document


def test_json_keeps_server_cpu_and_reads_runs_saved_without_it():
    results = cpu_results()
    data = json.loads(json.dumps(report.to_json(results)))
    assert report.from_json(data) == results
    for entry in data["samples"]:
        del entry["server_cpu_s"]
    old = report.from_json(data)
    assert all(
        sample.server_cpu_s is None for samples in old.samples.values() for sample in samples
    )
    assert {row[-1] for row in report.details_table(old).rows} == {"—"}
    assert not any(row[0].startswith("↳") for row in report.targets_table(old).rows)
    # Throughput is reported as before.
    assert report.throughput_table(old).rows == report.throughput_table(results).rows
