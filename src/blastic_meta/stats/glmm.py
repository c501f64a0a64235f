"""Random-effects binomial-normal model for single proportions (metafor ``rma.glmm``, PLO).

The events of study i are ``x_i ~ Binomial(n_i, expit(mu + tau * u_i))`` with
``u_i ~ N(0, 1)``; ``mu`` and ``tau^2`` are estimated by maximum likelihood (Hamza et al.,
2008; Stijnen et al., 2010). Studies with 0 or all events enter the likelihood exactly, with
no continuity correction. metafor fits this model through lme4's ``glmer`` with 7-point
adaptive Gauss-Hermite quadrature (Pinheiro and Bates, 1995), which has no Python equivalent,
so the likelihood is written here with numpy and ``scipy.special.roots_hermite``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats

from .._checks import check_level
from ..errors import ConvergenceError
from ._arrays import (
    ArrayInputError,
    FloatArray,
    as_vector,
    check_at_most,
    check_nonnegative,
    check_positive,
    same_length,
)

__all__ = ["GlmmResult", "pool_glmm"]

N_AGQ = 7  # metafor's default nAGQ
_Z, _W = special.roots_hermite(N_AGQ)  # physicists' rule: integral of exp(-z^2) f(z)
_LOGW = np.log(_W) + _Z**2  # exp(z^2) turns the rule into one for integral of f(z)
_ZS = math.sqrt(2.0) * _Z  # nodes on the scale of a standard normal
_TOL = 1e-10
_MAX_ITER = 200
_EMPTY = np.empty(0)


@dataclass(frozen=True, slots=True)
class GlmmResult:
    """Fit of the binomial-normal random-effects model (logit scale and proportion scale)."""

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

    def summary(self, digits: int = 4) -> str:
        """Text laid out like metafor's print of ``rma.glmm`` and its ``predict``."""
        f = f"{{:.{digits}f}}".format
        pval = "<.0001" if self.pval < 1e-4 else f(self.pval)
        head = ("estimate", "se", "zval", "pval", "ci.lb", "ci.ub")
        vals = (f(self.estimate), f(self.se), f(self.zval), pval, f(self.ci_low),
                f(self.ci_high))
        phead = ("pred", "ci.lb", "ci.ub", "pi.lb", "pi.ub")
        pvals = tuple(f(v) for v in (self.proportion, self.proportion_ci_low,
                                     self.proportion_ci_high, self.pi_low, self.pi_high))
        return "\n".join([
            f"Random-Effects Model (k = {self.k}; tau^2 estimator: ML)",
            "Model Type: Binomial-Normal Model (logit link), 7-point adaptive Gauss-Hermite "
            "quadrature",
            "",
            f"tau^2 (estimated amount of total heterogeneity): {f(self.tau2)}",
            f"tau (square root of estimated tau^2 value):      {f(math.sqrt(self.tau2))}",
            f"I^2 (total heterogeneity / total variability):   {self.i2:.2f}%",
            f"H^2 (total variability / sampling variability):  {self.h2:.2f}",
            f"log-likelihood:                                  {f(self.loglik)}",
            "",
            f"Model Results (logit scale; {100 * self.level:g}% CI from z):",
            "",
            _row(head, vals),
            _row(head, vals, values=True),
            "",
            "Proportion (inverse logit; prediction interval from z and se^2 + tau^2):",
            "",
            _row(phead, pvals),
            _row(phead, pvals, values=True),
        ])

    def to_dict(self) -> dict[str, float | int]:
        """JSON-safe mapping of every field."""
        return {key: (value if isinstance(value, int) else float(value))
                for key, value in asdict(self).items()}

    def __str__(self) -> str:
        return self.summary()


def _row(head: tuple[str, ...], vals: tuple[str, ...], *, values: bool = False) -> str:
    widths = [max(len(h), len(v)) for h, v in zip(head, vals, strict=True)]
    cells = vals if values else head
    return "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))


class _Likelihood:
    """Adaptive Gauss-Hermite approximation of the marginal log-likelihood and its derivatives.

    Each study's integral is centred at the mode of its integrand in ``u`` and scaled by the
    curvature there, as lme4 does for ``nAGQ > 1``. The modes of the previous call are kept
    as starting values of the next.
    """

    def __init__(self, x: FloatArray, n: FloatArray) -> None:
        self.x, self.n = x, n
        self.const = float(np.sum(special.gammaln(n + 1) - special.gammaln(x + 1)
                                  - special.gammaln(n - x + 1))) - 0.5 * len(x) * math.log(math.pi)
        self.xc, self.nc = x[:, None], n[:, None]
        self.mode = np.zeros_like(x)

    def _modes(self, mu: float, tau: float) -> FloatArray:
        x, n = self.x, self.n
        # the root of h'(u) = tau * (x - n p) - u lies between tau * (x - n) and tau * x
        a, b = tau * (x - n), tau * x
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        u = np.clip(self.mode, lo, hi)
        for _ in range(_MAX_ITER):
            p = special.expit(mu + tau * u)
            grad = tau * (x - n * p) - u
            lo = np.where(grad > 0, u, lo)
            hi = np.where(grad < 0, u, hi)
            step = grad / (1 + tau * tau * n * p * (1 - p))
            new = u + step
            # a Newton step that lands on (or beyond) a bracket end can cycle between the
            # two ends when the integrand is very flat on one side: bisect instead
            outside = ((new <= lo) | (new >= hi)) & (grad != 0)
            new = np.where(outside, 0.5 * (lo + hi), new)
            done = np.max(np.abs(new - u)) < 1e-13
            u = new
            if done:
                break
        self.mode = u
        return u

    def evaluate(self, mu: float, tau: float, *, derivatives: bool = False,
                 hessian: bool = True) -> tuple[float, FloatArray, FloatArray]:
        """Return the log-likelihood and (optionally) its gradient and an approximate Hessian.

        The gradient is the exact derivative of the quadrature approximation, including the
        movement of the nodes with (mu, tau) (implicit differentiation of the modes), so
        that the maximum found is the maximum of the same function lme4 maximises. The
        Hessian, used only for Newton directions, is Louis' (1982) identity evaluated with the
        same nodes.
        """
        x, n = self.x, self.n
        m = self._modes(mu, tau)
        p_m = special.expit(mu + tau * m)
        q_m = n * p_m * (1 - p_m)
        c1 = 1 + tau * tau * q_m
        sigma = 1 / np.sqrt(c1)
        u = m[:, None] + sigma[:, None] * _ZS
        eta = mu + tau * u
        terms = self.xc * eta - self.nc * np.logaddexp(0, eta) - 0.5 * u * u + _LOGW
        top = terms.max(axis=1, keepdims=True)
        ex = np.exp(terms - top)
        total = ex.sum(axis=1)
        loglik = float(np.sum(np.log(total * sigma) + top[:, 0]) + self.const)
        if not derivatives:
            return loglik, _EMPTY, _EMPTY
        post = ex / total[:, None]
        p = special.expit(eta)
        s = self.xc - self.nc * p  # d log f / d eta
        us = u * s
        r = tau * s - u  # d log(f phi) / du
        if hessian:
            q = self.nc * p * (1 - p)
            parts = (s, us, r, r * _ZS, q, u * q, u * q * u, s * s, us * s, us * us)
        else:
            parts = (s, us, r, r * _ZS)
        mom = np.einsum("kj,mkj->mk", post, np.stack(parts))
        e_s, e_us, e_r, e_rz = mom[0], mom[1], mom[2], mom[3]
        # the nodes u = m + sigma z move with (mu, tau): implicit derivatives of the modes
        # (tau (x - n p) - m = 0) and of log sigma = -log(1 + tau^2 q_m) / 2
        dq = q_m * (1 - 2 * p_m)
        dm_mu = -tau * q_m / c1
        dm_tau = ((x - n * p_m) - tau * q_m * m) / c1
        dls_mu = -0.5 * tau * tau * dq * (1 + tau * dm_mu) / c1
        dls_tau = -0.5 * (tau * tau * dq * (m + tau * dm_tau) + 2 * tau * q_m) / c1
        g_mu = np.sum(dls_mu + e_s + dm_mu * e_r + sigma * dls_mu * e_rz)
        g_tau = np.sum(dls_tau + e_us + dm_tau * e_r + sigma * dls_tau * e_rz)
        grad = np.array([g_mu, g_tau])
        if not hessian:
            return loglik, grad, _EMPTY
        e_q, e_uq, e_uuq, e_ss, e_uss, e_usus = mom[4], mom[5], mom[6], mom[7], mom[8], mom[9]
        h_mm = np.sum(-e_q + e_ss - e_s * e_s)
        h_mt = np.sum(-e_uq + e_uss - e_s * e_us)
        h_tt = np.sum(-e_uuq + e_usus - e_us * e_us)
        return loglik, grad, np.array([[h_mm, h_mt], [h_mt, h_tt]])

    def hessian(self, mu: float, tau: float) -> FloatArray:
        """Hessian of the quadrature log-likelihood by central differences of its gradient
        (lme4 also differentiates numerically for ``vcov``)."""
        hess = np.empty((2, 2))
        for j, h in enumerate((1e-5 * max(1.0, abs(mu)), 1e-5 * max(1.0, abs(tau)))):
            e = np.array([h, 0.0]) if j == 0 else np.array([0.0, h])
            g_plus = self.evaluate(mu + e[0], tau + e[1], derivatives=True, hessian=False)[1]
            g_minus = self.evaluate(mu - e[0], tau - e[1], derivatives=True, hessian=False)[1]
            hess[:, j] = (g_plus - g_minus) / (2 * h)
        return 0.5 * (hess + hess.T)


def _ascent_step(hess: FloatArray, grad: FloatArray) -> FloatArray:
    """Newton step, made an ascent direction by a ridge where the Hessian is not negative
    definite."""
    ridge = 0.0
    while True:
        h = hess - ridge * np.eye(2)
        if h[0, 0] < 0 and h[0, 0] * h[1, 1] - h[0, 1] ** 2 > 0:
            return -np.linalg.solve(h, grad)
        ridge = max(2 * ridge, 1e-3 * max(1.0, float(np.abs(hess).max())))


def _maximise(lik: _Likelihood, mu: float, tau: float) -> tuple[float, float, float, int]:
    """Damped Newton ascent in (mu, tau); tau may change sign (the likelihood is even in tau).

    Directions use the Louis Hessian, or the numerically differentiated exact gradient once
    Louis directions ascend slowly (steps shrinking by less than half) or not at all; the
    gradient is exact, so a vanishing step means a stationary point of the quadrature
    likelihood.
    """
    ll, grad, hess = lik.evaluate(mu, tau, derivatives=True)
    tiny = 8 * np.finfo(float).eps * max(1.0, abs(ll))
    exact = False  # switched on (for good) when Louis directions ascend slowly or not at all
    previous = math.inf
    for it in range(1, _MAX_ITER + 1):
        step = _ascent_step(lik.hessian(mu, tau) if exact else hess, grad)
        size = float(np.max(np.abs(step)))
        if size < _TOL:
            return mu, tau, ll, it
        if size > 0.5 * previous:
            exact = True
            step = _ascent_step(lik.hessian(mu, tau), grad)
        previous = size
        t = 1.0
        while t >= 1e-10:
            new_ll, new_grad, new_hess = lik.evaluate(mu + t * step[0], tau + t * step[1],
                                                      derivatives=True)
            # accept ties within rounding: near the optimum ll is flat to machine precision
            if new_ll >= ll - tiny:
                break
            t /= 2
        else:
            if not exact:
                exact = True
                continue
            # the likelihood is flat to rounding: converged when the step is tiny or the
            # Newton decrement (the increase the step promises) is below rounding of ll
            if size < 1e-6 or abs(float(grad @ step)) < 1e-10 * max(1.0, abs(ll)):
                return mu, tau, ll, it
            break
        stalled = new_ll <= ll and size < 1e-6
        mu, tau = mu + t * step[0], tau + t * step[1]
        ll, grad, hess = new_ll, new_grad, new_hess
        if stalled:
            # a small step that no longer raises ll: the optimum, up to rounding of ll
            return mu, tau, ll, it
    raise ConvergenceError(f"pool_glmm: no convergence of the maximum-likelihood fit "
                           f"(mu = {mu:g}, tau = {tau:g})")


def pool_glmm(events: ArrayLike, totals: ArrayLike, *, level: float = 0.95) -> GlmmResult:
    """Pool single proportions with the binomial-normal random-effects model (ML).

    Equivalent to metafor's ``rma.glmm(measure="PLO", xi=events, ni=totals)``: the
    log-likelihood is integrated over the study effects by 7-point adaptive Gauss-Hermite
    quadrature (as lme4 ``glmer(nAGQ = 7)``) and maximised to 1e-10 by damped Newton steps;
    ``tau2`` may be 0 at the boundary. The standard error of the logit-scale estimate comes
    from the observed information of (mu, tau) (the fixed-effect block of its inverse, as
    lme4's ``vcov``), here differentiated accurately; lme4's own finite differences are noisy
    at about 1e-3 relative when its inner iterations stop early. CI and prediction interval
    use z quantiles, as metafor's ``predict``; the proportion scale is their inverse logit.
    ``i2`` and ``h2`` follow ``rma.glmm`` (typical variance of the escalc "PLO" variances).

    Raises
    ------
    ArrayInputError
        Fewer than two studies, lengths that differ, negative counts, events > totals, or
        every study with 0 or all events: then the ML estimate is infinite.
    ConvergenceError
        The maximisation did not converge.

    References
    ----------
    Hamza TH, van Houwelingen HC, Stijnen T (2008). The binomial distribution of
    meta-analysis was preferred to model within-study variability. J Clin Epidemiol 61:41-51.
    Stijnen T, Hamza TH, Ozdemir P (2010). Random effects meta-analysis of event outcome in
    the framework of the generalized linear mixed model. Stat Med 29:3046-3067.
    Pinheiro JC, Bates DM (1995). Approximations to the log-likelihood function in the
    nonlinear mixed-effects model. J Comput Graph Stat 4:12-35.
    """
    lv = check_level(level)
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
    lik = _Likelihood(x, n)
    # start at the DerSimonian-Laird fit of the study logits (1/2 added to 0 and n events)
    xc = np.where((x == 0) | (x == n), x + 0.5, x)
    nc = np.where((x == 0) | (x == n), n + 1, n)
    yi = np.log(xc / (nc - xc))
    w = 1 / (1 / xc + 1 / (nc - xc))
    sw = w.sum()
    q = float(np.sum(w * (yi - np.sum(w * yi) / sw) ** 2))
    tau0 = max(math.sqrt(max(0.0, (q - (k - 1)) / (sw - np.sum(w * w) / sw))), 0.1)
    w = 1 / (1 / w + tau0 * tau0)
    mu0 = float(np.sum(w * yi) / w.sum())
    mu, tau, ll, iters = _maximise(lik, mu0, tau0)
    # the likelihood is even in tau, so tau = 0 is always stationary: keep it if it is higher
    # (tau = 0 is the common-effect logistic model, whose ML estimate is the pooled logit)
    mu_fe = float(np.log(x.sum()) - np.log(n.sum() - x.sum()))
    ll_fe = lik.evaluate(mu_fe, 0.0)[0]
    if ll_fe > ll + 1e-12 * abs(ll):
        mu, tau, ll = mu_fe, 0.0, ll_fe
    tau = abs(tau)
    if tau < 1e-7:
        tau = 0.0
    hess = lik.hessian(mu, tau)
    if tau == 0.0 or np.linalg.det(hess) <= 0:
        se = math.sqrt(-1 / hess[0, 0])
    else:
        se = math.sqrt(-np.linalg.inv(hess)[0, 0])
    z = float(stats.norm.ppf(1 - (1 - lv) / 2))
    tau2 = tau * tau
    # I^2 and H^2 as metafor's rma.glmm: the "typical" within-study variance of the PLO effect
    # sizes (escalc defaults) against tau2 (Higgins and Thompson, 2002)
    w = 1 / (1 / xc + 1 / (nc - xc))
    vt = (k - 1) * w.sum() / (w.sum() ** 2 - np.sum(w * w))
    half_pi = z * math.sqrt(se * se + tau2)
    expit = special.expit
    return GlmmResult(
        k=k, level=lv, estimate=mu, se=se, zval=mu / se,
        pval=float(2 * stats.norm.sf(abs(mu / se))),
        ci_low=mu - z * se, ci_high=mu + z * se, tau2=tau2, i2=float(100 * tau2 / (vt + tau2)),
        h2=float((vt + tau2) / vt), loglik=ll,
        proportion=float(expit(mu)), proportion_ci_low=float(expit(mu - z * se)),
        proportion_ci_high=float(expit(mu + z * se)), pi_low=float(expit(mu - half_pi)),
        pi_high=float(expit(mu + half_pi)), iterations=iters,
    )
