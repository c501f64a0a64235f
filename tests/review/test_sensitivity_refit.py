"""Leave-one-out and sensitivity rows against an independent refit.

Each row says what it left out; the refit removes exactly that from the long table (or, for a
change of model, calls the library directly) and runs the main protocol again. A row that
omitted the wrong study, kept the wrong arm or fitted another model fails here.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from blastic_meta import load_bibliography, load_protocol, pool
from blastic_meta.registry.load import load_checked
from blastic_meta.review.analyses import run_analyses, run_analysis
from tests.review.data import long_table

KEYS = ("k", "status", "estimate", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "i2",
        "studies")


@pytest.fixture(scope="module")
def protocol(repo_root):
    return load_protocol(repo_root / "evidence" / "protocol.yaml")


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-12,
                                                                   abs_tol=1e-14)
    return a == b


def _four_and_four() -> pd.DataFrame:
    """Four osteoblastic VAS series and four osteolytic leakage series: k - 1 = 3 still pools."""
    rows = []
    for i, (pre, post, sd) in enumerate([(7.0, 2.5, 1.0), (6.5, 3.0, 1.5), (7.2, 2.0, 1.2),
                                         (8.0, 4.5, 1.8)]):
        rows += long_table.vas(f"ob{i}2010", "all", "osteoblastic", 20 + 5 * i,
                               [(0, pre, sd), (30, post, sd)])
    for i, (events, total) in enumerate([(3, 40), (9, 35), (1, 50), (14, 42)]):
        rows.append(long_table.leak(f"ol{i}2011", "all", "osteolytic", events, total,
                                    "vertebra", total - 5, total))
    return pd.DataFrame(rows, columns=long_table.COLUMNS)


@pytest.mark.parametrize("analysis", ["vas_1m", "leak_vertebra"])
def test_leave_one_out_rows_equal_a_refit_without_that_study(protocol, analysis):
    table = _four_and_four()
    spec = protocol.analysis(analysis)
    loo = run_analysis([], table, protocol, spec).leave_one_out
    assert len(loo) == 4
    for row in loo.itertuples():
        refit = run_analysis([], table[table["study"] != row.omitted], protocol, spec)
        fit = refit.subgroups[row.group]
        assert fit.pooled and fit.k == row.k == 3
        assert row.omitted not in fit.studies
        for name in ("estimate", "ci_low", "ci_high", "tau2", "i2"):
            assert _same(getattr(row, name), getattr(fit, name)), (row.omitted, name)


def test_leave_one_out_at_k3_shows_the_bayesian_fit_of_the_two_left(protocol):
    table = long_table.table()
    spec = protocol.analysis("vas_1m")
    loo = run_analysis([], table, protocol, spec).leave_one_out
    ob = loo[loo["group"] == "osteoblastic"]
    assert len(ob) == 3
    for row in ob.itertuples():
        fit = run_analysis([], table[table["study"] != row.omitted], protocol,
                           spec).subgroups["osteoblastic"]
        assert fit.status == "side by side" and fit.bayes
        assert (row.estimate, row.ci_low, row.ci_high) == tuple(
            fit.bayes[c] for c in ("estimate", "ci_low", "ci_high"))


@pytest.fixture(scope="module")
def shipped(repo_root, protocol):
    bib = load_bibliography(repo_root / "evidence" / "references.bib")
    records, table, findings = load_checked(repo_root / "studies", bib)
    results = run_analyses(records, table, protocol, bib, findings)
    return bib, records, table, findings, results


def _compare(scenario: dict, refit: dict, label: str) -> None:
    assert set(scenario) == set(refit), label
    for group, got in scenario.items():
        for key in KEYS:
            assert _same(got.get(key), refit[group].get(key)), (label, group, key)


@pytest.mark.parametrize("scenario", ["exclude_abstract_only", "pvp_only"])
def test_omission_scenarios_equal_the_main_protocol_on_less_data(protocol, shipped, scenario):
    bib, records, table, findings, results = shipped
    if scenario == "exclude_abstract_only":
        full = {r.key for r in records if str(r.source_access) == "full_text"}
        kept = table[table["study"].isin(full)]
    else:
        kept = table[table["procedure"] == "PVP"]
    assert 0 < len(kept) < len(table)
    for aid, res in results.items():
        if scenario not in res.sensitivity:
            continue
        refit = run_analysis(records, kept, protocol, protocol.analysis(aid), bib,
                             findings).to_dict()["subgroups"]
        _compare(res.sensitivity[scenario]["subgroups"], refit, f"{aid}/{scenario}")


def test_common_effect_row_is_the_equal_effects_model(protocol):
    table = _four_and_four()
    res = run_analyses([], table, protocol)["vas_1m"]
    got = res.sensitivity["common_effect"]["subgroups"]["osteoblastic"]
    rows = res.data[res.data["included"] & (res.data["group"] == "osteoblastic")]
    assert len(rows) == got["k"] == 4
    direct = pool(rows["yi"].to_numpy(float), rows["vi"].to_numpy(float), method="EE")
    for name in ("estimate", "ci_low", "ci_high", "i2"):
        assert math.isclose(got[name], getattr(direct, name), rel_tol=1e-12), name
    assert got["tau2"] == 0.0
    main = res.subgroups["osteoblastic"]
    assert main.tau2 > 0 and got["ci_high"] - got["ci_low"] < main.ci_high - main.ci_low


def _patient_leakage(pairs) -> pd.DataFrame:
    rows = [long_table.leak(study, "all", lesion, events, total, "patient", total, total + 5)
            for study, lesion, events, total in pairs]
    return pd.DataFrame(rows, columns=long_table.COLUMNS)


def _iv_refit(res, protocol) -> tuple[float, float, float, float]:
    """exp(lesion coefficient) of pool(mods=) on the scenario's own logits, and its p."""
    first, second = protocol.subgroups.compared[:2]
    rows = res.data[res.data["included"] & res.data["group"].isin([first, second])]
    m = protocol.model
    fit = pool(rows["yi"].to_numpy(float), rows["vi"].to_numpy(float),
               mods=pd.DataFrame({"x": (rows["group"] == first).to_numpy(float)}),
               method=m.method, test=m.test, level=m.level, adhoc=m.adhoc)
    return (math.exp(fit.beta[1]), math.exp(fit.beta_ci_low[1]), math.exp(fit.beta_ci_high[1]),
            float(fit.qm_pval))


@pytest.mark.parametrize("source", ["synthetic", "shipped"])
def test_inverse_variance_logit_scenario_refits_the_lesion_type_contrast(protocol, shipped,
                                                                         source):
    if source == "shipped":
        res = shipped[-1]["leak_patient"]
    else:  # a study with 0 events: the logit carries the 0.5 correction
        table = _patient_leakage([("ob1", "osteoblastic", 4, 30), ("ob2", "osteoblastic", 0, 25),
                                  ("ob3", "osteoblastic", 9, 40), ("ol1", "osteolytic", 12, 35),
                                  ("ol2", "osteolytic", 6, 50), ("ol3", "osteolytic", 15, 38)])
        res = run_analyses([], table, protocol)["leak_patient"]
    main = res.comparison.to_dict()
    got = res.sensitivity["inverse_variance_logit"]["comparison"]
    assert main["kind"] == got["kind"] == "between"
    assert main["model"].startswith("binomial-normal GLMM")
    assert got["model"].startswith("inverse-variance meta-regression of logits")
    assert not math.isclose(got["estimate"], main["estimate"], rel_tol=1e-6)
    iv = protocol.with_changes({"proportions": {"model": "inverse_variance"}})
    expected = _iv_refit(res, iv)
    for name, want in zip(("estimate", "ci_low", "ci_high", "pval"), expected, strict=True):
        assert math.isclose(got[name], want, rel_tol=1e-10), name
    assert got["primary_test"]["statistic"] == ("F" if iv.model.test == "knha" else "QM")
