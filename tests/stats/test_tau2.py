"""tau^2 estimators against direct computations of their defining formulas.

The metafor parity of every estimator is tested against pinned R output elsewhere; here each
estimator is recomputed from its textbook definition with plain loops, and the iterative
ones are checked against their estimating equations and an independent optimiser.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

from blastic_meta.errors import ConvergenceError
from blastic_meta.stats import tau2 as t2
from blastic_meta.stats._gls import _score_small

# dat.bcg (Colditz et al. 1994), log risk ratios as metafor escalc(measure="RR")
TPOS = [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27]
TNEG = [119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886]
CPOS = [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29]
CNEG = [128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825]


def bcg() -> tuple[np.ndarray, np.ndarray]:
    a, b, c, d = (np.array(x, dtype=float) for x in (TPOS, TNEG, CPOS, CNEG))
    yi = np.log(a / (a + b)) - np.log(c / (c + d))
    vi = 1 / a - 1 / (a + b) + 1 / c - 1 / (c + d)
    return yi, vi


def loop_q(y, v, tau2=0.0):
    """Generalised Q by a plain loop (intercept-only)."""
    w = [1 / (vv + tau2) for vv in v]
    mu = sum(wi * yi for wi, yi in zip(w, y, strict=True)) / sum(w)
    return sum(wi * (yi - mu) ** 2 for wi, yi in zip(w, y, strict=True))


def loop_dl(y, v):
    w = [1 / x for x in v]
    sw = sum(w)
    c = sw - sum(x * x for x in w) / sw
    return max(0.0, (loop_q(y, v) - (len(y) - 1)) / c)


def reml_negll(tau2, y, v):
    w = 1 / (v + tau2)
    mu = np.sum(w * y) / np.sum(w)
    return 0.5 * (np.sum(np.log(v + tau2)) + np.log(np.sum(w)) + np.sum(w * (y - mu) ** 2))


def ml_negll(tau2, y, v):
    w = 1 / (v + tau2)
    mu = np.sum(w * y) / np.sum(w)
    return 0.5 * (np.sum(np.log(v + tau2)) + np.sum(w * (y - mu) ** 2))


@pytest.fixture
def data():
    return bcg()


def test_dl_equals_direct_loop(data):
    y, v = data
    assert t2.estimate_tau2(y, v, "DL").tau2 == pytest.approx(loop_dl(y, v), rel=1e-12)


def test_he_equals_unweighted_moment_formula(data):
    y, v = data
    k = len(y)
    direct = sum((yi - y.mean()) ** 2 for yi in y) / (k - 1) - v.mean()
    assert t2.estimate_tau2(y, v, "HE").tau2 == pytest.approx(max(0.0, direct), rel=1e-12)


def test_hs_equals_hunter_schmidt_formula(data):
    y, v = data
    w = 1 / v
    direct = (loop_q(y, v) - len(y)) / w.sum()
    assert t2.estimate_tau2(y, v, "HS").tau2 == pytest.approx(direct, rel=1e-12)


def test_sj_uses_metafor_start_value(data):
    y, v = data
    k = len(y)
    t0 = np.mean((y - y.mean()) ** 2)  # divisor k, metafor's default start
    direct = t0 * loop_q(y, v, t0) / (k - 1)
    assert t2.estimate_tau2(y, v, "SJ").tau2 == pytest.approx(direct, rel=1e-12)


@pytest.mark.parametrize("method", ["PM", "EB"])
def test_pm_and_eb_solve_generalised_q_equal_df(data, method):
    y, v = data
    est = t2.estimate_tau2(y, v, method).tau2
    assert est > 0
    assert loop_q(y, v, est) == pytest.approx(len(y) - 1, rel=1e-10)


@pytest.mark.parametrize(("method", "negll"), [("REML", reml_negll), ("ML", ml_negll)])
def test_likelihood_estimators_reach_the_optimum(data, method, negll):
    y, v = data
    est = t2.estimate_tau2(y, v, method).tau2
    ref = optimize.minimize_scalar(negll, bounds=(0, 10), args=(y, v), method="bounded",
                                   options={"xatol": 1e-12})
    assert est == pytest.approx(ref.x, rel=1e-7)
    # and the score is zero there: a finite-difference derivative of the log-likelihood
    h = 1e-6
    deriv = (negll(est + h, y, v) - negll(est - h, y, v)) / (2 * h)
    assert abs(deriv) < 1e-6


@pytest.mark.parametrize("method", t2.METHODS)
def test_identical_effects_give_zero(method):
    y = np.full(6, 0.4)
    v = np.array([0.01, 0.02, 0.05, 0.1, 0.2, 0.5])
    # exactly 0, up to the rounding of the mean of identical values (SJ scales by it)
    assert t2.estimate_tau2(y, v, method).tau2 == pytest.approx(0.0, abs=1e-30)


@pytest.mark.parametrize("method", t2.METHODS)
def test_small_dispersion_is_truncated_at_zero(method):
    # Q = 1.17 < df = 3: every estimator is at the boundary except SJ, which is always > 0
    y = np.array([0.1, 0.12, 0.3, 0.2])
    v = np.array([0.02, 0.03, 0.02, 0.04])
    est = t2.estimate_tau2(y, v, method).tau2
    if method == "SJ":
        assert est > 0
    else:
        assert est == 0.0


@pytest.mark.parametrize("method", t2.METHODS)
def test_standard_error_is_positive_and_finite(data, method):
    y, v = data
    se = t2.estimate_tau2(y, v, method).se
    assert math.isfinite(se) and se > 0


def test_reml_standard_error_is_inverse_information(data):
    y, v = data
    t = t2.estimate_tau2(y, v, "REML")
    P = t2.gls_for(y, v, None).p_matrix(1 / (v + t.tau2))
    assert t.se == pytest.approx(math.sqrt(2 / np.sum(P * P)), rel=1e-12)


def test_variances_spanning_four_orders_of_magnitude():
    rng = np.random.default_rng(7)
    v = 10.0 ** rng.uniform(-4, 0, 30)
    y = rng.normal(0.2, np.sqrt(v + 0.05))
    for method in ("REML", "ML", "PM"):
        est = t2.estimate_tau2(y, v, method).tau2
        negll = {"REML": reml_negll, "ML": ml_negll}.get(method)
        if negll is None:
            assert loop_q(y, v, est) == pytest.approx(len(y) - 1, rel=1e-9)
        else:
            ref = optimize.minimize_scalar(negll, bounds=(0, 5), args=(y, v), method="bounded",
                                           options={"xatol": 1e-13})
            assert est == pytest.approx(ref.x, rel=1e-6)


def test_meta_regression_reml_matches_general_likelihood(data):
    y, v = data
    x = np.linspace(-1, 1, len(y))
    X = np.column_stack([np.ones_like(x), x])

    def negll(tau2):
        W = np.diag(1 / (v + tau2))
        A = X.T @ W @ X
        b = np.linalg.solve(A, X.T @ W @ y)
        r = y - X @ b
        return 0.5 * (np.sum(np.log(v + tau2)) + np.linalg.slogdet(A)[1] + r @ W @ r)

    ref = optimize.minimize_scalar(negll, bounds=(0, 5), method="bounded",
                                   options={"xatol": 1e-12})
    assert t2.estimate_tau2(y, v, "REML", X).tau2 == pytest.approx(ref.x, rel=1e-7)


def test_qprofile_bounds_solve_the_chi_square_equations(data):
    y, v = data
    lb, ub = t2.qprofile_ci(t2.gls_for(y, v, None), 0.95)
    df = len(y) - 1
    assert loop_q(y, v, lb) == pytest.approx(stats.chi2.ppf(0.975, df), rel=1e-9)
    assert loop_q(y, v, ub) == pytest.approx(stats.chi2.ppf(0.025, df), rel=1e-9)
    assert 0 < lb < t2.estimate_tau2(y, v, "REML").tau2 < ub


def test_qprofile_lower_bound_zero_when_q_is_small():
    y = np.array([0.1, 0.12, 0.3, 0.2])
    v = np.array([0.02, 0.03, 0.02, 0.04])
    lb, ub = t2.qprofile_ci(t2.gls_for(y, v, None), 0.95)
    assert lb == 0.0
    assert loop_q(y, v, ub) == pytest.approx(stats.chi2.ppf(0.025, 3), rel=1e-9)


def test_qprofile_interval_collapses_to_zero_when_q_is_tiny():
    y = np.full(5, 0.3)
    y[0] = 0.3001
    v = np.array([0.01, 0.02, 0.03, 0.04, 0.05])
    assert loop_q(y, v) < stats.chi2.ppf(0.025, 4)
    assert t2.qprofile_ci(t2.gls_for(y, v, None), 0.95) == (0.0, 0.0)


def test_failed_search_raises_convergence_error(data, monkeypatch):
    y, v = data
    # one Newton step from the grid's interpolated start is not enough for this set
    monkeypatch.setattr(t2, "_MAXITER", 1)
    with pytest.raises(ConvergenceError, match="did not converge"):
        t2.estimate_tau2(y, v, "REML")


def test_large_k_is_solved():
    rng = np.random.default_rng(3)
    v = rng.uniform(0.01, 0.2, 200)
    y = rng.normal(0.0, np.sqrt(v + 0.1))
    est = t2.estimate_tau2(y, v, "REML").tau2
    ref = optimize.minimize_scalar(reml_negll, bounds=(0, 2), args=(y, v), method="bounded",
                                   options={"xatol": 1e-13})
    assert est == pytest.approx(ref.x, rel=1e-7)


def test_bimodal_ml_likelihood_gives_the_global_maximum():
    # one very precise study far from the others: the ML score is negative at 0 (a local
    # maximum) and the global maximum is interior; metafor 3.8.1 (threshold 1e-12, starting
    # from the HE estimate) gives tau2 = 0.5326978290
    y = np.array([3.98729072, 0.87701857, 0.42718568, -0.65917669])
    v = np.array([1.05481936e01, 1.22250259e-04, 2.03857921e00, 2.45963496e-02])
    gls = t2.gls_for(y, v, None)
    assert gls.score(0.0, "ML")[0] < 0
    est = t2.estimate_tau2(y, v, "ML").tau2
    assert est == pytest.approx(0.5326978290, rel=1e-9)
    grid = np.linspace(0.3, 0.8, 2001)
    assert gls.loglik(est, "ML") >= max(gls.loglik(x, "ML") for x in grid)
    assert gls.loglik(est, "ML") > gls.loglik(0.0, "ML") + 40


@pytest.mark.parametrize("method", ["DL", "ML", "REML"])
@pytest.mark.parametrize(("test", "adhoc"), [("z", False), ("knha", False), ("knha", True)])
def test_pymare_cross_check(data, method, test, adhoc):
    from blastic_meta.stats._pymare import pymare_pool
    from blastic_meta.stats.models import pool

    y, v = data
    ours = pool(y, v, method=method, test=test, adhoc=adhoc)
    theirs = pymare_pool(y, v, method=method, test=test, adhoc=adhoc)
    # PyMARE profiles ML/REML at xtol ~1e-6: agreement to ~1e-6 relative, not better
    assert theirs.tau2[0] == pytest.approx(ours.tau2, rel=1e-6)
    assert theirs.estimate[0] == pytest.approx(ours.estimate, rel=1e-6)
    assert theirs.ci_low[0] == pytest.approx(ours.ci_low, rel=1e-6)
    assert theirs.se[0] == pytest.approx(ours.se, rel=1e-6)


def test_pymare_map_is_total_and_pymare_stays_unimported():
    import subprocess
    import sys

    from blastic_meta.stats._pymare import CORRECTION
    from blastic_meta.stats.models import TESTS

    assert {(t, a) for t in TESTS for a in (False, True) if not (t == "z" and a)} \
        == set(CORRECTION)
    code = ("import sys, blastic_meta as bm; bm.pool([0.1, 0.4, 0.3], [0.1, 0.1, 0.2]); "
            "bm.compare_subgroups([0.1, 0.4, 0.3], [0.1, 0.1, 0.2], 'aab'); "
            "print('pymare' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_qprofile_upper_bound_is_not_capped():
    # metafor's confint() stops its search at max(100, 10 * tau2) and reports that cap
    # (1493.1469 here); the exact root, which metafor finds with a larger tau2.max, is 6246.166
    y = np.array([30.0, 45.0, 20.0])
    v = np.array([4.0, 9.0, 6.0])
    lb, ub = t2.qprofile_ci(t2.gls_for(y, v, None), 0.95)
    assert ub == pytest.approx(6246.166002, rel=1e-8)
    assert loop_q(y, v, ub) == pytest.approx(stats.chi2.ppf(0.025, 2), rel=1e-9)
    assert lb == pytest.approx(35.2634086735, rel=1e-9)


def _score_from_matrices(y, v, tau2, method):
    """The ML/REML score, its derivative and information from the k x k matrix P (no
    shortcut): REML (y'PPy - tr P, -2 y'PPPy + tr PP, tr PP); ML with W in place of the
    traces' P."""
    w = 1.0 / (v + tau2)
    P = np.diag(w) - np.outer(w, w) / w.sum()
    py = P @ y
    yppy, ypppy = py @ py, py @ P @ py
    if method == "ML":
        return yppy - w.sum(), -2.0 * ypppy + w @ w, w @ w
    return yppy - np.trace(P), -2.0 * ypppy + np.trace(P @ P), np.trace(P @ P)


@given(st.integers(2, 40), st.integers(0, 10_000), st.floats(0.0, 50.0),
       st.sampled_from(["ML", "REML"]))
@settings(max_examples=200, deadline=None)
def test_score_loops_and_arrays_agree_with_the_matrix_formula(k, seed, tau2, method):
    # up to _gls._SMALL_K studies the score is summed over Python floats, above it with arrays
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.001, 2.0, k)
    y = rng.normal(0.0, 1.0, k) * rng.uniform(0.1, 5.0)
    got = t2.Gls(y, v, None).score(tau2, method)
    want = _score_from_matrices(y, v, tau2, method)
    for g, w in zip(got, want, strict=True):
        assert g == pytest.approx(w, rel=1e-9, abs=1e-9 * (1.0 + abs(want[1])))


def test_small_k_overflow_meets_numpy_error_handling():
    # w^3 overflows in the score of the Newton search (not in the grid or the scale): the
    # loop over floats gives a non-finite value silently; the score then takes the arrays,
    # whose errstate turns the overflow into an error, and pool into a clear InputError
    from blastic_meta import InputError, pool

    y, v = np.array([0.0, 1e-55, 2e-55, 5e-56]), np.full(4, 1e-110)
    looped = _score_small(y.tolist(), v.tolist(), 1e-111, False)
    assert not math.isfinite(looped[0] + looped[1])
    with np.errstate(over="raise", invalid="raise"), pytest.raises(FloatingPointError):
        t2.Gls(y, v, None).score(1e-111, "REML")
    with pytest.raises(InputError, match="too extreme"):
        pool(y, v)
