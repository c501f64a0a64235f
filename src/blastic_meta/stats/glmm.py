"""Random-effects binomial-normal model for single proportions, with or without moderators
(metafor ``rma.glmm(measure="PLO", method="ML")``).

The events of study i are ``x_i ~ Binomial(n_i, expit(x_i' beta + tau * u_i))`` with
``u_i ~ N(0, 1)``; beta and tau^2 are estimated by maximum likelihood (Hamza et al., 2008;
Stijnen et al., 2010). Studies with 0 or all events enter the likelihood exactly, with no
continuity correction. metafor fits this model through lme4's ``glmer`` with 7-point adaptive
Gauss-Hermite quadrature (Pinheiro and Bates, 1995), which has no Python equivalent; the same
approximation is written here with numpy (``glmm_likelihood``), and the heterogeneity tests
metafor prints with it are in ``glmm_tests``.

The fit does not depend on the order of the studies: they are sorted internally (by events,
totals and moderators) before any sum is formed, and Newton's method is run to machine
precision, so any permutation of the input gives bitwise the same result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from .._checks import TooFewStudiesError, check_level
from . import glmm_tests as gt
from ._arrays import (
    ArrayInputError,
    FloatArray,
    as_vector,
    check_at_most,
    check_nonnegative,
    check_positive,
    frozen,
    jsonable,
    moderator_matrix,
    same_length,
)
from .glmm_likelihood import GlmmLikelihood, fit_logistic, inverse_spd, maximise
from .tau2 import Gls, estimate_tau2

__all__ = ["GlmmResult", "pool_glmm"]


@dataclass(frozen=True, slots=True)
class GlmmResult:
    """Fit of the binomial-normal model (logit scale, and proportion scale for the intercept).

    ``estimate``/``se``/``zval``/``pval``/``ci_*`` are those of the intercept (the pooled
    logit without moderators); ``proportion*`` and ``pi_*`` are its inverse logits (at
    moderators = 0). ``coefficients`` holds every coefficient. ``loglik`` is the marginal
    log-likelihood with binomial coefficients (7-point adaptive Gauss-Hermite quadrature).
    """

    k: int
    level: float
    estimate: float
    se: float
    zval: float
    pval: float
    ci_low: float
    ci_high: float
    tau2: float
    i2: float
    h2: float
    loglik: float
    proportion: float
    proportion_ci_low: float
    proportion_ci_high: float
    pi_low: float
    pi_high: float
    iterations: int
    p: int = 1
    coef_names: tuple[str, ...] = ("intrcpt",)
    beta: FloatArray = field(default_factory=lambda: frozen(np.empty(0)), repr=False)
    beta_se: FloatArray = field(default_factory=lambda: frozen(np.empty(0)), repr=False)
    beta_zval: FloatArray = field(default_factory=lambda: frozen(np.empty(0)), repr=False)
    beta_pval: FloatArray = field(default_factory=lambda: frozen(np.empty(0)), repr=False)
    beta_ci_low: FloatArray = field(default_factory=lambda: frozen(np.empty(0)), repr=False)
    beta_ci_high: FloatArray = field(default_factory=lambda: frozen(np.empty(0)), repr=False)
    vcov: FloatArray = field(default_factory=lambda: frozen(np.empty((0, 0))), repr=False)
    qm: float = math.nan
    qm_df: int = 1
    qm_pval: float = math.nan
    lrt: float = math.nan
    lrt_df: int = 0
    lrt_pval: float = math.nan
    loglik_reduced: float = math.nan
    typical_variance: float = math.nan
    qe_wald: float = math.nan
    qe_wald_pval: float = math.nan
    qe_lrt: float = math.nan
    qe_lrt_pval: float = math.nan
    qe_df: int = 0

    @property
    def tau(self) -> float:
        """sqrt(tau^2)."""
        return math.sqrt(self.tau2)

    @property
    def coefficients(self):  # -> pandas.DataFrame (pandas imported lazily)
        """Table of coefficients: index "intrcpt" then the moderators; columns estimate, se,
        zval, pval, ci_low, ci_high (logit scale)."""
        import pandas as pd

        return pd.DataFrame(
            {"estimate": self.beta, "se": self.beta_se, "zval": self.beta_zval,
             "pval": self.beta_pval, "ci_low": self.beta_ci_low, "ci_high": self.beta_ci_high},
            index=pd.Index(list(self.coef_names), name="coefficient"))

    def summary(self) -> str:
        """Text laid out like metafor's print of ``rma.glmm``, then the likelihood-ratio test
        of the moderators, the log-likelihood and the proportion scale."""
        from .printing import glmm_summary

        return glmm_summary(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe mapping of every field (NaN becomes None), with the coefficient table."""
        out: dict[str, Any] = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["tau"] = self.tau
        out["coefficients"] = {
            name: {"estimate": self.beta[i], "se": self.beta_se[i], "zval": self.beta_zval[i],
                   "pval": self.beta_pval[i], "ci_low": self.beta_ci_low[i],
                   "ci_high": self.beta_ci_high[i]}
            for i, name in enumerate(self.coef_names)}
        return jsonable(out)

    def __str__(self) -> str:
        return self.summary()


def _validate(events: ArrayLike, totals: ArrayLike) -> tuple[FloatArray, FloatArray, int]:
    x = as_vector("events", events)
    n = as_vector("totals", totals)
    k = same_length({"events": x, "totals": n})
    check_nonnegative("events", x, "a count of events >= 0")
    check_positive("totals", n, "a number of participants > 0")
    check_at_most("events", x, "totals", n)
    if k < 2:
        raise ArrayInputError("events: one study only; nothing to pool and no heterogeneity to "
                              "estimate (k = 1)")
    if np.all(x == 0) or np.all(x == n):
        what = "0 events" if np.all(x == 0) else "all events"
        raise ArrayInputError(f"events: every study has {what}; the maximum-likelihood "
                              "logit estimate is infinite")
    if np.all((x == 0) | (x == n)):
        raise ArrayInputError("events: every study has 0 or all events; the likelihood grows "
                              "without bound in tau^2, so there is no finite ML estimate")
    return x, n, k


@dataclass(frozen=True, slots=True)
class _MlFit:
    beta: FloatArray
    tau: float
    loglik: float
    vcov: FloatArray
    iterations: int
    fe_loglik: float


def _ml_fit(x: FloatArray, n: FloatArray, X: FloatArray) -> _MlFit:
    """Maximum-likelihood fit on sorted studies: Newton from the DerSimonian-Laird fit of the
    study logits (1/2 added to 0 and n events), then the boundary tau = 0 (the fixed-effects
    logistic regression) when its likelihood is higher."""
    p = X.shape[1]
    zero = (x == 0) | (x == n)
    xc, nc = np.where(zero, x + 0.5, x), np.where(zero, n + 1.0, n)
    yi = np.log(xc / (nc - xc))
    vi = 1.0 / xc + 1.0 / (nc - xc)
    design = None if p == 1 else X
    tau0 = max(math.sqrt(estimate_tau2(yi, vi, "DL", design).tau2), 0.1)
    beta0 = Gls(yi, vi, design).fit(tau0 * tau0)[1]
    lik = GlmmLikelihood(x, n, X)
    # starting modes: the posterior modes of u under the normal approximation of the logits
    lik.study.mode = tau0 * (yi - X @ beta0) / (tau0 * tau0 + vi)
    theta, ll, _, hess, iters = maximise(lik, np.append(beta0, tau0))
    beta_fe, ll_fe, info_fe = fit_logistic(x, n, X, Gls(yi, vi, design).fit(0.0)[1])
    tau = abs(float(theta[p]))
    if ll_fe > ll + 1e-12 * abs(ll) or tau < 1e-7:
        # tau = 0 is always stationary (the likelihood is even in tau): keep it if higher;
        # there the model is the logistic regression, whose information gives the SE
        inv_fe = inverse_spd(info_fe)
        vcov_fe = np.linalg.inv(info_fe) if inv_fe is None else inv_fe
        return _MlFit(beta_fe, 0.0, ll_fe, vcov_fe, iters, ll_fe)
    inv = inverse_spd(-hess)
    # (when the Hessian is not negative definite, tau is not a proper maximum: condition on it)
    vcov = np.linalg.inv(-hess[:p, :p]) if inv is None else inv[:p, :p]
    return _MlFit(theta[:p].copy(), tau, ll, vcov, iters, ll_fe)


def pool_glmm(events: ArrayLike, totals: ArrayLike, *, mods: Any = None,
              level: float = 0.95) -> GlmmResult:
    """Pool single proportions with the binomial-normal random-effects model (ML), optionally
    with moderators (a meta-regression on the logit scale).

    Equivalent to metafor's ``rma.glmm(measure="PLO", xi=events, ni=totals, mods=...)``: the
    log-likelihood is integrated over the study effects by 7-point adaptive Gauss-Hermite
    quadrature (as lme4 ``glmer(nAGQ = 7)``) and maximised by Newton's method with its exact
    Hessian, to machine precision; ``tau2`` may be 0 at the boundary. Standard errors come
    from the exact observed information of (beta, tau) (the coefficient block of its inverse,
    as lme4's ``vcov``); lme4's finite differences are noisy at about 1e-3 relative, and far
    off near a 0-event study with large tau^2. CIs and the prediction interval use z
    quantiles, as metafor's ``predict``. I^2, H^2, the Wald and likelihood-ratio tests for
    residual heterogeneity and QM follow ``rma.glmm`` (see ``glmm_tests``); ``lrt`` is the
    likelihood-ratio test of the moderators from the marginal log-likelihoods of this fit
    and of the intercept-only fit.

    Parameters
    ----------
    events, totals : array-like
        Events and participants per study (0 <= events <= totals, totals > 0).
    mods : DataFrame, Series or 1-D/2-D array, optional
        Moderators, one row per study (numeric; code categories as 0/1 columns); an intercept
        is added. Column names become coefficient names (``mod1``, ... for arrays).
    level : float
        Confidence level in (0, 1).

    Raises
    ------
    ArrayInputError
        Fewer than two studies, lengths that differ, negative counts, events > totals, or
        every study with 0 or all events: then the ML estimate is infinite.
    InputError
        Bad moderators, or no more studies than coefficients.
    ConvergenceError
        The maximisation did not converge (e.g. moderators that separate 0-event studies).

    References
    ----------
    Hamza TH, van Houwelingen HC, Stijnen T (2008). The binomial distribution of
    meta-analysis was preferred to model within-study variability. J Clin Epidemiol 61:41-51.
    Stijnen T, Hamza TH, Ozdemir P (2010). Random effects meta-analysis of event outcome in
    the framework of the generalized linear mixed model. Stat Med 29:3046-3067.
    Pinheiro JC, Bates DM (1995). Approximations to the log-likelihood function in the
    nonlinear mixed-effects model. J Comput Graph Stat 4:12-35.
    Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat
    Softw 36.
    """
    lv = check_level(level)
    x, n, k = _validate(events, totals)
    M, names = moderator_matrix(mods, k)
    X = np.ones((k, 1)) if M is None else np.column_stack([np.ones(k), M])
    p = X.shape[1]
    if k <= p:
        raise TooFewStudiesError(f"events: k = {k} studies cannot estimate {p} coefficients "
                                 "and tau^2; need more studies than coefficients")
    # a canonical order (events, totals, moderators): every sum below is formed in it
    order = np.lexsort((*X[:, ::-1].T, n, x))
    x, n, X = x[order], n[order], np.ascontiguousarray(X[order])
    fit = _ml_fit(x, n, X)
    beta, tau = fit.beta, fit.tau
    tau2 = tau * tau
    se = np.sqrt(np.diag(fit.vcov))
    zval = beta / se
    pval = 2.0 * special.ndtr(-np.abs(zval))
    z = float(-special.ndtri((1.0 - lv) / 2.0))
    qm, qm_df, qm_pval = gt.wald_test(beta, fit.vcov)
    lrt, lrt_df, lrt_pval, ll_reduced = math.nan, 0, math.nan, math.nan
    if p > 1:
        ll_reduced = _ml_fit(x, n, X[:, :1]).loglik
        lrt_df = p - 1
        lrt, lrt_pval = gt.likelihood_ratio(fit.loglik, ll_reduced, lrt_df)
    qe_w, qe_df, qe_w_pval = gt.qe_wald(x, n, X)
    qe_l, qe_l_pval = gt.qe_lrt(x, n, fit.fe_loglik, qe_df)
    vt = gt.glmm_typical_variance(x, n, X)
    mu, se0 = float(beta[0]), float(se[0])
    half_pi = z * math.sqrt(se0 * se0 + tau2)
    expit = special.expit
    return GlmmResult(
        k=k, level=lv, estimate=mu, se=se0, zval=float(zval[0]), pval=float(pval[0]),
        ci_low=mu - z * se0, ci_high=mu + z * se0, tau2=tau2,
        i2=100.0 * tau2 / (vt + tau2), h2=tau2 / vt + 1.0, loglik=fit.loglik,
        proportion=float(expit(mu)), proportion_ci_low=float(expit(mu - z * se0)),
        proportion_ci_high=float(expit(mu + z * se0)), pi_low=float(expit(mu - half_pi)),
        pi_high=float(expit(mu + half_pi)), iterations=fit.iterations,
        p=p, coef_names=names, beta=frozen(beta), beta_se=frozen(se), beta_zval=frozen(zval),
        beta_pval=frozen(pval), beta_ci_low=frozen(beta - z * se),
        beta_ci_high=frozen(beta + z * se), vcov=frozen(fit.vcov),
        qm=qm, qm_df=qm_df, qm_pval=qm_pval, lrt=lrt, lrt_df=lrt_df, lrt_pval=lrt_pval,
        loglik_reduced=ll_reduced, typical_variance=vt, qe_wald=qe_w, qe_wald_pval=qe_w_pval,
        qe_lrt=qe_l, qe_lrt_pval=qe_l_pval, qe_df=qe_df,
    )
