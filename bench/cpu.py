"""The CPU a server's whole process tree has used, for the server-side cost of a load run.

When the load generator is the bottleneck, throughput shows the client's ceiling and says
nothing about the server. What the server spent per request does: the harness samples the tree
just before and just after each load run, and the difference is the run's server CPU.

A tree is the server's first process and all its living descendants (nginx's master and
workers, gunicorn's arbiter and workers, the reference server's forked workers or pool
children). Each member counts its own user and system time plus its reaped children's, which
the kernel adds to the parent when it waits for them. So a child that exits during the load is
still counted, through its parent, as long as a member of the tree reaps it before the second
sample: the process backend trims its pool under load, and those children would otherwise be
lost. What is still lost is negligible for these servers: a descendant that exits unreaped, or
whose parent exits first, and the few ticks of a member that exits between listing the tree and
reading it.
"""

from __future__ import annotations

import psutil


def tree_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) used so far by process `pid`, its living descendants and the
    children they have reaped; None when `pid` is gone or unreadable."""
    try:
        leader = psutil.Process(pid)
        members = [leader, *leader.children(recursive=True)]
        total = _cpu_s(leader)
    except psutil.Error:
        return None
    for member in members[1:]:
        try:
            total += _cpu_s(member)
        except psutil.Error:
            # It exited since the listing; its time reaches its parent's once reaped.
            continue
    return total


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system + times.children_user + times.children_system)
