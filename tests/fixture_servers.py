"""The deliberately broken servers of fixtures/servers/, and what each declares it fails."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SERVERS = sorted((REPO / "fixtures" / "servers").glob("*.py"))
EXPECTED_PREFIX = "Expected failing categories:"
DIAGNOSIS_PREFIX = "Expected first diagnosis:"


def expected_failures(script: Path) -> set[str]:
    """Parse the `Expected failing categories:` line of a fixture's module docstring."""
    value = _declared(script, EXPECTED_PREFIX)
    return set() if value == "none" else {name.strip() for name in value.split(",")}


def expected_first_diagnosis(script: Path) -> str | None:
    """Parse the `Expected first diagnosis:` line: the cause the report must name first."""
    value = _declared(script, DIAGNOSIS_PREFIX)
    return None if value == "none" else value


def _declared(script: Path, prefix: str) -> str:
    docstring = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
    lines = [line for line in docstring.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, f"{script.name}: needs exactly one '{prefix}' line"
    return lines[0].removeprefix(prefix).strip()
