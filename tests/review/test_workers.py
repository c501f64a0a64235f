"""fork_map: results in the order of the items for any number of workers, errors raised in
the caller; figures drawn in parallel are byte-identical to figures drawn in one process.
Server: prepares once while the caller goes on, runs the batches it is sent in order, raises
a batch's error with the server's traceback, and never outlives or blocks its caller."""

from __future__ import annotations

import os
import pickle
import time
from functools import partial

import pytest

from blastic_meta.review.painter import Painter
from blastic_meta.review.workers import Server, WorkerTraceback, fork_map


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


def test_figures_with_the_most_input_are_handed_out_first(tmp_path):
    painter = Painter(tmp_path)
    for name, rows in (("small", 1), ("large", 30), ("medium", 8), ("also_medium", 8)):
        painter.draw(name, _figure_of_rows, ["row"] * rows)
    names = [job.args[1] for job in painter.jobs()]
    assert names == ["large", "medium", "also_medium", "small"]  # ties keep their order
    assert painter.jobs() == []


def test_a_figure_drawn_again_is_drawn_once_from_the_later_inputs(tmp_path):
    painter = Painter(tmp_path)
    painter.draw("one", _figure_of_rows, ["row"] * 30)
    painter.draw("other", _figure_of_rows, ["row"] * 5)
    painter.draw("one", _figure_of_rows, ["row"])  # the file must match keys["one"]
    jobs = painter.jobs()
    assert [(job.args[1], job.args[3]) for job in jobs] == [("other", (["row"] * 5,)),
                                                             ("one", (["row"],))]


def _figure_of_rows(rows: list[str]) -> None:
    raise AssertionError("not drawn in this test")


# --- Server: calls travel pickled, so they are module-level functions or partials of them ---

def _square_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def _wait_for(path: str, x: int) -> tuple[int, bool]:
    deadline = time.monotonic() + 10
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)  # the caller must get here first and create it
    return x * 10, os.path.exists(path)


def _boom(x: int) -> int:
    raise OSError(f"disk full at {x}")


def _unrebuildable(x: int) -> int:
    raise _Unrebuildable("f.yaml", x)


def _write_pid(path: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()}\n")


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


class _Unrebuildable(Exception):
    def __init__(self, path: str, line: int) -> None:  # pickled args are the message only
        super().__init__(f"{path}:{line}: broken")


def test_server_prepares_once_then_runs_batches_in_order(tmp_path):
    prepared = tmp_path / "prepared"
    with Server(partial(_write_pid, str(prepared))) as server:
        pool = server.submit([partial(_square_pid, x) for x in range(6)], workers=2)
        alone = server.submit([partial(_square_pid, x) for x in (7, 8)], workers=1)
        assert [r for r, _ in server.results(alone)] == [49, 64]  # asked out of order
        first = server.results(pool)
        assert [r for r, _ in first] == [x * x for x in range(6)]
        assert server.results(pool) == first
    pids = prepared.read_text(encoding="utf-8").split()
    assert pids == [str(server.pid)]  # once, in the server
    assert {pid for _, pid in server.results(alone)} == {server.pid}  # one worker: itself
    assert server.pid not in {pid for _, pid in first} and os.getpid() not in {
        pid for _, pid in first}
    assert not [p for p in server._files if os.path.exists(p)]  # the calls' files removed


def test_server_submit_returns_while_the_batch_runs(tmp_path):
    flag = tmp_path / "go"
    with Server(lambda: None) as server:
        ticket = server.submit([partial(_wait_for, str(flag), x) for x in (1, 2)])
        flag.write_text("")  # only before the calls end if submit did not wait for them
        assert server.results(ticket) == [(10, True), (20, True)]


def test_server_raises_a_batchs_error_and_runs_the_next():
    with Server(lambda: None) as server:
        bad = server.submit([partial(_boom, 4)], workers=1)
        good = server.submit([partial(_square_pid, 3)])
        with pytest.raises(OSError, match="disk full at 4") as caught:
            server.results(bad)
        cause = caught.value.__cause__
        assert isinstance(cause, WorkerTraceback) and "in _boom" in str(cause)
        assert server.results(good)[0][0] == 9


def test_server_reports_an_error_that_cannot_be_sent_back():
    with Server(lambda: None) as server, pytest.raises(
            RuntimeError, match=r"_Unrebuildable: f.yaml:3: broken"):
        server.results(server.submit([partial(_unrebuildable, 3)], workers=1))


def test_an_error_in_prepare_is_raised_for_every_batch():
    def prepare() -> None:
        raise ImportError("no matplotlib")

    with Server(prepare) as server:
        tickets = [server.submit([partial(_square_pid, 1)]) for _ in range(2)]
        for ticket in tickets:
            with pytest.raises(ImportError, match="no matplotlib"):
                server.results(ticket)


def test_server_without_fork_runs_the_batches_when_their_results_are_asked(monkeypatch):
    import blastic_meta.review.workers as workers

    monkeypatch.setattr(workers.multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    ran: list[object] = []
    with Server(lambda: ran.append("prepared")) as server:
        ticket = server.submit([lambda: ran.append(1), lambda: ran.append(2)])
        assert server.pid is None and ran == []
        assert server.results(ticket) == [None, None]
        assert ran == ["prepared", 1, 2]


def test_closing_a_server_that_was_sent_nothing_ends_it_at_once():
    start = time.monotonic()
    with Server(partial(_sleep, 30)) as server:
        pass
    assert time.monotonic() - start < 10
    assert server._status is not None  # reaped, not left running


def test_a_caller_that_never_closes_its_server_still_exits(tmp_path):
    import subprocess
    import sys

    code = ("import functools, time\n"
            "from blastic_meta.review.workers import Server\n"
            "server = Server(functools.partial(time.sleep, 0.5))\n"
            "server.submit([functools.partial(print, 'drawn')])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def test_a_call_that_cannot_travel_is_refused_at_submit_and_the_server_goes_on():
    with Server(lambda: None) as server:
        with pytest.raises((AttributeError, TypeError, pickle.PicklingError)):
            server.submit([lambda: 1])  # a lambda cannot be pickled
        ticket = server.submit([partial(_square_pid, 4)], workers=1)
        assert ticket == 0 and server.results(ticket)[0][0] == 16
        with pytest.raises(IndexError, match="no batch 1"):
            server.results(1)
    with pytest.raises(RuntimeError, match="closed"):
        server.submit([partial(_square_pid, 1)])


def test_without_a_temporary_folder_nothing_is_sent(monkeypatch):
    import tempfile

    def no_folder(*args, **kwargs):
        raise OSError("read-only file system")

    with Server(lambda: None) as server:
        with monkeypatch.context() as patch:
            patch.setattr(tempfile, "mkstemp", no_folder)
            with pytest.raises(OSError, match="read-only"):
                server.submit([partial(_square_pid, 2)])
        ticket = server.submit([partial(_square_pid, 3)], workers=1)
        assert ticket == 0 and server.results(ticket)[0][0] == 9


def test_leaving_with_an_error_stops_the_batches_at_once(tmp_path):
    start = time.monotonic()
    with pytest.raises(KeyError), Server(lambda: None) as server:
        server.submit([partial(_sleep, 30) for _ in range(4)], workers=2)
        time.sleep(0.5)  # the server's workers are drawing
        raise KeyError("the caller failed")
    assert time.monotonic() - start < 10
    assert server._status is not None


def _note_pid_and_sleep(folder: str, seconds: float) -> None:
    with open(os.path.join(folder, str(os.getpid())), "w", encoding="utf-8"):
        pass
    time.sleep(seconds)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads process states from /proc")
def test_a_killed_server_is_reported_and_its_workers_ended(tmp_path):
    import signal

    with Server(lambda: None) as server:
        ticket = server.submit([partial(_note_pid_and_sleep, str(tmp_path), 30)
                                for _ in range(4)], workers=2)
        deadline = time.monotonic() + 10
        while len(list(tmp_path.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        workers = [int(p.name) for p in tmp_path.iterdir()]
        assert len(workers) == 2 and all(_running(pid) for pid in workers)
        os.kill(server.pid, signal.SIGKILL)
        start = time.monotonic()
        with pytest.raises(RuntimeError, match="ended without a result"):
            server.results(ticket)
        assert time.monotonic() - start < 10
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_running(pid) for pid in workers)  # not left drawing, orphaned


def test_stopping_does_not_wait_for_a_queued_batch():
    start = time.monotonic()
    with pytest.raises(KeyError), Server(lambda: None) as server:
        server.submit([partial(_sleep, 3)], workers=1)
        server.submit([partial(_sleep, 30)], workers=1)
        time.sleep(0.3)
        raise KeyError("the caller failed")
    assert time.monotonic() - start < 3


def test_without_fork_a_batch_runs_once_and_a_failed_prepare_fails_every_batch(monkeypatch):
    import blastic_meta.review.workers as workers

    monkeypatch.setattr(workers.multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    ran: list[int] = []
    with Server(lambda: None) as server:
        ticket = server.submit([lambda: ran.append(1)])
        assert server.results(ticket) == server.results(ticket) == [None] and ran == [1]

    def prepare() -> None:
        raise ImportError("no matplotlib")

    with Server(prepare) as server:
        tickets = [server.submit([lambda: ran.append(2)]) for _ in range(2)]
        for ticket in tickets:
            with pytest.raises(ImportError, match="no matplotlib"):
                server.results(ticket)
    assert ran == [1]
