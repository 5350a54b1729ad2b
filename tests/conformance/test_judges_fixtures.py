"""The suite judges right: every fixture server fails exactly the categories its defect breaks,
and the report's first diagnosis names that defect.

Each file in fixtures/servers/ declares, in its docstring, the categories its one defect must
make fail (`Expected failing categories: ...`, `none` for the careful servers). The whole
catalogue, at every level, runs against each; a category the suite fails that was not
declared means the suite is wrong about a right server (or the fixture has a second defect),
and one it passes that was declared means the suite is lenient by accident.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conformance.diagnoses import diagnose
from conformance.engine import Settings, run
from conformance.scenarios import load_catalogue
from conformance.target import LaunchedTarget
from conformance.verdicts import SERVER_FAULTS, Outcome
from tests.fixture_servers import (
    EXPECTED_PREFIX,
    SERVERS,
    expected_failures,
    expected_first_diagnosis,
)

FIXTURES = [path for path in SERVERS if EXPECTED_PREFIX in path.read_text(encoding="utf-8")]


@pytest.mark.slow
@pytest.mark.parametrize("server", FIXTURES, ids=[path.stem for path in FIXTURES])
def test_fails_exactly_the_declared_categories(server: Path):
    with LaunchedTarget([sys.executable, str(server), "{port}"]) as target:
        verdicts = run(load_catalogue(), target, Settings())
    harness_errors = [v for v in verdicts if v.outcome is Outcome.ERROR]
    assert not harness_errors, "\n".join(f"{v.scenario.id}: {v.message}" for v in harness_errors)
    failed = {v.scenario.category for v in verdicts if v.outcome in SERVER_FAULTS}
    explained = "\n".join(
        f"  {v.scenario.id}: {v.outcome} - {v.message}"
        for v in verdicts
        if v.outcome in SERVER_FAULTS
    )
    assert failed == expected_failures(server), f"failing scenarios:\n{explained}"
    found, _ = diagnose(verdicts)
    first = found[0].diagnosis.id if found else None
    assert first == expected_first_diagnosis(server), [d.title for d in found]


def test_there_is_a_careful_server_that_passes_everything():
    assert any(not expected_failures(path) for path in FIXTURES)
    assert len([path for path in FIXTURES if expected_failures(path)]) >= 10
