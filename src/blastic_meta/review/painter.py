"""Figures drawn once: each figure's key hashes its plotting function, every argument and the
plotting code, so a file reused from the previous report is byte-for-byte what drawing it
again would give; only the 300 dpi rendering time is saved on reruns.

Drawing is deferred: ``jobs()`` hands the pending figures over as calls (the report sends
them to its drawing server, ``workers.Server``), and ``finish()`` draws them in forked
workers (``workers.fork_map``). Each figure is an independent file, so the bytes do not
depend on the order or the number of workers.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections.abc import Callable, Mapping
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["KEYS_FILE", "Painter"]

KEYS_FILE = "figure_keys.json"


def _stable(value: Any) -> str:
    """An exact, order-stable text of a figure's inputs (floats by repr)."""
    pd = sys.modules.get("pandas")  # a figure's input is a table only if pandas is loaded
    if pd is not None and isinstance(value, pd.DataFrame):
        return repr(value.to_dict(orient="split"))
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k!r}:{_stable(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_stable(v) for v in value) + "]"
    return repr(value)


def _code_version() -> str:
    from .. import figures

    h = hashlib.sha256(metadata.version("matplotlib").encode())
    # the arguments are the whole spec, so only the drawing code can change a figure
    for path in sorted(Path(figures.__file__ or "").parent.glob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()


class Painter:
    """Draws and saves figures; reuses a previous run's files when the inputs are identical.

    Each figure's key hashes its plotting function, every argument (exactly) and the plotting
    code and matplotlib version, so a reused file is byte-for-byte what drawing it again would
    give; only the 300 dpi rendering time is saved on reruns.
    """

    def __init__(self, folder: Path, previous: Path | None = None) -> None:
        self.folder = folder
        self.previous = previous
        self.keys: dict[str, str] = {}
        self._old: dict[str, str] = {}
        self._code = _code_version()
        # name -> (size of the inputs' text, function, args, kwargs) of each figure to draw
        self._pending: dict[str, tuple[int, Any, tuple[Any, ...], dict[str, Any]]] = {}
        if previous is not None and (previous / KEYS_FILE).is_file():
            try:
                self._old = json.loads((previous / KEYS_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self._old = {}

    def draw(self, name: str, func: Any, *args: Any, **kwargs: Any) -> list[Path]:

        inputs = _stable(args) + "\0" + _stable(kwargs)
        key = hashlib.sha256("\0".join([self._code, func.__name__, inputs]).encode()).hexdigest()
        self.keys[name] = key
        targets = [self.folder / f"{name}.svg", self.folder / f"{name}.png"]
        if self.previous is not None and self._old.get(name) == key:
            sources = [self.previous / t.name for t in targets]
            if all(src.is_file() for src in sources):
                self.folder.mkdir(parents=True, exist_ok=True)
                for src, dst in zip(sources, targets, strict=True):
                    shutil.copyfile(src, dst)
                return targets
        # a figure drawn again replaces the pending one (its key is the later draw's), and
        # takes its place in the order as if asked for then
        self._pending.pop(name, None)
        self._pending[name] = (len(inputs), func, args, kwargs)
        return targets

    def jobs(self) -> list[Callable[[], None]]:
        """The pending figures as calls that draw and save one each (the caller runs them
        where it likes, e.g. beside other work in ``workers.fork_map``); none stay pending.

        The figures with the most input come first: workers that take the next call when
        they finish one then end on small figures, so no CPU waits long for the last figure
        (longest job first; Graham 1969). The size of the inputs' text stands for the
        drawing work; ties keep the order the figures were asked for.
        """
        jobs, self._pending = self._pending, {}
        order = sorted(jobs, key=lambda name: -jobs[name][0])  # stable: ties keep their order
        return [partial(_render, self.folder, name, *jobs[name][1:]) for name in order]

    def finish(self, workers: int | None = None) -> None:
        """Draw every pending figure; ``workers`` processes (default: one per CPU)."""
        from .workers import fork_map, run_job

        fork_map(run_job, self.jobs(), workers)

    def write_keys(self) -> Path:
        path = self.folder / KEYS_FILE
        self.folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.keys, sort_keys=True, indent=1) + "\n",
                        encoding="utf-8", newline="\n")
        return path


def _render(folder: Path, name: str, func: Any, args: tuple[Any, ...],
            kwargs: Mapping[str, Any]) -> None:
    from .. import figures

    figures.save_figure(func(*args, **kwargs), folder / name)
