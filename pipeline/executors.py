"""Where the per-document work runs: this machine's processes, or a Dask cluster.

Every per-document task (read a file, segment a text, tokenize a batch of units) is a pure
function of a picklable dict, so the same tasks map over either executor.  Results come back in
task order, whatever order they finish in: the database is written in that order, which keeps
document numbers and unit ids the same from run to run.
"""
from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from .errors import ProjectError

EXECUTORS = ("local", "dask")


class Executor(Protocol):
    def map(self, function: Callable, tasks: list, *, prepare: Callable[[], object] | None = None) -> Iterator: ...

    def close(self) -> None: ...

    def describe(self) -> dict: ...


@dataclass
class LocalExecutor:
    """``workers`` processes on this machine (none when one worker or one task)."""

    workers: int = 1

    def map(self, function: Callable, tasks: list, *, prepare: Callable[[], object] | None = None) -> Iterator:
        """``function`` over ``tasks``.  ``prepare`` builds what every worker needs (a tokenizer) once,
        here, before the workers fork from this process and inherit it; where processes cannot fork,
        each worker builds its own."""
        if self.workers <= 1 or len(tasks) <= 1:
            return map(function, tasks)
        context = None
        # fork only on Linux: macOS's system libraries are not safe to use after a fork
        if prepare is not None and sys.platform.startswith("linux"):
            prepare()
            context = multiprocessing.get_context("fork")
        pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)

        def results():
            with pool:
                yield from pool.map(function, tasks, chunksize=1)

        return results()

    def close(self) -> None:
        pass

    def describe(self) -> dict:
        return {"executor": "local", "workers": self.workers}


class DaskExecutor:
    """The tasks go to the Dask cluster whose scheduler is at ``address``; its workers must see the
    project's files under the same paths (a shared or the same file system)."""

    def __init__(self, address: str):
        try:
            from distributed import Client
        except ImportError:
            raise ProjectError("the dask executor needs dask.distributed: pip install 'policoder[dask]'",
                              code="dask-missing") from None
        try:
            self.client = Client(address, timeout="20s", set_as_default=False)
        except OSError as error:
            raise ProjectError(f"no Dask scheduler answers at {address}: {error}", code="dask-unreachable") from None
        self.address = address

    def map(self, function: Callable, tasks: list, *, prepare: Callable[[], object] | None = None) -> Iterator:
        # each worker process builds what it needs on first use (the tokenizer is cached per process)
        futures = self.client.map(function, tasks, pure=False)
        for future in futures:
            yield future.result()
            future.release()

    def close(self) -> None:
        self.client.close()

    def describe(self) -> dict:
        workers = self.client.scheduler_info().get("workers", {})
        return {"executor": "dask", "scheduler": self.address, "workers": len(workers),
                "threads": sum(w.get("nthreads", 0) for w in workers.values())}


def make_executor(kind: str = "local", *, workers: int = 1, scheduler: str | None = None):
    if kind == "local":
        return LocalExecutor(workers)
    if kind == "dask":
        if not scheduler:
            raise ProjectError("the dask executor needs a scheduler address (--scheduler tcp://HOST:8786 "
                              "or [run] scheduler in policoder.toml)", code="dask-no-scheduler")
        return DaskExecutor(scheduler)
    raise ProjectError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}", code="unknown-executor")
