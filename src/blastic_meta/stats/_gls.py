"""The weighted least squares engine of the tau^2 estimators and of the model fit (private).

``Gls`` holds the effects, variances and design of one model and gives, at any tau^2, the
fit, the generalised Q, the ML/REML score with its derivative and information, and the traces
of P (notation as in ``tau2``; Viechtbauer 2005, 2010).
"""

from __future__ import annotations

import math

import numpy as np

_SUM = np.add.reduce  # the sum of a small array without the overhead of ndarray.sum
#: up to this many studies the ML/REML score is summed over Python floats, not arrays
_SMALL_K = 32


class Gls:
    """Weighted least squares pieces of the model at a given tau^2 (private engine).

    Works in p x p algebra (never the k x k matrix P), with a scalar fast path for the
    intercept-only model, which keeps a k = 10 REML fit well under a millisecond.
    """

    __slots__ = ("X", "_last", "_lists", "_scale", "_w0", "int_only", "k", "p", "v", "y")

    def __init__(self, y: np.ndarray, v: np.ndarray, X: np.ndarray | None) -> None:
        self.y = y
        self.v = v
        self.k = y.shape[0]
        self._scale = 0.0
        self._last: tuple[float, tuple[np.ndarray, ...]] | None = None
        self._w0: np.ndarray | None = None
        self._lists: tuple[list[float], list[float]] | None = None
        if X is None:
            self.X = None
            self.p = 1
            self.int_only = True
        else:
            self.X = X
            self.p = X.shape[1]
            self.int_only = False

    # -- core quantities -------------------------------------------------------------------
    @property
    def w0(self) -> np.ndarray:
        """The weights 1 / v_i of the equal-effects fit (computed once)."""
        self._w0 = 1.0 / self.v if self._w0 is None else self._w0
        return self._w0

    def fit(self, tau2: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return (w, beta, vb, resid) at ``tau2``: weights, GLS coefficients, their
        (unscaled) covariance (X'WX)^-1 and residuals y - X beta. The arrays of the last call
        are kept (the estimators end with a fit at the estimate, which the model fit reuses),
        so they must not be modified."""
        last = self._last
        if last is not None and last[0] == tau2:
            return last[1]  # type: ignore[return-value]
        w = 1.0 / (self.v + tau2)
        if self.int_only:
            s = _SUM(w)
            b = (w @ self.y) / s
            out = w, np.array([b]), np.array([[1.0 / s]]), self.y - b
        else:
            X = self.X
            wx = X * w[:, None]
            vb = np.linalg.inv(X.T @ wx)
            beta = vb @ (wx.T @ self.y)
            out = w, beta, vb, self.y - X @ beta
        self._last = (tau2, out)
        return out

    def q(self, tau2: float) -> float:
        """Generalised Q statistic y'P(tau2)y."""
        w, _, _, e = self.fit(tau2)
        return float(w @ (e * e))

    def q_deriv(self, tau2: float) -> tuple[float, float]:
        """Q(tau2) and its derivative -y'PPy (Q is decreasing and convex in tau2)."""
        if self.int_only:  # the hot path of the Q-profile and PM searches
            w = 1.0 / (self.v + tau2)
            e = self.y - (w @ self.y) / w.sum()
        else:
            w, _, _, e = self.fit(tau2)
        py = w * e
        return float(py @ e), -float(py @ py)

    def _p_times(self, w: np.ndarray, vb: np.ndarray, vec: np.ndarray) -> np.ndarray:
        wv = w * vec
        if self.int_only:
            return wv - w * (wv.sum() * vb[0, 0])
        return wv - (self.X * w[:, None]) @ (vb @ (self.X.T @ wv))

    def score(self, tau2: float, method: str) -> tuple[float, float, float]:
        """(score, d score / d tau2, expected information) of the ML or REML log-likelihood,
        each up to the common factor 1/2 (Viechtbauer 2005, eqs. for Fisher scoring)."""
        if self.int_only:
            return self._score_int_only(tau2, method)
        w, _, vb, e = self.fit(tau2)
        py = w * e
        ppy = self._p_times(w, vb, py)
        yppy = float(py @ py)
        ypppy = float(py @ ppy)
        if method == "ML":
            sw2 = float(w @ w)
            return yppy - float(w.sum()), -2.0 * ypppy + sw2, sw2
        trp, trpp = self._traces(w, vb)
        return yppy - trp, -2.0 * ypppy + trpp, trpp

    def _score_int_only(self, tau2: float, method: str) -> tuple[float, float, float]:
        """``score`` without moderators in the fewest array operations (ML/REML's hot loop):
        P = W - w w'/sum(w), y'PPy = |w e|^2, y'PPPy = sum(w (w e)^2) - (sum w^2 e)^2/sum(w).

        Up to ``_SMALL_K`` studies the sums are taken in two plain loops over Python floats
        (``_score_small``), at a fraction of the cost of a dozen array operations on a dozen
        values; a value that is not finite is recomputed here, so that overflow is met by
        numpy's error handling as it is for larger k."""
        if self.k <= _SMALL_K:
            out = _score_small(*self.lists(), tau2, method == "ML")
            if math.isfinite(out[0] + out[1]):
                return out
        w = 1.0 / (self.v + tau2)
        s = float(_SUM(w))
        py = w * (self.y - float(w @ self.y) / s)
        a = float(w @ py)
        ypppy = float((py * py) @ w) - a * a / s
        yppy = float(py @ py)
        w2 = w * w
        sw2 = float(_SUM(w2))
        if method == "ML":
            return yppy - s, -2.0 * ypppy + sw2, sw2
        trpp = sw2 - 2.0 * float(w2 @ w) / s + sw2 * sw2 / (s * s)
        return yppy - (s - sw2 / s), -2.0 * ypppy + trpp, trpp

    def score_grid(self, ts: np.ndarray, method: str) -> np.ndarray:
        """The ML or REML score at every tau^2 in ``ts`` (vectorised without moderators)."""
        if not self.int_only:
            return np.array([self.score(float(t), method)[0] for t in ts])
        W = 1.0 / (self.v[None, :] + ts[:, None])
        S = W.sum(axis=1)
        e = self.y[None, :] - ((W @ self.y) / S)[:, None]
        py = W * e
        yppy = np.einsum("ij,ij->i", py, py)
        if method == "ML":
            return yppy - S
        return yppy - (S - np.einsum("ij,ij->i", W, W) / S)

    def _traces(self, w: np.ndarray, vb: np.ndarray) -> tuple[float, float]:
        """tr(P) and tr(PP)."""
        w2 = w * w
        if self.int_only:
            s = _SUM(w)
            sw2 = _SUM(w2)
            return float(s - sw2 / s), float(sw2 - 2.0 * (w2 @ w) / s + sw2 * sw2 / (s * s))
        X = self.X
        c = X.T @ (X * w2[:, None])  # X'W^2X
        d = X.T @ (X * (w2 * w)[:, None])  # X'W^3X
        bc = vb @ c
        trp = float(w.sum() - np.trace(bc))
        trpp = float(w2.sum() - 2.0 * np.trace(vb @ d) + np.sum(bc * bc.T))
        return trp, trpp

    def traces(self, tau2: float) -> tuple[float, float]:
        """tr(P) and tr(PP) at ``tau2``."""
        w, _, vb, _ = self.fit(tau2)
        return self._traces(w, vb)

    def p_matrix(self, w: np.ndarray) -> np.ndarray:
        """The k x k matrix P for weights ``w`` (only for standard errors, computed once)."""
        X = np.ones((self.k, 1)) if self.X is None else self.X
        wx = X * w[:, None]
        return np.diag(w) - wx @ np.linalg.solve(X.T @ wx, wx.T)

    def loglik(self, tau2: float, method: str) -> float:
        """ML or REML log-likelihood (metafor's definition, including constants)."""
        w, _, vb, e = self.fit(tau2)
        k, p = self.k, self.p
        rss = float(w @ (e * e))
        if method == "ML":
            return -0.5 * k * math.log(2 * math.pi) - 0.5 * float(np.log(self.v + tau2).sum()) \
                - 0.5 * rss
        _, logdet_vb = np.linalg.slogdet(vb)
        return (-0.5 * (k - p) * math.log(2 * math.pi)
                - 0.5 * float(np.log(self.v + tau2).sum()) + 0.5 * float(logdet_vb) - 0.5 * rss)

    def scale(self) -> float:
        """A positive scale for tau^2 (used for tolerances and initial brackets)."""
        if self._scale == 0.0:
            d = self.y - float(_SUM(self.y)) / self.k
            s = float(d @ d) / self.k + float(_SUM(self.v)) / self.k
            self._scale = s if s > 0 else 1.0
        return self._scale

    def lists(self) -> tuple[list[float], list[float]]:
        """y and v as lists of Python floats (for the loops of small k), made once."""
        if self._lists is None:
            self._lists = (self.y.tolist(), self.v.tolist())
        return self._lists


def _score_small(y: list[float], v: list[float], tau2: float,
                 ml: bool) -> tuple[float, float, float]:
    """``Gls._score_int_only`` on Python floats: the same sums, in two loops."""
    s = swy = 0.0
    w = []
    for vi, yi in zip(v, y, strict=True):
        wi = 1.0 / (vi + tau2)
        w.append(wi)
        s += wi
        swy += wi * yi
    mu = swy / s
    a = b = yppy = sw2 = sw3 = 0.0
    for wi, yi in zip(w, y, strict=True):
        pi = wi * (yi - mu)  # (P y)_i
        pw = pi * wi
        w2 = wi * wi
        a += pw
        b += pw * pi
        yppy += pi * pi
        sw2 += w2
        sw3 += w2 * wi
    ypppy = b - a * a / s
    if ml:
        return yppy - s, -2.0 * ypppy + sw2, sw2
    trpp = sw2 - 2.0 * sw3 / s + sw2 * sw2 / (s * s)
    return yppy - (s - sw2 / s), -2.0 * ypppy + trpp, trpp
