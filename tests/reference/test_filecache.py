"""The file cache: reused for a bounded time, fresh after it, and never a way out of the root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reference import files
from reference.filecache import FileCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    (root / "page.txt").write_bytes(b"first version")
    (tmp_path / "secret.txt").write_bytes(b"SECRET")
    return root


def cache_for(root: Path, clock: Clock, interval: float = 1.0) -> FileCache:
    return FileCache(os.path.realpath(root), interval, clock=clock)


def served(cache: FileCache, target: bytes) -> bytes | None:
    found = cache.resolve(target)
    return cache.contents(found) if isinstance(found, files.StaticFile) else None


def test_an_edited_file_is_served_fresh_once_the_interval_has_passed(site: Path) -> None:
    clock = Clock()
    cache = cache_for(site, clock)
    assert served(cache, b"/page.txt") == b"first version"
    (site / "page.txt").write_bytes(b"second, longer version")
    clock.now += 0.5
    assert served(cache, b"/page.txt") == b"first version"  # Within the bound: may be stale.
    clock.now += 0.5
    assert served(cache, b"/page.txt") == b"second, longer version"


def test_a_new_file_and_a_deleted_one_are_seen_after_the_interval(site: Path) -> None:
    clock = Clock()
    cache = cache_for(site, clock)
    assert isinstance(cache.resolve(b"/new.txt"), files.NotFound)
    (site / "new.txt").write_bytes(b"new")
    (site / "page.txt").unlink()
    clock.now += 1.0
    assert served(cache, b"/new.txt") == b"new"
    assert isinstance(cache.resolve(b"/page.txt"), files.NotFound)


def test_with_no_interval_every_request_looks_again(site: Path) -> None:
    cache = cache_for(site, Clock(), interval=0)
    assert served(cache, b"/page.txt") == b"first version"
    (site / "page.txt").write_bytes(b"changed")
    assert served(cache, b"/page.txt") == b"changed"


def test_a_symlink_turned_outwards_is_refused_once_looked_at_again(site: Path) -> None:
    clock = Clock()
    cache = cache_for(site, clock)
    (site / "link.txt").symlink_to(site / "page.txt")
    assert served(cache, b"/link.txt") == b"first version"
    (site / "link.txt").unlink()
    (site / "link.txt").symlink_to(site.parent / "secret.txt")
    clock.now += 1.0
    assert isinstance(cache.resolve(b"/link.txt"), files.NotFound)


def test_kept_bytes_and_targets_stay_within_their_bounds(site: Path) -> None:
    for number in range(10):
        (site / f"f{number}.txt").write_bytes(bytes([65 + number]) * 100)
    cache = FileCache(os.path.realpath(site), 1.0, max_targets=4, max_bytes=250, clock=Clock())
    for number in range(10):
        assert served(cache, f"/f{number}.txt".encode()) == bytes([65 + number]) * 100
    targets, held = cache.held
    assert targets == 4 and held <= 250
