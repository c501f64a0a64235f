"""fork_map: results in the order of the items for any number of workers, errors raised in
the caller; figures drawn in parallel are byte-identical to figures drawn in one process.
fork_start: returns while its worker runs, gives the results in order, raises the worker's
error, and stops a worker whose results are not collected."""

from __future__ import annotations

import os

import pytest

from blastic_meta.review.painter import Painter
from blastic_meta.review.workers import WorkerTraceback, fork_map, fork_start


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


def test_fork_start_returns_while_the_worker_runs(tmp_path):
    import time

    flag = tmp_path / "go"

    def wait_for_flag(x: int) -> tuple[int, int, bool]:
        deadline = time.monotonic() + 10
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.01)  # the caller must get here first and create it
        return x * 10, os.getpid(), flag.exists()

    running = fork_start(wait_for_flag, [1, 2, 3])
    flag.write_text("")  # only before the items end if fork_start did not wait for them
    out = running.results()
    assert [r for r, _, _ in out] == [10, 20, 30]
    assert all(seen for _, _, seen in out)
    assert {pid for _, pid, _ in out} != {os.getpid()}
    assert running.results() is out  # collected once


def test_fork_start_raises_the_workers_error_in_the_caller():
    def boom(x: int) -> int:
        raise OSError(f"disk full at {x}")

    running = fork_start(boom, [4])
    with pytest.raises(OSError, match="disk full at 4") as caught:
        running.results()
    cause = caught.value.__cause__
    assert isinstance(cause, WorkerTraceback) and "in boom" in str(cause)


def test_fork_start_without_fork_runs_the_items_when_the_results_are_asked(monkeypatch):
    import blastic_meta.review.workers as workers

    monkeypatch.setattr(workers.multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    ran = []
    running = fork_start(ran.append, [1, 2])
    assert ran == []  # an error here would come before the caller's own work, unlike a fork
    assert running.results() == [None, None] and ran == [1, 2]


def test_fork_start_stops_an_uncollected_worker(tmp_path):
    import time

    def forever(x: int) -> int:
        while True:
            time.sleep(0.01)

    with pytest.raises(KeyError), fork_start(forever, [1]) as running:
        raise KeyError("the caller failed")
    assert not running._process.is_alive()
    assert running._process.exitcode is not None
    # a worker that finished but was never asked is joined too (no zombie, no open pipe)
    with fork_start(lambda x: x, [1]) as done:
        done._process.join()
    assert done._conn.closed and done._process.exitcode == 0


def test_fork_start_without_items_runs_nothing():
    assert fork_start(lambda x: x, []).results() == []


def test_fork_start_beside_fork_map():
    # a pool forked while a fork_start worker runs: both give their own results
    running = fork_start(lambda x: x + 1, [1, 2])
    assert fork_map(lambda x: x * 2, [1, 2, 3], workers=2) == [2, 4, 6]
    assert running.results() == [2, 3]


class _Unrebuildable(Exception):
    def __init__(self, path: str, line: int) -> None:  # pickled args are the message only
        super().__init__(f"{path}:{line}: broken")


def test_fork_start_reports_an_error_that_cannot_be_sent_back():
    def boom(x: int) -> int:
        raise _Unrebuildable("f.yaml", x)

    with pytest.raises(RuntimeError, match=r"_Unrebuildable: f.yaml:3: broken"):
        fork_start(boom, [3]).results()
