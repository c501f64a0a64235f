"""Analyses: study-level input tables, protocol rules, fits equal direct library calls."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blastic_meta import (
    BlasticMetaWarning,
    compare_subgroups,
    effect_sizes,
    load_protocol,
    pool,
    pool_glmm,
)
from blastic_meta.review.analyses import build_input, run_analyses, run_analysis

sys.path.insert(0, str(Path(__file__).parent / "data"))
import long_table


@pytest.fixture(scope="module")
def protocol(repo_root):
    return load_protocol(repo_root / "evidence" / "protocol.yaml")


@pytest.fixture(scope="module")
def table():
    return long_table.table()


@pytest.fixture(scope="module")
def results(protocol, table):
    return run_analyses([], table, protocol)


def rows_of(data, study, arm="all"):
    sel = data[(data["study"] == study) & (data["arm"] == arm)]
    assert len(sel) == 1
    return sel.iloc[0]


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


def test_fits_equal_direct_library_calls(results, protocol):
    res = results["vas_1m"]
    inc = res.included
    ob = inc[inc["group"] == "osteoblastic"]
    es = effect_sizes("MC", m1i=ob["mean_pre"].astype(float), m2i=ob["mean_post"].astype(float),
                      sd1i=ob["sd_pre"].astype(float), sd2i=ob["sd_post"].astype(float),
                      ni=ob["n"].astype(float), ri=[0.5] * len(ob))
    ref = pool(es["yi"].to_numpy(), es["vi"].to_numpy(), method="REML", test="knha")
    fit = res.subgroups["osteoblastic"]
    assert fit.k == 3 and fit.status == "pooled"
    for name in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "i2", "q"):
        assert getattr(fit, name) == pytest.approx(getattr(ref, name), rel=1e-12), name
    assert fit.patients == 29 + 20 + 15  # n analysed at 1 month (alpha2010: 29 of 30)
    assert fit.studies == ("alpha2010", "beta2012", "gamma2015")
    assert sum(fit.weights) == pytest.approx(100.0)
    # unspecified is kept apart: one study, not pooled, not in the overall fit
    single = res.subgroups["unspecified"]
    assert single.status == "single study" and single.k == 1
    assert single.estimate == pytest.approx(4.0)
    assert "eta2021" not in res.overall.studies
    assert res.overall.k == 5


def test_subgroup_tests_equal_compare_subgroups(results):
    res = results["vas_1m"]
    inc = res.included[res.included["group"].isin(["osteoblastic", "osteolytic"])]
    for test in res.subgroup_tests:
        ref = compare_subgroups(inc["yi"].astype(float).to_numpy(),
                                inc["vi"].astype(float).to_numpy(), inc["group"].tolist(),
                                method="REML", test="knha", tau2=test.tau2)
        assert test.assessable
        assert test.q_between == pytest.approx(ref.q_between, rel=1e-12)
        assert test.pval == pytest.approx(ref.pval_between, rel=1e-12)
    assert {t.tau2 for t in res.subgroup_tests} == {"separate", "common"}


def test_one_lesion_type_only_is_not_assessable(results):
    tests = results["vas_early"].subgroup_tests
    assert all(not t.assessable and "fewer than two" in t.note for t in tests)


def test_proportions_glmm_and_inverse_variance_sensitivity(results):
    res = results["leak_vertebra"]
    fit = res.subgroups["osteolytic"]
    inc = res.included[res.included["group"] == "osteolytic"]
    ref = pool_glmm(inc["events"].astype(int), inc["total"].astype(int))
    assert fit.estimate == pytest.approx(ref.proportion, rel=1e-12)
    assert fit.ci_high == pytest.approx(ref.proportion_ci_high, rel=1e-12)
    sens = res.sensitivity[res.sensitivity["group"] == "osteolytic"].iloc[0]
    es = effect_sizes("PLO", xi=inc["events"].astype(float), ni=inc["total"].astype(float))
    with pytest.warns(BlasticMetaWarning, match="k = 2"):
        iv = pool(es["yi"].to_numpy(), es["vi"].to_numpy(), method="REML", test="knha")
    assert sens["estimate"] == pytest.approx(1 / (1 + np.exp(-iv.estimate)), rel=1e-12)
    # per-study Clopper-Pearson interval of 3/31
    lytic = rows_of(res.data, "gamma2015", "lytic")
    from scipy.stats import beta

    assert lytic["ci_low"] == pytest.approx(beta.ppf(0.025, 3, 29), rel=1e-9)


def test_leakage_units_never_mixed_and_ambiguous_excluded(results):
    vert, pat = results["leak_vertebra"].data, results["leak_patient"].data
    assert set(vert.loc[vert["included"], "total"]) == {40, 22, 31, 60, 70}
    assert rows_of(pat, "alpha2010")["total"] == 30
    for data in (vert, pat):
        assert "unit not stated" in rows_of(data, "beta2012")["reason"]
    delta = rows_of(pat, "delta2018")
    assert delta["total"] == 40 and any("denominator imputed" in f for f in delta["flags"])


def test_within_study_comparison_is_kept_apart(results):
    res = results["vas_1m"]
    (w,) = res.within
    ob = rows_of(res.data, "gamma2015", "blastic")
    ol = rows_of(res.data, "gamma2015", "lytic")
    assert w.study == "gamma2015" and w.groups == ("osteoblastic", "osteolytic")
    assert w.yi == pytest.approx(ob["yi"] - ol["yi"])
    assert w.vi == pytest.approx(ob["vi"] + ol["vi"])
    (lw,) = results["leak_vertebra"].within
    ref = effect_sizes("OR", ai=[6], n1i=[22], ci=[3], n2i=[31])
    assert lw.yi == pytest.approx(ref["yi"].iloc[0])


def test_correlation_grid_contains_the_primary_fit(results, protocol):
    res = results["vas_1m"]
    sens = res.sensitivity
    assert sorted(set(sens["r"])) == list(protocol.vas.correlation_grid)
    at = sens[(sens["group"] == "osteoblastic") & (sens["r"] == 0.5)].iloc[0]
    assert at["estimate"] == pytest.approx(res.subgroups["osteoblastic"].estimate, rel=1e-12)
    lo = sens[(sens["group"] == "osteoblastic") & (sens["r"] == 0.2)].iloc[0]
    assert lo["ci_high"] - lo["ci_low"] != pytest.approx(at["ci_high"] - at["ci_low"])


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
    inc = big.included
    ref = pool(inc["yi"].astype(float).to_numpy(), inc["vi"].astype(float).to_numpy(),
               method="REML", test="knha").egger_test()
    assert f"{ref.statistic:.3f}" in big.small_study["osteolytic"]


def test_scale_0_100_is_divided_by_10(protocol):
    rows = long_table.vas("big2001", "all", "osteoblastic", 20, [(0, 70.0, 15.0), (30, 30.0, 12.0)])
    for r in rows:
        r["scale_max"] = 100
    data = build_input([], pd.DataFrame(rows, columns=long_table.COLUMNS), protocol,
                       protocol.analysis("vas_1m"))
    row = rows_of(data, "big2001")
    assert row["yi"] == pytest.approx(4.0)
    assert row["sd_pre"] == pytest.approx(1.5)
    assert "scale 0-100 divided by 10" in row["flags"]


def test_declared_overlap_keeps_the_larger_only_when_both_enter(protocol, table):
    class Rec:
        def __init__(self, key, overlap):
            self.key, self.known_overlap, self.arms = key, [{"study": overlap}], []

    records = [Rec("alpha2010", "beta2012")]
    data = build_input(records, table, protocol, protocol.analysis("vas_1m"))
    assert rows_of(data, "alpha2010")["included"]
    assert "overlapping cohort with alpha2010" in rows_of(data, "beta2012")["reason"]
    # beta2012 has no usable per-vertebra leakage (ambiguous unit): alpha2010 stays, alone
    leak = build_input(records, table, protocol, protocol.analysis("leak_vertebra"))
    assert rows_of(leak, "alpha2010")["included"]


def test_overlap_declared_distinct_keeps_both(protocol, table):
    class Rec:
        def __init__(self, key, overlap):
            self.key, self.arms = key, []
            self.known_overlap = [{"study": overlap, "relation": "distinct"}]

    data = build_input([Rec("alpha2010", "beta2012")], table, protocol,
                       protocol.analysis("vas_1m"))
    assert rows_of(data, "alpha2010")["included"]
    assert rows_of(data, "beta2012")["included"]


def test_myeloma_switch_moves_myeloma_into_osteolytic(protocol, table):
    rows = [long_table.leak("mm2005", "all", "myeloma", 4, 50, "vertebra", 30, 50)]
    t = pd.concat([table, pd.DataFrame(rows, columns=long_table.COLUMNS)], ignore_index=True)
    apart = run_analysis([], t, protocol, protocol.analysis("leak_vertebra"))
    assert "myeloma" in apart.subgroups and "mm2005" not in apart.overall.studies
    merged_protocol = protocol.model_copy(update={"subgroups": protocol.subgroups.model_copy(
        update={"myeloma_as_osteolytic": True, "kept_apart": ("mixed", "unspecified")})})
    merged = run_analysis([], t, merged_protocol, protocol.analysis("leak_vertebra"))
    assert "myeloma" not in merged.subgroups
    assert "mm2005" in merged.subgroups["osteolytic"].studies


def test_to_dict_is_json_safe(results):
    import json

    for res in results.values():
        text = json.dumps(res.to_dict(), allow_nan=False)
        assert res.id in res.summary()
        assert isinstance(text, str)


@settings(max_examples=8, deadline=None)
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
