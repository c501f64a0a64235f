"""Bayesian random-effects meta-analysis for few studies, by numerical integration (no MCMC).

The normal-normal hierarchical model y_i ~ N(mu, v_i + tau^2) with an improper uniform prior on
mu and a proper half-normal or half-Cauchy prior on tau. Because the mu prior is flat, mu
integrates out in closed form (Röver 2020, section 2):

    p(tau | y)      ~ p(tau) * prod(w_i)^(1/2) * W^(-1/2) * exp(-Q(tau) / 2),
    mu | tau, y     ~ N(m(tau), 1 / W),
    theta_new | tau ~ N(m(tau), 1 / W + tau^2),

with w_i = 1 / (v_i + tau^2), W = sum w_i, m = sum w_i y_i / W and Q = sum w_i (y_i - m)^2.
The marginals of mu and theta_new are therefore continuous mixtures of normals over the
one-dimensional posterior of tau, which is integrated numerically here.

How (and why it is accurate): the integrals over tau are taken in z = log(tau) with the
trapezoid rule on a uniform grid. Every integrand is analytic in the strip |Im z| < pi/2
(its singularities sit at tau^2 = -v_i and tau^2 = -s^2), so the rule converges like
exp(-pi^2 / h) (Trefethen & Weideman 2014); the tau CDF uses Stenger's sinc indefinite
integration on the same nodes (error ~ exp(-pi^2 / (2 h))). The step halves until the
h and 2h rules agree to 1e-9. Quantiles are found by safeguarded Newton iterations on the
exact mixture CDFs. bayesmeta instead approximates the mu mixture by a discrete grid with
bounded divergence (Röver & Friede 2017), so its mu quantiles are good to about 1e-4;
tau quantities agree with its printed digits.

A single study (k = 1) is allowed: the tau posterior is then its prior (the likelihood does
not depend on tau once mu is integrated out) and mu | y is a scale mixture of normals. With
the half-Cauchy prior the posterior of tau then has no mean and that of mu neither (tails
like 1/mu^2): ``mean`` is NaN and ``sd`` is infinite; the median and intervals exist.

References
----------
Röver C (2020). Bayesian random-effects meta-analysis using the bayesmeta R package.
    J Stat Softw 93(6):1-51.
Röver C, Friede T (2017). Discrete approximation of a mixture distribution via restricted
    divergence. J Comput Graph Stat 26:217-22.
Friede T, Röver C, Wandel S, Neuenschwander B (2017). Meta-analysis of two studies in the
    presence of heterogeneity with applications in rare diseases. Biom J 59:658-71.
Stenger F (1993). Numerical Methods Based on Sinc and Analytic Functions. Springer.
Trefethen LN, Weideman JAC (2014). The exponentially convergent trapezoidal rule.
    SIAM Rev 56:385-458.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from scipy import special

from .._checks import (
    ChoiceError,
    as_vector,
    check_choice,
    check_finite,
    check_level,
    check_same_length,
    check_vi,
)
from ..errors import ConvergenceError, InputError
from ..formatting import fmt_num
from ._arrays import jsonable, split_frame

__all__ = ["TAU_PRIORS", "BayesResult", "pool_bayes"]

TAU_PRIORS = ("halfnormal", "halfcauchy")

_H0 = 0.2  # initial step in log(tau); 0.2 already meets the 1e-10 check for typical data
_SPAN = 36.0  # grid half-width in log(tau) around the prior scale: tails below e^-36
_KEEP = 30.0  # nodes more than exp(-30) below the peak carry no mass and are dropped
_AGREE = 1e-9  # the h and 2h trapezoid rules must agree this closely (relative)
_MAX_HALVINGS = 8
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


@dataclass(frozen=True, slots=True)
class _TauPrior:
    """A prior density for tau on (0, inf): log density, and the power p of its tail
    (density ~ tau^-p as tau -> inf; None when it decays faster than any power)."""

    name: str
    scale: float
    logpdf: Callable[[np.ndarray], np.ndarray]
    tail_power: float | None
    label: str


def _tau_prior(name: str, scale: float) -> _TauPrior:
    if name == "halfnormal":
        c = math.log(2.0 / scale) - _LOG_SQRT_2PI
        return _TauPrior(name, scale, lambda t: c - 0.5 * (t / scale) ** 2, None,
                         f"half-normal(scale = {scale:g})")
    c = math.log(2.0 / (math.pi * scale))
    return _TauPrior(name, scale, lambda t: c - np.log1p((t / scale) ** 2), 2.0,
                     f"half-Cauchy(scale = {scale:g})")


class _Posterior:
    """The marginal posteriors of tau, mu and theta_new on a trapezoid grid in log(tau).

    ``mu_prior`` (mean, sd) replaces the flat prior on mu by a normal one; it enters as a
    pseudo-study with fixed variance and is used only to check against published examples
    that use such a prior.
    """

    def __init__(self, y: np.ndarray, v: np.ndarray, prior: _TauPrior,
                 mu_prior: tuple[float, float] | None = None) -> None:
        self.y, self.v, self.prior = y, v, prior
        self.fixed = None if mu_prior is None else (mu_prior[0], mu_prior[1] ** 2)
        # the likelihood of tau decays like tau^-(k-1) (flat mu prior) or tau^-k
        self.like_power = len(y) - (1 if mu_prior is None else 0)
        if prior.tail_power is not None and prior.tail_power + self.like_power <= 1:
            raise InputError("tau prior: the posterior would be improper for these data")
        z = np.arange(math.log(prior.scale) - _SPAN, math.log(prior.scale) + _SPAN + _H0 / 2,
                      _H0)
        h = _H0
        for _ in range(_MAX_HALVINGS + 1):
            lg, m, var = self._evaluate(z)
            top = int(np.argmax(lg))
            alive = np.flatnonzero(lg >= lg[top] - _KEEP)
            lo, hi = max(alive[0] - 1, 0), min(alive[-1] + 1, len(z) - 1)
            z, lg, m, var = z[lo:hi + 1], lg[lo:hi + 1], m[lo:hi + 1], var[lo:hi + 1]
            g = np.exp(lg - lg[top - lo])
            full = g.sum() * h
            coarse = g[(top - lo) % 2::2].sum() * 2 * h
            if abs(coarse - full) <= _AGREE * full:
                break
            h /= 2
            z = np.arange(z[0], z[-1] + h / 2, h)
        else:
            raise ConvergenceError("pool_bayes: the tau integral did not converge")
        self.h, self.z, self.m, self.var = h, z, m, var
        self.tau = np.exp(z)
        self.log_norm = float(lg[top - lo] + math.log(full))
        self.w = g * h / full  # posterior weight of each node (sums to 1)

    # -- the integrand --------------------------------------------------------------------
    def _evaluate(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """log of p(tau | y) tau (the density in z, unnormalised), m(tau) and 1 / W."""
        tau = np.exp(z)
        w = 1.0 / (self.v[None, :] + (tau * tau)[:, None])
        y = self.y
        if self.fixed is not None:
            w = np.hstack([w, np.full((len(z), 1), 1.0 / self.fixed[1])])
            y = np.append(y, self.fixed[0])
        W = w.sum(axis=1)
        m = (w @ y) / W
        r = y[None, :] - m[:, None]
        ll = 0.5 * np.log(w).sum(axis=1) - 0.5 * np.log(W) - 0.5 * (w * r * r).sum(axis=1)
        return ll + self.prior.logpdf(tau) + z, m, 1.0 / W

    # -- tau ------------------------------------------------------------------------------
    def tau_moment_exists(self, r: int) -> bool:
        p = self.prior.tail_power
        return p is None or r < p + self.like_power - 1

    def tau_mean(self) -> float:
        return float(self.w @ self.tau) if self.tau_moment_exists(1) else math.inf

    def tau_cdf(self, tau: Any) -> np.ndarray:
        """P(tau' <= tau | y) by sinc indefinite integration (Stenger 1993, 4.5.1)."""
        zq = np.log(np.atleast_1d(np.asarray(tau, dtype=float)))
        return self._tau_cdf_z(zq)

    def _tau_cdf_z(self, zq: np.ndarray) -> np.ndarray:
        si = special.sici(np.pi * (zq[:, None] - self.z[None, :]) / self.h)[0]
        return np.clip((self.w * (0.5 + si / np.pi)).sum(axis=1), 0.0, 1.0)

    def _tau_density_z(self, zq: np.ndarray) -> np.ndarray:
        return np.exp(self._evaluate(zq)[0] - self.log_norm)

    def tau_quantiles(self, ps: Sequence[float]) -> np.ndarray:
        ps = np.asarray(ps, dtype=float)
        # start from the CDF at the nodes: sinc weights there are 1/2 + Si(pi j)/pi
        n = len(self.z)
        j = np.arange(-(n - 1), n)
        at_nodes = np.convolve(self.w, 0.5 + special.sici(np.pi * j)[0] / np.pi)[n - 1:2 * n - 1]
        start = np.interp(ps, np.maximum.accumulate(at_nodes), self.z)
        lo = np.full_like(ps, self.z[0] - 1.0)
        hi = np.full_like(ps, self.z[-1] + 1.0)
        z = _newton(start, lo, hi, ps, self._tau_cdf_z, self._tau_density_z, tol=1e-11)
        return np.exp(z)

    # -- mu and theta_new -----------------------------------------------------------------
    def mu_mean(self) -> float:
        if self.fixed is None and not self.tau_moment_exists(1):
            return math.nan  # the integral diverges at both ends: no mean at all
        return float(self.w @ self.m)

    def mu_sd(self, predictive: bool = False) -> float:
        if self.fixed is None and not self.tau_moment_exists(2):
            return math.inf
        var = self.var + (self.tau ** 2 if predictive else 0.0)
        mean = self.w @ self.m
        return math.sqrt(max(float(self.w @ (var + self.m ** 2)) - mean * mean, 0.0))

    def mu_cdf(self, x: Any, predictive: bool = False) -> np.ndarray:
        sd = self._sd(predictive)
        xq = np.atleast_1d(np.asarray(x, dtype=float))
        return (self.w * special.ndtr((xq[:, None] - self.m) / sd)).sum(axis=1)

    def _sd(self, predictive: bool) -> np.ndarray:
        return np.sqrt(self.var + self.tau ** 2) if predictive else np.sqrt(self.var)

    def mu_quantiles(self, ps: Sequence[float], predictive: bool = False) -> np.ndarray:
        ps = np.asarray(ps, dtype=float)
        m, sd, w = self.m, self._sd(predictive), self.w
        comp = m[None, :] + sd[None, :] * special.ndtri(ps)[:, None]  # component quantiles
        # the mixture quantile lies between the smallest and largest component quantile;
        # the weighted median of the component quantiles is a close start
        order = np.argsort(comp, axis=1)
        cum = np.cumsum(w[order], axis=1)
        pick = order[np.arange(len(ps)), np.argmax(cum >= 0.5, axis=1)]
        start = comp[np.arange(len(ps)), pick]

        def cdf(x: np.ndarray) -> np.ndarray:
            return (w * special.ndtr((x[:, None] - m) / sd)).sum(axis=1)

        def pdf(x: np.ndarray) -> np.ndarray:
            u = (x[:, None] - m) / sd
            return (w * np.exp(-0.5 * u * u - _LOG_SQRT_2PI) / sd).sum(axis=1)

        scale = float(np.max(sd))
        return _newton(start, comp.min(axis=1), comp.max(axis=1), ps, cdf, pdf,
                       tol=1e-13 * max(scale, float(np.max(np.abs(m)))))


def _newton(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, ps: np.ndarray,
            cdf: Callable[[np.ndarray], np.ndarray], pdf: Callable[[np.ndarray], np.ndarray],
            tol: float) -> np.ndarray:
    """Solve cdf(x) = ps for several targets at once: Newton steps, bisection when a step
    leaves the bracket [lo, hi] (the CDFs are smooth and increasing)."""
    x, lo, hi = x.astype(float), lo.astype(float), hi.astype(float)
    active = np.ones(len(x), dtype=bool)
    for _ in range(200):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            return x
        xi = x[idx]
        d = cdf(xi) - ps[idx]
        f = pdf(xi)
        lo[idx] = np.where(d < 0, xi, lo[idx])
        hi[idx] = np.where(d > 0, xi, hi[idx])
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(f > 0, d / f, np.inf)
        new = xi - step
        outside = ~((new > lo[idx]) & (new < hi[idx])) | ~np.isfinite(new)
        new = np.where(outside, 0.5 * (lo[idx] + hi[idx]), new)
        done = (np.abs(new - xi) <= tol) | (d == 0) | (hi[idx] - lo[idx] <= tol)
        x[idx] = np.where(d == 0, xi, new)
        active[idx[done]] = False
    raise ConvergenceError("pool_bayes: a posterior quantile did not converge")


@dataclass(frozen=True, slots=True)
class BayesResult:
    """Bayesian random-effects fit (bayesmeta-like), immutable.

    ``estimate`` is the posterior median of mu and ``mean`` its posterior mean; all intervals
    are central (equal-tailed) at ``level``. ``pi_*`` bound the posterior predictive
    distribution of a new study's true effect theta_new ~ N(mu, tau^2). Moments that do not
    exist (k = 1 or 2 with the half-Cauchy prior) are NaN (a mean) or inf (an SD).
    """

    k: int
    level: float
    tau_prior: str
    tau_scale: float
    estimate: float
    mean: float
    sd: float
    ci_low: float
    ci_high: float
    tau_median: float
    tau_mean: float
    tau_ci_low: float
    tau_ci_high: float
    pi_median: float
    pi_low: float
    pi_high: float

    @property
    def prior_description(self) -> str:
        return _tau_prior(self.tau_prior, self.tau_scale).label + \
            " prior on tau, uniform prior on mu"

    def summary(self, digits: int = 4) -> str:
        """Text laid out like metafor's print methods, with bayesmeta's summary table."""
        def f(x: float) -> str:
            return "undefined" if math.isnan(x) else fmt_num(x, digits)

        pct = f"{100 * self.level:g}%"
        rows = [("mu", self.estimate, self.mean, self.sd, self.ci_low, self.ci_high),
                ("tau", self.tau_median, self.tau_mean, math.nan, self.tau_ci_low,
                 self.tau_ci_high),
                ("theta_new", self.pi_median, self.mean, math.nan, self.pi_low, self.pi_high)]
        head = ("", "median", "mean", "sd", f"{pct} lower", f"{pct} upper")
        cells = [head] + [(r[0], f(r[1]), f(r[2]), "" if math.isnan(r[3]) else f(r[3]),
                           f(r[4]), f(r[5])) for r in rows]
        widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
        table = ["  ".join([c[0].ljust(widths[0])]
                           + [c[i].rjust(widths[i]) for i in range(1, len(head))]).rstrip()
                 for c in cells]
        return "\n".join([
            f"Bayesian Random-Effects Model (k = {self.k}; normal-normal hierarchical model)",
            "",
            f"Priors: {self.prior_description}",
            "Computation: numerical integration over tau (Röver 2020), no MCMC",
            "",
            f"Marginal posterior summary (central {pct} credible intervals;",
            "theta_new is the true effect of a new study, its interval the prediction interval):",
            "",
            *table,
        ])

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """Every field, the prior in words and the method; JSON-safe (NaN/inf -> None)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["prior"] = self.prior_description
        out["method"] = "numerical integration over tau (Röver 2020, bayesmeta)"
        return jsonable(out)


def pool_bayes(yi: Any, vi: Any = None, *, tau_prior: str = "halfnormal",
               tau_scale: float = 0.5, level: float = 0.95) -> BayesResult:
    """Bayesian random-effects meta-analysis with a weakly informative prior on tau.

    Normal-normal model y_i ~ N(mu, v_i + tau^2), improper uniform prior on mu, half-normal
    or half-Cauchy prior on tau with scale ``tau_scale`` (Friede et al. 2017 recommend a
    half-normal with scale 0.5 or 1 for log odds ratios). Computed by numerical integration
    over tau as bayesmeta does (Röver 2020); see the module docstring for the accuracy.

    Parameters
    ----------
    yi, vi : array-like
        Effect sizes and sampling variances (> 0), one per study; ``yi`` may instead be a
        DataFrame with ``yi`` and ``vi`` columns. k = 1 is allowed (see ``BayesResult``).
    tau_prior : {"halfnormal", "halfcauchy"}
    tau_scale : float
        Scale of the tau prior (> 0), on the scale of ``yi``.
    level : float
        Credibility level of the central intervals, in (0, 1).

    Examples
    --------
    >>> r = pool_bayes([-0.5, -0.2, -0.9], [0.04, 0.09, 0.06])
    >>> round(r.estimate, 3), round(r.tau_median, 3)
    (-0.555, 0.26)
    """
    yi, vi = split_frame(yi, vi)
    if vi is None:
        raise InputError("vi: the sampling variances are required")
    y = as_vector("yi", yi)
    v = as_vector("vi", vi)
    check_same_length(("yi", "vi"), (y, v))
    if len(y) == 0:
        raise InputError("yi: at least one study is needed")
    check_finite("yi", y)
    check_vi(v)
    try:
        check_choice("tau_prior", tau_prior, TAU_PRIORS)
    except ChoiceError as exc:
        raise ChoiceError(f"{exc} (the prior on tau)") from None
    if isinstance(tau_scale, bool) or not isinstance(tau_scale, (int, float, np.floating,
                                                                 np.integer)):
        raise InputError(f"tau_scale = {tau_scale!r}: expected a number > 0")
    scale = float(tau_scale)
    if not (math.isfinite(scale) and scale > 0):
        raise InputError(f"tau_scale = {tau_scale!r}: expected a finite number > 0")
    lev = check_level(level)
    post = _Posterior(y, v, _tau_prior(tau_prior, scale))
    a = (1.0 - lev) / 2.0
    ps = (a, 0.5, 1.0 - a)
    mu = post.mu_quantiles(ps)
    pred = post.mu_quantiles(ps, predictive=True)
    tau = post.tau_quantiles(ps)
    return BayesResult(
        k=len(y), level=lev, tau_prior=tau_prior, tau_scale=scale,
        estimate=float(mu[1]), mean=post.mu_mean(), sd=post.mu_sd(),
        ci_low=float(mu[0]), ci_high=float(mu[2]),
        tau_median=float(tau[1]), tau_mean=post.tau_mean(),
        tau_ci_low=float(tau[0]), tau_ci_high=float(tau[2]),
        pi_median=float(pred[1]), pi_low=float(pred[0]), pi_high=float(pred[2]),
    )
