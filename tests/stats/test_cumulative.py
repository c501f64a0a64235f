"""PooledResult.cumulative(): steps equal refits, the last step is the full fit, the order
argument, metafor's first step, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from blastic_meta import InputError
from blastic_meta.stats.cumulative import CUMULATIVE_COLUMNS
from blastic_meta.stats.models import pool, single_study_result
from tests.stats.test_pool_properties import meta_data
from tests.stats.test_tau2 import bcg

SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
METHODS = st.sampled_from(["DL", "REML", "PM", "SJ"])
TESTS = st.sampled_from(["z", "knha"])
FULL = ("estimate", "se", "zval", "pval", "ci_low", "ci_high", "q", "q_pval", "tau2", "i2",
        "h2")


def test_columns_and_index():
    table = pool(*bcg()).cumulative()
    assert tuple(table.columns) == CUMULATIVE_COLUMNS
    assert table.index.name == "step"
    assert table["k"].tolist() == list(range(1, 14))
    assert table["added"].tolist() == list(range(13))


@SETTINGS
@given(data=meta_data(), method=METHODS, test=TESTS, seed=st.integers(0, 2**16))
def test_last_step_is_the_full_fit_whatever_the_order(data, method, test, seed):
    yi, vi = data
    fit = pool(yi, vi, method=method, test=test)
    order = np.random.default_rng(seed).permutation(len(yi))
    last = fit.cumulative(order=order).iloc[-1]
    for name in FULL:
        assert last[name] == pytest.approx(getattr(fit, name), rel=1e-6, abs=1e-9), name


@SETTINGS
@given(data=meta_data(), method=METHODS, test=TESTS, seed=st.integers(0, 2**16))
def test_each_step_pools_the_studies_added_so_far(data, method, test, seed):
    yi, vi = data
    order = np.random.default_rng(seed).permutation(len(yi))
    table = pool(yi, vi, method=method, test=test).cumulative(order=list(order))
    assert table["added"].tolist() == order.tolist()
    for step in range(1, len(yi)):
        sel = order[: step + 1]
        ref = pool(yi[sel], vi[sel], method=method, test=test) if step > 1 or test == "z" \
            else _quiet_pool(yi[sel], vi[sel], method, test)
        row = table.iloc[step]
        assert row["estimate"] == pytest.approx(ref.estimate, rel=1e-12, abs=1e-14)
        assert row["tau2"] == pytest.approx(ref.tau2, rel=1e-12, abs=1e-14)
        assert row["ci_high"] == pytest.approx(ref.ci_high, rel=1e-12, abs=1e-14)


def _quiet_pool(yi, vi, method, test):
    with pytest.warns(Warning, match="k = 2"):
        return pool(yi, vi, method=method, test=test)


def test_first_step_is_the_single_study_with_a_z_test_even_under_knapp_hartung():
    yi, vi = bcg()
    first = pool(yi, vi, test="knha", level=0.9).cumulative(order=range(12, -1, -1)).iloc[0]
    y, se = yi[12], math.sqrt(vi[12])
    assert first["added"] == 12
    assert first["estimate"] == y
    assert first["se"] == pytest.approx(se, rel=1e-15)
    assert first["zval"] == pytest.approx(y / se, rel=1e-15)
    assert first["pval"] == pytest.approx(2 * stats.norm.sf(abs(y / se)), rel=1e-12)
    assert first["ci_high"] == pytest.approx(y + stats.norm.ppf(0.95) * se, rel=1e-12)
    assert (first["q"], first["q_pval"], first["tau2"], first["i2"], first["h2"]) == \
        (0.0, 1.0, 0.0, 0.0, 1.0)


def test_order_by_a_key_with_argsort():
    yi, vi = bcg()
    year = np.array([1948, 1949, 1960, 1977, 1973, 1953, 1973, 1980, 1968, 1961, 1974, 1969,
                     1976])
    table = pool(yi, vi).cumulative(order=np.argsort(year, kind="stable"))
    assert table["added"].tolist()[:3] == [0, 1, 5]
    assert year[table["added"]].tolist() == sorted(year.tolist())


def test_a_single_study_fit_gives_one_step():
    table = single_study_result(0.4, 0.04).cumulative()
    assert len(table) == 1 and table["estimate"][0] == 0.4


def test_output_is_json_safe():
    records = pool(*bcg()).cumulative().to_dict(orient="list")
    assert records["added"] == list(range(13))


@pytest.mark.parametrize(
    ("order", "message"),
    [
        ([0, 1], r"order: expected 3 input positions \(a permutation of 0..2\), got 2"),
        ([0, 1, 1], r"order\[2\] = 1: study 1 is already added at order\[1\]"),
        ([0, 1, 3], r"order\[2\] = 3: not an input position \(0..2\)"),
        ([0, -1, 2], r"order\[1\] = -1: not an input position"),
        ([0, 1.5, 2], r"order\[1\] = 1.5: expected an integer input position"),
        ([True, 0, 2], r"order\[0\] = True: expected an integer"),
        ("012", "expected a sequence of 3 input positions"),
        (2, "expected a sequence of 3 input positions"),
        (np.array([[0, 1, 2]]), r"expected a 1-D sequence of input positions, got shape"),
    ],
)
def test_bad_order_names_the_entry(order, message):
    fit = pool([0.1, 0.4, 0.3], [0.01, 0.02, 0.03])
    with pytest.raises(InputError, match=message):
        fit.cumulative(order=order)


def test_numpy_integers_are_accepted_as_positions():
    fit = pool([0.1, 0.4, 0.3], [0.01, 0.02, 0.03])
    table = fit.cumulative(order=np.array([2, 0, 1], dtype=np.int32))
    assert table["added"].tolist() == [2, 0, 1]


def test_meta_regression_is_refused():
    fit = pool([0.1, 0.4, 0.3, 0.8], [0.01, 0.02, 0.03, 0.02], mods=[[1.0], [2.0], [4.0], [3]])
    with pytest.raises(InputError, match="only for models without moderators"):
        fit.cumulative()
