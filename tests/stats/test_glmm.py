"""Binomial-normal random-effects model against metafor's rma.glmm (lme4, nAGQ = 7)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from blastic_meta import GlmmResult, InputError, pool_glmm

# R 4.2.2, metafor 3.8-1, lme4: r <- rma.glmm(measure = "PLO", xi, ni);
# p <- predict(r, transf = transf.ilogit); values: beta, se, ci.lb, ci.ub, tau2,
# pred, ci.lb, ci.ub, pi.lb, pi.ub. dat.* are metadat's published data sets.
METAFOR = {
    "synthetic_k10": ([2, 0, 5, 12, 3, 8, 1, 15, 4, 6], [20, 15, 30, 40, 25, 33, 18, 45, 22, 28],
                      [-1.5046434640633648, 0.23418222982798231, -1.9636322003454918,
                       -1.0456547277812378, 0.17683207004433338, 0.18173398862790344,
                       0.12307449748066705, 0.26006038493965106, 0.079583289190008719,
                       0.36325491774027846]),
    "dat.pritz1997": ([16, 10, 4, 43, 10, 25, 13, 12, 22, 4, 5, 18, 58, 6],
                      [17, 12, 8, 58, 10, 42, 14, 12, 41, 5, 6, 23, 68, 10],
                      [1.3766043889605717, 0.28838718784875578, 0.81137588717422338,
                       1.94183289074692, 0.58933090179285563, 0.7984450965296328,
                       0.69240261999560337, 0.87455336760288593, 0.44258357137013643,
                       0.95184109582214715]),
    "dat.debruin2009": ([11, 24, 179, 82, 60, 11, 99, 9, 88, 17, 26, 23, 40],
                        [29, 33, 326, 240, 110, 29, 244, 17, 215, 26, 138, 55, 54],
                        [-0.11181143638727245, 0.18804330452040877, -0.48036954078117156,
                         0.2567466680066266, 0.37868287200545847, 0.47207622628997692,
                         0.38216486735434863, 0.56383638323656826, 0.2021398585497626,
                         0.75939228525177449]),
    "zero_and_all_events": ([0, 5, 12, 20, 1], [25, 30, 12, 40, 10],
                            [-1.0541472049521685, 1.5905755950888276, -4.1716180860146341,
                             2.0633236761102975, 10.884522562449442, 0.25842951919749352,
                             0.015192892293843111, 0.88728699484422036,
                             0.00026575719658139047, 0.99781590503956952]),
    "k2": ([3, 9], [20, 25],
           [-1.0386216851539634, 0.40163060687387181, -1.8258032097157171,
            -0.25144016059220964, 0.062109584747504831, 0.26141602823427301,
            0.13873898977873825, 0.43746905830720406, 0.12292291344952043,
            0.47197791337366668]),
    "homogeneous": ([4, 5, 6, 4, 5], [40, 42, 45, 41, 44],
                    [-2.0583881324615279, 0.21676211708776483, -2.4832340751662012,
                     -1.6335421897568545, 0, 0.1132075471718669, 0.077041923689676731,
                     0.1633456943775165, 0.077041923689676731, 0.1633456943775165]),
    "large_tau2": ([0, 10, 2, 7], [12, 10, 20, 9],
                   [-0.32799791194331795, 2.2318442130606426, -4.7023321886463156,
                    4.0463363647596795, 16.67782296428134, 0.41872784161290255,
                    0.0089924912414748211, 0.98281419556028848, 7.8721987928291292e-05,
                    0.99984830903108102]),
}
FIELDS = ("estimate", "se", "ci_low", "ci_high", "tau2", "proportion", "proportion_ci_low",
          "proportion_ci_high", "pi_low", "pi_high")
# lme4 stops its derivative-free optimiser near 1e-6 and differentiates numerically for the
# standard error; the issue allows 1e-3, observed differences are below 2e-5
GLMM_RTOL = 1e-4
GLMM_ATOL = 1e-4


@pytest.mark.parametrize("case", sorted(METAFOR))
def test_matches_rma_glmm(case):
    events, totals, expected = METAFOR[case]
    result = pool_glmm(events, totals)
    got = [getattr(result, f) for f in FIELDS]
    np.testing.assert_allclose(got, expected, rtol=GLMM_RTOL, atol=GLMM_ATOL)
    assert result.k == len(events)


# rma.glmm(...)$I2 and $H2 (from the escalc "PLO" sampling variances, as rma.glmm does)
METAFOR_I2_H2 = {
    "synthetic_k10": (41.53188725770211, 1.710333980519547),
    "dat.pritz1997": (67.789736809599972, 3.1046005246490531),
    "zero_and_all_events": (95.920189168682981, 24.510940368212722),
}


@pytest.mark.parametrize("case", sorted(METAFOR_I2_H2))
def test_i2_h2_match_rma_glmm(case):
    result = pool_glmm(*METAFOR[case][:2])
    np.testing.assert_allclose([result.i2, result.h2], METAFOR_I2_H2[case], rtol=GLMM_RTOL)


# Rare events, small tau2 (synthetic). rma.glmm gives beta -4.43584730613621, tau2
# 0.10903887599774, se 0.237759892749378; lme4 differentiates its deviance with steps of 1e-4
# while its inner (PIRLS) iterations stop at 1e-7, so its d2/dbeta2 is 43.993 where the same
# lme4 deviance differentiated with steps of 1e-2 or 1e-3 gives 43.924, the value here.
RARE_EVENTS = ([3, 0, 3, 1, 5, 1, 0, 0, 3, 2, 2, 6, 1, 1, 0, 0],
               [200, 34, 113, 237, 185, 41, 12, 174, 139, 288, 157, 279, 65, 134, 42, 172])


def test_rare_events_se_from_accurate_observed_information():
    result = pool_glmm(*RARE_EVENTS)
    assert result.estimate == pytest.approx(-4.43584730613621, abs=1e-5)
    assert result.tau2 == pytest.approx(0.10903887599774, rel=1e-4)
    assert result.se == pytest.approx(0.237759892749378, rel=1.5e-3)  # lme4's noise
    # the curvature behind it, by central differences of the log-likelihood in mu at fixed
    # tau: the deviance's d2/dmu2 equals lme4's deviance differentiated with coarse steps
    from blastic_meta.stats.glmm_likelihood import StudyLikelihood

    lik = StudyLikelihood(np.array(RARE_EVENTS[0], float), np.array(RARE_EVENTS[1], float))
    k, tau, h = len(RARE_EVENTS[0]), math.sqrt(result.tau2), 1e-3

    def loglik(mu: float) -> float:
        return float(lik.terms(np.full(k, mu), tau, 0)[0].sum())

    f = [loglik(result.estimate + d) for d in (-h, 0.0, h)]
    assert -2 * (f[0] - 2 * f[1] + f[2]) / h**2 == pytest.approx(43.924, abs=2e-3)
    # the analytic second derivative of the same quadrature likelihood agrees
    exact = lik.terms(np.full(k, result.estimate), tau, 2)[2]
    assert -2 * float(exact[:, 0].sum()) == pytest.approx(43.924, abs=2e-3)


def test_homogeneous_studies_sit_at_the_boundary_with_the_pooled_logit():
    events, totals = [4, 5, 6, 4, 5], [40, 42, 45, 41, 44]
    result = pool_glmm(events, totals)
    assert result.tau2 == 0.0
    p = sum(events) / sum(totals)
    assert result.estimate == pytest.approx(math.log(p / (1 - p)), rel=1e-10)
    # with tau2 = 0 the SE is that of the common-effect logistic model
    assert result.se == pytest.approx(1 / math.sqrt(sum(totals) * p * (1 - p)), rel=1e-8)


def test_back_transformed_fields_are_inverse_logits_and_pi_contains_ci():
    result = pool_glmm(*METAFOR["synthetic_k10"][:2])
    assert result.proportion == pytest.approx(special.expit(result.estimate), rel=1e-14)
    assert result.proportion_ci_low == pytest.approx(special.expit(result.ci_low), rel=1e-14)
    assert result.pi_low <= result.proportion_ci_low < result.proportion
    assert result.proportion < result.proportion_ci_high <= result.pi_high


def test_level_changes_interval_width():
    events, totals = METAFOR["dat.pritz1997"][:2]
    r95 = pool_glmm(events, totals)
    r80 = pool_glmm(events, totals, level=0.8)
    assert r80.estimate == pytest.approx(r95.estimate, rel=1e-12)
    z80, z95 = 1.2815515655446004, 1.959963984540054
    assert (r80.ci_high - r80.ci_low) / (r95.ci_high - r95.ci_low) == pytest.approx(z80 / z95)


def test_summary_and_to_dict():
    result = pool_glmm(*METAFOR["synthetic_k10"][:2])
    assert isinstance(result, GlmmResult)
    text = result.summary()
    assert "Random-Effects Model (k = 10; tau^2 estimator: ML)" in text
    assert "-1.5046" in text and "0.1768" in text and "0.1817" in text and "41.53" in text
    data = result.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["k"] == 10 and data["tau2"] == result.tau2
    with pytest.raises(AttributeError):
        result.tau2 = 1.0  # frozen


# -- properties -------------------------------------------------------------------------

studies = st.lists(
    st.integers(min_value=1, max_value=60).flatmap(
        lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))),
    min_size=2, max_size=8,
)


def _fit(pairs):
    events, totals = zip(*pairs, strict=True)
    return pool_glmm(list(events), list(totals))


@settings(max_examples=25, deadline=None)
@given(pairs=studies, data=st.data())
def test_symmetries(pairs, data):
    totals = [n for _, n in pairs]
    if all(x in (0, n) for x, n in pairs):
        return  # no finite ML estimate (tested below)
    base = _fit(pairs)  # a ConvergenceError fails the test
    # swapping events and non-events negates the logit and keeps tau2
    flipped = pool_glmm([n - x for x, n in pairs], totals)
    assert flipped.estimate == pytest.approx(-base.estimate, abs=1e-6)
    assert flipped.tau2 == pytest.approx(base.tau2, rel=1e-5, abs=1e-7)
    # the order of the studies does not matter
    order = data.draw(st.permutations(range(len(pairs))))
    shuffled = _fit([pairs[i] for i in order])
    # near separation the likelihood is flat (se of several logits): the optimum is located
    # to a precision proportional to se, not to an absolute 1e-7
    assert shuffled.estimate == pytest.approx(base.estimate, abs=1e-7 * max(1.0, base.se))
    assert shuffled.tau2 == pytest.approx(base.tau2, rel=1e-6, abs=1e-8)
    assert base.tau2 >= 0 and base.se > 0


# -- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("events", "totals", "kwargs", "message"),
    [
        ([3], [10], {}, "one study only"),
        ([0, 0, 0], [10, 12, 9], {}, "every study has 0 events"),
        ([10, 12], [10, 12], {}, "every study has all events"),
        ([0, 10, 0], [10, 10, 5], {}, "every study has 0 or all events"),
        ([3, 11], [10, 10], {}, r"events\[1\] = 11 exceeds totals\[1\] = 10"),
        ([3, -1], [10, 10], {}, r"events\[1\] = -1"),
        ([3, 1], [10, 0], {}, r"totals\[1\] = 0"),
        ([3, 1, 2], [10, 10], {}, "same length"),
        ([3, 1], [10, 10], {"level": 95}, "use 0.95 for a 95% interval"),
        ([3, np.inf], [10, 10], {}, "finite"),
    ],
)
def test_bad_input(events, totals, kwargs, message):
    with pytest.raises(InputError, match=message):
        pool_glmm(events, totals, **kwargs)


def test_near_separation_with_an_all_event_study_matches_r():
    """An all-event study next to zero-event ones pushes tau^2 above 100; the per-study modes
    must still be found (a Newton step landing on the bracket end once cycled forever).

    Reference: metafor 3.8.1 rma.glmm(measure="PLO", xi=c(1,0,11,0), ni=c(2,11,11,19)):
    b = -4.353759, tau2 = 113.51196, se = 8.033457 (lme4 nAGQ = 7).
    """
    fit = pool_glmm([1, 0, 11, 0], [2, 11, 11, 19])
    assert fit.estimate == pytest.approx(-4.353759, rel=1e-3)
    assert fit.tau2 == pytest.approx(113.51196, rel=1e-3)
    assert fit.se == pytest.approx(8.033457, rel=1e-3)
    flipped = pool_glmm([1, 11, 0, 19], [2, 11, 11, 19])
    assert flipped.estimate == pytest.approx(-fit.estimate, abs=1e-6)


def test_flat_optimum_at_large_tau_converges():
    """At tau^2 near 63 the likelihood is flat to rounding; the fit must stop there, not fail.

    Reference: metafor 3.8.1 rma.glmm(measure="PLO", xi=c(20,36,8), ni=c(20,36,38)):
    b = 7.147966, tau2 = 63.321181, se = 7.016936.
    """
    fit = pool_glmm([20, 36, 8], [20, 36, 38])
    assert fit.estimate == pytest.approx(7.147966, rel=1e-3)
    assert fit.tau2 == pytest.approx(63.321181, rel=1e-3)
    assert fit.se == pytest.approx(7.016936, rel=1e-3)


def test_se_follows_the_exactly_integrated_likelihood_where_lme4_differs():
    """On a zero-event study next to large tau^2, lme4 (so metafor) reports se = 0.352 while
    the exactly integrated likelihood gives 0.935 (tests/stats/reference/glmm_exact_se.R); the
    estimate and tau^2 agree with both, the se with the exact one."""
    ref = json.loads((Path(__file__).parent / "reference" / "glmm_exact_se.json").read_text())
    fit = pool_glmm(ref["events"], ref["totals"])
    for name in ("estimate", "tau2"):
        assert getattr(fit, name) == pytest.approx(ref["exact"][name], rel=1e-3)
        assert getattr(fit, name) == pytest.approx(ref["metafor"][name], rel=1e-3)
    assert fit.se == pytest.approx(ref["exact"]["se"], rel=1e-3)
    assert fit.se > 2 * ref["metafor"]["se"]  # the documented divergence from lme4


def test_mode_search_does_not_cycle_next_to_flat_integrands():
    """Five 0-event studies, an all-event one and tau^2 above 500: Newton steps for the modes
    of the 0-event integrands landed just inside their bracket and cycled between its ends
    (found by the permutation property test); halving-or-bisect ends the cycle.

    Reference: metafor 3.8.1 rma.glmm(measure="PLO", xi=c(0,0,0,80,23,0,0),
    ni=c(43,49,72,80,49,7,31)): b = -11.91203, tau2 = 536.4086, se = 5.388037.
    """
    fit = pool_glmm([0, 0, 0, 80, 23, 0, 0], [43, 49, 72, 80, 49, 7, 31])
    assert fit.estimate == pytest.approx(-11.91203, rel=1e-3)
    assert fit.tau2 == pytest.approx(536.4086, rel=1e-3)
    assert fit.se == pytest.approx(5.388037, rel=1e-3)
