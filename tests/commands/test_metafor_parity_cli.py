"""``blastic-meta pool --json`` end to end against metafor 3.8: CSV in, JSON out.

The CSV holds raw counts (``--measure``) or yi/vi written with 17 significant digits, so the
only difference from the library path is reading and writing; the JSON must still carry the
metafor values of ``tests/stats/reference/metafor_reference.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from blastic_meta import cli
from tests.stats._parity import (
    PVAL_ABS,
    QPROFILE_REL,
    Mismatches,
    cases,
    dataset,
    expected,
    method_rel,
)

RMA = {c["id"]: c for c in cases("rma")}
METAREG = {c["id"]: c for c in cases("metareg")}


def _write_csv(path: Path, columns: dict[str, list[float]]) -> Path:
    names = list(columns)
    rows = [",".join(names)]
    for values in zip(*(columns[n] for n in names), strict=True):
        rows.append(",".join(f"{float(v)!r}" for v in values))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code = cli.main(["pool", *argv])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def _check(m: Mismatches, data: dict[str, Any], out: dict[str, Any], method: str) -> None:
    rel = method_rel(method)
    m.equal("k", data["k"], out["k"])
    for name in ("estimate", "se", "ci_low", "ci_high", "tau2", "i2", "pi_low", "pi_high"):
        m.check(name, data[name], expected(out, name), rel=rel, scale=1e-3)
    m.check("pval", data["pval"], expected(out, "pval"), rel=rel, abs_floor=PVAL_ABS)
    if "tau2_ci_low" in out:
        for name in ("tau2_ci_low", "tau2_ci_high"):
            m.check(name, data[name], expected(out, name), rel=QPROFILE_REL, scale=1e-3)


@pytest.mark.parametrize(("measure", "case_id"), [("PLO", "pritz1997_PLO-REML-z"),
                                                  ("PFT", "pritz1997_PFT-DL-knha"),
                                                  ("PLO", "pritz1997_PLO-PM-adhoc")])
def test_cli_from_counts_matches_rma(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     measure: str, case_id: str) -> None:
    case = RMA[case_id]
    d = dataset(case["dataset"])
    csv = _write_csv(tmp_path / "counts.csv", {"events": d["xi"], "total": d["ni"]})
    argv = [str(csv), "--measure", measure, "--xi", "events", "--ni", "total",
            "--method", case["method"], "--test", case["test"], "--json"]
    if case["adhoc"]:
        argv.append("--adhoc")
    m = Mismatches(f"cli {case_id}")
    _check(m, _run(argv, capsys), case["out"], case["method"])
    m.finish()


@pytest.mark.parametrize("case_id", ["bcg_RR-ablat_year-REML-knha", "bcg_RR-ablat-DL-z"])
def test_cli_metaregression_matches_rma(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        case_id: str) -> None:
    case = METAREG[case_id]
    d = dataset(case["dataset"])
    columns = {"yi": d["yi"], "vi": d["vi"], **{n: d[n] for n in case["mods"]}}
    csv = _write_csv(tmp_path / "effects.csv", columns)
    argv = [str(csv), "--yi", "yi", "--vi", "vi", "--mods", *case["mods"],
            "--method", case["method"], "--test", case["test"], "--json"]
    data = _run(argv, capsys)
    out = case["out"]
    rel = method_rel(case["method"])
    m = Mismatches(f"cli {case_id}")
    m.check("tau2", data["tau2"], expected(out, "tau2"), rel=rel, scale=1e-3)
    m.check("qm", data["qm"], expected(out, "qm"), rel=rel, scale=1.0)
    m.check("qm_pval", data["qm_pval"], expected(out, "qm_pval"), rel=rel, abs_floor=PVAL_ABS)
    coef = data["coefficients"]
    m.equal("coefficient names", list(coef), out["coefficients"]["name"])
    for i, name in enumerate(out["coefficients"]["name"]):
        for col in ("estimate", "se", "ci_low", "ci_high"):
            want = expected(out["coefficients"], col)[i]
            m.check(f"{name}.{col}", coef.get(name, {}).get(col), want, rel=rel)
    m.finish()


@pytest.mark.parametrize("method", ["EE", "FE"])
def test_cli_equal_effects_matches_rma_ee(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          method: str) -> None:
    """``--method EE`` (and its alias FE) is metafor's rma(method="EE")."""
    engine = json.loads((Path(__file__).resolve().parents[1] / "stats" / "reference"
                         / "engine_reference.json").read_text(encoding="utf-8"))
    case = next(c for c in engine["ee"] if c["id"] == "bcg_RR-EE-z")
    d = engine["datasets"][case["dataset"]]
    csv = _write_csv(tmp_path / "effects.csv", {"yi": d["yi"], "vi": d["vi"]})
    data = _run([str(csv), "--yi", "yi", "--vi", "vi", "--method", method, "--json"], capsys)
    out = case["out"]
    m = Mismatches(f"cli EE as {method}")
    for name in ("estimate", "se", "ci_low", "ci_high", "i2"):
        m.check(name, data[name], out[name], rel=1e-8)
    m.equal("tau2", data["tau2"], 0.0)
    m.finish()
