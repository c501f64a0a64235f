"""Every write fails part-way in turn: the old file (or folder) is intact, or nothing exists.

A failing writer writes half of what it was given and then raises ``OSError`` (a full disk);
``os.replace``, ``os.link`` and ``os.fsync`` fail outright. ``render``, ``new-study`` and the
report's build-and-swap of ``outputs/`` are driven through the command line.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import shutil
from pathlib import Path

import pytest

from blastic_meta.cli import main

REGISTRY = Path(__file__).parents[1] / "registry" / "data"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


class HalfWriter:
    """A file object whose first write writes half the data, then fails like a full disk."""

    def __init__(self, handle):
        self._handle = handle

    def write(self, data):
        self._handle.write(data[: len(data) // 2])
        self._handle.flush()
        raise OSError(errno.ENOSPC, "No space left on device (injected)")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()

    def __getattr__(self, name):
        return getattr(self._handle, name)


class Faults:
    """Counts writes (files opened for writing, os.replace/link/fsync) and fails the n-th."""

    def __init__(self, monkeypatch, root: Path, fail_at: int | None = None) -> None:
        self.root, self.fail_at, self.events = str(root), fail_at, []
        real_open, real_fdopen = builtins.open, os.fdopen
        real = {name: getattr(os, name) for name in ("replace", "link", "fsync")}

        def writing(mode):
            return any(c in mode for c in "wax+")

        def hit(event) -> bool:
            self.events.append(event)
            return len(self.events) == self.fail_at

        def fake_open(file, mode="r", *args, **kwargs):
            if writing(mode) and str(file).startswith(self.root) and hit(("open", str(file))):
                return HalfWriter(real_open(file, mode, *args, **kwargs))
            return real_open(file, mode, *args, **kwargs)

        def fake_fdopen(fd, mode="r", *args, **kwargs):
            handle = real_fdopen(fd, mode, *args, **kwargs)
            if writing(mode) and hit(("fdopen", fd)):
                return HalfWriter(handle)
            return handle

        def failing(name):
            def fake(*args, **kwargs):
                if hit((name, str(args[0]))):
                    raise OSError(errno.EIO, f"{name} failed (injected)")
                return real[name](*args, **kwargs)
            return fake

        monkeypatch.setattr(builtins, "open", fake_open)
        monkeypatch.setattr(io, "open", fake_open)
        monkeypatch.setattr(os, "fdopen", fake_fdopen)
        for name in real:
            monkeypatch.setattr(os, name, failing(name))


def run(monkeypatch, capsys, root, fail_at, argv):
    with monkeypatch.context() as m:
        faults = Faults(m, root, fail_at)
        code = main(argv)
    err = capsys.readouterr().err
    return code, err, faults.events


def count_writes(monkeypatch, capsys, root, argv, restore):
    """The writes of one successful run (then ``restore`` puts the files back)."""
    code, err, events = run(monkeypatch, capsys, root, None, argv)
    assert code == 0, err
    restore()
    assert events
    return len(events)


def summary_k(workspace: Path) -> int:
    import json

    summary = json.loads((workspace / "outputs" / "summary.json").read_text(encoding="utf-8"))
    return summary["analyses"]["vas_1m"]["subgroups"]["osteoblastic"]["k"]


# --- render --------------------------------------------------------------------------------

@pytest.mark.parametrize("previous", [True, False])
def test_render_leaves_the_old_file_or_none(workspace, monkeypatch, capsys, previous):
    (workspace / "draft.md").write_text("k = {{ vas_1m.osteoblastic | k }}\n", encoding="utf-8")
    paper = workspace / "paper.md"
    old = b"<!-- written by blastic-meta render from draft.md; edit the template -->\nold\n"
    argv = ["render", "draft.md", "-o", "paper.md"]

    def restore():
        if previous:
            paper.write_bytes(old)
        else:
            paper.unlink()

    if previous:
        paper.write_bytes(old)
    n = count_writes(monkeypatch, capsys, workspace, argv, restore)
    assert n >= 3  # the temporary file, its fsync, its rename over paper.md
    for fail_at in range(1, n + 1):
        code, err, events = run(monkeypatch, capsys, workspace, fail_at, argv)
        if code == 0:  # only the final sync of the folder may fail without consequence
            assert fail_at == n and events[-1][0] == "fsync"
            assert paper.read_text(encoding="utf-8").endswith(f"k = {summary_k(workspace)}\n")
            restore()
            continue
        assert len(err.strip().splitlines()) == 1 and "injected" in err, err
        assert paper.read_bytes() == old if previous else not paper.exists()
        assert sorted(p.name for p in workspace.iterdir()) == sorted(
            ["draft.md", "evidence", "outputs", *(["paper.md"] if previous else [])])


# --- new-study -----------------------------------------------------------------------------

def test_new_study_leaves_no_file_or_a_whole_one(tmp_path, monkeypatch, capsys):
    studies = tmp_path / "studies"
    studies.mkdir()
    argv = ["new-study", "smith2019", "--studies", str(studies)]
    target = studies / "smith2019.yaml"
    n = count_writes(monkeypatch, capsys, tmp_path, argv, target.unlink)
    assert n >= 3  # the temporary file, its fsync, its link to the final name
    for fail_at in range(1, n + 1):
        code, err, events = run(monkeypatch, capsys, tmp_path, fail_at, argv)
        if code == 0:  # only the final sync of the folder may fail without consequence
            assert events[fail_at - 1][0] == "fsync"
            assert target.read_text(encoding="utf-8").startswith("# yaml-language-server")
            target.unlink()
            continue
        assert "injected" in err and len(err.strip().splitlines()) == 1, err
        assert list(studies.iterdir()) == []


# --- report: build in a staging folder, swap ------------------------------------------------

@pytest.fixture(scope="module")
def small_registry(tmp_path_factory, repo_root):
    """No study at all: the smallest report (tables, texts, one figure) is quick to build."""
    base = tmp_path_factory.mktemp("report")
    (base / "studies").mkdir()
    shutil.copytree(repo_root / "evidence", base / "evidence")
    shutil.copy(REGISTRY / "references.bib", base / "evidence" / "references.bib")
    (base / "evidence" / "screening.yaml").unlink()  # it names the shipped studies
    return base


def test_a_report_failing_at_any_write_leaves_outputs_as_they_were(small_registry,
                                                                     monkeypatch, capsys):
    base = small_registry
    out = base / "outputs"
    argv = ["report", "--quiet", "--studies", str(base / "studies"), "--evidence",
            str(base / "evidence"), "--out", str(out)]
    assert main(argv) == 0
    before = snapshot(out)
    # the second build reuses the figure, so count on a rebuild
    code, err, events = run(monkeypatch, capsys, base, None, argv)
    assert code == 0 and snapshot(out) == before, err
    n = len(events)
    swaps = [i + 1 for i, e in enumerate(events) if e[0] == "replace"][-2:]
    assert [Path(events[i - 1][1]).parent for i in swaps] == [base, base]  # out<->staging
    points = sorted({1, 2, n // 3, n // 2, 2 * n // 3, n - 1, n, *swaps})
    failed = 0
    for fail_at in points:
        code, err, events = run(monkeypatch, capsys, base, fail_at, argv)
        assert "Traceback" not in err
        if code != 0:
            failed += 1
            assert "injected" in err, (fail_at, err)
        # same inputs: a run that got through writes the same bytes; one that failed, none
        assert snapshot(out) == before, (fail_at, events[fail_at - 1])
        assert sorted(p.name for p in base.iterdir()) == ["evidence", "outputs", "studies"], \
            (fail_at, events[fail_at - 1])
    assert failed >= len(points) - 1  # a copy by sendfile() may slip past the half-writer


def test_a_first_report_failing_at_the_swap_leaves_no_outputs(small_registry, monkeypatch,
                                                              capsys):
    base = small_registry
    out = base / "first"
    argv = ["report", "--quiet", "--studies", str(base / "studies"), "--evidence",
            str(base / "evidence"), "--out", str(out)]
    code, err, events = run(monkeypatch, capsys, base, None, argv)
    assert code == 0, err
    swap = max(i + 1 for i, e in enumerate(events) if e[0] == "replace")
    shutil.rmtree(out)
    for fail_at in (1, swap):
        code, err, _ = run(monkeypatch, capsys, base, fail_at, argv)
        assert code == 1 and "injected" in err
        assert not out.exists()
        assert not [p for p in base.iterdir() if p.name.startswith(".first")]
