"""What a request target resolves to, remembered for a bounded time, with small files' bytes.

Resolving a target costs a ``realpath`` (an ``lstat`` per path component), a ``stat``, and for a
small file an ``open`` and a ``read``: most of a keep-alive request's system calls. A static
site changes rarely, so each target's resolution is kept and trusted for ``check_interval``
seconds, the bound on how stale an answer can be (nginx's ``open_file_cache_valid`` makes the
same trade). After that the target is resolved again from scratch, so an edited, replaced,
deleted or newly created file, or a symlink that now points elsewhere, is seen within the
interval; with an interval of 0 every request resolves afresh.

Security is unchanged: a cached path is one that :func:`files.resolve` found inside the root,
and the bytes kept are that file's. Bytes are kept only for files up to the inline size and
within a total budget, keyed by the file's identity (inode, size, modification time), so a
new resolution of an unchanged file reuses them, and a changed file is read again.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from reference import files

#: Targets remembered per document root; the oldest are forgotten first.
MAX_TARGETS = 4096
#: Bytes of small files held in memory per document root.
MAX_CACHED_BYTES = 32 * 1024 * 1024


@dataclass
class _Entry:
    resolution: files.Resolution
    checked: float


class FileCache:
    """Resolutions of request targets under one root, and the bytes of small files."""

    def __init__(
        self,
        root: str,
        check_interval: float,
        *,
        max_targets: int = MAX_TARGETS,
        max_bytes: int = MAX_CACHED_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root, self.check_interval = root, check_interval
        self._max_targets, self._max_bytes, self._clock = max_targets, max_bytes, clock
        self._targets: OrderedDict[bytes, _Entry] = OrderedDict()
        self._contents: OrderedDict[tuple[int, int, int], bytes] = OrderedDict()
        self._content_bytes = 0
        # The thread backend shares one cache between its threads.
        self._lock = threading.Lock()

    @property
    def held(self) -> tuple[int, int]:
        """How many targets and how many bytes of files are held now."""
        return len(self._targets), self._content_bytes

    def resolve(self, target: bytes) -> files.Resolution:
        """What `target` names, at most `check_interval` seconds old."""
        now = self._clock()
        with self._lock:
            entry = self._targets.get(target)
            if entry is not None and now - entry.checked < self.check_interval:
                return entry.resolution
        resolution = files.resolve(self.root, target)
        if self.check_interval > 0:
            with self._lock:
                self._targets[target] = _Entry(resolution, now)
                self._targets.move_to_end(target)
                while len(self._targets) > self._max_targets:
                    self._targets.popitem(last=False)
        return resolution

    def contents(self, found: files.StaticFile) -> bytes:
        """The whole of a small file, read once per version of it."""
        key = found.identity
        with self._lock:
            data = self._contents.get(key)
            if data is not None:
                self._contents.move_to_end(key)
                return data
        data = files.read_exactly(found.path, 0, found.size)
        if self.check_interval > 0 and len(data) <= self._max_bytes:
            with self._lock:
                if key not in self._contents:
                    self._contents[key] = data
                    self._content_bytes += len(data)
                while self._content_bytes > self._max_bytes:
                    _, dropped = self._contents.popitem(last=False)
                    self._content_bytes -= len(dropped)
        return data


_caches: dict[tuple[str, float], FileCache] = {}
_caches_lock = threading.Lock()


def for_root(root: str, check_interval: float) -> FileCache:
    """The process's cache for one document root (each forked worker builds its own)."""
    key = (root, check_interval)
    with _caches_lock:
        cache = _caches.get(key)
        if cache is None:
            cache = _caches[key] = FileCache(root, check_interval)
        return cache
