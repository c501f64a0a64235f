"""`blastic-meta pool`: summary and JSON output, escalc inputs, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from blastic_meta import cli
from blastic_meta.stats.models import pool
from tests.stats.test_tau2 import bcg


@pytest.fixture
def effects_csv(tmp_path):
    yi, vi = bcg()
    lines = ["study,yi,vi,ablat,events,total"]
    events = [3, 0, 7, 10, 2, 5, 9, 4, 6, 8, 1, 12, 5]
    for i, (y, v) in enumerate(zip(yi, vi, strict=True)):
        lines.append(f"S{i + 1},{float(y)!r},{float(v)!r},{10 + 3 * i},{events[i]},{12 + i}")
    path = tmp_path / "effects.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(argv, capsys):
    code = cli.main(["pool", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_summary_is_printed(effects_csv, capsys):
    code, out, err = run([effects_csv, "--yi", "yi", "--vi", "vi"], capsys)
    assert code == 0 and err == ""
    assert out == pool(*bcg()).summary()


def test_json_output_matches_library(effects_csv, capsys):
    code, out, _ = run([effects_csv, "--yi", "yi", "--vi", "vi", "--method", "PM", "--test",
                        "knha", "--level", "0.9", "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    ref = pool(*bcg(), method="PM", test="knha", level=0.9)
    assert data["estimate"] == pytest.approx(ref.estimate, rel=1e-15)
    assert data["tau2_ci_high"] == pytest.approx(ref.tau2_ci_high, rel=1e-15)
    assert data["input"] == {"file": "effects.csv", "rows": 13}
    assert (data["method"], data["test"], data["level"]) == ("PM", "knha", 0.9)


def test_measure_with_escalc_columns(effects_csv, capsys):
    code, out, _ = run([effects_csv, "--measure", "PLO", "--xi", "events", "--ni", "total",
                        "--json"], capsys)
    assert code == 0
    x = np.array([3, 0, 7, 10, 2, 5, 9, 4, 6, 8, 1, 12, 5], dtype=float)
    n = np.arange(12, 25, dtype=float)
    # metafor escalc("PLO") default: add 1/2 to both cells of studies with 0 or all events
    cc = (x == 0) | (x == n)
    xa, na = x + 0.5 * cc, n + 1.0 * cc
    yi = np.log(xa / (na - xa))
    vi = 1 / xa + 1 / (na - xa)
    assert json.loads(out)["tau2"] == pytest.approx(pool(yi, vi).tau2, rel=1e-12)


def test_moderators(effects_csv, capsys):
    code, out, _ = run([effects_csv, "--yi", "yi", "--vi", "vi", "--mods", "ablat"], capsys)
    assert code == 0
    assert "Mixed-Effects Model" in out and "ablat" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--yi", "yi", "--vi", "nope"], "--vi 'nope': no such column"),
        (["--yi", "study", "--vi", "vi"], ":2: --yi column 'study': 'S1' is not a finite number"),
        (["--yi", "yi", "--vi", "vi", "--level", "95"], "use 0.95"),
        (["--yi", "yi"], "give --yi COL and --vi COL"),
        (["--measure", "PLO"], "name the input columns"),
        (["--xi", "events", "--ni", "total"], "escalc input columns need --measure"),
        (["--measure", "XYZ", "--xi", "events", "--ni", "total"], "measure = 'XYZ': expected"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_1(effects_csv, capsys, extra, message):
    code, out, err = run([effects_csv, *extra], capsys)
    assert code == 1 and out == ""
    assert message in err
    assert err.count("\n") == 1 and err.startswith("blastic-meta pool: error: ")


def test_bad_cells_name_the_file_line(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("yi,vi\n0.1,0.01\n0.2,-0.5\n0.3,0.02\n", encoding="utf-8")
    code, _, err = run([path, "--yi", "yi", "--vi", "vi"], capsys)
    assert code == 1
    assert f"{path}:3: --vi column 'vi': -0.5" in err
    path.write_text("yi,vi\n0.1,0.01\n,0.02\n", encoding="utf-8")
    code, _, err = run([path, "--yi", "yi", "--vi", "vi"], capsys)
    assert code == 1 and f"{path}:3: --yi column 'yi': '' is not a finite number" in err


def test_missing_file_and_single_row(tmp_path, capsys):
    code, _, err = run([tmp_path / "none.csv", "--yi", "a", "--vi", "b"], capsys)
    assert code == 1 and "no such file" in err
    one = tmp_path / "one.csv"
    one.write_text("yi,vi\n0.1,0.01\n", encoding="utf-8")
    code, _, err = run([one, "--yi", "yi", "--vi", "vi"], capsys)
    assert code == 1 and "nothing to pool" in err


def test_console_script_has_no_traceback(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("yi,vi\n0.1,0.01\n0.2,0\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "blastic_meta", "pool", str(path), "--yi", "yi",
                           "--vi", "vi"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
