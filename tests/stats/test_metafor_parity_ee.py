"""Parity of ``pool(method="EE")`` (alias ``"FE"``) with metafor 3.8 ``rma(method="EE")``.

Values: section ``ee`` of ``tests/stats/reference/engine_reference.json``
(``make_reference_engine.R``) and sections ``ee_mods`` / ``ee_print`` of
``ee_glmm_reference.json`` (``make_reference_ee_glmm.R``). Closed forms: relative tolerance
1e-8 (README_engine.md).
"""

from __future__ import annotations

import json
import math
import re
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import blastic_meta as bm
from blastic_meta.stats.tau2 import qprofile_ci
from tests.stats._parity import CLOSED_FORM_REL, PVAL_ABS, Mismatches, expected, scales

REF_DIR = Path(__file__).resolve().parent / "reference"


@cache
def _json(name: str) -> dict[str, Any]:
    return json.loads((REF_DIR / name).read_text(encoding="utf-8"))


ENGINE = _json("engine_reference.json")
EXTRA = _json("ee_glmm_reference.json")
EE_CASES = ENGINE["ee"]


def _fit(yi: np.ndarray, vi: np.ndarray, method: str, test: str, **kwargs: Any) -> Any:
    """metafor warns that Knapp-Hartung is not meant for EE models; so does pool()."""
    if test == "knha":
        with pytest.warns(bm.BlasticMetaWarning, match="not meant for equal-effects"):
            return bm.pool(yi, vi, method=method, test=test, **kwargs)
    return bm.pool(yi, vi, method=method, test=test, **kwargs)


def _engine_data(name: str) -> tuple[np.ndarray, np.ndarray]:
    d = ENGINE["datasets"][name]
    return np.array(d["yi"], dtype=float), np.array(d["vi"], dtype=float)


@pytest.mark.parametrize("case", EE_CASES, ids=[c["id"] for c in EE_CASES])
def test_pool_ee_matches_rma_ee(case: dict[str, Any]) -> None:
    yi, vi = _engine_data(case["dataset"])
    if len(yi) == 2 and case["test"] == "knha":
        with pytest.warns(bm.BlasticMetaWarning):
            res = bm.pool(yi, vi, method=case["method"], test=case["test"])
    else:
        res = _fit(yi, vi, case["method"], case["test"])
    out, sc, rel = case["out"], scales(yi, vi), CLOSED_FORM_REL
    m = Mismatches(case["id"])
    m.equal("k", res.k, out["k"])
    m.equal("q_df", res.q_df, out["q_df"])
    for name, scale in (("estimate", sc["sd"]), ("se", sc["sd"]), ("ci_low", sc["sd"]),
                        ("ci_high", sc["sd"]), ("q", 1.0), ("i2", 1.0), ("h2", 1.0),
                        ("s2w", 1.0)):
        m.check(name, getattr(res, name), expected(out, name), rel=rel, scale=scale)
    m.check("stat", res.zval, expected(out, "stat"), rel=rel, scale=1.0)
    m.check("pval", res.pval, expected(out, "pval"), rel=rel, abs_floor=PVAL_ABS)
    m.check("q_pval", res.q_pval, expected(out, "q_pval"), rel=rel, abs_floor=PVAL_ABS)
    m.check("weights", res.weights, expected(out, "weights"), rel=rel, scale=100 / res.k)
    if out["stat_df"] is not None:
        m.check("df", res.df, out["stat_df"], rel=0.0)
    m.finish()
    # tau^2 is 0 by definition; metafor's confint refuses an EE model (NaN here), and its
    # predict gives the CI as the prediction interval
    assert res.tau2 == 0.0 and math.isnan(res.tau2_se)
    assert math.isnan(res.tau2_ci_low) and math.isnan(res.tau2_ci_high)
    assert (res.pi_low, res.pi_high) == (res.ci_low, res.ci_high)
    assert res.i2_definition == "Q" and res.equal_effects


def test_fe_is_ee_with_another_label() -> None:
    yi, vi = _engine_data("bcg_RR")
    for test in ("z", "knha"):
        ee, fe = _fit(yi, vi, "EE", test).to_dict(), _fit(yi, vi, "FE", test).to_dict()
        assert (ee.pop("method"), fe.pop("method")) == ("EE", "FE")
        assert ee == fe


def test_ee_ignores_the_i2_option_and_matches_higgins_thompson() -> None:
    yi, vi = _engine_data("pritz1997_PLO")
    a, b = bm.pool(yi, vi, method="EE"), bm.pool(yi, vi, method="EE", i2="Q")
    assert (a.i2, a.h2) == (b.i2, b.h2)
    assert a.i2 == pytest.approx(100 * (a.q - a.q_df) / a.q, rel=1e-14)
    # the weighted mean with weights 1/v, by hand
    w = 1 / vi
    assert a.estimate == pytest.approx(float(w @ yi / w.sum()), rel=1e-14)
    assert a.se == pytest.approx(1 / math.sqrt(w.sum()), rel=1e-14)


def test_ee_adhoc_floors_knapp_hartung_at_one() -> None:
    yi, vi = _engine_data("synthetic_q_below_df")
    plain = _fit(yi, vi, "EE", "z")
    knha = _fit(yi, vi, "EE", "knha")
    adhoc = _fit(yi, vi, "EE", "knha", adhoc=True)
    assert knha.s2w < 1 and adhoc.s2w == 1.0
    assert adhoc.se == pytest.approx(plain.se, rel=1e-14)


def test_ee_diagnostics_refit_with_the_ee_model() -> None:
    yi, vi = _engine_data("bcg_RR")
    loo = bm.pool(yi, vi, method="EE").leave_one_out()
    w = 1 / vi
    keep = np.arange(len(yi)) != 3
    assert loo["estimate"].iloc[3] == pytest.approx(
        float(w[keep] @ yi[keep] / w[keep].sum()), rel=1e-12)


# -- meta-regression -------------------------------------------------------------------------
EE_MODS = EXTRA["ee_mods"]


@pytest.mark.parametrize("case", EE_MODS, ids=[c["id"] for c in EE_MODS])
def test_ee_meta_regression_matches_rma(case: dict[str, Any]) -> None:
    d = EXTRA["datasets"][case["dataset"]]
    yi, vi = np.array(d["yi"], dtype=float), np.array(d["vi"], dtype=float)
    mods = pd.DataFrame({n: np.array(d[n], dtype=float) for n in case["mods"]})
    res = _fit(yi, vi, "EE", case["test"], mods=mods)
    out, sc, rel = case["out"], scales(yi, vi), CLOSED_FORM_REL
    m = Mismatches(case["id"])
    m.equal("p", res.p, out["p"])
    cf = out["coefficients"]
    for ours, key in ((res.beta, "estimate"), (res.beta_se, "se"), (res.beta_ci_low, "ci_low"),
                      (res.beta_ci_high, "ci_high")):
        # the intercept of a regression on years is far from the effects' scale
        m.check(key, ours, expected(cf, key), rel=rel, scale=sc["sd"])
    stat_r = expected(cf, "stat")
    # a slope that is 0 up to rounding (7e-17 in R) over se = 0 is +-Inf: only the sign of
    # the rounding differs, so compare |stat| there
    zero = np.isinf(stat_r) & (np.abs(expected(cf, "estimate")) < 1e-12)
    stat_py = np.where(zero, np.abs(res.beta_stat), res.beta_stat)
    m.check("stat", stat_py, np.where(zero, np.abs(stat_r), stat_r), rel=rel, scale=1.0)
    m.check("pval", res.beta_pval, expected(cf, "pval"), rel=rel, abs_floor=PVAL_ABS)
    # QM is ~1e-31 (or NaN under knha) when all effects are equal: compare on the unit scale
    m.check("qm", res.qm, expected(out, "qm"), rel=rel, scale=1.0)
    m.check("qm_pval", res.qm_pval, expected(out, "qm_pval"), rel=rel, abs_floor=PVAL_ABS)
    m.equal("qm_df", list(res.qm_df), [int(x) for x in out["qm_df"]])
    for name, scale in (("q", 1.0), ("i2", 1.0), ("h2", 1.0), ("r2", 1.0), ("s2w", 1.0)):
        m.check(name, getattr(res, name), expected(out, name), rel=rel, scale=scale)
    m.check("q_pval", res.q_pval, expected(out, "q_pval"), rel=rel, abs_floor=PVAL_ABS)
    m.finish()


# -- printed output --------------------------------------------------------------------------
EE_PRINT = EXTRA["ee_print"]


def _strip(lines: list[str]) -> list[str]:
    lines = [line.rstrip() for line in lines]
    while lines and not lines[0]:
        lines = lines[1:]
    while lines and not lines[-1]:
        lines = lines[:-1]
    return lines


@pytest.mark.parametrize("case", EE_PRINT, ids=[c["id"] for c in EE_PRINT])
def test_ee_summary_opens_with_metafor_print(case: dict[str, Any]) -> None:
    d = EXTRA["datasets"][case["dataset"]]
    yi, vi = np.array(d["yi"], dtype=float), np.array(d["vi"], dtype=float)
    kwargs: dict[str, Any] = {}
    if case.get("mods"):
        kwargs["mods"] = pd.DataFrame({n: np.array(d[n], dtype=float) for n in case["mods"]})
    res = _fit(yi, vi, case["method"], case["test"], **kwargs)
    want = _strip(case["text"])
    got = _strip(res.summary().splitlines())
    assert got[: len(want)] == want
    # what follows is ours: no Q-profile CI or prediction interval for an EE model
    rest = "\n".join(got[len(want):])
    assert "Q-profile" not in rest and "prediction interval" not in rest
    assert "equal-effects model: tau^2 = 0" in rest


def test_ee_print_reference_has_every_header() -> None:
    headers = {c["text"][1].split(" (")[0] for c in EE_PRINT}
    assert headers == {"Equal-Effects Model", "Fixed-Effects Model",
                       "Fixed-Effects with Moderators Model"}
    assert any(re.search(r"\bInf\b", line) for c in EE_PRINT for line in c["text"])


# -- the deferred Q-profile CI of random-effects fits -------------------------------------------
def test_tau2_ci_is_deferred_but_equal_to_the_eager_computation() -> None:
    yi, vi = _engine_data("bcg_RR")
    res = bm.pool(yi, vi)
    assert res._deferred is not None and res._deferred._ci is None  # not computed yet
    d = res.to_dict()  # includes it
    from blastic_meta.stats.tau2 import Gls

    lb, ub = qprofile_ci(Gls(yi, vi, None), 0.95)
    assert (d["tau2_ci_low"], d["tau2_ci_high"]) == (lb, ub)
    assert (res.tau2_ci_low, res.tau2_ci_high) == (lb, ub)
    keys = list(d)
    assert keys.index("tau2_ci_low") == keys.index("tau2_se") + 1  # the order of old
