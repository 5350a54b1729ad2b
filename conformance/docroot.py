"""The document root every scenario is written against, and the canary planted beside it.

Scenarios compare response bodies with these files byte for byte, so a server under test must
serve exactly this tree. The canary sits one level above the served root: a traversal attack that
reaches it shows its distinctive text in a response, which no legitimate file contains.
"""

from __future__ import annotations

import shutil
from pathlib import Path

CANARY_NAME = "canary.txt"
CANARY_TEXT = "h1check canary 7f3a9c1e: this file lies outside the document root.\n"

_PACKAGE_DIR = Path(__file__).resolve().parent


def source_docroot() -> Path:
    """Return the suite's document root: `html/` in a checkout, or the copy an install ships.

    The wheel carries the checkout's `html/` as `conformance/html` (see pyproject.toml).
    """
    candidates = (_PACKAGE_DIR.parent / "html", _PACKAGE_DIR / "html")
    for candidate in candidates:
        if (candidate / "index.html").is_file():
            return candidate
    # An install without the tree still returns a path, so callers report the missing file by name.
    return candidates[0]


def write_docroot(dest: Path) -> tuple[Path, Path]:
    """Copy the document root to `dest/html`, plant `dest/canary.txt`; return (root, canary)."""
    root = dest / "html"
    shutil.copytree(source_docroot(), root, dirs_exist_ok=True)
    canary = dest / CANARY_NAME
    canary.write_text(CANARY_TEXT, encoding="ascii")
    return root, canary


def docroot_files() -> dict[str, bytes]:
    """Every file of the suite's document root by its path relative to the root."""
    root = source_docroot()
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }
