"""Analyses: study-level input tables, protocol rules, one model per result, fits equal direct
library calls, small-k rules and the unit of analysis."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blastic_meta import (
    BlasticMetaWarning,
    effect_sizes,
    load_protocol,
    pool,
    pool_bayes,
    pool_glmm,
    proportion_ci,
)
from blastic_meta.review.analyses import build_input, run_analyses, run_analysis
from tests.review.data import long_table


@pytest.fixture(scope="module")
def protocol(repo_root):
    return load_protocol(repo_root / "evidence" / "protocol.yaml")


@pytest.fixture(scope="module")
def table():
    return long_table.table()


@pytest.fixture(scope="module")
def results(protocol, table):
    return run_analyses([], table, protocol, scenarios=False)


def rows_of(data, study, arm="all"):
    sel = data[(data["study"] == study) & (data["arm"] == arm)]
    assert len(sel) == 1, (study, arm, list(zip(data["study"], data["arm"], strict=True)))
    return sel.iloc[0]


def _mc(rows, r=0.5):
    return effect_sizes("MC", m1i=rows["mean_pre"].astype(float),
                        m2i=rows["mean_post"].astype(float), sd1i=rows["sd_pre"].astype(float),
                        sd2i=rows["sd_post"].astype(float), ni=rows["n"].astype(float),
                        ri=[r] * len(rows))


def test_window_picks_the_point_closest_to_target(protocol, table):
    data = build_input([], table, protocol, protocol.analysis("vas_1m"))
    # beta2012 reports 28 and 35 days: 28 is closer to 30
    assert rows_of(data, "beta2012")["days"] == 28
    early = build_input([], table, protocol, protocol.analysis("vas_early"))
    assert rows_of(early, "alpha2010")["days"] == 3
    assert "delta2018" not in set(early["study"])  # nothing in 1-7 days: not listed at all


def test_tie_takes_the_earlier_day(protocol):
    t = pd.DataFrame(long_table.vas("tie2000", "all", "osteoblastic", 10,
                                    [(0, 7.0, 1.0), (20, 4.0, 1.0), (40, 3.0, 1.0)]),
                     columns=long_table.COLUMNS)
    data = build_input([], t, protocol, protocol.analysis("vas_1m"))
    assert rows_of(data, "tie2000")["days"] == 20


def test_exclusion_rules_and_flags(results):
    data = results["vas_1m"].data
    assert rows_of(data, "zeta2020")["reason"].startswith("case report")
    assert rows_of(data, "eps2019")["reason"] == "no SD reported at baseline"
    alpha = rows_of(data, "alpha2010")
    assert alpha["included"] and alpha["n"] == 29 and alpha["flags"] == ()
    beta = rows_of(data, "beta2012")
    assert beta["n"] == 20 and any("imputed" in f for f in beta["flags"])
    assert any("unlabelled" in f for f in beta["flags"])
    gamma = rows_of(data, "gamma2015", "blastic")
    assert gamma["sd_pre"] == pytest.approx(0.4 * np.sqrt(15))
    assert any("SE x sqrt(n)" in f for f in gamma["flags"])


def test_pooled_fit_is_hartung_knapp_with_the_ad_hoc_floor(results):
    res = results["vas_1m"]
    ob = res.included[res.included["group"] == "osteoblastic"]
    es = _mc(ob)
    ref = pool(es["yi"].to_numpy(), es["vi"].to_numpy(), method="REML", test="knha",
               adhoc=True)
    fit = res.subgroups["osteoblastic"]
    assert fit.k == 3 and fit.status == "pooled"
    for name in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "i2", "q"):
        assert getattr(fit, name) == pytest.approx(getattr(ref, name), rel=1e-12), name
    wald = pool(es["yi"].to_numpy(), es["vi"].to_numpy(), method="REML", test="z")
    assert fit.ci_high - fit.ci_low >= wald.ci_high - wald.ci_low - 1e-12  # never narrower
    assert fit.patients == 29 + 20 + 15  # n analysed at 1 month (alpha2010: 29 of 30)
    assert fit.studies == ("alpha2010", "beta2012", "gamma2015")
    assert sum(fit.weights) == pytest.approx(100.0)
    assert [r["study"] for r in fit.per_study] == list(fit.studies)


def test_no_estimate_pooled_across_lesion_types(results):
    for res in results.values():
        assert "overall" not in res.subgroups
        assert "overall" not in res.to_dict()["subgroups"]


def test_two_studies_are_shown_side_by_side_with_the_bayesian_fit(results, protocol):
    res = results["vas_1m"]
    fit = res.subgroups["osteolytic"]  # gamma2015 lytic arm and delta2018
    assert fit.k == 2 and fit.status == "side by side"
    assert math.isnan(fit.estimate) and math.isnan(fit.pi_low)
    inc = res.included[res.included["group"] == "osteolytic"]
    ref = pool_bayes(inc["yi"].astype(float).to_numpy(), inc["vi"].astype(float).to_numpy(),
                     tau_prior="halfnormal", tau_scale=protocol.bayes.tau_scale["MC"])
    assert fit.bayes["estimate"] == pytest.approx(ref.estimate, rel=1e-12)
    assert fit.bayes["ci_low"] == pytest.approx(ref.ci_low, rel=1e-12)
    assert {r["study"] for r in fit.per_study} == {"gamma2015", "delta2018"}
    assert any("side by side" in n for n in res.notes)


def test_no_prediction_interval_below_pi_min_k(protocol, table):
    strict = protocol.with_changes({"model": {"pi_min_k": 4}})
    fit = run_analysis([], table, strict, strict.analysis("vas_1m")).subgroups["osteoblastic"]
    assert fit.status == "pooled" and fit.k == 3
    assert math.isnan(fit.pi_low) and math.isnan(fit.pi_high)
    # the Bayesian fit beside it follows the same rule: its credible interval only
    assert fit.bayes["pi_low"] is None and fit.bayes["pi_high"] is None
    assert fit.bayes["pi_reason"] == "no prediction interval below k = 4 (protocol pi_min_k)"
    assert fit.bayes["ci_low"] < fit.bayes["estimate"] < fit.bayes["ci_high"]


def test_the_bayesian_fit_has_no_prediction_interval_at_k2(results, protocol):
    """At k = 2 neither fit gives a PI (protocol pi_min_k: 3), for the mean change and for
    both secondary measures; from k = 3 the Bayesian PI is pool_bayes's own (ROMC as a
    ratio). The credible interval for mu stays at every k."""
    res = results["vas_1m"]
    fits = [res.subgroups["osteolytic"], *(res.secondary[m]["osteolytic"] for m in
                                           ("ROMC", "MN"))]
    for fit in fits:
        assert fit.k == 2 and fit.status == "side by side" and fit.bayes["k"] == 2
        assert fit.bayes["pi_low"] is None and fit.bayes["pi_high"] is None, fit.scale
        assert fit.bayes["pi_reason"] == "no prediction interval below k = 3 (protocol pi_min_k)"
        assert fit.bayes["ci_low"] < fit.bayes["estimate"] < fit.bayes["ci_high"]
        assert fit.to_dict()["bayes"]["pi_low"] is None
    inc = res.included[res.included["group"] == "osteoblastic"]
    pooled = res.subgroups["osteoblastic"]
    ref = pool_bayes(inc["yi"].astype(float).to_numpy(), inc["vi"].astype(float).to_numpy(),
                     tau_prior="halfnormal", tau_scale=protocol.bayes.tau_scale["MC"])
    assert pooled.k == 3 and pooled.bayes["pi_reason"] is None
    assert pooled.bayes["pi_low"] == pytest.approx(ref.pi_low, rel=1e-12)
    assert pooled.bayes["pi_high"] == pytest.approx(ref.pi_high, rel=1e-12)
    romc = res.secondary["ROMC"]["osteoblastic"]
    assert romc.k == 3 and 0 < romc.bayes["pi_low"] < romc.bayes["estimate"] < \
        romc.bayes["pi_high"]


def test_single_study_keeps_its_own_estimate(results):
    single = results["vas_1m"].subgroups["unspecified"]
    assert single.status == "single study" and single.k == 1
    assert single.estimate == pytest.approx(4.0)


def test_comparison_is_the_meta_regression_on_lesion_type(results):
    res = results["vas_1m"]
    c = res.comparison
    rows = res.included[res.included["group"].isin(["osteoblastic", "osteolytic"])]
    x = (rows["group"] == "osteoblastic").astype(float).to_numpy()
    ref = pool(rows["yi"].astype(float).to_numpy(), rows["vi"].astype(float).to_numpy(),
               mods=pd.DataFrame({"ob": x}), method="REML", test="knha", adhoc=True)
    assert c.between["measure"] == "MD"
    assert c.between["estimate"] == pytest.approx(ref.beta[1], rel=1e-12)
    assert c.between["ci_low"] == pytest.approx(ref.beta_ci_low[1], rel=1e-12)
    assert c.between["pval"] == pytest.approx(ref.qm_pval, rel=1e-12)
    assert c.between["primary_test"]["convention"] == "common_tau2"
    assert c.between["sensitivity_test"]["convention"] == "separate_tau2"
    # gamma2015 has arms of both lesion types: within-study evidence ranks first
    assert c.kind == "within" and len(c.within_numeric) == 1
    (w,) = c.within_numeric
    ob, ol = rows_of(res.data, "gamma2015", "blastic"), rows_of(res.data, "gamma2015", "lytic")
    assert w.yi == pytest.approx(ob["yi"] - ol["yi"])
    assert w.vi == pytest.approx(ob["vi"] + ol["vi"])


def test_separate_tau2_test_is_the_wald_test_of_the_group_estimates(results):
    res = results["vas_1m"]
    inc = res.included
    est, se = [], []
    for g in ("osteoblastic", "osteolytic"):
        rows = inc[inc["group"] == g]
        with pytest.warns(BlasticMetaWarning) if len(rows) == 2 else _nothing():
            fit = pool(rows["yi"].astype(float).to_numpy(), rows["vi"].astype(float).to_numpy(),
                       method="REML", test="knha", adhoc=True)
        est.append(fit.estimate)
        se.append(fit.se)
    w = 1 / np.array(se) ** 2
    q = float(np.sum(w * (np.array(est) - np.sum(w * np.array(est)) / w.sum()) ** 2))
    sens = res.comparison.between["sensitivity_test"]
    assert sens["value"] == pytest.approx(q, rel=1e-10) and sens["df"] == [1]


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_one_lesion_type_only_names_what_is_missing(results):
    c = results["vas_early"].comparison
    assert c.kind == "none" and c.between is None
    assert c.reason == "No osteolytic series reported VAS as mean and SD at baseline and follow-up."


def test_proportions_come_from_the_glmm_alone(protocol):
    rows = [long_table.leak(f"o{i}2000", "all", "osteolytic", e, n, "patient", n, n)
            for i, (e, n) in enumerate(((3, 30), (9, 40), (2, 25), (14, 45)))]
    rows += [long_table.leak(f"b{i}2000", "all", "osteoblastic", e, n, "patient", n, n)
             for i, (e, n) in enumerate(((5, 30), (7, 28)))]
    res = run_analysis([], pd.DataFrame(rows, columns=long_table.COLUMNS), protocol,
                       protocol.analysis("leak_patient"))
    group = res.subgroups["osteolytic"]
    inc = res.included[res.included["group"] == "osteolytic"]
    ref = pool_glmm(inc["events"].astype(float), inc["total"].astype(float))
    assert group.status == "pooled" and group.k == 4
    for name, value in (("estimate", ref.proportion), ("ci_low", ref.proportion_ci_low),
                        ("tau2", ref.tau2), ("i2", ref.i2), ("q", ref.qe_wald),
                        ("q_lrt", ref.qe_lrt), ("pi_low", ref.pi_low)):
        assert getattr(group, name) == pytest.approx(value, rel=1e-12), name
    assert group.weights == ()  # no inverse-variance weights beside a GLMM
    assert (group.events, group.total) == (28, 140)
    assert res.subgroups["osteoblastic"].status == "side by side"
    # the lesion-type comparison is the GLMM with lesion type as moderator
    both = res.included[res.included["group"].isin(["osteoblastic", "osteolytic"])]
    x = (both["group"] == "osteoblastic").astype(float).to_numpy()
    g = pool_glmm(both["events"].astype(float), both["total"].astype(float),
                  mods=pd.DataFrame({"ob": x}))
    b = res.comparison.between
    assert b["measure"] == "OR"
    assert b["estimate"] == pytest.approx(math.exp(g.coefficients["estimate"].iloc[1]), rel=1e-12)
    assert b["pval"] == pytest.approx(g.coefficients["pval"].iloc[1], rel=1e-12)
    assert b["primary_test"]["lrt_pval"] == pytest.approx(g.lrt_pval, rel=1e-12)
    assert res.comparison.kind == "between"
    # the inverse-variance logit model only as the named sensitivity scenario
    iv = protocol.with_changes({"proportions": {"model": "inverse_variance"}})
    alt = run_analysis([], pd.DataFrame(rows, columns=long_table.COLUMNS), iv,
                       iv.analysis("leak_patient")).subgroups["osteolytic"]
    es = effect_sizes("PLO", xi=inc["events"].astype(float), ni=inc["total"].astype(float))
    ivfit = pool(es["yi"].to_numpy(), es["vi"].to_numpy(), method="REML", test="knha",
                 adhoc=True)
    assert alt.estimate == pytest.approx(1 / (1 + math.exp(-ivfit.estimate)), rel=1e-12)
    assert sum(alt.weights) == pytest.approx(100.0)


def test_all_zero_group_is_reported_as_zero_over_n(protocol):
    rows = [long_table.leak(f"z{i}2000", "all", "osteoblastic", 0, n, "patient", n, n)
            for i, n in enumerate((20, 30, 25))]
    rows += [long_table.leak(f"o{i}2000", "all", "osteolytic", e, n, "patient", n, n)
             for i, (e, n) in enumerate(((3, 30), (5, 40), (2, 25)))]
    t = pd.DataFrame(rows, columns=long_table.COLUMNS)
    res = run_analysis([], t, protocol, protocol.analysis("leak_patient"))
    zero = res.subgroups["osteoblastic"]
    assert zero.status == "no events" and zero.events == 0 and zero.total == 75
    hi = proportion_ci([0], [75])[1]
    assert zero.crude_ci_low == 0.0 and zero.crude_ci_high == pytest.approx(hi[0])
    assert res.comparison.between is None and "not estimable" in res.comparison.reason
    assert res.subgroups["osteolytic"].status == "pooled"


def test_design_effect_deflates_per_vertebra_counts(results, protocol):
    data = results["leak_vertebra"].data
    alpha = rows_of(data, "alpha2010")  # 5/40 vertebrae in 30 patients
    m = 40 / 30
    de = 1 + (m - 1) * protocol.unit_of_analysis.icc
    assert alpha["design_effect"] == pytest.approx(de)
    assert alpha["events"] == pytest.approx(5 / de) and alpha["total"] == pytest.approx(40 / de)
    assert alpha["events_observed"] == 5 and alpha["total_observed"] == 40
    assert any("design effect" in f for f in alpha["flags"])
    icc = results["leak_vertebra"].icc
    assert sorted(set(icc["icc"])) == list(protocol.unit_of_analysis.icc_grid)


def test_counts_in_another_unit_are_named_not_lost(results):
    pat = results["leak_patient"].data
    gamma = rows_of(pat, "gamma2015", "blastic")  # counts per vertebra only
    assert not gamma["included"] and "per vertebra only" in gamma["reason"]
    beta = rows_of(pat, "beta2012")
    assert "unit not stated" in beta["reason"]
    delta = rows_of(pat, "delta2018")
    assert delta["total"] == 40 and any("denominator imputed" in f for f in delta["flags"])


def test_arms_of_one_study_in_one_group_count_once(protocol):
    rows = [long_table.leak("two2001", "vp", "unspecified", 6, 65, "vertebra", 20, 65,
                            procedure="PVP"),
            long_table.leak("two2001", "kp", "unspecified", 0, 32, "vertebra", 10, 32,
                            procedure="PKP"),
            long_table.leak("one2002", "all", "unspecified", 9, 50, "vertebra", 30, 50),
            long_table.leak("thr2003", "all", "unspecified", 12, 60, "vertebra", 35, 60),
            long_table.leak("fou2004", "all", "unspecified", 4, 40, "vertebra", 25, 40)]
    t = pd.DataFrame(rows, columns=long_table.COLUMNS)
    flat = protocol.with_changes({"unit_of_analysis": {"icc": 0.0}})
    res = run_analysis([], t, flat, flat.analysis("leak_vertebra"))
    fit = res.subgroups["unspecified"]
    assert fit.k == 4 and fit.studies == ("fou2004", "one2002", "thr2003", "two2001")
    combined = rows_of(res.data, "two2001", "kp+vp")
    assert combined["events"] == 6 and combined["total"] == 97
    assert combined["procedure"] == "PKP+PVP"
    assert any("arms combined" in f for f in combined["flags"])
    assert set(res.leave_one_out["omitted"]) == {"fou2004", "one2002", "thr2003", "two2001"}


def test_combined_scores_follow_the_handbook_formula():
    from blastic_meta.review.input_rules import _combined_summary

    n, m, s = _combined_summary([10.0, 20.0], [5.0, 6.0], [1.0, 2.0])
    ref = np.concatenate([np.full(10, 5.0), np.full(20, 6.0)])
    assert n == 30 and m == pytest.approx(ref.mean())
    # SD of the pooled sample: within-group variance plus the spread of the means
    within = (9 * 1.0 + 19 * 4.0 + 10 * 20 / 30 * 1.0) / 29
    assert s == pytest.approx(math.sqrt(within))


def test_unverified_studies_stay_out_of_the_main_analysis(protocol, table):
    class Identity:
        verified, reason = False, "authors not visible"

    class Rec:
        key, known_overlap, arms, identity, source_access = "beta2012", [], [], Identity(), \
            "abstract"

    res = run_analysis([Rec()], table, protocol, protocol.analysis("vas_1m"))
    assert "identity unverified" in rows_of(res.data, "beta2012")["reason"]
    back = protocol.with_changes({"rules": {"unverified_studies": "include"}})
    again = run_analysis([Rec()], table, back, back.analysis("vas_1m"))
    assert rows_of(again.data, "beta2012")["included"]


def test_median_with_range_enters_flagged_and_leaves_with_exclude_derived(protocol):
    rows = long_table.vas("med2010", "all", "osteolytic", 40, [(0, None, None), (30, None, None)])
    for r, (med, lo, hi) in zip(rows, ((8.0, 5.0, 10.0), (3.0, 0.0, 7.0)), strict=True):
        r.update(median=med, min=lo, max=hi, sd_kind=None, n=40)
    t = pd.DataFrame(rows, columns=long_table.COLUMNS)
    res = run_analysis([], t, protocol, protocol.analysis("vas_1m"))
    row = rows_of(res.data, "med2010")
    from blastic_meta import estimate_mean_sd

    pre = estimate_mean_sd(40, 8.0, minimum=5.0, maximum=10.0)
    assert row["included"] and row["mean_pre"] == pytest.approx(pre.mean)
    assert row["sd_pre"] == pytest.approx(pre.sd)
    assert any("Luo et al. 2018" in f for f in row["flags"])
    strict = protocol.with_changes({"rules": {"exclude_derived": True}})
    gone = run_analysis([], t, strict, strict.analysis("vas_1m"))
    assert not rows_of(gone.data, "med2010")["included"]


def test_median_without_spread_stays_out_with_its_reason(protocol):
    rows = long_table.vas("nospread", "all", "osteolytic", 40, [(0, None, None), (30, None, None)])
    for r, med in zip(rows, (8.0, 3.0), strict=True):
        r.update(median=med, sd_kind=None)
    res = run_analysis([], pd.DataFrame(rows, columns=long_table.COLUMNS), protocol,
                       protocol.analysis("vas_1m"))
    assert "median only, no spread" in rows_of(res.data, "nospread")["reason"]


def test_baseline_robust_measures_have_their_own_heterogeneity(results):
    sec = results["vas_1m"].secondary
    assert set(sec) == {"ROMC", "MN"}
    romc = sec["ROMC"]["osteoblastic"]
    inc = results["vas_1m"].included
    ob = inc[inc["group"] == "osteoblastic"]
    es = effect_sizes("ROMC", m1i=ob["mean_post"].astype(float), m2i=ob["mean_pre"].astype(float),
                      sd1i=ob["sd_post"].astype(float), sd2i=ob["sd_pre"].astype(float),
                      ni=ob["n"].astype(float), ri=[0.5] * len(ob))
    ref = pool(es["yi"].to_numpy(), es["vi"].to_numpy(), method="REML", test="knha",
               adhoc=True)
    assert romc.estimate == pytest.approx(math.exp(ref.estimate), rel=1e-12)
    assert romc.i2 == pytest.approx(ref.i2, rel=1e-12)
    assert sec["MN"]["osteoblastic"].scale == "MN"


def test_correlation_grid_contains_the_primary_fit(results, protocol):
    res = results["vas_1m"]
    grid = res.correlation
    assert sorted(set(grid["r"])) == list(protocol.vas.correlation_grid)
    at = grid[(grid["group"] == "osteoblastic") & (grid["r"] == 0.5)].iloc[0]
    assert at["estimate"] == pytest.approx(res.subgroups["osteoblastic"].estimate, rel=1e-12)


def test_small_study_assessment_needs_k10(protocol):
    res = run_analysis([], long_table.table(), protocol, protocol.analysis("vas_1m"))
    assert res.small_study["osteoblastic"] == "not assessable: k = 3 (< 10)"
    rng = np.random.default_rng(7)
    rows = []
    for i in range(11):
        post = float(rng.uniform(2, 4))
        rows += long_table.vas(f"s{i:02d}2000", "all", "osteolytic", int(rng.integers(10, 80)),
                               [(0, 7.5, 1.2), (30, post, 1.3)])
    big = run_analysis([], pd.DataFrame(rows, columns=long_table.COLUMNS), protocol,
                       protocol.analysis("vas_1m"))
    assert big.small_study["osteolytic"].startswith("Egger test: statistic = ")


def test_scale_0_100_is_divided_by_10(protocol):
    rows = long_table.vas("big2001", "all", "osteoblastic", 20, [(0, 70.0, 15.0), (30, 30.0, 12.0)])
    for r in rows:
        r["scale_max"] = 100
    data = build_input([], pd.DataFrame(rows, columns=long_table.COLUMNS), protocol,
                       protocol.analysis("vas_1m"))
    row = rows_of(data, "big2001")
    assert row["yi"] == pytest.approx(4.0) and row["sd_pre"] == pytest.approx(1.5)
    assert "scale 0-100 divided by 10" in row["flags"]


def test_declared_overlap_keeps_the_larger_only_when_both_enter(protocol, table):
    class Rec:
        def __init__(self, key, overlap):
            self.key, self.known_overlap, self.arms = key, [{"study": overlap}], []

    records = [Rec("alpha2010", "beta2012")]
    data = build_input(records, table, protocol, protocol.analysis("vas_1m"))
    assert rows_of(data, "alpha2010")["included"]
    assert "overlapping cohort with alpha2010" in rows_of(data, "beta2012")["reason"]


def test_myeloma_switch_moves_myeloma_into_osteolytic(protocol, table):
    rows = [long_table.leak("mm2005", "all", "myeloma", 4, 50, "vertebra", 30, 50)]
    t = pd.concat([table, pd.DataFrame(rows, columns=long_table.COLUMNS)], ignore_index=True)
    apart = run_analysis([], t, protocol, protocol.analysis("leak_vertebra"))
    assert "myeloma" in apart.subgroups
    merged = protocol.with_changes({"subgroups": {"myeloma_as_osteolytic": True,
                                                  "kept_apart": ("mixed", "unspecified")}})
    res = run_analysis([], t, merged, merged.analysis("leak_vertebra"))
    assert "myeloma" not in res.subgroups
    assert "mm2005" in res.subgroups["osteolytic"].studies


def test_every_scenario_runs_where_it_applies(protocol, table):
    res = run_analyses([], table, protocol)
    ids = {sc.id for sc in protocol.sensitivity}
    assert set(res["vas_1m"].sensitivity) == ids - {"inverse_variance_logit"}
    assert set(res["leak_patient"].sensitivity) == ids - {"common_effect"}
    pvp = res["vas_1m"].sensitivity["pvp_only"]
    assert set(pvp["studies"]) <= set(res["vas_1m"].contributing)
    for sc in res["vas_1m"].sensitivity.values():
        assert {"description", "subgroups", "comparison", "studies", "excluded"} <= set(sc)


def test_to_dict_is_json_safe(results):
    for res in results.values():
        text = json.dumps(res.to_dict(), allow_nan=False)
        assert res.id in res.summary() and isinstance(text, str)


@settings(max_examples=6, deadline=None)
@given(st.randoms(use_true_random=False))
def test_row_order_of_the_long_table_does_not_matter(rnd):
    protocol = load_protocol(Path(__file__).resolve().parents[2] / "evidence" / "protocol.yaml")
    table = long_table.table()
    order = list(range(len(table)))
    rnd.shuffle(order)
    shuffled = table.iloc[order].reset_index(drop=True)
    for aid in ("vas_1m", "leak_vertebra"):
        a = run_analysis([], table, protocol, protocol.analysis(aid)).to_dict()
        b = run_analysis([], shuffled, protocol, protocol.analysis(aid)).to_dict()
        assert a == b
