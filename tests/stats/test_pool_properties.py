"""Invariances of the random-effects fit, checked on generated data (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blastic_meta.stats.models import pool
from blastic_meta.stats.tau2 import METHODS

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def meta_data(draw):
    k = draw(st.integers(min_value=3, max_value=12))
    yi = draw(st.lists(st.floats(-3, 3, allow_nan=False), min_size=k, max_size=k))
    log_vi = draw(st.lists(st.floats(-3, 0.5, allow_nan=False), min_size=k, max_size=k))
    return np.array(yi), 10.0 ** np.array(log_vi)


def close(a, b, scale=1.0):
    assert a == pytest.approx(b, rel=1e-6, abs=1e-9 * scale)


@SETTINGS
@given(data=meta_data(), method=st.sampled_from(METHODS), seed=st.integers(0, 2**16))
def test_study_order_does_not_matter(data, method, seed):
    yi, vi = data
    perm = np.random.default_rng(seed).permutation(len(yi))
    a = pool(yi, vi, method=method)
    b = pool(yi[perm], vi[perm], method=method)
    for name in ("estimate", "se", "tau2", "ci_low", "ci_high", "q", "tau2_ci_high"):
        close(getattr(a, name), getattr(b, name))
    close(a.weights[perm], b.weights)


@SETTINGS
@given(data=meta_data(), method=st.sampled_from(METHODS),
       c=st.floats(-50, 50, allow_nan=False), test=st.sampled_from(["z", "knha"]))
def test_shift_moves_estimate_and_interval(data, method, c, test):
    yi, vi = data
    a = pool(yi, vi, method=method, test=test)
    b = pool(yi + c, vi, method=method, test=test)
    close(b.estimate, a.estimate + c, scale=1 + abs(c))
    close(b.ci_low, a.ci_low + c, scale=1 + abs(c))
    close(b.pi_high, a.pi_high + c, scale=1 + abs(c))
    close(b.tau2, a.tau2)
    close(b.se, a.se)


@SETTINGS
@given(data=meta_data(), method=st.sampled_from(METHODS),
       a=st.floats(0.01, 100, allow_nan=False) | st.floats(-100, -0.01, allow_nan=False))
def test_scale_multiplies_estimate_and_tau2(data, method, a):
    yi, vi = data
    r = pool(yi, vi, method=method)
    s = pool(a * yi, a * a * vi, method=method)
    close(s.estimate, a * r.estimate, scale=abs(a))
    close(s.se, abs(a) * r.se, scale=abs(a))
    close(s.tau2, a * a * r.tau2, scale=a * a)
    close(s.tau2_ci_low, a * a * r.tau2_ci_low, scale=a * a)
    close(s.i2, r.i2, scale=100)
    close(s.zval, np.sign(a) * r.zval)


@SETTINGS
@given(data=meta_data(), method=st.sampled_from(METHODS))
def test_heterogeneity_is_within_bounds(data, method):
    yi, vi = data
    r = pool(yi, vi, method=method)
    assert r.tau2 >= 0
    assert 0 <= r.i2 < 100 and r.h2 >= 1
    assert 0 <= r.tau2_ci_low <= r.tau2_ci_high
    assert r.ci_low <= r.estimate <= r.ci_high
    assert r.pi_low <= r.ci_low and r.pi_high >= r.ci_high
    assert r.weights.sum() == pytest.approx(100.0)
