"""Independent pieces of a report computed in forked worker processes.

The report's figures and its sensitivity scenarios do not depend on one another, so they
run on every CPU. Workers are forked: they start with the parent's modules and data, nothing
is imported or pickled on the way in, and only each result comes back. Results are returned
in the order of the items, whatever order the workers finish in, so the output does not
depend on the number of workers; an error in a worker is raised in the caller. Where fork is
unavailable, or one worker suffices, the items run in this process.

``fork_map`` spreads items over a pool and waits. ``fork_start`` runs items in one forked
process and returns at once, so that the caller can go on (the report fits its main analyses
while a worker draws the figures that need only the study records). It uses a bare process
and a pipe, no pool: the caller keeps no helper thread, so it can fork again safely.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

__all__ = ["Running", "WorkerTraceback", "fork_map", "fork_start", "run_job"]

T = TypeVar("T")

_items: Sequence[Any] = ()
_func: Callable[[Any], Any] | None = None


def run_job(job: Callable[[], T]) -> T:
    """Call ``job``: what a pool maps over a list of prepared calls (figures, scenarios)."""
    return job()


def _call(index: int) -> Any:
    assert _func is not None
    return _func(_items[index])


class WorkerTraceback(Exception):
    """The traceback of an error in a ``fork_start`` worker, as text (the error's cause)."""


def _run_all(func: Callable[[Any], T], items: Sequence[Any], conn: Connection) -> None:
    try:
        outcome: tuple[bool, Any, str] = (True, [func(x) for x in items], "")
    except BaseException as exc:  # sent to the caller, raised there
        outcome = (False, exc, traceback.format_exc())
    try:
        payload = pickle.dumps(outcome)
        pickle.loads(payload)  # e.g. an exception class that cannot be rebuilt from its args
    except Exception as exc:
        what = outcome[1] if not outcome[0] else exc
        payload = pickle.dumps((False, RuntimeError(
            f"worker failed with {type(what).__name__}: {what}"), outcome[2]))
    conn.send_bytes(payload)
    conn.close()


class Running(Generic[T]):
    """Items run by ``fork_start`` in one forked process; ``results()`` waits for them.

    Used as a context manager, the process is stopped on leaving the block if its results
    were not collected (the caller failed), so that it never outlives the report. Without
    fork the items run in ``results()``, so errors come in the same order as with it.
    """

    def __init__(self, func: Callable[[Any], T], items: Sequence[Any]) -> None:
        self._done: list[T] | None = None
        self._process: Any = None
        self._inline: tuple[Callable[[Any], T], Sequence[Any]] | None = None
        if not items or "fork" not in multiprocessing.get_all_start_methods():
            self._inline = (func, items)
            return
        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe(duplex=False)
        self._process = context.Process(target=_run_all, args=(func, items, child),
                                        daemon=True)
        self._process.start()
        child.close()

    def results(self) -> list[T]:
        """The results in the order of the items; an error of the worker is raised here,
        caused by a ``WorkerTraceback`` that shows where in the worker it arose."""
        if self._done is None and self._inline is not None:
            func, items = self._inline
            self._inline = None
            self._done = [func(x) for x in items]
        if self._done is None:
            try:
                # before join: a large result would fill the pipe
                ok, value, trace = pickle.loads(self._conn.recv_bytes())
            except EOFError:
                ok, value, trace = False, RuntimeError(
                    f"worker process ended without a result (exit code "
                    f"{self._process.exitcode})"), ""
            finally:
                self._process.join()
                self._conn.close()
            if not ok:
                raise value from (WorkerTraceback(trace) if trace else None)
            self._done = value
        return self._done

    def stop(self) -> None:
        """End the worker if its results were not collected (they are then lost)."""
        if self._done is None and self._process is not None:
            if self._process.is_alive():
                self._process.terminate()
            self._process.join()
            self._conn.close()
            self._done = []

    def __enter__(self) -> Running[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def fork_start(func: Callable[[Any], T], items: Sequence[Any]) -> Running[T]:
    """Start ``[func(x) for x in items]`` in one forked process and return at once, so that
    the caller can go on; ``.results()`` waits (and, without fork, runs the items)."""
    return Running(func, items)


def fork_map(func: Callable[[Any], T], items: Sequence[Any],
             workers: int | None = None) -> list[T]:
    """``[func(x) for x in items]``, spread over ``workers`` processes (default: CPUs)."""
    global _items, _func
    n = min(workers or os.cpu_count() or 1, len(items))
    if n <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [func(x) for x in items]
    # the children read func and items from the forked memory; only an index is sent
    _items, _func = items, func
    try:
        with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("fork")) as pool:
            return list(pool.map(_call, range(len(items))))
    finally:
        _items, _func = (), None
