"""The binomial-normal fit as a function: order independence (bitwise), optimality, exact
derivatives, symmetries and the handling of moderators, on generated data (hypothesis)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from blastic_meta import InputError, pool_glmm
from blastic_meta.stats.glmm_likelihood import GlmmLikelihood, StudyLikelihood

SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@st.composite
def proportions(draw, min_k: int = 2, max_k: int = 10, max_n: int = 80):
    """Studies (events, totals) with 0- and all-event studies well represented, and at least
    one study with 0 < events < totals (else the ML estimate is infinite)."""
    k = draw(st.integers(min_k, max_k))
    totals = draw(st.lists(st.integers(1, max_n), min_size=k, max_size=k))
    events = [draw(st.one_of(st.just(0), st.just(n), st.integers(0, n))) for n in totals]
    inner = [0 < x < n for x, n in zip(events, totals, strict=True)]
    if not any(inner):
        i = draw(st.integers(0, k - 1))
        totals[i] = max(totals[i], 2)
        events[i] = draw(st.integers(1, totals[i] - 1))
    return np.array(events, float), np.array(totals, float)


@SETTINGS
@given(data=proportions(), seed=st.integers(0, 2**32 - 1))
def test_any_order_of_the_studies_gives_bitwise_the_same_fit(data, seed):
    x, n = data
    perm = np.random.default_rng(seed).permutation(len(x))
    assert pool_glmm(x[perm], n[perm]).to_dict() == pool_glmm(x, n).to_dict()


@SETTINGS
@given(data=proportions(min_k=4), seed=st.integers(0, 2**32 - 1))
def test_any_order_gives_bitwise_the_same_meta_regression(data, seed):
    x, n = data
    rng = np.random.default_rng(seed)
    # a continuous moderator and a 0/1 one; the regression needs two studies with
    # 0 < events < totals at distinct moderator values to have a finite ML estimate
    inner = (x > 0) & (x < n)
    assume(inner.sum() >= 3)
    mods = pd.DataFrame({"dose": rng.normal(size=len(x)).round(2),
                         "group": (rng.random(len(x)) < 0.5).astype(float)})
    group = mods["group"].to_numpy() == 1
    assume(inner[group].any() and inner[~group].any())
    perm = rng.permutation(len(x))
    base = pool_glmm(x, n, mods=mods)
    shuffled = pool_glmm(x[perm], n[perm], mods=mods.iloc[perm].reset_index(drop=True))
    assert shuffled.to_dict() == base.to_dict()


@st.composite
def registries(draw):
    """A registry of single-arm proportions as the review holds them: 2 to 15 studies of 8 to
    300 patients, a true rate anywhere in (0.01, 0.9), heterogeneity from none to large."""
    k = draw(st.integers(2, 15))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = rng.integers(8, 301, k).astype(float)
    logit = math.log(p := draw(st.floats(0.01, 0.9))) - math.log(1 - p)
    tau = draw(st.sampled_from([0.0, 0.2, 0.6, 1.5]))
    x = rng.binomial(n.astype(int), 1 / (1 + np.exp(-(logit + tau * rng.normal(size=k)))))
    return x.astype(float), n


def _gradient_and_hessian(x, n, estimate, tau):
    lik = GlmmLikelihood(x, n, np.ones((len(x), 1)))
    _, grad, hess = lik.evaluate(np.array([estimate, tau]))
    return grad, hess


@SETTINGS
@given(data=registries())
def test_fit_on_registries_of_proportions_is_the_maximum(data):
    x, n = data
    if np.all((x == 0) | (x == n)):
        with pytest.raises(InputError):
            pool_glmm(x, n)
        return
    r = pool_glmm(x, n)
    assert r.tau2 >= 0 and 0 <= r.i2 < 100 and r.h2 >= 1
    assert r.ci_low < r.estimate < r.ci_high
    assert r.pi_low <= r.proportion_ci_low < r.proportion < r.proportion_ci_high <= r.pi_high
    assert r.qe_wald >= 0 and r.qe_lrt >= 0 and r.qe_df == len(x) - 1
    assert json.loads(json.dumps(r.to_dict())) == r.to_dict()
    # the score vanishes at the optimum (to rounding), and no nearby point is higher
    if r.tau2 > 0:
        grad, hess = _gradient_and_hessian(x, n, r.estimate, r.tau)
        scale = np.sqrt(np.abs(np.diag(hess)))
        assert np.all(np.abs(grad) / scale <= 1e-6)
    ll = GlmmLikelihood(x, n, np.ones((len(x), 1)))
    for d_mu, d_tau in ((1e-3, 0.0), (-1e-3, 0.0), (0.0, 1e-3), (0.0, -1e-3)):
        other = ll.evaluate(np.array([r.estimate + d_mu, r.tau + d_tau]), order=0)[0]
        assert other <= r.loglik + 1e-9
    # swapping events and non-events negates the logit and keeps tau^2
    flipped = pool_glmm(n - x, n)
    assert flipped.estimate == pytest.approx(-r.estimate, abs=1e-9 * max(1.0, r.se))
    assert flipped.tau2 == pytest.approx(r.tau2, rel=1e-8, abs=1e-12)


def test_exact_derivatives_agree_with_finite_differences():
    rng = np.random.default_rng(3)
    for trial in range(12):
        k = 6
        n = rng.integers(1, 80, k).astype(float)
        x = np.array([rng.integers(0, int(m) + 1) for m in n], dtype=float)
        x[0], x[1] = 0, n[1]  # a 0-event and an all-event study
        a = rng.normal(0, 2, k)
        tau = float(rng.choice([-1, 1]) * rng.uniform(0.05, 4))
        _, g, h = StudyLikelihood(x, n).terms(a, tau, 2)

        def terms(a_, t_, x=x, n=n):
            return StudyLikelihood(x, n).terms(a_, t_, 1)

        eps = 1e-5
        (la_p, ga_p, _), (la_m, ga_m, _) = terms(a + eps, tau), terms(a - eps, tau)
        (lt_p, gt_p, _), (lt_m, gt_m, _) = terms(a, tau + eps), terms(a, tau - eps)
        fd_g = np.c_[(la_p - la_m) / (2 * eps), (lt_p - lt_m) / (2 * eps)]
        fd_h = np.c_[(ga_p[:, 0] - ga_m[:, 0]) / (2 * eps), (gt_p[:, 0] - gt_m[:, 0]) / (2 * eps),
                     (gt_p[:, 1] - gt_m[:, 1]) / (2 * eps)]
        np.testing.assert_allclose(g, fd_g, rtol=1e-6, atol=1e-6, err_msg=f"trial {trial}")
        np.testing.assert_allclose(h, fd_h, rtol=1e-6, atol=1e-6, err_msg=f"trial {trial}")
        # the Hessian is symmetric: d(dl/dtau)/da equals d(dl/da)/dtau
        np.testing.assert_allclose((ga_p[:, 1] - ga_m[:, 1]) / (2 * eps), h[:, 1], rtol=1e-6,
                                   atol=1e-6)


def test_louis_hessian_is_close_to_the_exact_one_where_the_quadrature_is_accurate():
    x = np.array([16, 10, 4, 43, 10, 25, 13, 12, 22, 4, 5, 18, 58, 6], float)
    n = np.array([17, 12, 8, 58, 10, 42, 14, 12, 41, 5, 6, 23, 68, 10], float)
    lik = StudyLikelihood(x, n)
    a = np.full(len(x), 1.38)
    exact = lik.terms(a, 0.77, 2)[2].sum(axis=0)
    louis = lik.terms(a, 0.77, 2, exact=False)[2].sum(axis=0)
    np.testing.assert_allclose(louis, exact, rtol=1e-2)
    assert not np.allclose(louis, exact, rtol=1e-12)  # but it is an approximation


# -- moderators, as pool() takes them ------------------------------------------------------------
PRITZ = ([16, 10, 4, 43, 10, 25, 13, 12, 22, 4, 5, 18, 58, 6],
         [17, 12, 8, 58, 10, 42, 14, 12, 41, 5, 6, 23, 68, 10])
GROUP = [0, 1, 0, 0, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1]


def test_moderators_in_every_form_give_the_same_fit():
    ref = pool_glmm(*PRITZ, mods=pd.DataFrame({"group": GROUP}))
    assert ref.coef_names == ("intrcpt", "group")
    for mods, name in ((np.array(GROUP), "mod1"), (np.array(GROUP)[:, None], "mod1"),
                       (pd.Series(GROUP, name="group"), "group"), (GROUP, "mod1")):
        r = pool_glmm(*PRITZ, mods=mods)
        assert r.coef_names == ("intrcpt", name)
        np.testing.assert_array_equal(r.beta, ref.beta)
    table = ref.coefficients
    assert list(table.index) == ["intrcpt", "group"]
    assert list(table.columns) == ["estimate", "se", "zval", "pval", "ci_low", "ci_high"]
    assert table.loc["group", "estimate"] == ref.beta[1]
    assert (ref.estimate, ref.se) == (ref.beta[0], ref.beta_se[0])
    d = ref.to_dict()
    assert d["coefficients"]["group"]["se"] == ref.beta_se[1]
    assert {"qm", "qm_pval", "lrt", "lrt_df", "lrt_pval", "qe_wald", "qe_lrt", "qe_df",
            "typical_variance", "i2", "h2", "tau2", "vcov"} <= set(d)
    assert json.loads(json.dumps(d)) == d


def test_without_moderators_qm_is_the_squared_z_and_there_is_no_lrt():
    r = pool_glmm(*PRITZ)
    assert r.qm == pytest.approx(r.zval**2, rel=1e-12) and r.qm_df == 1
    assert math.isnan(r.lrt) and r.lrt_df == 0 and r.to_dict()["lrt"] is None


def test_the_moderator_is_the_difference_of_two_logits_when_tau2_is_0():
    """With tau^2 = 0 at the boundary (zero_events of README_engine.md) the model is the
    logistic regression: a binary moderator's coefficient is the difference of the pooled
    logits of the two groups, its SE the square root of the sum of 1/(n p (1 - p))."""
    x = np.array([0, 2, 5, 1, 9, 0, 3, 7], float)
    n = np.array([12, 25, 31, 18, 40, 9, 30, 28], float)
    g = np.array([0, 0, 0, 0, 1, 1, 1, 1], float)
    r = pool_glmm(x, n, mods=g)
    assert r.tau2 == 0.0 and r.i2 == 0.0 and r.h2 == 1.0
    p0, p1 = x[g == 0].sum() / n[g == 0].sum(), x[g == 1].sum() / n[g == 1].sum()
    logit = [math.log(p / (1 - p)) for p in (p0, p1)]
    assert r.beta[0] == pytest.approx(logit[0], rel=1e-12)
    assert r.beta[1] == pytest.approx(logit[1] - logit[0], rel=1e-10)
    var = [1 / (n[g == j].sum() * p * (1 - p)) for j, p in enumerate((p0, p1))]
    assert r.beta_se[1] == pytest.approx(math.sqrt(var[0] + var[1]), rel=1e-10)


@pytest.mark.parametrize(
    ("mods", "message"),
    [
        (np.ones(14), "linearly dependent"),
        (np.arange(13.0), "one row per study"),
        (pd.DataFrame({"g": ["a"] * 14}), "numeric"),
        (np.c_[np.arange(14.0), 2 * np.arange(14.0)], "linearly dependent"),
    ],
)
def test_bad_moderators_are_refused(mods, message):
    with pytest.raises(InputError, match=message):
        pool_glmm(*PRITZ, mods=mods)


def test_no_more_studies_than_coefficients_is_refused():
    with pytest.raises(InputError, match="need more studies than coefficients"):
        pool_glmm([3, 5], [10, 12], mods=[0.0, 1.0])
