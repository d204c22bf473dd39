"""Charts drawn again only when what they show changed.

Drawing is most of what a corpus-wide stage spends when one document changed (matplotlib takes a
fifth of a second or more per file), and most edits leave a chart's numbers as they were.  A chart
is a pure function of its numbers, its labels, the font and the library versions; their digest is
kept beside the charts (``.charts.json``), and a chart whose digest is the one it was last drawn
with is linked from the stage's last folder instead of drawn again.  One that must be drawn is
drawn in a process forked for it (on Linux), on the other core while the caller goes on.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import sys
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from importlib.metadata import version
from pathlib import Path

DIGESTS = ".charts.json"


def link_or_copy(source: str | Path, target: str | Path) -> None:
    """A hard link (the files never change once written), or a copy where links are refused."""
    try:
        os.link(source, target)
    except OSError:  # another file system, or links refused
        shutil.copy2(source, target)


class Charts:
    """The charts of one stage folder, each reused from ``kept`` (the stage's last folder) when
    its digest is unchanged; ``save`` records the digests."""

    def __init__(self, folder: Path, kept: Path | None):
        self.folder, self.kept, self.digests = folder, kept, {}
        self._pool: ProcessPoolExecutor | None = None
        self._drawing: list[tuple[Future, Callable, tuple, dict]] = []
        found = kept / DIGESTS if kept else None
        self.before = json.loads(found.read_text(encoding="utf-8")) if found and found.is_file() else {}

    def reuse(self, names: list[str], *drawn_from) -> bool:
        """True when the files ``names`` were linked from the last folder, drawn from the same
        ``drawn_from``; False when the caller must draw them."""
        digest = hashlib.sha256(json.dumps([version("policoder"), version("matplotlib"), *drawn_from],
                                           ensure_ascii=False, default=str).encode()).hexdigest()
        self.digests.update(dict.fromkeys(names, digest))
        if not all(self.before.get(name) == digest and (self.kept / name).is_file() for name in names):
            return False
        for name in names:
            link_or_copy(self.kept / name, self.folder / name)
        return True

    def draw(self, function: Callable, *args, **options) -> None:
        """``function(*args, **options)`` draws charts into the folder: in a worker process forked
        from this one, which ``wait`` waits for (fork only on Linux: elsewhere drawn here and now)."""
        if not sys.platform.startswith("linux"):
            function(*args, **options)
            return
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"))
        self._drawing.append((self._pool.submit(function, *args, **options), function, args, options))

    def wait(self) -> None:
        """Until every chart given to ``draw`` is drawn (its error, if any, raised here); should the
        drawing process die (killed, out of memory), what it had left is drawn here."""
        try:
            for drawing, function, args, options in self._drawing:
                try:
                    drawing.result()
                except BrokenProcessPool:
                    function(*args, **options)
        finally:
            self._drawing = []
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None

    def save(self) -> None:
        """Wait for the charts being drawn, then record the digests (none asked for: nothing to record)."""
        self.wait()
        if self.digests:
            (self.folder / DIGESTS).write_text(json.dumps(self.digests, indent=1, sort_keys=True), encoding="utf-8")
