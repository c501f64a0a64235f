"""Parity of ``blastic_meta.pool`` and its methods with R metafor 3.8 ``rma.uni``.

Every case is a fit pinned in ``tests/stats/reference/metafor_reference.json`` (written by
``tests/stats/reference/make_reference.R``); the test ids are ``<data set>-<method>-<test>``.
A failing case lists every quantity that disagrees, with R's and Python's values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import blastic_meta as bm
from tests.stats._parity import (
    PVAL_ABS,
    QPROFILE_REL,
    Mismatches,
    attr,
    cases,
    dataset,
    expected,
    method_rel,
    reference,
    scales,
)

METHODS = ("DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")


def _arrays(name: str) -> tuple[np.ndarray, np.ndarray]:
    d = dataset(name)
    return np.array(d["yi"], dtype=float), np.array(d["vi"], dtype=float)


def _statistic(res: Any, test: str) -> float:
    """The test statistic: ``tval`` under Knapp-Hartung where the result names it so."""
    if test == "knha" and hasattr(res, "tval"):
        return res.tval
    return res.zval


def _fit(case: dict[str, Any], **extra: Any) -> Any:
    yi, vi = _arrays(case["dataset"])
    kwargs: dict[str, Any] = {"method": case["method"], "test": case["test"]}
    if case.get("adhoc"):
        kwargs["adhoc"] = True
    if case.get("mods"):
        d = dataset(case["dataset"])
        kwargs["mods"] = pd.DataFrame({n: np.array(d[n], dtype=float) for n in case["mods"]})
    kwargs.update(extra)
    if len(yi) == 2 and case["test"] == "knha":
        # announced edge case: the t distribution has 1 df (style guide: warn, do not fail)
        with pytest.warns(bm.BlasticMetaWarning, match="k = 2"):
            return bm.pool(yi, vi, **kwargs)
    return bm.pool(yi, vi, **kwargs)


def _check_fit(m: Mismatches, res: Any, out: dict[str, Any], method: str, test: str,
               sc: dict[str, float], *, q_profile: bool = True, weights: bool = True) -> None:
    rel = method_rel(method)
    m.equal("k", res.k, out["k"])
    m.check("estimate", res.estimate, expected(out, "estimate"), rel=rel, scale=sc["sd"])
    m.check("se", res.se, expected(out, "se"), rel=rel, scale=sc["sd"])
    m.check("statistic", _statistic(res, test), expected(out, "stat"), rel=rel, scale=1.0)
    m.check("pval", res.pval, expected(out, "pval"), rel=rel, abs_floor=PVAL_ABS)
    m.check("ci_low", res.ci_low, expected(out, "ci_low"), rel=rel, scale=sc["sd"])
    m.check("ci_high", res.ci_high, expected(out, "ci_high"), rel=rel, scale=sc["sd"])
    m.check("tau2", res.tau2, expected(out, "tau2"), rel=rel, scale=sc["var"])
    m.check("tau2_se", res.tau2_se, expected(out, "tau2_se"), rel=rel, scale=sc["var"])
    m.check("i2", res.i2, expected(out, "i2"), rel=rel, scale=sc["percent"])
    m.check("h2", res.h2, expected(out, "h2"), rel=rel, scale=sc["unit"])
    if out.get("stat_df") is not None:
        m.check("df (of the t statistic)", res.df, out["stat_df"], rel=0.0)
    # Q and its p-value use the fixed-effect weights: closed form for every method
    m.check("q", res.q, expected(out, "q"), rel=method_rel("DL"), scale=sc["unit"])
    m.check("q_pval", res.q_pval, expected(out, "q_pval"), rel=method_rel("DL"),
            abs_floor=PVAL_ABS)
    m.check("pi_low", res.pi_low, expected(out, "pi_low"), rel=rel, scale=sc["sd"])
    m.check("pi_high", res.pi_high, expected(out, "pi_high"), rel=rel, scale=sc["sd"])
    if q_profile:
        m.check("tau2_ci_low", res.tau2_ci_low, expected(out, "tau2_ci_low"),
                rel=QPROFILE_REL, scale=sc["var"])
        m.check("tau2_ci_high", res.tau2_ci_high, expected(out, "tau2_ci_high"),
                rel=QPROFILE_REL, scale=sc["var"])
    if weights:
        k = out["k"]
        m.check("weights", np.asarray(res.weights, dtype=float), expected(out, "weights"),
                rel=rel, scale=100.0 / k)


# -- the rma.uni grid ------------------------------------------------------------------------

RMA_CASES = cases("rma")


@pytest.mark.parametrize("case", RMA_CASES, ids=[c["id"] for c in RMA_CASES])
def test_pool_matches_rma(case: dict[str, Any]) -> None:
    res = _fit(case)
    yi, vi = _arrays(case["dataset"])
    m = Mismatches(case["id"])
    _check_fit(m, res, case["out"], case["method"], case["test"], scales(yi, vi))
    m.equal("p", res.p, case["out"]["p"])
    m.equal("q_df", res.q_df, case["out"]["q_df"])
    m.equal("method", res.method, case["method"])
    m.equal("test", res.test, case["test"])
    m.equal("adhoc", res.adhoc, case["adhoc"])
    m.finish()


LEVEL_CASES = cases("rma_level")


@pytest.mark.parametrize("case", LEVEL_CASES, ids=[c["id"] for c in LEVEL_CASES])
def test_pool_matches_rma_at_level_90(case: dict[str, Any]) -> None:
    res = _fit(case, level=case["level"])
    yi, vi = _arrays(case["dataset"])
    m = Mismatches(case["id"])
    _check_fit(m, res, case["out"], case["method"], case["test"], scales(yi, vi))
    m.equal("level", res.level, case["level"])
    m.finish()


def test_pool_accepts_an_effects_frame() -> None:
    """``pool(effects_frame)`` reads the ``yi``/``vi`` columns (same fit as the arrays)."""
    case = next(c for c in RMA_CASES if c["id"] == "bcg_RR-REML-z")
    yi, vi = _arrays("bcg_RR")
    res = bm.pool(pd.DataFrame({"yi": yi, "vi": vi}), method="REML", test="z")
    m = Mismatches("bcg_RR-REML-z (DataFrame input)")
    _check_fit(m, res, case["out"], "REML", "z", scales(yi, vi))
    m.finish()


# -- prediction-interval conventions and I2 from Q --------------------------------------------

PI_CASES = cases("pi_conventions")


@pytest.mark.parametrize("case", PI_CASES, ids=[c["id"] for c in PI_CASES])
def test_prediction_interval_conventions(case: dict[str, Any]) -> None:
    res = _fit(case, pi=case["pi"])
    yi, vi = _arrays(case["dataset"])
    sc = scales(yi, vi)
    rel = method_rel(case["method"])
    m = Mismatches(case["id"])
    m.check("estimate", res.estimate, expected(case["out"], "estimate"), rel=rel,
            scale=sc["sd"])
    m.check("pi_low", res.pi_low, expected(case["out"], "pi_low"), rel=rel, scale=sc["sd"])
    m.check("pi_high", res.pi_high, expected(case["out"], "pi_high"), rel=rel, scale=sc["sd"])
    m.equal("pi_convention", res.pi_convention, case["pi"])
    m.finish()


I2Q_CASES = cases("i2_from_q")


@pytest.mark.parametrize("case", I2Q_CASES, ids=[c["id"] for c in I2Q_CASES])
def test_i2_from_q(case: dict[str, Any]) -> None:
    yi, vi = _arrays(case["dataset"])
    res = bm.pool(yi, vi, method=case["method"], test="z", i2="Q")
    m = Mismatches(case["id"])
    m.check("i2", res.i2, expected(case["out"], "i2"), rel=method_rel("DL"), scale=1.0)
    m.check("q", res.q, expected(case["out"], "q"), rel=method_rel("DL"), scale=1.0)
    m.finish()


# -- meta-regression ------------------------------------------------------------------------

MR_CASES = cases("metareg")


@pytest.mark.parametrize("case", MR_CASES, ids=[c["id"] for c in MR_CASES])
def test_metaregression_matches_rma(case: dict[str, Any]) -> None:
    d = dataset(case["dataset"])
    yi, vi = _arrays(case["dataset"])
    mods = pd.DataFrame({name: np.array(d[name], dtype=float) for name in case["mods"]})
    kwargs: dict[str, Any] = {"method": case["method"], "test": case["test"], "mods": mods}
    if case["adhoc"]:
        kwargs["adhoc"] = True
    res = bm.pool(yi, vi, **kwargs)
    out = case["out"]
    coef_ref = out["coefficients"]
    sc = scales(yi, vi)
    rel = method_rel(case["method"])
    m = Mismatches(case["id"])
    m.equal("k", res.k, out["k"])
    m.equal("p", res.p, out["p"])
    table = res.coefficients
    m.equal("coefficient rows", list(table.index), coef_ref["name"])
    for col, ref_col in (("estimate", "estimate"), ("se", "se"), ("statistic", "stat"),
                         ("ci_low", "ci_low"), ("ci_high", "ci_high")):
        # slopes are per unit of the moderator (e.g. per year): compare relative only
        m.check(f"coefficients.{col}", table[col].to_numpy(dtype=float),
                expected(coef_ref, ref_col), rel=rel)
    m.check("coefficients.pval", table["pval"].to_numpy(dtype=float),
            expected(coef_ref, "pval"), rel=rel, abs_floor=PVAL_ABS)
    m.check("qm", res.qm, expected(out, "qm"), rel=rel, scale=1.0)
    m.check("qm_df", np.asarray(res.qm_df, dtype=float), expected(out, "qm_df"), rel=0.0)
    m.check("qm_pval", res.qm_pval, expected(out, "qm_pval"), rel=rel, abs_floor=PVAL_ABS)
    m.check("tau2", res.tau2, expected(out, "tau2"), rel=rel, scale=sc["var"])
    m.check("i2", res.i2, expected(out, "i2"), rel=rel, scale=sc["percent"])
    m.check("h2", res.h2, expected(out, "h2"), rel=rel, scale=sc["unit"])
    m.check("tau2_se", res.tau2_se, expected(out, "tau2_se"), rel=rel, scale=sc["var"])
    m.check("r2", res.r2, expected(out, "r2"), rel=rel, scale=sc["percent"])
    m.check("q (residual)", res.q, expected(out, "q"), rel=method_rel("DL"), scale=1.0)
    m.check("q_pval (residual)", res.q_pval, expected(out, "q_pval"), rel=method_rel("DL"),
            abs_floor=PVAL_ABS)
    m.finish()


# -- subgroups ------------------------------------------------------------------------------

SG_CASES = cases("subgroups")


@pytest.mark.parametrize("case", SG_CASES, ids=[c["id"] for c in SG_CASES])
def test_compare_subgroups_matches_metafor(case: dict[str, Any]) -> None:
    d = dataset(case["dataset"])
    yi, vi = _arrays(case["dataset"])
    groups = list(d[case["groups"]])
    res = bm.compare_subgroups(yi, vi, groups, method=case["method"], test=case["test"],
                               tau2=case["tau2"])
    out = case["out"]
    rel = method_rel(case["method"])
    sc = scales(yi, vi)
    m = Mismatches(case["id"])
    m.equal("subgroup order", list(res.subgroups), out["group_order"])
    m.check("q_between", res.q_between, expected(out, "q_between"), rel=rel, scale=1.0)
    m.check("pval_between", res.pval_between, expected(out, "pval_between"), rel=rel,
            abs_floor=PVAL_ABS)
    df_ref = np.atleast_1d(expected(out, "df_between"))
    df_py = np.atleast_1d(np.asarray(res.df_between, dtype=float))
    m.equal("df_between (numerator)", float(df_py[0]), float(df_ref[0]))
    if df_py.size > 1:
        m.check("df_between", df_py, df_ref, rel=0.0)
    if case["tau2"] == "common":
        m.check("tau2_common", res.tau2_common, expected(out, "tau2"), rel=rel,
                scale=sc["var"])
        if case["test"] == "knha":
            m.check("df2_between", res.df2_between, expected(out, "df_between")[1], rel=0.0)
    for name, sub_ref in out["subgroups"].items():
        sub = res.subgroups.get(name)
        if sub is None:
            m.rows.append(f"subgroup {name!r} missing")
            continue
        m.equal(f"{name}.k", sub.k, sub_ref["k"])
        if case["tau2"] == "common" and sub_ref["k"] == 1:
            continue  # test_single_study_subgroup_under_common_tau2
        for q in ("estimate", "se", "ci_low", "ci_high"):
            m.check(f"{name}.{q}", getattr(sub, q), expected(sub_ref, q), rel=rel,
                    scale=sc["sd"])
        m.check(f"{name}.pval", sub.pval, expected(sub_ref, "pval"), rel=rel,
                abs_floor=PVAL_ABS)
        m.check(f"{name}.tau2", sub.tau2, expected(sub_ref, "tau2"), rel=rel, scale=sc["var"])
        if case["tau2"] == "separate" and sub_ref["k"] > 1:
            # a single-study subgroup has no heterogeneity: metafor prints I2 = Q = 0,
            # blastic_meta reports NaN by contract, so only k > 1 is compared
            m.check(f"{name}.i2", sub.i2, expected(sub_ref, "i2"), rel=rel,
                    scale=sc["percent"])
            m.check(f"{name}.q", sub.q, expected(sub_ref, "q"), rel=method_rel("DL"),
                    scale=1.0)
    m.finish()


SINGLETON_COMMON = [c for c in SG_CASES if c["tau2"] == "common"
                    and any(sub["k"] == 1 for sub in c["out"]["subgroups"].values())]


@pytest.mark.parametrize("case", SINGLETON_COMMON, ids=[c["id"] for c in SINGLETON_COMMON])
def test_single_study_subgroup_under_common_tau2(case: dict[str, Any]) -> None:
    """Under one common tau2 a single-study subgroup is the model's prediction for that group:
    metafor's rma(yi, vi, tau2=<common>) on the subset (and predict() of the meta-regression)
    gives se = sqrt(vi + tau2), not sqrt(vi)."""
    d = dataset(case["dataset"])
    yi, vi = _arrays(case["dataset"])
    res = bm.compare_subgroups(yi, vi, list(d[case["groups"]]), method=case["method"],
                               test=case["test"], tau2="common")
    rel = method_rel(case["method"])
    sc = scales(yi, vi)
    m = Mismatches(case["id"])
    for name, sub_ref in case["out"]["subgroups"].items():
        if sub_ref["k"] != 1:
            continue
        sub = res.subgroups[name]
        for q in ("estimate", "se", "ci_low", "ci_high"):
            m.check(f"{name}.{q}", getattr(sub, q), expected(sub_ref, q), rel=rel,
                    scale=sc["sd"])
        m.check(f"{name}.pval", sub.pval, expected(sub_ref, "pval"), rel=rel,
                abs_floor=PVAL_ABS)
        m.check(f"{name}.tau2", sub.tau2, expected(sub_ref, "tau2"), rel=rel, scale=sc["var"])
    m.finish()


# -- leave-one-out, Egger's regression test, trim and fill ---------------------------------

L1O_CASES = cases("leave1out")


@pytest.mark.parametrize("case", L1O_CASES, ids=[c["id"] for c in L1O_CASES])
def test_leave_one_out_matches_leave1out(case: dict[str, Any]) -> None:
    res = _fit(case)
    table = res.leave_one_out()
    yi, vi = _arrays(case["dataset"])
    sc = scales(yi, vi)
    rel = method_rel(case["method"])
    out = case["out"]
    m = Mismatches(case["id"])
    m.equal("rows", len(table), len(yi))
    for col, scale in (("estimate", sc["sd"]), ("se", sc["sd"]), ("statistic", 1.0),
                       ("ci_low", sc["sd"]), ("ci_high", sc["sd"]), ("tau2", sc["var"]),
                       ("i2", sc["percent"]), ("h2", 1.0)):
        m.check(f"leave_one_out.{col}", table[col].to_numpy(dtype=float), expected(out, col),
                rel=rel, scale=scale)
    m.check("leave_one_out.pval", table["pval"].to_numpy(dtype=float), expected(out, "pval"),
            rel=rel, abs_floor=PVAL_ABS)
    m.check("leave_one_out.q", table["q"].to_numpy(dtype=float), expected(out, "q"),
            rel=method_rel("DL"), scale=1.0)
    m.check("leave_one_out.q_pval", table["q_pval"].to_numpy(dtype=float),
            expected(out, "q_pval"), rel=method_rel("DL"), abs_floor=PVAL_ABS)
    m.finish()


REG_CASES = cases("regtest")


@pytest.mark.parametrize("case", REG_CASES, ids=[c["id"] for c in REG_CASES])
def test_egger_test_matches_regtest(case: dict[str, Any]) -> None:
    egger = _fit(case).egger_test()
    rel = method_rel(case["method"])
    yi, vi = _arrays(case["dataset"])
    sc = scales(yi, vi)
    out = case["out"]
    m = Mismatches(case["id"])
    if out.get("df") is not None:
        m.check("df", attr(egger, "df"), out["df"], rel=0.0)
    for name in ("limit_estimate", "limit_ci_low", "limit_ci_high"):
        if name in out:  # metafor gives no limit estimate for a meta-regression
            m.check(name, attr(egger, name), expected(out, name), rel=rel, scale=sc["sd"])
    m.check("statistic", attr(egger, "statistic"), expected(case["out"], "statistic"),
            rel=rel, scale=1.0)
    m.check("pval", attr(egger, "pval"), expected(case["out"], "pval"), rel=rel,
            abs_floor=PVAL_ABS)
    m.finish()


TF_CASES = cases("trimfill")


@pytest.mark.parametrize("case", TF_CASES, ids=[c["id"] for c in TF_CASES])
def test_trim_and_fill_matches_trimfill(case: dict[str, Any]) -> None:
    tf = _fit(case).trim_and_fill()
    yi, vi = _arrays(case["dataset"])
    sc = scales(yi, vi)
    rel = method_rel(case["method"])
    out = case["out"]
    m = Mismatches(case["id"])
    m.equal("k0", int(attr(tf, "k0")), out["k0"])
    m.equal("side", attr(tf, "side"), out["side"])
    m.check("pval", attr(tf, "pval"), expected(out, "pval"), rel=rel, abs_floor=PVAL_ABS)
    for name in ("ci_low", "ci_high"):
        m.check(name, attr(tf, name), expected(out, name), rel=rel, scale=sc["sd"])
    m.check("estimate", attr(tf, "estimate"), expected(out, "estimate"), rel=rel,
            scale=sc["sd"])
    m.check("se", attr(tf, "se"), expected(out, "se"), rel=rel, scale=sc["sd"])
    m.check("tau2", attr(tf, "tau2"), expected(out, "tau2"), rel=rel, scale=sc["var"])
    m.finish()


# -- completeness of the reference itself ---------------------------------------------------


def test_reference_was_made_by_metafor_3_8() -> None:
    meta = reference()["meta"]
    assert meta["metafor"].startswith("3.8")
    assert meta["generated_by"] == "tests/stats/reference/make_reference.R"


def test_rma_grid_is_complete() -> None:
    """Every data set is fitted with every method under z, Knapp-Hartung and its ad hoc form."""
    seen = {(c["dataset"], c["method"], c["test"], c["adhoc"]) for c in RMA_CASES}
    missing = [
        (ds, method, test, adhoc)
        for ds in reference()["datasets"]
        for method in METHODS
        for test, adhoc in (("z", False), ("knha", False), ("knha", True))
        if (ds, method, test, adhoc) not in seen
    ]
    assert missing == []
    assert len(RMA_CASES) == len(seen)


def test_reference_covers_ten_published_data_sets() -> None:
    published = {d["source"].split(",")[0].split(" (")[0]
                 for d in reference()["datasets"].values()
                 if d["source"].startswith("metadat::")}
    assert len(published) >= 10, sorted(published)


def test_metaregression_grid_is_complete() -> None:
    seen = {(c["mods"][-1], c["method"], c["test"], c["adhoc"]) for c in MR_CASES}
    for mods in ("year", "ablat"):
        for method in METHODS:
            for test, adhoc in (("z", False), ("knha", False), ("knha", True)):
                assert (mods, method, test, adhoc) in seen


def test_subgroup_grid_is_complete() -> None:
    seen = {(c["groups"], c["method"], c["test"], c["tau2"]) for c in SG_CASES}
    for groups in ("alloc", "decade"):
        for method in ("REML", "DL", "PM", "ML"):
            for test in ("z", "knha"):
                for tau2 in ("separate", "common"):
                    assert (groups, method, test, tau2) in seen
    decade = next(c for c in SG_CASES if c["groups"] == "decade" and c["tau2"] == "separate")
    assert any(sub["k"] == 1 for sub in decade["out"]["subgroups"].values())
