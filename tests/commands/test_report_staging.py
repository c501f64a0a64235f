"""A report killed outright leaves its staging folder; the next run removes it, nothing else."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from blastic_meta.cli import main
from blastic_meta.review.report import _host, clean_stale

REGISTRY = Path(__file__).parents[1] / "registry" / "data"
SRC = Path(__file__).parents[2] / "src"

pytestmark = pytest.mark.skipif(os.name != "posix", reason="process check by os.kill(pid, 0)")

# the report of the test registry, paused inside its staging folder until it is killed
PAUSED = """
import sys, time
from blastic_meta.review import report

def paused(staging, *args, **kwargs):
    (staging / "half-written.svg").write_text("<svg", encoding="utf-8")
    time.sleep(600)

report._build_into = paused
report.build_report(sys.argv[1], sys.argv[2], sys.argv[3])
"""


@pytest.fixture
def registry(tmp_path, repo_root):
    """No study at all: the smallest report is quick to build."""
    (tmp_path / "studies").mkdir()
    shutil.copytree(repo_root / "evidence", tmp_path / "evidence")
    shutil.copy(REGISTRY / "references.bib", tmp_path / "evidence" / "references.bib")
    (tmp_path / "evidence" / "screening.yaml").unlink()  # it names the shipped studies
    return tmp_path


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def report(base: Path) -> int:
    return main(["report", "--quiet", "--studies", str(base / "studies"), "--evidence",
                 str(base / "evidence"), "--out", str(base / "outputs")])


def test_sigkill_leaves_a_staging_folder_that_the_next_run_removes(registry, capsys):
    child = subprocess.Popen([sys.executable, "-c", PAUSED, str(registry / "studies"),
                              str(registry / "evidence"), str(registry / "outputs")],
                             env={"PYTHONPATH": str(SRC)})
    try:
        deadline = time.monotonic() + 120
        while not list(registry.glob(".outputs-staging-*/half-written.svg")):
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    (left,) = registry.glob(".outputs-staging-*")
    assert left.name.startswith(f".outputs-staging-{child.pid}@{_host()}-")
    assert report(registry) == 0, capsys.readouterr().err
    assert sorted(p.name for p in registry.iterdir()) == ["evidence", "outputs", "studies"]
    assert (registry / "outputs" / "MANIFEST.txt").is_file()


def _processes_naming(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and text.encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:  # ended meanwhile
            pass
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds processes in /proc")
def test_sigterm_mid_drawing_leaves_no_staging_folder_and_no_process(tmp_path, repo_root):
    """``timeout``, a CI cancel or ``docker stop`` send SIGTERM: the report cleans up as after
    Ctrl-C, its drawing server and the server's workers included."""
    for name in ("studies", "evidence"):
        shutil.copytree(repo_root / name, tmp_path / name)
    out = tmp_path / "sigterm-outputs"
    child = subprocess.Popen(
        [sys.executable, "-m", "blastic_meta", "report", "--quiet", "--studies",
         str(tmp_path / "studies"), "--evidence", str(tmp_path / "evidence"), "--out",
         str(out)], env={**os.environ, "PYTHONPATH": str(SRC)}, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".sigterm-outputs-staging-*/figures/*.png")):
        assert child.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(child.pid, signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 143 and "terminated" in err, err
    deadline = time.monotonic() + 10
    while _processes_naming(str(out)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _processes_naming(str(out))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evidence", "studies"]


def test_only_folders_of_finished_processes_on_this_machine_are_removed(tmp_path):
    out = tmp_path / "outputs"
    out.mkdir()
    (out / "MANIFEST.txt").write_text("MANIFEST.txt\n", encoding="utf-8")
    dead, host = dead_pid(), _host()
    stale = tmp_path / f".outputs-staging-{dead}@{host}-abc_123x"
    kept = [tmp_path / f".outputs-staging-{os.getpid()}@{host}-abcdefgh",  # still running
            tmp_path / f".outputs-staging-{dead}@0badc0de-abcdefgh",  # another machine
            tmp_path / ".outputs-staging-abcdefgh",  # no process named
            tmp_path / f".outputs-staging-{dead}",
            tmp_path / f".results-staging-{dead}@{host}-abcdefgh",  # another --out
            tmp_path / f"outputs-staging-{dead}@{host}-abcdefgh",
            tmp_path / f".outputs-staging-{dead}@{host}-abcdefgh.keep"]
    for folder in (stale, *kept):
        folder.mkdir()
        (folder / "figure.svg").write_text("<svg/>", encoding="utf-8")
    elsewhere = tmp_path / "mine"
    elsewhere.mkdir()
    (elsewhere / "notes.md").write_text("mine\n", encoding="utf-8")
    link = tmp_path / f".outputs-staging-{dead}@{host}-linkedxx"
    link.symlink_to(elsewhere, target_is_directory=True)
    not_a_folder = tmp_path / f".outputs-previous-{dead}@{host}-aFileXxx"
    not_a_folder.write_text("a file\n", encoding="utf-8")

    assert clean_stale(out) == [stale]
    assert not stale.exists()
    assert all((folder / "figure.svg").is_file() for folder in kept)
    assert link.is_symlink() and (elsewhere / "notes.md").read_text(encoding="utf-8") == "mine\n"
    assert not_a_folder.is_file() and (out / "MANIFEST.txt").is_file()


def test_a_backup_is_removed_or_put_back_when_the_kill_came_mid_swap(tmp_path):
    out = tmp_path / "outputs"
    dead, host = dead_pid(), _host()
    backup = tmp_path / f".outputs-previous-{dead}@{host}-abcdefgh"
    staging = tmp_path / f".outputs-staging-{dead}@{host}-abcdefgh"
    for folder, text in ((backup, "old\n"), (staging, "new, never swapped in\n")):
        folder.mkdir()
        (folder / "estimates.md").write_text(text, encoding="utf-8")
    # killed between the two renames: no outputs/, the old one is the backup
    assert sorted(clean_stale(out)) == sorted([backup, staging])
    assert (out / "estimates.md").read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outputs"]
    # killed after the swap, before the backup was removed: outputs/ is the new one
    backup.mkdir()
    (backup / "estimates.md").write_text("older\n", encoding="utf-8")
    assert clean_stale(out) == [backup]
    assert (out / "estimates.md").read_text(encoding="utf-8") == "old\n"
