"""The benchmark harness: the reference backends measured against nginx in the same run.

Absolute numbers from a shared two-core machine say little; ratios to nginx measured minutes
apart on the same machine, through the same load generator, say much more. So every run starts
nginx beside the servers it judges, and every measurement of every server is interleaved with
everybody else's: round 1 runs each workload once against each server, round 2 again, and the
table reports the median of the rounds. A burst of noise from another process then lands on one
sample of several servers rather than on every sample of one.

The pieces, each a module: `servers` (what to start, as recipes), `load` (wrk, or a load
generator of our own when wrk is missing), `workloads` (what to ask for), `idle` (how many idle
connections a server holds while still answering), `report` (the tables), `harness` (the rounds).
Nothing here is imported by the suite or the reference server; `python -m bench --help`.
"""
