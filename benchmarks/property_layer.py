"""The time the property layer adds to a run: the fixed catalogue alone, then with the property
scenarios, against reference backends and a few fixture servers.

A benchmark, not a test: it prints numbers for the README's "Property layer" section and asserts
nothing about them. Run from a checkout: `python benchmarks/property_layer.py [--deep]
[--backends epoll,thread] [--fixtures correct,shallow_pipeline]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from conformance.engine import run
from conformance.scenarios import load_catalogue
from conformance.settings import Settings
from conformance.target import LaunchedTarget, ReferenceTarget, Target
from conformance.verdicts import SERVER_FAULTS

SERVERS = Path(__file__).resolve().parents[1] / "fixtures" / "servers"


def timed(target: Target, deep: bool) -> tuple[float, float, int]:
    """Seconds for the fixed scenarios, seconds for the property scenarios, property failures."""
    catalogue = load_catalogue()
    fixed = [scenario for scenario in catalogue if scenario.property is None]
    generated = [scenario for scenario in catalogue if scenario.property is not None]
    with target:
        started = time.monotonic()
        run(fixed, target, Settings())
        fixed_s = time.monotonic() - started
        started = time.monotonic()
        verdicts = run(generated, target, Settings(deep=deep))
        generated_s = time.monotonic() - started
    return fixed_s, generated_s, sum(v.outcome in SERVER_FAULTS for v in verdicts)


def main() -> int:
    """Print, per server, the fixed catalogue's time and what the property layer adds."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deep", action="store_true", help="the deep profile instead")
    parser.add_argument("--backends", default="serial,thread,epoll,asyncio")
    parser.add_argument("--fixtures", default="correct,case_sensitive_fields,shallow_pipeline")
    options = parser.parse_args()
    targets: dict[str, Target] = {
        f"reference {name}": ReferenceTarget(name) for name in options.backends.split(",") if name
    }
    for name in filter(None, options.fixtures.split(",")):
        targets[f"fixture {name}"] = LaunchedTarget(
            [sys.executable, str(SERVERS / f"{name}.py"), "{port}"]
        )
    profile = "deep" if options.deep else "default"
    print(f"{'server':<34} {'fixed':>8} {profile + ' properties':>20} {'failed':>7}")
    for label, target in targets.items():
        fixed_s, generated_s, failures = timed(target, options.deep)
        print(f"{label:<34} {fixed_s:>7.1f}s {generated_s:>19.1f}s {failures:>7}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
