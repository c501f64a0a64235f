"""The numerical core of ``models.pool``: weighted least squares at the estimated tau^2, the
Wald or Knapp-Hartung tests of the coefficients, Cochran's Q, I^2/H^2, the prediction interval
and the pseudo-R^2 of a meta-regression (Viechtbauer, 2010; metafor 3.8 ``rma.uni``).

Kept apart from the result class so that ``models`` stays a readable description of the
result. The intercept-only model, by far the most common, takes a scalar path.

References
----------
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw 36.
Hartung J, Knapp G (2001). On tests of the overall treatment effect in meta-analysis with
    normally distributed responses. Stat Med 20:1771-82.
Raudenbush SW (2009). Analyzing effect sizes: random-effects models. In: Cooper H, Hedges LV,
    Valentine JC (eds), The Handbook of Research Synthesis and Meta-Analysis, 2nd ed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from scipy import special

from .._checks import TooFewStudiesError
from ..errors import BlasticMetaWarning
from . import heterogeneity as het
from ._arrays import frozen
from .tau2 import Gls, Tau2Estimate, estimate_tau2, tau2_from_gls

#: the equal-effects model ("FE" is metafor's older name for it, with identical numbers)
EQUAL_EFFECTS = ("EE", "FE")

_EPS = np.finfo(float).eps
_SUM = np.add.reduce  # the sum of a small array without the overhead of ndarray.sum
_NAN = math.nan
T = TypeVar("T")


def fit_arrays(
    y: np.ndarray,
    v: np.ndarray,
    M: np.ndarray | None,
    names: tuple[str, ...],
    method: str,
    test: str,
    level: float,
    pi: str,
    adhoc: bool,
    i2def: str,
    *,
    make: Callable[..., T],
    defer: Callable[[Gls, float], Any],
    warn: bool = True,
    tau2_fixed: float | None = None,
) -> T:
    """The fit on validated arrays (no pandas on this path), returned as ``make(**fields)``
    (the result class, passed in by ``models``), with ``_deferred=defer(gls, level)`` for
    what is computed on demand when tau^2 is estimated (None otherwise). ``tau2_fixed`` skips
    the estimation (subgroups sharing a common tau^2); its SE is then NaN."""
    k = y.shape[0]
    X = None if M is None else np.column_stack([np.ones(k), M])
    p = 1 if X is None else X.shape[1]
    if k <= p:
        raise TooFewStudiesError(
            f"yi: k = {k} studies cannot estimate {p} coefficients and tau^2; "
            "need more studies than coefficients")
    knha = test == "knha"
    ee = method in EQUAL_EFFECTS
    if warn and knha and k == 2:
        warnings.warn("k = 2 with test='knha': the t distribution has 1 df and the "
                      "confidence interval is extremely wide", BlasticMetaWarning, stacklevel=4)
    if warn and knha and ee:
        warnings.warn(f"test='knha' with method={method!r}: Knapp-Hartung is not meant for "
                      "equal-effects models (fitted anyway, as metafor does)",
                      BlasticMetaWarning, stacklevel=4)
    gls = Gls(y, v, X)
    if ee:
        est, i2def = Tau2Estimate(0.0, _NAN, 0), "Q"
    elif tau2_fixed is None:
        est = tau2_from_gls(gls, method)
    else:
        est = Tau2Estimate(float(tau2_fixed), _NAN, 0)
    tau2 = est.tau2
    alpha = 1.0 - level
    df = float(k - p) if knha else _NAN
    crit = float(special.stdtrit(df, 1.0 - alpha / 2) if knha else -special.ndtri(alpha / 2))
    w, beta, vb, e = gls.fit(tau2)
    # Cochran's Q (QE) and the typical sampling variance, both with weights 1/v_i
    if X is None:
        if tau2 == 0.0:
            w0, e0 = w, e
            s0 = float(_SUM(w0))
        else:
            w0 = gls.w0
            s0 = float(_SUM(w0))
            e0 = y - float(w0 @ y) / s0
        q = max(0.0, float(w0 @ (e0 * e0)))
        vt = (k - 1) / (s0 - float(w0 @ w0) / s0)  # heterogeneity.typical_variance
    else:
        q = max(0.0, gls.q(0.0))
        vt = het.typical_variance(v, X)
    s2w = 1.0
    if knha:
        rss = float(w @ (e * e))
        s2w = 0.0 if rss <= _EPS else rss / (k - p)
        if adhoc:
            s2w = max(1.0, s2w)
    if p == 1:  # scalar arithmetic: most fits have no moderators
        b0, v0 = float(beta[0]), float(vb[0, 0]) * s2w
        se0 = math.sqrt(v0)
        st0 = b0 / se0 if se0 > 0 else (math.copysign(math.inf, b0) if b0 else _NAN)
        pv0 = float(2.0 * (special.stdtr(df, -abs(st0)) if knha else special.ndtr(-abs(st0))))
        qm = b0 * b0 / v0 if v0 > 0 else _NAN
        # one read-only block whose rows are the per-coefficient arrays (views, read-only too)
        table = np.array([[b0], [se0], [st0], [pv0], [b0 - crit * se0], [b0 + crit * se0]])
        table.setflags(write=False)
        beta, se, stat, pval, ci_low, ci_high = table
        lo0, hi0 = b0 - crit * se0, b0 + crit * se0
        m = 1
    else:
        vb = vb * s2w
        se = _readonly(np.sqrt(np.diag(vb)))
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = _readonly(beta / se)
        pval = 2.0 * (special.stdtr(df, -np.abs(stat)) if knha else special.ndtr(-np.abs(stat)))
        pval = _readonly(pval)
        ci_low, ci_high = _readonly(beta - crit * se), _readonly(beta + crit * se)
        beta = _readonly(beta.copy())  # the engine keeps its own
        b0, se0, st0, pv0 = float(beta[0]), float(se[0]), float(stat[0]), float(pval[0])
        lo0, hi0 = float(ci_low[0]), float(ci_high[0])
        # omnibus test of the moderators, metafor's QM
        btt = np.arange(1, p)
        m = p - 1
        bb = beta[btt]
        try:
            qm = float(bb @ np.linalg.solve(vb[np.ix_(btt, btt)], bb))
        except np.linalg.LinAlgError:
            qm = _NAN
    if knha:
        qm = qm / m
        qm_df: tuple[int, ...] = (m, k - p)
        qm_pval = float(special.fdtrc(m, k - p, qm))
    else:
        qm_df = (m,)
        qm_pval = float(special.chdtrc(m, qm))

    # heterogeneity
    q_df = k - p
    q_pval = float(special.chdtrc(q_df, q))
    if i2def == "tau2":
        i2v, h2v = het.i2_from_tau2(tau2, vt), het.h2_from_tau2(tau2, vt)
    else:
        i2v, h2v = het.i2_from_q(q, q_df), het.h2_from_q(q, q_df)

    # prediction interval for the intercept (the pooled effect without moderators)
    pcrit = crit if pi == "metafor" else het.pi_quantile(pi, k=k, p=p, level=level, knha=knha)
    pi_low, pi_high = het.prediction_interval(b0, se0, tau2, pcrit)

    r2 = _NAN
    if p > 1:
        r2 = _r2(y, v, method, tau2, q, k, p)

    return make(
        k=k, p=p, method=method, test=test, level=level, pi_convention=pi, adhoc=adhoc,
        i2_definition=i2def, estimate=b0, se=se0, zval=st0, pval=pv0, ci_low=lo0,
        ci_high=hi0, df=df, tau2=tau2, tau2_se=est.se, i2=i2v, h2=h2v, typical_variance=vt,
        q=q, q_df=q_df, q_pval=q_pval, pi_low=pi_low, pi_high=pi_high,
        qm=qm, qm_df=qm_df, qm_pval=qm_pval, r2=r2, s2w=s2w,
        yi=frozen(y), vi=frozen(v), weights=_readonly(100.0 * w / _SUM(w)),
        beta=beta, beta_se=se, beta_stat=stat, beta_pval=pval, beta_ci_low=ci_low,
        beta_ci_high=ci_high, coef_names=names, mods=None if M is None else frozen(M),
        _deferred=None if (ee or tau2_fixed is not None) else defer(gls, level),
    )


def _readonly(a: np.ndarray) -> np.ndarray:
    """Mark an array this module made (and nobody else holds) read-only, without a copy."""
    a.setflags(write=False)
    return a


def _r2(y: np.ndarray, v: np.ndarray, method: str, tau2: float, qe: float, k: int,
        p: int) -> float:
    """Pseudo-R^2 of a meta-regression in percent, as metafor 3.8: the proportional reduction
    of tau^2 from the intercept-only fit (Raudenbush, 2009), truncated at 0; for an
    equal-effects model the adjusted R^2 of the weighted least squares regression,
    1 - (QE / (k - p)) / (Q / (k - 1)), truncated at 0 and 0 when all effects are equal."""
    if method in EQUAL_EFFECTS:
        if float(np.ptp(y)) == 0.0:
            return 0.0
        q_total = het.cochran_q(y, v)[0]
        return max(0.0, 100.0 * (1.0 - (qe / (k - p)) / (q_total / (k - 1))))
    tau2_re = estimate_tau2(y, v, method, None).tau2
    return 0.0 if tau2_re == 0 else max(0.0, 100.0 * (tau2_re - tau2) / tau2_re)
