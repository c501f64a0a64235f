"""Oversized or unusual input files are refused at once, naming the file and the limit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from blastic_meta._io import FileLimitError, read_limited
from blastic_meta.cli import main
from blastic_meta.registry.yamlio import MAX_FILE_BYTES

DATA = Path(__file__).parents[1] / "registry" / "data"


def sparse(path: Path, size: int) -> Path:
    """A file of ``size`` bytes that takes no disk space (its size is all that is checked)."""
    with path.open("wb") as handle:
        handle.write(b"a")
        handle.truncate(size)
    return path


@pytest.fixture
def registry(tmp_path):
    studies, evidence = tmp_path / "studies", tmp_path / "evidence"
    studies.mkdir()
    evidence.mkdir()
    shutil.copy(DATA / "valid" / "fixture2020.yaml", studies)
    shutil.copy(DATA / "references.bib", evidence)
    return studies, evidence


def test_a_200_mb_study_file_is_refused_at_once(registry, capsys):
    studies, evidence = registry
    sparse(studies / "huge.yaml", 200_000_000)
    start = time.monotonic()
    code = main(["validate", "--studies", str(studies), "--evidence", str(evidence)])
    elapsed = time.monotonic() - start
    out = capsys.readouterr().out
    assert code == 1
    line = next(ln for ln in out.splitlines() if "huge.yaml" in ln)
    assert "200,000,000 bytes" in line and "2 MB" in line and "[file-unreadable]" in line
    assert "fixture2020" not in out.split("huge.yaml")[0]  # the valid file is still checked
    assert elapsed < 5


def test_oversized_bibliography_and_protocol_are_refused(registry, capsys, repo_root):
    studies, evidence = registry
    bib = evidence / "references.bib"
    with bib.open("ab") as handle:
        handle.write(b"%" * MAX_FILE_BYTES)
    assert main(["validate", "--studies", str(studies), "--evidence", str(evidence)]) == 1
    out = capsys.readouterr().out
    assert "references.bib:1:" in out and "2 MB" in out
    shutil.copy(DATA / "references.bib", bib)
    sparse(evidence / "protocol.yaml", 50_000_000)
    out_dir = evidence.parent / "outputs"
    for argv in (["report"], ["render", str(DATA / "references.bib"), "--fresh"]):
        assert main([*argv, "--studies", str(studies), "--evidence", str(evidence),
                     "--out", str(out_dir)]) == 1
        err = capsys.readouterr().err
        assert "protocol.yaml:1:" in err and "50,000,000 bytes" in err and "2 MB" in err
    assert not out_dir.exists()


def test_an_oversized_template_and_summary_are_refused(tmp_path, capsys):
    template = sparse(tmp_path / "draft.md", 3_000_000)
    assert main(["render", str(template), "--out", str(tmp_path)]) == 1
    assert "3,000,000 bytes, over the 2 MB limit for a template" in capsys.readouterr().err
    template.write_text("{{ vas_1m.osteoblastic | k }}", encoding="utf-8")
    sparse(tmp_path / "summary.json", 60_000_000)
    assert main(["render", str(template), "--out", str(tmp_path)]) == 1
    assert "50 MB limit for a summary" in capsys.readouterr().err


def test_the_limit_is_inclusive(tmp_path):
    exact = sparse(tmp_path / "exact", 1000)
    assert len(read_limited(exact, 1000)) == 1000
    with pytest.raises(FileLimitError, match=r"1,001 bytes, over the 0\.001 MB limit"):
        read_limited(sparse(tmp_path / "over", 1001), 1000)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_is_refused_not_waited_on(registry, tmp_path):
    studies, evidence = registry
    os.mkfifo(studies / "pipe.yaml")
    os.mkfifo(tmp_path / "draft.md")
    for argv in (["validate"], ["render", str(tmp_path / "draft.md")]):
        proc = subprocess.run([sys.executable, "-m", "blastic_meta", *argv, "--studies",
                               str(studies), "--evidence", str(evidence)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1
        assert "not a regular file" in proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
