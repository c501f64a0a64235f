"""No command shows a traceback: internal errors and warnings are one line; --debug traces."""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings

import pytest

from blastic_meta import cli
from blastic_meta.commands import pool

LINE = ("blastic-meta pool: internal error: ValueError: boom on two lines (please report; "
        "rerun with --debug for the trace)")


@pytest.fixture
def broken_pool(monkeypatch):
    def explode(args):
        raise ValueError("boom on\ntwo lines")

    monkeypatch.setattr(pool, "run", explode)


def test_an_unexpected_exception_is_one_line(broken_pool, capsys):
    assert cli.main(["pool", "x.csv"]) == 1
    err = capsys.readouterr().err
    assert err == LINE + "\n"


@pytest.mark.parametrize("argv", [["--debug", "pool", "x.csv"], ["pool", "x.csv", "--debug"]])
def test_debug_shows_the_trace(broken_pool, capsys, argv):
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert err.splitlines()[-1] == LINE


def test_debug_also_traces_an_expected_error(tmp_path, capsys):
    assert cli.main(["--debug", "pool", str(tmp_path / "missing.csv"), "--yi", "a",
                     "--vi", "b"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.splitlines()[-1].endswith("no such file")
    assert cli.main(["pool", str(tmp_path / "missing.csv"), "--yi", "a", "--vi", "b"]) == 1
    assert "Traceback" not in capsys.readouterr().err


def test_warnings_are_one_line_each(monkeypatch, capsys):
    def warn_twice(args):
        warnings.warn("first\nwarning", UserWarning, stacklevel=1)
        warnings.warn("a library's deprecation", DeprecationWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(pool, "run", warn_twice)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the test suite's policy must not leak into main()
        assert cli.main(["pool", "x.csv"]) == 0
    assert capsys.readouterr().err == "blastic-meta pool: warning: first warning\n"


def test_k2_knha_warning_through_the_console_script(tmp_path):
    csv = tmp_path / "two.csv"
    csv.write_text("yi,vi\n0.1,0.02\n0.4,0.03\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "blastic_meta", "pool", str(csv), "--yi", "yi",
                           "--vi", "vi", "--test", "knha"], capture_output=True, text=True)
    assert proc.returncode == 0
    lines = proc.stderr.splitlines()
    assert lines and all(ln.startswith("blastic-meta pool: warning: k = 2") for ln in lines)


@pytest.mark.parametrize("command", ["pool", "validate", "render", "new-study"])
def test_a_file_system_refusal_is_an_error_not_an_internal_one(tmp_path, capsys, command):
    long_name = str(tmp_path / ("x" * 300))  # longer than any file name may be
    argv = {"pool": ["pool", long_name, "--yi", "a", "--vi", "b"],
            "validate": ["validate", "--studies", long_name],
            "render": ["render", long_name],
            "new-study": ["new-study", "smith2019", "--studies", long_name]}[command]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"blastic-meta {command}: error: ") and "internal" not in err
    assert len(err.splitlines()) == 1 and "too long" in err


def test_an_error_listing_several_problems_gives_one_prefixed_line_each(tmp_path, capsys,
                                                                        repo_root):
    studies = tmp_path / "studies"
    studies.mkdir()
    for name in ("a", "b"):
        (studies / f"{name}.yaml").write_text("", encoding="utf-8")
    shutil.copytree(repo_root / "evidence", tmp_path / "evidence")
    assert cli.main(["report", "--studies", str(studies), "--evidence",
                     str(tmp_path / "evidence"), "--out", str(tmp_path / "out")]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and all(ln.startswith("blastic-meta report: error: ") for ln in lines)
    assert "a.yaml:1:" in lines[0] and "b.yaml:1:" in lines[1] and "2 error(s)" in lines[2]


def test_a_key_with_a_trailing_newline_is_refused(tmp_path, capsys):
    assert cli.main(["new-study", "smith2019\n", "--studies", str(tmp_path)]) == 1
    assert list(tmp_path.iterdir()) == []
