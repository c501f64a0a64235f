"""PooledResult.influence(): identities with leave_one_out(), invariances, edge cases, errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from blastic_meta import InputError
from blastic_meta.stats.influence import INFLUENCE_COLUMNS
from blastic_meta.stats.models import pool
from tests.stats.test_pool_properties import meta_data
from tests.stats.test_tau2 import bcg

SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
METHODS = st.sampled_from(["DL", "REML", "PM", "HE"])
TESTS = st.sampled_from(["z", "knha"])
ABLAT = [44, 55, 42, 52, 13, 44, 19, 13, 27, 42, 18, 33, 33]


def test_columns_and_index_are_those_documented():
    table = pool(*bcg()).influence()
    assert list(table.columns) == [*INFLUENCE_COLUMNS, "dfbetas", "influential"]
    assert table.index.name == "study"
    assert table.index.tolist() == list(range(13))
    assert table["influential"].dtype == bool


def test_moderators_give_one_dfbetas_column_per_coefficient():
    yi, vi = bcg()
    fit = pool(yi, vi, mods=pd.DataFrame({"ablat": ABLAT}))
    table = fit.influence()
    assert [c for c in table.columns if c.startswith("dfbetas")] == ["dfbetas_intrcpt",
                                                                    "dfbetas_ablat"]
    assert table["hat"].sum() == pytest.approx(2.0, rel=1e-12)  # trace of the hat matrix = p


@SETTINGS
@given(data=meta_data(), method=METHODS, test=TESTS)
def test_weights_sum_to_100_and_leverages_to_one(data, method, test):
    fit = pool(*data, method=method, test=test)
    assume(fit.s2w > 0)
    table = fit.influence()
    assert table["weight"].sum() == pytest.approx(100.0, rel=1e-12)
    assert table["hat"].sum() == pytest.approx(1.0, rel=1e-12)
    # without moderators the leverage is the weight as a fraction
    np.testing.assert_allclose(table["hat"], table["weight"] / 100, rtol=1e-12)


@SETTINGS
@given(data=meta_data(), method=METHODS, test=TESTS)
def test_deletion_quantities_equal_leave_one_out(data, method, test):
    fit = pool(*data, method=method, test=test)
    assume(fit.s2w > 0)  # identical effects under knha: refused (tested below)
    table, loo = fit.influence(), fit.leave_one_out()
    np.testing.assert_allclose(table["tau2_del"], loo["tau2"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(table["qe_del"], loo["q"], rtol=1e-12, atol=1e-12)
    # p = 1: Cook's distance is the squared shift of the estimate in units of its SE, and
    # COVRATIO the ratio of the variances without and with the study
    shift = (fit.estimate - loo["estimate"]) / fit.se
    np.testing.assert_allclose(table["cooks_distance"], shift**2, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(table["cov_r"], (loo["se"] / fit.se) ** 2, rtol=1e-9)


@SETTINGS
@given(data=meta_data(), method=METHODS)
def test_rstudent_is_the_deleted_residual_over_its_se(data, method):
    yi, vi = data
    fit = pool(yi, vi, method=method)
    table, loo = fit.influence(), fit.leave_one_out()
    se = np.sqrt(vi + loo["tau2"] + loo["se"] ** 2)
    np.testing.assert_allclose(table["rstudent"], (yi - loo["estimate"]) / se, rtol=1e-8,
                               atol=1e-10)


@SETTINGS
@given(data=meta_data(), method=METHODS, test=TESTS, c=st.floats(-20, 20),
       a=st.floats(0.1, 10))
def test_influence_is_invariant_to_the_unit_of_the_effect(data, method, test, c, a):
    yi, vi = data
    fit = pool(yi, vi, method=method, test=test)
    assume(fit.s2w > 1e-6)
    one = fit.influence()
    two = pool(a * yi + c, a**2 * vi, method=method, test=test).influence()
    for col in ("rstudent", "dffits", "cooks_distance", "cov_r", "hat", "weight", "dfbetas",
                "qe_del"):
        np.testing.assert_allclose(two[col], one[col], rtol=1e-6, atol=1e-7, err_msg=col)
    np.testing.assert_allclose(two["tau2_del"], a**2 * one["tau2_del"], rtol=1e-6,
                               atol=1e-9 * a**2)


def test_an_outlier_is_flagged():
    yi = np.array([0.10, 0.25, 0.32, 1.20, 0.18, 0.22, 0.15])
    vi = np.full(7, 0.01)
    table = pool(yi, vi, method="DL").influence()
    assert table["influential"].tolist() == [False, False, False, True, False, False, False]
    assert table["rstudent"].abs().idxmax() == 3


def test_two_studies_are_refitted_on_one_as_metafor():
    fit = pool([0.1, 0.5], [0.01, 0.04])
    table = fit.influence()
    assert table["tau2_del"].tolist() == [0.0, 0.0]
    assert table["qe_del"].tolist() == [0.0, 0.0]
    # study 0 deleted leaves study 1: its deleted residual is (0.1 - 0.5) / sqrt(v0 + v1)
    assert table["rstudent"][0] == pytest.approx(-0.4 / math.sqrt(0.05), rel=1e-12)


def test_output_is_json_safe():
    records = pool(*bcg()).influence().to_dict(orient="records")
    assert len(records) == 13 and set(records[0]) >= {"rstudent", "influential"}


def test_too_few_studies_for_a_meta_regression_are_refused():
    with pytest.raises(InputError, match=r"influence: .* k >= 4 is required; got k = 3"):
        pool([0.1, 0.4, 0.3], [0.01, 0.02, 0.03], mods=[[1.0], [2.0], [4.0]]).influence()


def test_zero_knapp_hartung_scale_is_refused():
    fit = pool([0.2, 0.2, 0.2], [0.01, 0.02, 0.03], method="DL", test="knha")
    assert fit.s2w == 0
    with pytest.raises(InputError, match="s2w is 0"):
        fit.influence()
