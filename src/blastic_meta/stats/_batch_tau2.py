"""tau^2 of many meta-analyses at once: the estimators behind ``pool_many``.

Studies run along the first axis and analyses along the second (arrays of shape (k, n)), so
every per-analysis sum is a reduction over axis 0, which numpy does with contiguous vector
adds; summing over a short last axis instead is several times slower. A missing study has
``v = inf``, so its weight 1 / (v + tau2) is exactly 0 in every sum.

The closed forms are computed directly. ML/REML (Viechtbauer, 2005) and Paule-Mandel (Paule
and Mandel, 1982) solve each analysis's estimating equation by a safeguarded Newton search,
bracketed and bisected whenever a Newton step would leave the bracket, to a relative change of
1e-10. ML and REML scan the score on a grid first, so an analysis whose likelihood has two
maxima gets the global one; bounds on the score settle its sign on most of the grid without
evaluating it there (``_sign_changes``).
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable
from functools import cached_property, partial

import numpy as np

from ..errors import ConvergenceError
from ._arrays import FloatArray

__all__ = ["ESTIMATORS", "Rows", "Scratch", "thread_scratch"]

_RTOL = 1e-10
#: scan points for the ML/REML score, as fractions of an upper bound of tau^2
_GRID = np.r_[0.0, np.geomspace(1e-4, 1.0, 16)]
#: the grid points evaluated for every analysis; those between them only where needed
_COARSE = (0, 8, 10, 12, 14, 16)
_MAXITER = 500
#: the Newton search drops converged analyses once they are this share of its working set
_COMPACT = 0.25


def _dot(a: FloatArray, b: FloatArray) -> FloatArray:
    """Sums over studies (axis 0) of ``a * b``, without a temporary."""
    return np.einsum("i...,i...->...", a, b)


class Scratch:
    """Work arrays reused by the steps of ``pool_many``.

    numpy gives every temporary fresh memory, and the first write to fresh memory costs a page
    fault per 4 KiB, which on some systems takes longer than the arithmetic; the hot loops
    write into these arrays instead. Every array is written before it is read.
    """

    def __init__(self) -> None:
        self._flat: dict[str, FloatArray] = {}

    def get(self, name: str, shape: tuple[int, ...]) -> FloatArray:
        """A contiguous array of ``shape`` kept under ``name``; its contents are undefined."""
        size = math.prod(shape)
        flat = self._flat.get(name)
        if flat is None or flat.size < size:
            flat = self._flat[name] = np.empty(size)
        return flat[:size].reshape(shape)


_LOCAL = threading.local()


def thread_scratch() -> Scratch:
    """This thread's work arrays, kept from one ``pool_many`` call to the next (a few MB:
    blocks of rows are bounded) so that repeated calls do not pay the page faults again."""
    scratch = getattr(_LOCAL, "scratch", None)
    if scratch is None:
        scratch = _LOCAL.scratch = Scratch()
    return scratch


class Rows:
    """The studies of a block of meta-analyses, one column per analysis.

    ``y`` and ``v`` have shape (k, n), with y = 0 and v = inf for a missing study. The
    searches use the effects centred at each analysis's unweighted mean (``yc``): every
    estimating equation is invariant to a shift of the effects, and the centred sums lose no
    digits to cancellation when the effects are far from 0.
    """

    def __init__(self, y: FloatArray, v: FloatArray, present: np.ndarray,
                 scratch: Scratch) -> None:
        self.y, self.v, self.present, self.scratch = y, v, present, scratch
        self.complete = bool(present.all())
        self.k = present.sum(axis=0, dtype=np.float64)
        self.yc = yc = scratch.get("yc", y.shape)
        np.subtract(y, y.sum(axis=0) / self.k, out=yc)
        if not self.complete:
            yc *= present
        #: sum of squared deviations from the unweighted mean
        self.ss = _dot(yc, yc)
        self.mean_v = self._present_v().sum(axis=0) / self.k

    def _present_v(self) -> FloatArray:
        """The variances with 0 for a missing study (in a scratch array if any is missing)."""
        if self.complete:
            return self.v
        out = self.scratch.get("tmp", self.v.shape)
        np.copyto(out, self.v)
        np.copyto(out, 0.0, where=~self.present)
        return out

    @property
    def n(self) -> int:
        return self.y.shape[1]

    def scale(self) -> FloatArray:
        """A positive scale of tau2 per analysis (tolerances)."""
        s = self.ss / self.k + self.mean_v
        return np.where(s > 0, s, 1.0)

    def q(self, tau2: FloatArray) -> FloatArray:
        """Generalised Q statistic at ``tau2``."""
        return _q(tau2, self.yc, self.v, scratch=self.scratch)[0]

    @cached_property
    def at_zero(self) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Sums at tau2 = 0, needed by several steps: sum w, sum w^2, Q and y'P^2 y."""
        w = _weights(np.zeros(self.n), self.v, self.scratch.get("w", self.v.shape))
        sw = w.sum(axis=0)
        e = np.subtract(self.yc, _dot(w, self.yc) / sw, out=self.scratch.get("e", w.shape))
        we = np.multiply(w, e, out=self.scratch.get("we", w.shape))
        return sw, _dot(w, w), _dot(we, e), _dot(we, we)

    def score_bound(self, method: str) -> FloatArray:
        """A tau2 beyond which the ML or REML score is certainly negative.

        With w_i = 1/(v_i + t), sum w^2 e^2 <= S / (v_min + t)^2 (S the sum of squared
        deviations from the unweighted mean) and tr(P) >= (k - 1) / (v_max + t) (ML: sum w >=
        k / (v_max + t)); the score is negative once c (v_min + t)^2 > S (v_max + t).
        """
        ss = self.ss
        c = self.k if method == "ML" else self.k - 1
        vmin = self.v.min(axis=0)
        vmax = self._present_v().max(axis=0)
        s = (ss + np.sqrt(ss * ss + 4 * c * ss * (vmax - vmin))) / (2 * c)
        return np.maximum(s - vmin, 0.0) * 1.01

    def columns(self, name: str, cols: np.ndarray, use: str) -> FloatArray:
        """The analyses ``cols`` of ``yc`` or ``v``, copied into a scratch array."""
        a = getattr(self, name)
        out = self.scratch.get(f"{use}_{name}", (a.shape[0], cols.size))
        return np.take(a, cols, axis=1, out=out, mode="clip")

    def loglik(self, tau2: FloatArray, cols: np.ndarray, method: str) -> FloatArray:
        """ML or REML log-likelihood up to a constant, of the analyses ``cols``."""
        yc, v = self.yc[:, cols], self.v[:, cols]
        w = 1.0 / (v + tau2)
        sw = w.sum(axis=0)
        e = yc - _dot(w, yc) / sw
        logv = np.log(np.where(self.present[:, cols], v + tau2, 1.0)).sum(axis=0)
        ll = -0.5 * (logv + _dot(w * e, e))
        return ll - 0.5 * np.log(sw) if method == "REML" else ll


def _weights(tau2: FloatArray, v: FloatArray, out: FloatArray) -> FloatArray:
    """1 / (v + tau2) into ``out``."""
    np.add(v, tau2, out=out)
    return np.divide(1.0, out, out=out)


def _a_and_t(tau2: FloatArray, yc: FloatArray, v: FloatArray, reml: bool, scratch: Scratch
             ) -> tuple[FloatArray, FloatArray]:
    """y'P^2 y and tr(P) (ML: sum w), whose difference is the ML or REML score (up to 1/2)."""
    w = _weights(tau2, v, scratch.get("w", v.shape))
    sw = w.sum(axis=0)
    we = np.subtract(yc, _dot(w, yc) / sw, out=scratch.get("we", v.shape))
    we *= w
    return _dot(we, we), (sw - _dot(w, w) / sw if reml else sw)


def _q(tau2: FloatArray, yc: FloatArray, v: FloatArray, *, scratch: Scratch
       ) -> tuple[FloatArray, FloatArray]:
    """Generalised Q statistic and its derivative in tau2."""
    w = _weights(tau2, v, scratch.get("w", v.shape))
    e, we = scratch.get("e", v.shape), scratch.get("we", v.shape)
    np.subtract(yc, _dot(w, yc) / w.sum(axis=0), out=e)
    np.multiply(w, e, out=we)
    return _dot(we, e), -_dot(we, we)


def _pm_equation(tau2: FloatArray, yc: FloatArray, v: FloatArray, target: FloatArray,
                 c: FloatArray, *, scratch: Scratch) -> tuple[FloatArray, FloatArray]:
    """Q(tau2) - (k - 1) and the slope of the Newton step on (tau2 + c) (Q - (k - 1)).

    With equal variances (tau2 + c) Q is linear in tau2 for c = v, so this form of the same
    equation (same root, same sign) needs fewer Newton steps than Q itself.
    """
    q, dq = _q(tau2, yc, v, scratch=scratch)
    f = q - target
    return f, dq + f / (tau2 + c)


def _score(tau2: FloatArray, yc: FloatArray, v: FloatArray, c: FloatArray, *,
           reml: bool, scratch: Scratch) -> tuple[FloatArray, FloatArray]:
    """ML or REML score (up to 1/2) and the slope of the Newton step on (tau2 + c)^2 score.

    With P = W - w w' / sum(w): score y'P^2 y - tr(P) (ML: sum w instead of tr(P)) and its
    derivative -2 y'P^3 y + tr(P^2) (ML: sum w^2), from sums over studies (Viechtbauer,
    2005). With equal variances (tau2 + c)^2 times the score is linear in tau2 for c = v, so
    Newton steps on that product (same root, same sign) converge in fewer steps.
    """
    w = _weights(tau2, v, scratch.get("w", v.shape))
    we, tmp = scratch.get("we", v.shape), scratch.get("tmp", v.shape)
    sw = w.sum(axis=0)
    np.subtract(yc, _dot(w, yc) / sw, out=we)
    we *= w  # P y
    yppy = _dot(we, we)
    wwe = np.multiply(we, w, out=tmp)
    ypppy = _dot(wwe, we) - wwe.sum(axis=0) ** 2 / sw
    if reml:
        w2 = np.multiply(w, w, out=tmp)
        sw2, sw3 = w2.sum(axis=0), _dot(w2, w)
        f = yppy - (sw - sw2 / sw)
        d = -2 * ypppy + sw2 - 2 * sw3 / sw + sw2 * sw2 / (sw * sw)
    else:
        f = yppy - sw
        d = -2 * ypppy + _dot(w, w)
    return f, d + 2 * f / (tau2 + c)


Equation = Callable[..., tuple[FloatArray, FloatArray]]


def _bracketed_newton(fun: Equation, data: tuple[FloatArray, ...], lo: FloatArray,
                      hi: FloatArray, x0: FloatArray, xtol: FloatArray, what: str,
                      scratch: Scratch) -> FloatArray:
    """Roots of column-wise equations ``fun(x, *data)``, positive at ``lo``, negative at ``hi``.

    ``fun`` returns the function and the slope of the Newton step. Newton steps are kept
    while they stay strictly inside each bracket, otherwise the bracket is bisected; an
    analysis stops at a change below ``xtol + 1e-10 * |x|``. ``data`` holds the arrays whose
    last axis runs over the analyses; converged analyses are dropped from them in batches
    (into scratch arrays, alternating between two sets).
    """
    x = np.where((lo < x0) & (x0 < hi), x0, 0.5 * (lo + hi))
    out = x.copy()
    cols = np.arange(x.size)  # where the working entries go in ``out``
    live = np.ones(x.size, dtype=bool)  # the working entries still searching
    compactions = 0
    for _ in range(_MAXITER):
        f, d = fun(x, *data)
        lo = np.where(f > 0, x, lo)
        hi = np.where(f < 0, x, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            new = np.where(d < 0, x - f / d, np.nan)
        new = np.where((lo < new) & (new < hi), new, 0.5 * (lo + hi))
        tol = xtol + _RTOL * np.abs(x)
        done = (np.abs(new - x) <= tol) | (hi - lo <= tol) | (f == 0)
        x = np.where(f == 0, x, new)
        # entries that converged earlier keep moving here, but their result is kept
        done &= live
        out[cols[done]] = x[done]
        live &= ~done
        n_live = np.count_nonzero(live)
        if n_live == 0:
            return out
        if n_live <= (1 - _COMPACT) * live.size:
            compactions += 1
            cols, x, lo, hi, xtol = (a[live] for a in (cols, x, lo, hi, xtol))
            data = tuple(np.compress(live, a, axis=-1, out=scratch.get(
                f"newton{i}_{compactions % 2}", (*a.shape[:-1], n_live)))
                for i, a in enumerate(data))
            live = np.ones(n_live, dtype=bool)
    raise ConvergenceError(f"pool_many: {what}: root search did not converge in {_MAXITER} "
                           f"steps for {int(live.sum())} rows")


def _sign_changes(rows: Rows, bound: FloatArray, reml: bool
                  ) -> tuple[np.ndarray, np.ndarray, FloatArray, FloatArray, FloatArray]:
    """The cells of the grid ``_GRID * bound`` where the ML or REML score (up to 1/2) goes
    from > 0 to <= 0: the analyses and cells (in that order), the score at both ends of each
    cell, and the score at tau2 = 0.

    The score is y'P^2 y - tr(P) (ML: sum w), a difference of two functions that both
    decrease in tau2, so it is negative on [a, b] if y'P^2 y(a) < tr P(b) and positive if
    y'P^2 y(b) > tr P(a). The points ``_COARSE`` are evaluated for every analysis, the points
    between two of them only for the analyses whose interval these bounds leave open (about
    2 of 11), so the changes of sign are those of the score on the whole grid.
    """
    a, t = np.empty((len(_COARSE), rows.n)), np.empty((len(_COARSE), rows.n))
    for i, p in enumerate(_COARSE):
        if p == 0:
            sw, sw2, _, a[i] = rows.at_zero
            t[i] = sw - sw2 / sw if reml else sw
        else:
            a[i], t[i] = _a_and_t(_GRID[p] * bound, rows.yc, rows.v, reml, rows.scratch)
    score = a - t
    found = []
    for i, (lo, hi) in enumerate(itertools.pairwise(_COARSE)):
        # the margins keep rounding from settling a sign
        open_ = ~((a[i] < t[i + 1] * (1 - 1e-12)) | (a[i + 1] > t[i] * (1 + 1e-12)))
        count = np.count_nonzero(open_)
        if count == 0:
            continue
        if count > rows.n // 2:  # cheaper to evaluate every analysis than to gather
            cols, yc, v = np.arange(rows.n), rows.yc, rows.v
        else:
            cols = np.flatnonzero(open_)
            yc, v = rows.columns("yc", cols, "grid"), rows.columns("v", cols, "grid")
        values = np.empty((hi - lo + 1, cols.size))
        values[0], values[-1] = score[i, cols], score[i + 1, cols]
        for j, p in enumerate(range(lo + 1, hi), start=1):
            a_in, t_in = _a_and_t(_GRID[p] * bound[cols], yc, v, reml, rows.scratch)
            np.subtract(a_in, t_in, out=values[j])
        cell, col = np.nonzero((values[:-1] > 0) & (values[1:] <= 0))
        found.append((cols[col], lo + cell, values[cell, col], values[cell + 1, col]))
    if not found:
        return np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0), np.zeros(0), score[0]
    r, c, s_lo, s_hi = (np.concatenate(x) for x in zip(*found, strict=True))
    order = np.lexsort((c, r))
    return r[order], c[order], s_lo[order], s_hi[order], score[0]


def _likelihood(rows: Rows, method: str) -> FloatArray:
    """Global maximum of each analysis's ML or REML likelihood over tau^2 >= 0.

    These likelihoods can have two local maxima (one at 0 and one inside, for example when the
    variances differ widely), so the score is first scanned on a grid from 0 to a bound beyond
    which it is certainly negative; each grid cell where it changes from positive to
    non-positive holds a local maximum, found by the bracketed Newton search. Each analysis
    keeps the candidate of highest likelihood, or 0 if that is at least as high (metafor's
    ll0check).
    """
    n, reml = rows.n, method == "REML"
    bound = rows.score_bound(method)
    r, c, s_lo, s_hi, s0 = _sign_changes(rows, bound, reml)
    best = np.zeros(n)
    if r.size == 0:
        return best
    lo, hi = _GRID[c] * bound[r], _GRID[c + 1] * bound[r]
    cv = rows.mean_v[r]
    f_lo, f_hi = s_lo * (lo + cv) ** 2, s_hi * (hi + cv) ** 2
    start = lo + (hi - lo) * f_lo / (f_lo - f_hi)  # secant through the cell's ends
    data = (rows.columns("yc", r, "newton"), rows.columns("v", r, "newton"), cv)
    roots = _bracketed_newton(partial(_score, reml=reml, scratch=rows.scratch), data, lo, hi,
                              start, 1e-14 * rows.scale()[r], f"tau2 ({method})",
                              rows.scratch)
    best[r] = roots
    # analyses with more than one local maximum keep the one of highest likelihood
    several = np.flatnonzero(np.bincount(r, minlength=n)[r] > 1)
    if several.size:
        rs = r[several]
        ll = rows.loglik(roots[several], rs, method)
        order = np.lexsort((-ll, rs))
        first = order[np.r_[True, rs[order][1:] != rs[order][:-1]]]
        best[rs[first]] = roots[several][first]
    # tau2 = 0 is a further local maximum where the score there is <= 0; keep it if it is at
    # least as high (as metafor's ll0check)
    check = np.flatnonzero((s0 <= 0) & (best > 0))
    if check.size:
        worse = (rows.loglik(np.zeros(check.size), check, method)
                 >= rows.loglik(best[check], check, method))
        best[check[worse]] = 0.0
    return best


def _paule_mandel(rows: Rows) -> FloatArray:
    """tau2 at which the generalised Q equals k - 1 (0 if Q(0) <= k - 1); unique root."""
    tau2 = np.zeros(rows.n)
    _, _, q0, yppy0 = rows.at_zero  # dQ/dtau2 = -y'P^2 y
    target = rows.k - 1
    pos = np.flatnonzero(q0 > target)
    if pos.size == 0:
        return tau2
    tgt, cv = target[pos], rows.mean_v[pos]
    f0 = q0[pos] - tgt
    start = f0 / (yppy0[pos] - f0 / cv)  # the first Newton step from 0
    # Q(tau2) <= sum w (y - mean y)^2 < S / tau2 (S: squared deviations from the unweighted
    # mean), so Q < k - 1 at tau2 = S / (k - 1)
    hi = rows.ss[pos] / tgt
    tau2[pos] = _bracketed_newton(partial(_pm_equation, scratch=rows.scratch),
                                  (rows.columns("yc", pos, "newton"),
                                   rows.columns("v", pos, "newton"), tgt, cv),
                                  np.zeros(pos.size), hi, start, 1e-14 * rows.scale()[pos],
                                  "tau2 (PM)", rows.scratch)
    return tau2


def _dl(rows: Rows) -> FloatArray:
    sw, sw2, q, _ = rows.at_zero
    return np.maximum(0.0, (q - (rows.k - 1)) / (sw - sw2 / sw))


def _hs(rows: Rows) -> FloatArray:
    sw, _, q, _ = rows.at_zero
    return np.maximum(0.0, (q - rows.k) / sw)


def _sj(rows: Rows) -> FloatArray:
    t0 = rows.ss / rows.k
    return np.maximum(0.0, t0 * rows.q(t0) / (rows.k - 1))


def _he(rows: Rows) -> FloatArray:
    """Hedges' (1983) moment estimate, truncated at 0."""
    return np.maximum(rows.ss / (rows.k - 1) - rows.mean_v, 0.0)


ESTIMATORS: dict[str, Callable[[Rows], FloatArray]] = {
    "DL": _dl,
    "HE": _he,
    "HS": _hs,
    "SJ": _sj,
    "ML": partial(_likelihood, method="ML"),
    "REML": partial(_likelihood, method="REML"),
    "EB": _paule_mandel,  # metafor's empirical Bayes iteration has the PM fixed point
    "PM": _paule_mandel,
}
