"""Heterogeneity statistics and prediction intervals, each a pure function.

Two definitions of I^2 (and H^2) are in use and give different numbers for every estimator
but DL:

* ``"tau2"`` (metafor, default): I^2 = 100 tau^2 / (tau^2 + s^2) and H^2 = (tau^2 + s^2) / s^2,
  with the "typical" sampling variance s^2 = (k - p) / tr(P0), P0 the residual-maker with
  weights 1/v_i. Without moderators s^2 = (k - 1) sum w / ((sum w)^2 - sum w^2)
  (Higgins & Thompson, 2002, eq. 9; metafor ``rma.uni``).
* ``"Q"``: I^2 = max(0, 100 (Q - df) / Q) and H^2 = Q / df (Higgins & Thompson, 2002).

The prediction interval for a new true effect is estimate +/- crit * sqrt(se^2 + tau^2)
(Riley, Higgins & Deeks, 2011); the quantile is chosen by convention (see
``PI_CONVENTIONS``).

References
----------
Cochran WG (1954). The combination of estimates from different experiments. Biometrics 10:101-29.
Higgins JPT, Thompson SG (2002). Quantifying heterogeneity in a meta-analysis. Stat Med 21:1539-58.
Higgins JPT, Thompson SG, Spiegelhalter DJ (2009). A re-evaluation of random-effects
    meta-analysis. J R Stat Soc A 172:137-59.
Riley RD, Higgins JPT, Deeks JJ (2011). Interpretation of random effects meta-analyses. BMJ 342.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

PI_CONVENTIONS = ("metafor", "t(k-1)", "t(k-2)")
I2_DEFINITIONS = ("tau2", "Q")

PI_DESCRIPTION = {
    "metafor": "normal quantile, or t(k - p) under Knapp-Hartung (metafor predict)",
    "t(k-1)": "t quantile with k - 1 df (R meta)",
    "t(k-2)": "t quantile with k - 2 df (Higgins, Thompson & Spiegelhalter 2009)",
}
I2_DESCRIPTION = {
    "tau2": "from tau^2 and the typical within-study variance (metafor)",
    "Q": "from Cochran's Q, max(0, (Q - df) / Q) (Higgins & Thompson 2002)",
}


def _design(k: int, X: np.ndarray | None) -> np.ndarray:
    return np.ones((k, 1)) if X is None else X


def cochran_q(
    yi: np.ndarray, vi: np.ndarray, X: np.ndarray | None = None
) -> tuple[float, int, float]:
    """Cochran's Q (residual heterogeneity QE with moderators), its df k - p and p-value."""
    Xd = _design(len(yi), X)
    w = 1.0 / vi
    wx = Xd * w[:, None]
    beta = np.linalg.solve(Xd.T @ wx, wx.T @ yi)
    e = yi - Xd @ beta
    q = max(0.0, float(w @ (e * e)))
    df = len(yi) - Xd.shape[1]
    return q, df, float(special.chdtrc(df, q)) if df > 0 else math.nan


def typical_variance(vi: np.ndarray, X: np.ndarray | None = None) -> float:
    """metafor's typical sampling variance s^2 = (k - p) / tr(P0) with weights 1/v_i."""
    w = 1.0 / vi
    if X is None:
        s = w.sum()
        return float((len(vi) - 1) / (s - (w @ w) / s))
    wx = X * w[:, None]
    trp = w.sum() - np.trace(np.linalg.solve(X.T @ wx, wx.T @ wx))
    return float((len(vi) - X.shape[1]) / trp)


def i2_from_tau2(tau2: float, typical: float) -> float:
    """I^2 in percent, 100 tau^2 / (tau^2 + s^2) (metafor)."""
    return 100.0 * tau2 / (typical + tau2)


def h2_from_tau2(tau2: float, typical: float) -> float:
    """H^2 = tau^2 / s^2 + 1 (metafor)."""
    return tau2 / typical + 1.0


def i2_from_q(q: float, df: int) -> float:
    """I^2 in percent, max(0, 100 (Q - df) / Q) (Higgins & Thompson 2002); 0 when Q = 0."""
    if q <= df:
        return 0.0
    return 100.0 * (q - df) / q


def h2_from_q(q: float, df: int) -> float:
    """H^2 = Q / df (Higgins & Thompson 2002), as metafor prints it for fixed-effects fits."""
    return q / df if df > 0 else math.nan


def pi_quantile(convention: str, *, k: int, p: int, level: float, knha: bool) -> float:
    """Two-sided critical value of the prediction interval under ``convention``.

    NaN when the t distribution would have fewer than 1 df (e.g. ``"t(k-2)"`` with k = 2).
    """
    if convention == "metafor":
        df = k - p if knha else None
    elif convention == "t(k-1)":
        df = k - 1
    elif convention == "t(k-2)":
        df = k - 2
    else:  # pragma: no cover - validated by the caller
        raise ValueError(convention)
    alpha = 1.0 - level
    if df is None:
        return float(-special.ndtri(alpha / 2))
    if df < 1:
        return math.nan
    return float(special.stdtrit(df, 1.0 - alpha / 2))


def prediction_interval(
    estimate: float, se: float, tau2: float, crit: float
) -> tuple[float, float]:
    """estimate -/+ crit * sqrt(se^2 + tau^2) (Riley et al. 2011)."""
    half = crit * math.sqrt(se * se + tau2)
    return estimate - half, estimate + half
