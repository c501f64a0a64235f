"""Independent pieces of a report computed in forked worker processes.

The report's figures and its sensitivity scenarios do not depend on one another, so they
run on every CPU. Results are returned in the order of the items, whatever order the
workers finish in, so the output does not depend on the number of workers; an error in a
worker is raised in the caller, caused by a ``WorkerTraceback`` where the worker's traceback
would otherwise be lost. Where fork is unavailable, or one worker suffices, the items run in
this process.

``fork_map`` spreads items over a pool of processes forked from the caller and waits: they
start with its modules and data, nothing is pickled on the way in, and only each result
comes back. A ``Server`` is forked at once, before the caller has its data, so that it can
prepare meanwhile (the report's drawing server imports matplotlib while the registry is
read); it then runs the batches of calls it is sent, which travel pickled, and forks its own
workers for them, which start prepared.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing.connection import Connection
from typing import Any, TypeVar

__all__ = ["Server", "WorkerTraceback", "fork_map", "run_job"]

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
    """The traceback of an error in a ``Server``, as text (the error's cause)."""


def _outcome(compute: Callable[[], Any]) -> bytes:
    """``(ok, value or error, traceback text)`` of ``compute()``, pickled; an error that
    cannot travel (e.g. an exception class that cannot be rebuilt from its pickle) comes
    back as a RuntimeError naming it."""
    try:
        outcome: tuple[bool, Any, str] = (True, compute(), "")
    except Exception as exc:  # sent to the caller, raised there (a SystemExit ends the process)
        outcome = (False, exc, traceback.format_exc())
    try:
        payload = pickle.dumps(outcome)
        pickle.loads(payload)
    except Exception as exc:
        what = outcome[1] if not outcome[0] else exc
        payload = pickle.dumps((False, RuntimeError(
            f"worker failed with {type(what).__name__}: {what}"), outcome[2]))
    return payload


def _ended_without_result(exitcode: int | None) -> bytes:
    return pickle.dumps((False, RuntimeError(
        f"worker process ended without a result (exit code {exitcode})"), ""))


def _raise_or_return(payload: bytes) -> Any:
    ok, value, trace = pickle.loads(payload)
    if not ok:
        raise value from (WorkerTraceback(trace) if trace else None)
    return value


def fork_map(func: Callable[[Any], T], items: Sequence[Any],
             workers: int | None = None,
             initializer: Callable[[], None] | None = None) -> list[T]:
    """``[func(x) for x in items]``, spread over ``workers`` processes (default: CPUs), each
    of which first calls ``initializer``."""
    global _items, _func
    n = min(workers or os.cpu_count() or 1, len(items))
    if n <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [func(x) for x in items]
    # the children read func and items from the forked memory; only an index is sent
    _items, _func = items, func
    try:
        with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("fork"),
                                 initializer=partial(_start_worker, initializer)) as pool:
            return list(pool.map(_call, range(len(items))))
    finally:
        _items, _func = (), None


def _start_worker(initializer: Callable[[], None] | None) -> None:
    # a pool worker ends on SIGTERM, whatever handler it inherited from its parent
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if initializer is not None:
        initializer()


def _stop_on_term(*_: object) -> None:
    raise SystemExit(1)  # unlike the default action, this runs finally blocks


def _server_worker(conns: Sequence[Connection]) -> None:
    """Start of a server's pool worker: drop the server's pipes, so that were the server to
    die its caller would see the end of the replies at once."""
    for conn in conns:
        conn.close()


def _serve(prepare: Callable[[], None], requests: Connection, replies: Connection,
           caller: int) -> None:
    """The loop of a ``Server`` process: prepare, then run each batch sent, in order; stop
    at the caller's close, or when the caller (process ``caller``) is gone."""
    try:
        _run_batches(_outcome(prepare), requests, replies, caller)
    finally:
        _discard(requests)
        replies.close()


def _run_batches(prepared: bytes, requests: Connection, replies: Connection,
                 caller: int) -> None:
    while True:
        if os.getppid() != caller:  # the caller died: no one will read the results
            return
        if not requests.poll(1.0):
            continue
        try:
            message = requests.recv_bytes()
        except EOFError:  # the caller ended without saying so
            return
        if not message:  # the caller's close(): no more batches
            return

        def batch(path: str = message.decode("utf-8")) -> list[Any]:
            with open(path, "rb") as handle:
                payload = handle.read()
            os.unlink(path)
            workers, calls = pickle.loads(payload)
            _raise_or_return(prepared)
            return fork_map(run_job, calls, workers,
                            initializer=partial(_server_worker, (requests, replies)))

        outcome = _outcome(batch)
        try:
            replies.send_bytes(outcome)
        except OSError:  # e.g. a broken pipe: the caller is gone
            return


def _discard(requests: Connection) -> None:
    """Remove the files of the batches sent but not run (the caller gone or stopping)."""
    with contextlib.suppress(EOFError, OSError):
        while requests.poll(0):
            message = requests.recv_bytes()
            if message:
                with contextlib.suppress(OSError):
                    os.unlink(message.decode("utf-8"))


def _flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


class Server:
    """A process forked at once, which prepares itself (``prepare``, e.g. importing
    matplotlib) while the caller goes on, then runs the batches of calls it is sent.

    ``submit(calls)`` returns at once; ``results(ticket)`` waits for that batch. Batches run
    in the order they were sent, each spread over processes forked from the server, so they
    start prepared (one process: the server itself). The calls travel pickled, in a
    temporary file, so that sending never waits for the server; each batch's results or
    error come back to ``results``. Used as a context manager, leaving the block normally
    waits for the batches sent (as leaving ``fork_map`` waits for its items) and ends the
    server; leaving it with an error stops the server and its workers at once. Without
    fork, the batches run in this process when their results are asked, after ``prepare``.

    Calls must pickle: functions defined at module level, or partials of them. The server
    is a bare ``os.fork``, not a ``multiprocessing`` process: it may fork workers of its own
    (a daemonic process may not), and the caller's interpreter never waits for it at exit.
    It leads its own process group, so that ``stop`` reaches its workers too; it ends when
    the caller closes it or is gone.
    """

    def __init__(self, prepare: Callable[[], None]) -> None:
        self._prepare: Callable[[], None] | None = prepare
        self._prepare_error: BaseException | None = None
        self._batches: list[Sequence[Callable[[], Any]]] = []  # without fork
        self._done: dict[int, tuple[bool, Any]] = {}  # without fork
        self._replies: list[bytes] = []
        self._files: list[str] = []
        self._sent = 0
        self._pid: int | None = None
        self._status: int | None = None
        if "fork" not in multiprocessing.get_all_start_methods():
            return
        context = multiprocessing.get_context("fork")
        requests_in, self._requests_out = context.Pipe(duplex=False)
        self._replies_in, replies_out = context.Pipe(duplex=False)
        _flush_std_streams()  # else text buffered here would be written twice
        caller = os.getpid()
        pid = os.fork()
        if pid == 0:  # the server: never returns into the caller's code
            code = 1
            try:
                os.setpgid(0, 0)
                signal.signal(signal.SIGTERM, _stop_on_term)
                self._requests_out.close()
                self._replies_in.close()
                _serve(prepare, requests_in, replies_out, caller)
                code = 0
            except (SystemExit, KeyboardInterrupt):
                pass
            except BaseException:
                with contextlib.suppress(Exception):
                    traceback.print_exc()  # the caller only sees the exit code
            finally:
                try:  # a second SIGTERM must not carry this copy into the caller's code
                    signal.signal(signal.SIGTERM, signal.SIG_IGN)
                    _flush_std_streams()
                finally:
                    os._exit(code)
        self._pid = pid
        with contextlib.suppress(OSError):  # also here: no stop may come before the child's
            os.setpgid(pid, pid)
        requests_in.close()
        replies_out.close()

    @property
    def pid(self) -> int | None:
        """The server's process id (None without fork)."""
        return self._pid

    def _wait(self) -> int:
        if self._status is None:
            assert self._pid is not None
            self._status = os.waitstatus_to_exitcode(os.waitpid(self._pid, 0)[1])
        return self._status

    def submit(self, calls: Sequence[Callable[[], T]], workers: int | None = None) -> int:
        """Send a batch of calls, to run on ``workers`` processes (default: one per CPU);
        returns its ticket for ``results``."""
        if self._pid is None:
            self._batches.append(list(calls))
            return len(self._batches) - 1
        if self._requests_out.closed:
            raise RuntimeError("Server.submit: the server was closed")
        payload = pickle.dumps((workers, list(calls)))  # before any state changes
        fd, path = tempfile.mkstemp(prefix="blastic-meta-", suffix=".calls")
        self._files.append(path)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        self._requests_out.send_bytes(path.encode("utf-8"))
        self._sent += 1
        return self._sent - 1

    def results(self, ticket: int) -> list[Any]:
        """The results of batch ``ticket`` in the order of its calls; its error is raised
        here, caused by a ``WorkerTraceback``."""
        if self._pid is None:
            return self._run_here(ticket)
        if not 0 <= ticket < self._sent:
            raise IndexError(f"Server.results: no batch {ticket} was sent")
        while len(self._replies) <= ticket:
            try:
                self._replies.append(self._replies_in.recv_bytes())
            except EOFError:  # it died: its workers (its group, held by it until reaped) too
                self._signal(signal.SIGKILL)
                self._replies.append(_ended_without_result(self._wait()))
        return _raise_or_return(self._replies[ticket])

    def _run_here(self, ticket: int) -> list[Any]:
        """Without fork: ``prepare`` once, then the batch once; errors kept as in a fork."""
        if self._prepare is not None:
            prepare, self._prepare = self._prepare, None
            try:
                prepare()
            except Exception as exc:
                self._prepare_error = exc
        if ticket not in self._done:
            try:
                if self._prepare_error is not None:
                    raise self._prepare_error
                self._done[ticket] = (True, [call() for call in self._batches[ticket]])
            except Exception as exc:
                self._done[ticket] = (False, exc)
        ok, value = self._done[ticket]
        if not ok:
            raise value
        return value

    def _signal(self, number: int) -> None:
        """Signal the server's process group, only while the server is not reaped (until
        then its pid, the group's id, cannot be reused)."""
        if self._pid is not None and self._status is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._pid, number)

    def _terminate(self) -> None:
        self._signal(signal.SIGTERM)
        self._signal(signal.SIGCONT)  # a stopped process acts on SIGTERM only when resumed

    def stop(self) -> None:
        """Stop the server and its workers now (their results are lost), then close."""
        if self._pid is not None and not self._requests_out.closed:
            self._terminate()
        self.close(stopped=True)

    def close(self, stopped: bool = False) -> None:
        """Wait for the batches sent and end the server (at once if none was sent); results
        not asked for are then lost."""
        if self._pid is None or self._requests_out.closed:
            return
        if not self._sent and not stopped:  # it is only preparing: no need to wait
            self._terminate()
        # a message, not only closing our end: a process forked from the caller may hold it
        with contextlib.suppress(OSError):
            self._requests_out.send_bytes(b"")
        self._requests_out.close()
        with contextlib.suppress(EOFError, OSError):
            while True:  # drained, so that the server never waits to send a reply
                self._replies.append(self._replies_in.recv_bytes())
        self._wait()
        self._replies_in.close()
        for path in self._files:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        if kind is None:
            self.close()
        else:
            self.stop()
