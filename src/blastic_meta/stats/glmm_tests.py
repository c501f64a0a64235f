"""The tests and heterogeneity statistics reported with a binomial-normal fit, as metafor 3.8
``rma.glmm(measure="PLO")`` computes them.

* ``QE.Wld`` (Wald test for residual heterogeneity): the Wald test of the saturated logistic
  model, one parameter per study, against the fixed-effects logistic regression on X. It is
  Cochran's Q_E of the raw logits log(x/(n - x)) with variances 1/x + 1/(n - x) regressed on X
  by weighted least squares, over the studies with 0 < x < n (a study with 0 or n events has
  an infinite logit and infinite variance: glm gives it weight ~1e-9); such studies still
  count in its df = k - p.
* ``QE.LRT``: the deviance of the fixed-effects logistic regression (twice the log-likelihood
  of the saturated model minus its own), df = k - p.
* I^2 and H^2: 100 tau^2 / (tau^2 + s^2) and tau^2 / s^2 + 1, with s^2 = (k - p) / tr(P) the
  typical variance of the escalc ``"PLO"`` sampling variances (1/2 added to both cells of a
  study with 0 or n events), P the residual maker of X with weights 1/v_i (Higgins and
  Thompson, 2002).
* QM: the Wald test of the coefficients but the intercept (of the intercept when there are no
  moderators); the likelihood-ratio test of the moderators compares the marginal
  log-likelihoods of the full and the intercept-only ML fits (not metafor's ``logLik()``,
  which is conditional on lme4's predicted random effects).

References
----------
Higgins JPT, Thompson SG (2002). Quantifying heterogeneity in a meta-analysis. Stat Med
    21:1539-58.
Stijnen T, Hamza TH, Ozdemir P (2010). Random effects meta-analysis of event outcome in the
    framework of the generalized linear mixed model. Stat Med 29:3046-67.
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw 36.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from ._arrays import FloatArray
from .glmm_likelihood import solve_spd
from .heterogeneity import typical_variance


def logit_variances(x: FloatArray, n: FloatArray) -> FloatArray:
    """escalc ``"PLO"`` sampling variances 1/x + 1/(n - x), with 1/2 added to both cells of a
    study with 0 or n events (metafor's ``add=1/2, to="only0"``)."""
    zero = (x == 0) | (x == n)
    xc = np.where(zero, x + 0.5, x)
    mc = np.where(zero, n - x + 0.5, n - x)
    return 1.0 / xc + 1.0 / mc


def glmm_typical_variance(x: FloatArray, n: FloatArray, X: FloatArray) -> float:
    """metafor's ``vt`` of an ``rma.glmm`` fit: (k - p) / tr(P) with the escalc variances."""
    vi = logit_variances(x, n)
    return typical_variance(vi, None if X.shape[1] == 1 else X)


def qe_wald(x: FloatArray, n: FloatArray, X: FloatArray) -> tuple[float, int, float]:
    """QE.Wld, its df k - p and p-value (see the module docstring)."""
    k, p = X.shape
    ok = (x > 0) & (x < n)
    q = 0.0
    if ok.any():
        xo, no = x[ok], n[ok]
        y = np.log(xo / (no - xo))
        w = 1.0 / (1.0 / xo + 1.0 / (no - xo))
        if p == 1:
            r = y - float(w @ y) / float(w.sum())
        else:
            xo_ = X[ok]
            coef = solve_spd(xo_.T @ (w[:, None] * xo_), xo_.T @ (w * y))
            if coef is None:
                # X restricted to these studies is rank deficient (every study of a group
                # with 0 events): Q_E is still defined, by a least-squares solve
                sw = np.sqrt(w)
                coef = np.linalg.lstsq(xo_ * sw[:, None], y * sw, rcond=None)[0]
            r = y - xo_ @ coef
        q = max(0.0, float(w @ (r * r)))
    df = k - p
    return q, df, float(special.chdtrc(df, q))


def saturated_loglik(x: FloatArray, n: FloatArray) -> float:
    """Binomial log-likelihood with p_i = x_i / n_i (0 log 0 = 0)."""
    const = special.gammaln(n + 1) - special.gammaln(x + 1) - special.gammaln(n - x + 1)
    return float(np.sum(const + special.xlogy(x, x / n) + special.xlogy(n - x, (n - x) / n)))


def qe_lrt(x: FloatArray, n: FloatArray, fe_loglik: float, df: int) -> tuple[float, float]:
    """QE.LRT from the fixed-effects logistic log-likelihood, and its p-value."""
    stat = max(0.0, 2.0 * (saturated_loglik(x, n) - fe_loglik))
    return stat, float(special.chdtrc(df, stat))


def wald_test(beta: FloatArray, vcov: FloatArray) -> tuple[float, int, float]:
    """QM: the Wald test of every coefficient but the intercept, or of the intercept alone
    when there is no other (metafor's default ``btt``); chi-square df and p-value."""
    p = len(beta)
    if p <= 2:  # one coefficient tested: its squared z
        j = p - 1
        stat = float(beta[j]) ** 2 / float(vcov[j, j])
        return stat, 1, float(special.chdtrc(1, stat))
    b = beta[1:]
    stat = float(b @ np.linalg.solve(vcov[1:, 1:], b))
    return stat, p - 1, float(special.chdtrc(p - 1, stat))


def likelihood_ratio(ll_full: float, ll_reduced: float, df: int) -> tuple[float, float]:
    """2 (ll_full - ll_reduced), truncated at 0 (both are maxima, so a negative value is
    rounding), and its chi-square p-value."""
    stat = max(0.0, 2.0 * (ll_full - ll_reduced))
    return stat, float(special.chdtrc(df, stat))
