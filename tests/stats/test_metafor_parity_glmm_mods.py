"""Parity of ``pool_glmm(..., mods=)`` with metafor 3.8 ``rma.glmm(measure="PLO", mods=)``.

Values: sections ``glmm_mods`` and ``glmm_order`` of ``engine_reference.json``
(``make_reference_engine.R``) and ``glmm_print`` of ``ee_glmm_reference.json``
(``make_reference_ee_glmm.R``). Tolerances of README_engine.md: 1e-3 for what comes out of
lme4's optimiser (estimates, se, tau2, I2, H2, QM, CI, p), 1e-8 for vt, 1e-6 for the
glm-based QE.Wld and QE.LRT, 1e-6 absolute for the marginal log-likelihood and 1e-3 absolute
for the likelihood-ratio statistic.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import blastic_meta as bm
from tests.stats._parity import GLMM_REL, PVAL_ABS, Mismatches, expected

REF_DIR = Path(__file__).resolve().parent / "reference"
VT_REL = 1e-8
QE_REL = 1e-6
LOGLIK_ABS = 1e-6
LRT_ABS = 1e-3


@cache
def _json(name: str) -> dict[str, Any]:
    return json.loads((REF_DIR / name).read_text(encoding="utf-8"))


ENGINE = _json("engine_reference.json")
MODS_CASES = ENGINE["glmm_mods"]
ORDER_CASES = ENGINE["glmm_order"]


def _design(model_matrix: dict[str, list[float]]) -> pd.DataFrame | None:
    """The moderators of R's model matrix (without the intercept), with R's column names."""
    cols = {name: np.array(values, dtype=float) for name, values in model_matrix.items()
            if name not in ("(Intercept)", "intrcpt")}
    return pd.DataFrame(cols) if cols else None


def _check_fit(m: Mismatches, res: Any, out: dict[str, Any], what: str) -> None:
    m.equal(f"{what}.k", res.k, out["k"])
    m.equal(f"{what}.p", res.p, out["p"])
    cf = out["coefficients"]
    m.equal(f"{what}.names", list(res.coef_names), list(cf["name"]))
    for ours, key in ((res.beta, "estimate"), (res.beta_se, "se"), (res.beta_zval, "zval"),
                      (res.beta_ci_low, "ci_low"), (res.beta_ci_high, "ci_high")):
        m.check(f"{what}.{key}", ours, expected(cf, key), rel=GLMM_REL, scale=1.0)
    m.check(f"{what}.pval", res.beta_pval, expected(cf, "pval"), rel=GLMM_REL,
            abs_floor=PVAL_ABS)
    m.check(f"{what}.qm", res.qm, expected(out, "qm"), rel=GLMM_REL, scale=1.0)
    m.equal(f"{what}.qm_df", res.qm_df, out["qm_df"])
    m.check(f"{what}.qm_pval", res.qm_pval, expected(out, "qm_pval"), rel=GLMM_REL,
            abs_floor=PVAL_ABS)
    m.check(f"{what}.tau2", res.tau2, expected(out, "tau2"), rel=GLMM_REL, scale=0.01)
    m.check(f"{what}.i2", res.i2, expected(out, "i2"), rel=GLMM_REL, scale=1.0)
    m.check(f"{what}.h2", res.h2, expected(out, "h2"), rel=GLMM_REL, scale=1.0)
    m.check(f"{what}.vt", res.typical_variance, expected(out, "vt"), rel=VT_REL)
    m.equal(f"{what}.qe_df", res.qe_df, out["qe_df"])
    m.check(f"{what}.qe_wald", res.qe_wald, expected(out, "qe_wld"), rel=QE_REL, scale=1.0)
    m.check(f"{what}.qe_wald_pval", res.qe_wald_pval, expected(out, "qe_wld_pval"),
            rel=QE_REL, abs_floor=PVAL_ABS)
    m.check(f"{what}.qe_lrt", res.qe_lrt, expected(out, "qe_lrt"), rel=QE_REL, scale=1.0)
    m.check(f"{what}.qe_lrt_pval", res.qe_lrt_pval, expected(out, "qe_lrt_pval"), rel=QE_REL,
            abs_floor=PVAL_ABS)
    # lme4's marginal log-likelihood (with the saturated model's binomial terms) is flat at
    # the optimum, so it agrees to far better than the estimates
    m.check(f"{what}.loglik", res.loglik, out["loglik_pieces"]["marginal_loglik"], rel=0.0,
            abs_floor=LOGLIK_ABS)


@pytest.mark.parametrize("case", MODS_CASES, ids=[c["id"] for c in MODS_CASES])
def test_pool_glmm_with_moderators_matches_rma_glmm(case: dict[str, Any]) -> None:
    xi, ni = case["inputs"]["xi"], case["inputs"]["ni"]
    full = bm.pool_glmm(xi, ni, mods=_design(case["model_matrix"]))
    reduced = bm.pool_glmm(xi, ni)
    m = Mismatches(case["id"])
    _check_fit(m, full, case["full"], "full")
    _check_fit(m, reduced, case["reduced"], "reduced")
    # the likelihood-ratio test of the moderators from the marginal likelihoods (lme4's
    # logLik of the two glmer fits), not rma.glmm's conditional logLik
    lrt = case["lrt_marginal"]
    m.check("lrt", full.lrt, lrt["statistic"], rel=0.0, abs_floor=LRT_ABS)
    m.equal("lrt_df", full.lrt_df, lrt["df"])
    m.check("lrt_pval", full.lrt_pval, lrt["pval"], rel=GLMM_REL, abs_floor=PVAL_ABS)
    m.check("loglik_reduced", full.loglik_reduced, reduced.loglik, rel=1e-13)
    m.finish()
    # the closed forms of README_engine.md (computed in R without glm): equal to rounding
    for res, part in ((full, "full"), (reduced, "reduced")):
        forms = case["closed_forms"][part]
        assert res.qe_wald == pytest.approx(forms["qe_wld_raw_logit_q"], rel=1e-12)
        assert res.typical_variance == pytest.approx(forms["vt"], rel=1e-12)


def test_lrt_is_not_metafors_conditional_loglik_difference() -> None:
    """rma.glmm's logLik() is conditional on lme4's random-effect modes, so 2 (logLik(full)
    - logLik(reduced)) is negative in 5 of the 6 cases; the marginal LRT never is."""
    negative = [c["id"] for c in MODS_CASES if c["lrt"]["statistic"] < 0]
    assert len(negative) == 5
    for case in MODS_CASES:
        full = bm.pool_glmm(case["inputs"]["xi"], case["inputs"]["ni"],
                            mods=_design(case["model_matrix"]))
        assert full.lrt >= 0
        assert full.lrt == pytest.approx(2 * (full.loglik - full.loglik_reduced), abs=1e-12)


def _order_mods(case: dict[str, Any]) -> pd.DataFrame | None:
    if "objectivity" not in case["inputs"]:
        return None
    obj = np.array(case["inputs"]["objectivity"])
    return pd.DataFrame({"objectivitySubjective": (obj == "Subjective").astype(float)})


@pytest.mark.parametrize("case", ORDER_CASES, ids=[c["id"] for c in ORDER_CASES])
def test_pool_glmm_matches_lme4_in_either_order_and_its_tight_optimum(case: dict[str, Any]
                                                                      ) -> None:
    xi, ni = np.array(case["inputs"]["xi"]), np.array(case["inputs"]["ni"])
    mods = _order_mods(case)
    res = bm.pool_glmm(xi, ni, mods=mods)
    m = Mismatches(case["id"])
    for part in ("original", "reversed", "tight_optimum"):
        _check_fit(m, res, case[part], part)
    m.finish()
    # our fit does not depend on the order (lme4's does, at 1e-5 in the se) ...
    rev = slice(None, None, -1)
    mods_rev = None if mods is None else mods.iloc[rev].reset_index(drop=True)
    assert bm.pool_glmm(xi[rev], ni[rev], mods=mods_rev).to_dict() == res.to_dict()
    # ... and it is the optimum lme4 reaches with bobyqa(rhoend = 1e-12), far closer than
    # lme4's default stopping point (5e-6 relative, max_rel_diff_tight)
    tight = case["tight_optimum"]
    np.testing.assert_allclose(res.beta, tight["coefficients"]["estimate"], rtol=1e-6)
    assert res.tau2 == pytest.approx(tight["tau2"], rel=1e-6)
    assert max(case["max_rel_diff_tight"].values()) > 1e-6  # lme4's default is not


# -- printed output --------------------------------------------------------------------------
PRINT_CASES = _json("ee_glmm_reference.json")["glmm_print"]
_NUMBER = re.compile(r"(-?\d+(?:\.\d+)?)")


def _lines_agree(want: str, got: str) -> bool:
    """Equal text around the numbers; numbers equal, or within the GLMM tolerance or one unit
    of their last printed digit (lme4 stops its optimiser early, so the 4th decimal of an
    estimate can differ)."""
    w, g = _NUMBER.split(want), _NUMBER.split(got)
    if len(w) != len(g) or w[::2] != g[::2]:
        return False
    for a, b in zip(w[1::2], g[1::2], strict=True):
        if a == b:
            continue
        unit = 10.0 ** -(len(a.split(".")[1]) if "." in a else 0)
        if abs(float(a) - float(b)) > max(GLMM_REL * abs(float(a)), 1.01 * unit):
            return False
    return True


@pytest.mark.parametrize("case", PRINT_CASES, ids=[c["id"] for c in PRINT_CASES])
def test_glmm_summary_opens_with_metafor_print(case: dict[str, Any]) -> None:
    inputs = case["inputs"]
    res = bm.pool_glmm(inputs["xi"], inputs["ni"], mods=_design(case["model_matrix"]))
    want = [line.rstrip() for line in case["text"]]
    while want and not want[0]:
        want = want[1:]
    while want and not want[-1]:
        want = want[:-1]
    got = [line.rstrip() for line in res.summary().splitlines()]
    bad = [(w, g) for w, g in zip(want, got[: len(want)], strict=True)
           if not _lines_agree(w, g)]
    assert not bad, "\n".join(f"R:      {w}\nPython: {g}" for w, g in bad)
    rest = "\n".join(got[len(want):])
    assert "log-likelihood (marginal" in rest and "Proportion" in rest
    if res.p > 1:
        assert f"LRT(df = {res.lrt_df})" in rest
