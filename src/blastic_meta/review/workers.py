"""Independent pieces of a report computed in forked worker processes.

The report's figures and its sensitivity scenarios do not depend on one another, so they
run on every CPU. Workers are forked: they start with the parent's modules and data, nothing
is imported or pickled on the way in, and only each result comes back. Results are returned
in the order of the items, whatever order the workers finish in, so the output does not
depend on the number of workers; an error in a worker is raised in the caller. Where fork is
unavailable, or one worker suffices, the items run in this process.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

__all__ = ["fork_map"]

T = TypeVar("T")

_items: Sequence[Any] = ()
_func: Callable[[Any], Any] | None = None


def _call(index: int) -> Any:
    assert _func is not None
    return _func(_items[index])


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
