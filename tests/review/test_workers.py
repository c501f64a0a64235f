"""fork_map: results in the order of the items for any number of workers, errors raised in
the caller; figures drawn in parallel are byte-identical to figures drawn in one process."""

from __future__ import annotations

import os

import pytest

from blastic_meta.review.painter import Painter
from blastic_meta.review.workers import fork_map


def _slow_square(x: int) -> tuple[int, int]:
    # later items finish first in a pool: the order must still be the items' order
    import time

    time.sleep(0.02 * (5 - x % 5))
    return x * x, os.getpid()


def test_results_keep_the_order_of_the_items():
    items = list(range(12))
    parallel = fork_map(_slow_square, items, workers=2)
    assert [r for r, _ in parallel] == [x * x for x in items]
    assert [r for r, _ in fork_map(_slow_square, items, workers=1)] == [x * x for x in items]
    assert all(pid != os.getpid() for _, pid in parallel)


def test_closures_run_with_the_parents_data():
    table = {"a": 1, "b": 2}
    assert fork_map(lambda key: table[key], ["b", "a", "b"], workers=2) == [2, 1, 2]


def test_an_error_in_a_worker_is_raised_in_the_caller():
    def boom(x: int) -> int:
        if x == 3:
            raise OSError("disk full")
        return x

    with pytest.raises(OSError, match="disk full"):
        fork_map(boom, range(6), workers=2)


def test_no_items_and_one_item():
    assert fork_map(lambda x: x, [], workers=2) == []
    assert fork_map(lambda x: (x, os.getpid()), [7], workers=2) == [(7, os.getpid())]


def test_parallel_figures_are_the_bytes_of_sequential_ones(tmp_path):
    import matplotlib.pyplot as plt

    def fig(title: str):
        f, ax = plt.subplots(figsize=(3, 2))
        ax.plot([0, 1, 2], [1, 0, 2])
        ax.set_title(title)
        return f

    out = {}
    for workers in (1, 2):
        painter = Painter(tmp_path / str(workers))
        for name in ("one", "two", "three"):
            painter.draw(name, fig, name)
        painter.finish(workers)
        out[workers] = {p.name: p.read_bytes() for p in sorted((tmp_path / str(workers))
                                                               .iterdir())}
    assert len(out[1]) == 6 and out[1] == out[2]
