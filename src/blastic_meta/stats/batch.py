"""Many random-effects meta-analyses at once, vectorised over analyses (rows).

``pool_many(Y, V)`` fits one intercept-only random-effects model per row of ``Y`` (effects)
and ``V`` (sampling variances); NaN marks a missing study, so rows may differ in k. Every
estimator of tau^2 is computed for all rows together with numpy (blocks of rows, no loop over
analyses): the closed forms directly, ML/REML (Viechtbauer, 2005) and Paule-Mandel (Paule and
Mandel, 1982) by a safeguarded Newton search on each row's estimating equation, bracketed and
bisected whenever a Newton step would leave the bracket, to a relative change of 1e-10. ML and
REML scan the score first, so a row whose likelihood has two maxima gets the global one.
The values agree with ``pool()`` row by row. Results follow metafor's ``rma``
conventions (I^2 from tau^2 and the "typical" within-study variance, Higgins and Thompson,
2002; prediction interval with the CI's critical value).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from .._checks import check_choice, check_level
from ..errors import ConvergenceError
from ._arrays import ArrayInputError, FloatArray, as_matrix

__all__ = ["COLUMNS", "METHODS", "TESTS", "pool_many"]

METHODS = ("DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
TESTS = ("z", "knha")
COLUMNS = ("k", "estimate", "se", "pval", "ci_low", "ci_high", "tau2", "i2", "h2", "q",
           "q_pval", "pi_low", "pi_high")
_RTOL = 1e-10
#: scan points for the ML/REML score, as fractions of an upper bound of tau^2
_GRID = np.r_[0.0, np.geomspace(1e-4, 1.0, 16)]
#: rows processed together (keeps the working arrays in cache)
_CHUNK = 4096
_GRID_BLOCK = 256
_MAXITER = 500


def _rsum(a: FloatArray, b: FloatArray | None = None) -> FloatArray:
    """Row sums over studies (the last axis), of ``a`` or of ``a * b``, without temporaries."""
    if a.ndim == 2:
        return np.einsum("ck,ck->c", a, b) if b is not None else np.einsum("ck->c", a)
    return np.einsum("cgk,ck->cg", a, b) if b is not None else np.einsum("cgk->cg", a)


class _Rows:
    """Per-row sums of one block of meta-analyses.

    A missing study has ``y = 0`` and ``v = inf``, so its weight ``1 / (v + tau2)`` is exactly
    0 in every sum.
    """

    def __init__(self, y: FloatArray, v: FloatArray, mask: FloatArray) -> None:
        self.y, self.v, self.mask = y, v, mask
        self.yy = y * y
        self.k = _rsum(mask)

    def take(self, idx: np.ndarray) -> _Rows:
        return _Rows(self.y[idx], self.v[idx], self.mask[idx])

    def score_grid(self, tau2: FloatArray, method: str) -> FloatArray:
        """ML or REML score (up to 1/2) at each of the tau2 values of a (rows, points) grid."""
        out = np.empty(tau2.shape)
        for first in range(0, tau2.shape[0], _GRID_BLOCK):  # small blocks stay in cache
            rows = slice(first, first + _GRID_BLOCK)
            y, yy = self.y[rows], self.yy[rows]
            w = self.v[rows, None, :] + tau2[rows, :, None]
            np.reciprocal(w, out=w)
            sw, swy = _rsum(w), _rsum(w, y)
            w *= w
            sw2, sw2y, sw2yy = _rsum(w), _rsum(w, y), _rsum(w, yy)
            mu = swy / sw
            yppy = sw2yy - 2 * mu * sw2y + mu * mu * sw2
            out[rows] = yppy - sw if method == "ML" else yppy - sw + sw2 / sw
        return out

    def score_bound(self, method: str) -> FloatArray:
        """A tau2 beyond which the ML or REML score is certainly negative.

        With w_i = 1/(v_i + t), sum w^2 e^2 <= S / (v_min + t)^2 (S the sum of squared
        deviations from the unweighted mean) and tr(P) >= (k - 1) / (v_max + t) (ML: sum w >=
        k / (v_max + t)); the score is negative once c (v_min + t)^2 > S (v_max + t).
        """
        _, ss = self._moments()
        c = self.k if method == "ML" else self.k - 1
        present = self.mask > 0
        vmin = np.where(present, self.v, np.inf).min(axis=1)
        vmax = np.where(present, self.v, 0.0).max(axis=1)
        s = (ss + np.sqrt(ss * ss + 4 * c * ss * (vmax - vmin))) / (2 * c)
        return np.maximum(s - vmin, 0.0) * 1.01

    def weights(self, tau2: FloatArray) -> FloatArray:
        return 1.0 / (self.v + tau2[:, None])

    def fit(self, tau2: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Weights, sum of weights, weighted mean and residuals at ``tau2``."""
        w = self.weights(tau2)
        sw = _rsum(w)
        mu = _rsum(w, self.y) / sw
        e = self.y - mu[:, None]
        return w, sw, mu, e

    def q(self, tau2: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Generalised Q statistic and its derivative in tau2."""
        w, _, _, e = self.fit(tau2)
        we = w * e
        return _rsum(we, e), -_rsum(we, we)

    def score(self, tau2: FloatArray, method: str) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Score of the ML or REML log-likelihood (up to 1/2), its derivative, information."""
        w, sw, _, e = self.fit(tau2)
        py = w * e
        yppy = _rsum(py, py)
        ppy = w * py - w * (_rsum(w, py) / sw)[:, None]
        ypppy = _rsum(py, ppy)
        sw2 = _rsum(w, w)
        if method == "ML":
            return yppy - sw, -2 * ypppy + sw2, sw2
        sw3 = _rsum(w * w, w)
        trp = sw - sw2 / sw
        trpp = sw2 - 2 * sw3 / sw + sw2 * sw2 / (sw * sw)
        return yppy - trp, -2 * ypppy + trpp, trpp

    def loglik(self, tau2: FloatArray, method: str) -> FloatArray:
        """ML or REML log-likelihood up to a constant."""
        w, sw, _, e = self.fit(tau2)
        logv = np.log(np.where(self.mask > 0, self.v + tau2[:, None], 1.0))
        ll = -0.5 * (_rsum(logv) + _rsum(w * e, e))
        return ll - 0.5 * np.log(sw) if method == "REML" else ll

    def _moments(self) -> tuple[FloatArray, FloatArray]:
        """Unweighted mean of the effects and sum of squared deviations, per row."""
        mean_y = _rsum(self.y) / self.k
        dev = (self.y - mean_y[:, None]) * self.mask
        return mean_y, _rsum(dev, dev)

    def mean_v(self) -> FloatArray:
        return _rsum(np.where(self.mask > 0, self.v, 0.0)) / self.k

    def scale(self) -> FloatArray:
        """A positive scale of tau2 per row (tolerances and starting brackets)."""
        _, ss = self._moments()
        s = ss / self.k + self.mean_v()
        return np.where(s > 0, s, 1.0)

    def he(self) -> FloatArray:
        """Hedges' (1983) moment estimate before truncation at 0."""
        _, ss = self._moments()
        return ss / (self.k - 1) - self.mean_v()


Fun = Callable[[FloatArray, np.ndarray], tuple[FloatArray, FloatArray]]


def _bracketed_newton(fun: Fun, lo: FloatArray, hi: FloatArray, x0: FloatArray,
                      xtol: FloatArray, what: str) -> FloatArray:
    """Roots of row-wise functions positive at ``lo`` and negative at ``hi``.

    Newton steps are kept while they stay strictly inside each row's bracket, otherwise the
    bracket is bisected; rows stop at a change below ``xtol + 1e-10 * |x|``.
    """
    lo, hi = lo.copy(), hi.copy()
    x = np.where((lo < x0) & (x0 < hi), x0, 0.5 * (lo + hi))
    active = np.ones(x.size, dtype=bool)
    for _ in range(_MAXITER):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            return x
        xa = x[idx]
        f, d = fun(xa, idx)
        la = np.where(f > 0, xa, lo[idx])
        ha = np.where(f < 0, xa, hi[idx])
        with np.errstate(divide="ignore", invalid="ignore"):
            new = np.where(d < 0, xa - f / d, np.nan)
        new = np.where((la < new) & (new < ha), new, 0.5 * (la + ha))
        tol = xtol[idx] + _RTOL * np.abs(xa)
        done = (np.abs(new - xa) <= tol) | (ha - la <= tol) | (f == 0)
        new = np.where(f == 0, xa, new)
        lo[idx], hi[idx], x[idx] = la, ha, new
        active[idx[done]] = False
    raise ConvergenceError(f"pool_many: {what}: root search did not converge in {_MAXITER} "
                           f"steps for {int(active.sum())} rows")


def _likelihood(rows: _Rows, method: str) -> FloatArray:
    """Global maximum of each row's ML or REML likelihood over tau^2 >= 0.

    These likelihoods can have two local maxima (one at 0 and one inside, for example when the
    variances differ widely), so the score is first scanned on a grid from 0 to a bound beyond
    which it is certainly negative; each grid cell where it changes from positive to
    non-positive holds a local maximum, found by the bracketed Newton search. Each row keeps
    the candidate of highest likelihood, or 0 if that is at least as high (metafor's
    ll0check).
    """
    n = rows.y.shape[0]
    scale = rows.scale()
    grid = rows.score_bound(method)[:, None] * _GRID[None, :]
    scores = rows.score_grid(grid, method)
    cells = np.argwhere((scores[:, :-1] > 0) & (scores[:, 1:] <= 0))
    best = np.zeros(n)
    if cells.size == 0:
        return best
    r, c = cells[:, 0], cells[:, 1]
    pairs = rows.take(r)

    def fun(t: FloatArray, idx: np.ndarray) -> tuple[FloatArray, FloatArray]:
        g, dg, _ = pairs.take(idx).score(t, method)
        return g, dg

    lo, hi = grid[r, c], grid[r, c + 1]
    s_lo, s_hi = scores[r, c], scores[r, c + 1]
    start = lo + (hi - lo) * s_lo / (s_lo - s_hi)  # secant through the cell's ends
    roots = _bracketed_newton(fun, lo, hi, start, 1e-14 * scale[r], f"tau2 ({method})")
    best[r] = roots
    # rows with more than one local maximum keep the one of highest likelihood
    several = np.flatnonzero(np.bincount(r, minlength=n)[r] > 1)
    if several.size:
        rs = r[several]
        ll = pairs.take(several).loglik(roots[several], method)
        order = np.lexsort((-ll, rs))
        first = order[np.r_[True, rs[order][1:] != rs[order][:-1]]]
        best[rs[first]] = roots[several][first]
    # tau2 = 0 is a further local maximum where the score there is <= 0; keep it if it is at
    # least as high (as metafor's ll0check)
    check = np.flatnonzero((scores[:, 0] <= 0) & (best > 0))
    if check.size:
        sub = rows.take(check)
        worse = sub.loglik(np.zeros(check.size), method) >= sub.loglik(best[check], method)
        best[check[worse]] = 0.0
    return best


def _paule_mandel(rows: _Rows) -> FloatArray:
    """tau2 at which the generalised Q equals k - 1 (0 if Q(0) <= k - 1); unique root."""
    tau2 = np.zeros(rows.y.shape[0])
    q0, dq0 = rows.q(tau2)
    target = rows.k - 1
    pos = np.flatnonzero(q0 > target)
    if pos.size == 0:
        return tau2
    sub = rows.take(pos)
    tgt = target[pos]

    def fun(t: FloatArray, idx: np.ndarray) -> tuple[FloatArray, FloatArray]:
        q, dq = sub.take(idx).q(t)
        return q - tgt[idx], dq

    start = (q0[pos] - tgt) / -dq0[pos]
    scale = sub.scale()
    # Q(tau2) <= sum w (y - mean y)^2 < S / tau2 (S: squared deviations from the unweighted
    # mean), so Q < k - 1 at tau2 = S / (k - 1)
    hi = sub._moments()[1] / (sub.k - 1)
    tau2[pos] = _bracketed_newton(fun, np.zeros(pos.size), hi, start, 1e-14 * scale,
                                  "tau2 (PM)")
    return tau2


def _dl(rows: _Rows) -> FloatArray:
    w = 1.0 / rows.v
    sw = _rsum(w)
    q, _ = rows.q(np.zeros(rows.y.shape[0]))
    return np.maximum(0.0, (q - (rows.k - 1)) / (sw - _rsum(w, w) / sw))


def _hs(rows: _Rows) -> FloatArray:
    q, _ = rows.q(np.zeros(rows.y.shape[0]))
    return np.maximum(0.0, (q - rows.k) / _rsum(1.0 / rows.v))


def _sj(rows: _Rows) -> FloatArray:
    k = rows.k
    t0 = rows._moments()[1] / k
    q, _ = rows.q(t0)
    return np.maximum(0.0, t0 * q / (k - 1))


_ESTIMATORS: dict[str, Callable[[_Rows], FloatArray]] = {
    "DL": _dl,
    "HE": lambda r: np.maximum(r.he(), 0.0),
    "HS": _hs,
    "SJ": _sj,
    "ML": lambda r: _likelihood(r, "ML"),
    "REML": lambda r: _likelihood(r, "REML"),
    "EB": _paule_mandel,  # metafor's empirical Bayes iteration has the PM fixed point
    "PM": _paule_mandel,
}


def _inputs(Y: ArrayLike, V: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    y = as_matrix("Y", Y)
    v = as_matrix("V", V)
    if y.shape != v.shape:
        raise ArrayInputError(f"Y and V must have the same shape: Y is {y.shape}, V is "
                              f"{v.shape}")
    miss_y, miss_v = np.isnan(y), np.isnan(v)
    if (miss_y != miss_v).any():
        i, j = np.argwhere(miss_y != miss_v)[0]
        which, other = ("Y", "V") if miss_y[i, j] else ("V", "Y")
        raise ArrayInputError(f"{which}[{i}, {j}] is missing (NaN) but {other}[{i}, {j}] is "
                              "not: mark a missing study with NaN in both")
    bad = ~miss_v & ~(v > 0)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ArrayInputError(f"V[{i}, {j}] = {v[i, j]:g}: sampling variances must be > 0")
    return y, v, (~miss_y).astype(np.float64)


def pool_many(Y: ArrayLike, V: ArrayLike, *, method: str = "REML", test: str = "z",
              level: float = 0.95) -> pd.DataFrame:
    """Fit one random-effects meta-analysis per row of ``Y`` (effects) and ``V`` (variances).

    Parameters
    ----------
    Y, V
        2-D arrays of the same shape, one meta-analysis per row; NaN (in both) marks a
        missing study, so rows may have different numbers of studies k.
    method
        tau^2 estimator, as metafor's ``rma``: ``"DL"``, ``"HE"``, ``"HS"``, ``"SJ"``,
        ``"ML"``, ``"REML"``, ``"EB"`` or ``"PM"``.
    test
        ``"z"`` (normal CI and prediction interval) or ``"knha"`` (Hartung-Knapp-Sidik-
        Jonkman: t(k - 1) and the scaled standard error, without metafor's ad hoc floor).
    level
        Confidence level in (0, 1).

    Returns
    -------
    pandas.DataFrame
        One row per meta-analysis with columns ``k, estimate, se, pval, ci_low, ci_high,
        tau2, i2, h2, q, q_pval, pi_low, pi_high``; rows with k < 2 are NaN except ``k``.

    References
    ----------
    Viechtbauer W (2005). Bias and efficiency of meta-analytic variance estimators in the
    random-effects model. J Educ Behav Stat 30:261-293.
    Paule RC, Mandel J (1982). Consensus values and weighting factors. J Res Natl Bur Stand.
    Hartung J, Knapp G (2001). On tests of the overall treatment effect in meta-analysis with
    normally distributed responses. Stat Med 20:1771-1782.
    """
    check_choice("method", method, METHODS)
    check_choice("test", test, TESTS)
    lv = check_level(level)
    y, v, mask = _inputs(Y, V)
    kk = mask.sum(axis=1)
    out = {c: np.full(y.shape[0], np.nan) for c in COLUMNS}
    out["k"] = kk.astype(np.int64)
    ok = np.flatnonzero(kk >= 2)
    y, v = np.where(mask > 0, y, 0.0), np.where(mask > 0, v, np.inf)
    # blocks of rows, each fitted at once (numpy over rows), so the arrays stay in cache
    for first in range(0, ok.size, _CHUNK):
        idx = ok[first:first + _CHUNK]
        rows = _Rows(y[idx], v[idx], mask[idx])
        for name, values in _summaries(rows, _ESTIMATORS[method](rows), test, lv).items():
            out[name][idx] = values
    return pd.DataFrame(out, columns=list(COLUMNS))


def _summaries(rows: _Rows, tau2: FloatArray, test: str, level: float
               ) -> dict[str, FloatArray]:
    k = rows.k
    w, sw, mu, e = rows.fit(tau2)
    se = np.sqrt(1 / sw)
    alpha = 1 - level
    if test == "knha":
        se = se * np.sqrt(_rsum(w * e, e) / (k - 1))
        crit = stats.t.ppf(1 - alpha / 2, k - 1)
    else:
        crit = np.full(k.size, stats.norm.ppf(1 - alpha / 2))
    # identical effects under knha give se = 0: p = 0, or NaN for a zero estimate (as metafor)
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = np.abs(mu / se)
    pval = 2 * (stats.t.sf(zval, k - 1) if test == "knha" else stats.norm.sf(zval))
    w0 = 1.0 / rows.v
    sw0 = _rsum(w0)
    q, _ = rows.q(np.zeros(k.size))
    vt = (k - 1) * sw0 / (sw0 * sw0 - _rsum(w0, w0))
    half_pi = crit * np.sqrt(se * se + tau2)
    return {
        "estimate": mu, "se": se, "pval": pval, "ci_low": mu - crit * se,
        "ci_high": mu + crit * se, "tau2": tau2, "i2": 100 * tau2 / (vt + tau2),
        "h2": (vt + tau2) / vt, "q": q, "q_pval": stats.chi2.sf(q, k - 1),
        "pi_low": mu - half_pi, "pi_high": mu + half_pi,
    }
