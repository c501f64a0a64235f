"""Q, I^2, H^2 and prediction intervals against their defining formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from blastic_meta.stats import heterogeneity as het

Y = np.array([0.1, 0.5, 0.9, 0.3, -0.2])
V = np.array([0.01, 0.02, 0.01, 0.05, 0.03])


def test_cochran_q_by_loop():
    w = 1 / V
    mu = sum(w * Y) / sum(w)
    q_loop = sum(wi * (yi - mu) ** 2 for wi, yi in zip(w, Y, strict=True))
    q, df, p = het.cochran_q(Y, V)
    assert q == pytest.approx(q_loop, rel=1e-12)
    assert df == 4
    assert p == pytest.approx(stats.chi2.sf(q_loop, 4), rel=1e-10)


def test_cochran_q_with_moderator_is_residual_q():
    x = np.array([0.0, 1.0, 2.0, 0.5, -1.0])
    X = np.column_stack([np.ones(5), x])
    W = np.diag(1 / V)
    b = np.linalg.solve(X.T @ W @ X, X.T @ W @ Y)
    r = Y - X @ b
    q, df, _ = het.cochran_q(Y, V, X)
    assert q == pytest.approx(r @ W @ r, rel=1e-12)
    assert df == 3


def test_typical_variance_closed_form_equals_trace_form():
    w = 1 / V
    closed = (len(V) - 1) * w.sum() / (w.sum() ** 2 - (w**2).sum())
    assert het.typical_variance(V) == pytest.approx(closed, rel=1e-12)
    # the matrix form with an intercept-only design gives the same number
    X = np.ones((5, 1))
    assert het.typical_variance(V, X) == pytest.approx(closed, rel=1e-12)


def test_typical_variance_with_moderators_uses_trace_of_p():
    X = np.column_stack([np.ones(5), np.arange(5.0)])
    W = np.diag(1 / V)
    P = W - W @ X @ np.linalg.inv(X.T @ W @ X) @ X.T @ W
    assert het.typical_variance(V, X) == pytest.approx(3 / np.trace(P), rel=1e-12)


def test_i2_and_h2_from_tau2():
    s2 = het.typical_variance(V)
    assert het.i2_from_tau2(0.0, s2) == 0.0
    assert het.i2_from_tau2(s2, s2) == pytest.approx(50.0)
    assert het.h2_from_tau2(s2, s2) == pytest.approx(2.0)
    # H^2 = 1 / (1 - I^2) links the two
    i2 = het.i2_from_tau2(0.3, s2) / 100
    assert het.h2_from_tau2(0.3, s2) == pytest.approx(1 / (1 - i2), rel=1e-12)


def test_i2_from_q_is_truncated():
    assert het.i2_from_q(10.0, 4) == pytest.approx(60.0)
    assert het.i2_from_q(3.0, 4) == 0.0
    assert het.i2_from_q(0.0, 4) == 0.0
    assert het.h2_from_q(10.0, 4) == pytest.approx(2.5)


@pytest.mark.parametrize(
    ("convention", "p", "knha", "expected"),
    [
        ("metafor", 1, False, stats.norm.ppf(0.975)),
        ("metafor", 2, True, stats.t.ppf(0.975, 8)),  # t(k - p)
        ("t(k-1)", 1, False, stats.t.ppf(0.975, 9)),
        ("t(k-2)", 1, True, stats.t.ppf(0.975, 8)),
    ],
)
def test_pi_quantiles(convention, p, knha, expected):
    got = het.pi_quantile(convention, k=10, p=p, level=0.95, knha=knha)
    assert got == pytest.approx(expected, rel=1e-12)


def test_pi_quantile_undefined_for_too_few_df():
    assert math.isnan(het.pi_quantile("t(k-2)", k=2, p=1, level=0.95, knha=False))


def test_prediction_interval_formula():
    lo, hi = het.prediction_interval(0.5, 0.1, 0.04, 2.0)
    half = 2.0 * math.sqrt(0.01 + 0.04)
    assert (lo, hi) == (pytest.approx(0.5 - half), pytest.approx(0.5 + half))


def test_conventions_are_described():
    assert set(het.PI_DESCRIPTION) == set(het.PI_CONVENTIONS)
    assert set(het.I2_DESCRIPTION) == set(het.I2_DEFINITIONS)
