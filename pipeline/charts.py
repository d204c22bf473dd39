"""Charts drawn again only when what they show changed.

Drawing is most of what a corpus-wide stage spends when one document changed (matplotlib takes a
fifth of a second or more per file), and most edits leave a chart's numbers as they were.  A chart
is a pure function of its numbers, its labels, the font and the library versions; their digest is
kept beside the charts (``.charts.json``), and a chart whose digest is the one it was last drawn
with is linked from the stage's last folder instead of drawn again.  One that must be drawn is
drawn in a process forked once a run (on Linux), on the other core while the caller goes on.
"""
from __future__ import annotations

import functools
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
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


class Drawer:
    """The process a run draws its charts in (and writes its workbook, made from the rows alone):
    forked once, for the first work given to it, and shared by every stage (a pool per stage
    would fork while the last one's threads still run, a known hazard of fork).  Off Linux (no
    fork) the work is done here and now."""

    def __init__(self):
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, function: Callable, *args, **options) -> Drawing:
        if sys.platform.startswith("linux"):
            if self._pool is None:
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"))
            try:
                return Drawing(self._pool.submit(function, *args, **options), function, args, options)
            except BrokenProcessPool:  # the process died: the rest of the run's work is done here
                pass
        done = Future()
        try:
            done.set_result(function(*args, **options))
        except Exception as error:  # noqa: BLE001 - given to the caller by ``result()``, as from the process
            done.set_exception(error)
        return Drawing(done, function, args, options)

    def warm(self) -> None:
        """Fork the drawing process now, to load the drawing library while the caller goes on
        (a third of a second, else spent before the first chart)."""
        if self._pool is None:
            self.submit(_load_drawing_library)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


@functools.cache
def _drawn_by() -> tuple[str, str]:
    """The versions a chart's look depends on (read once: each read scans the installed packages)."""
    return version("policoder"), version("matplotlib")


def as_written(draw: Callable) -> Callable:
    """Labels are the user's text, drawn as written: matplotlib would read 费用$5-$10 as a formula and
    fail on 成本$$."""

    @functools.wraps(draw)
    def drawn(*args, **options):
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False}):
            return draw(*args, **options)

    return drawn


def _load_drawing_library() -> None:
    import matplotlib.backends.backend_agg  # noqa: F401  (what a chart's figure saves with)
    import matplotlib.figure  # noqa: F401


@dataclass
class Drawing:
    """Work given to the drawing process."""

    future: Future
    function: Callable
    args: tuple
    options: dict

    def result(self):
        """What the work returned (its error raised here); should the drawing process die (killed,
        out of memory) before it was done, it is done here."""
        try:
            return self.future.result()
        except BrokenProcessPool:
            return self.function(*self.args, **self.options)


class Charts:
    """The charts of one stage folder, each reused from ``kept`` (the stage's last folder) when
    its digest is unchanged; ``save`` records the digests.  Drawn by ``drawer`` (the run's), or by
    a drawer of their own that ``wait`` closes."""

    def __init__(self, folder: Path, kept: Path | None, drawer: Drawer | None = None):
        self.folder, self.kept, self.digests = folder, kept, {}
        self._drawer, self._own = drawer or Drawer(), drawer is None
        self._drawing: list[Drawing] = []
        found = kept / DIGESTS if kept else None
        self.before = json.loads(found.read_text(encoding="utf-8")) if found and found.is_file() else {}

    def reuse(self, names: list[str], *drawn_from) -> bool:
        """True when the files ``names`` were linked from the last folder, drawn from the same
        ``drawn_from``; False when the caller must draw them."""
        digest = hashlib.sha256(json.dumps([*_drawn_by(), *drawn_from],
                                           ensure_ascii=False, default=str).encode()).hexdigest()
        self.digests.update(dict.fromkeys(names, digest))
        if not all(self.before.get(name) == digest and (self.kept / name).is_file() for name in names):
            return False
        for name in names:
            link_or_copy(self.kept / name, self.folder / name)
        return True

    def draw(self, function: Callable, *args, **options) -> None:
        """``function(*args, **options)`` draws charts into the folder, in the drawing process
        (see ``Drawer``); ``wait`` waits for it."""
        self._drawing.append(self._drawer.submit(function, *args, **options))

    def wait(self) -> None:
        """Until every chart given to ``draw`` is drawn (see ``Drawing.result``)."""
        try:
            for drawing in self._drawing:
                drawing.result()
        finally:
            self._drawing = []
            if self._own:
                self._drawer.close()

    def save(self) -> None:
        """Wait for the charts being drawn, then record the digests (none asked for: nothing to record)."""
        self.wait()
        if self.digests:
            (self.folder / DIGESTS).write_text(json.dumps(self.digests, indent=1, sort_keys=True), encoding="utf-8")
