"""The deliberately broken servers of fixtures/servers/, and what each declares it fails."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SERVERS = sorted((REPO / "fixtures" / "servers").glob("*.py"))
EXPECTED_PREFIX = "Expected failing categories:"


def expected_failures(script: Path) -> set[str]:
    """Parse the `Expected failing categories:` line of a fixture's module docstring."""
    docstring = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
    lines = [line for line in docstring.splitlines() if line.startswith(EXPECTED_PREFIX)]
    assert len(lines) == 1, f"{script.name}: needs exactly one '{EXPECTED_PREFIX}' line"
    value = lines[0].removeprefix(EXPECTED_PREFIX).strip()
    return set() if value == "none" else {name.strip() for name in value.split(",")}
