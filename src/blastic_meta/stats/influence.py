"""Outlier and influence diagnostics of a fitted random-effects model, as metafor 3.8
``influence.rma.uni`` (Viechtbauer & Cheung, 2010).

Every study is deleted in turn and the model refitted with the same ``method``, ``test``,
``level`` and moderators; the deletion fit's tau^2 (and, under Knapp-Hartung, its scale
s^2_w) enter the statistics. With ``b`` the full fit and ``b(-i)`` the fit without study i,
``X`` the model matrix, ``v`` the sampling variances and ``W = diag(1/(v + tau^2))``:

* ``rstudent``: (y_i - x_i'b(-i)) / sqrt(s2w(-i) (v_i + tau2(-i)) + x_i' Var[b(-i)] x_i),
  the externally standardised (deleted) residual;
* ``dffits``: x_i'(b - b(-i)) / sqrt(s2w(-i) h_i (tau2(-i) + v_i));
* ``cooks_distance``: (b - b(-i))' Var[b]^-1 (b - b(-i)) over all coefficients;
* ``cov_r``: det Var[b(-i)] / det Var[b] (below 1: deleting i makes the estimate more
  precise);
* ``tau2_del``, ``qe_del``: tau^2 and Cochran's Q_E without study i;
* ``hat``: the leverage, the diagonal of X (X'WX)^-1 X'W (it sums to p);
* ``weight``: the study's weight in the full fit, in percent;
* ``dfbetas``: (b - b(-i)) / sqrt(s2w(-i) diag[(X' W(-i) X)^-1]) with W(-i) built from
  tau2(-i) over all k studies (one column per coefficient with moderators);
* ``influential``: metafor's ``inf`` marker ``"*"``: |dffits| > 3 sqrt(p/(k - p)), or
  P(chi^2_p <= cooks_distance) > 0.5, or hat > 3p/k, or any |dfbetas| > 1.

References
----------
Viechtbauer W, Cheung MW-L (2010). Outlier and influence diagnostics for meta-analysis.
    Res Synth Methods 1:112-25.
Belsley DA, Kuh E, Welsch RE (1980). Regression Diagnostics. New York: Wiley.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from scipy import special

from .._checks import InputError, TooFewStudiesError

if TYPE_CHECKING:
    import pandas as pd

    from .models import PooledResult

__all__ = ["INFLUENCE_COLUMNS", "influence"]

#: the columns of ``influence`` before the dfbetas and the ``influential`` flag
INFLUENCE_COLUMNS = ("rstudent", "dffits", "cooks_distance", "cov_r", "tau2_del", "qe_del",
                     "hat", "weight")

_EPS = np.finfo(float).eps


def influence(fit: PooledResult) -> pd.DataFrame:
    """Case-deletion diagnostics of every study, in input order (metafor ``influence``).

    Returns a DataFrame indexed by the study's input position (``study``) with the columns
    ``rstudent, dffits, cooks_distance, cov_r, tau2_del, qe_del, hat, weight``, then
    ``dfbetas`` (without moderators; with moderators ``dfbetas_<coefficient>`` for each
    coefficient) and the boolean ``influential`` (metafor's ``"*"`` in ``inf``). See the
    module docstring for the formulas.

    As in metafor, a model of k = 2 studies without moderators is refitted on one study
    (tau^2 = 0, Q_E = 0, a normal-theory fit even under Knapp-Hartung). With moderators a
    study whose deletion leaves a coefficient unidentified (e.g. the only study in a
    category) gets NaN in every deletion statistic and ``influential = False``, as metafor
    gives NA; ``hat`` and ``weight`` are still reported.

    Raises
    ------
    InputError
        With moderators and k < p + 2 (a deletion fit would have no residual degrees of
        freedom; metafor gives NA everywhere); under Knapp-Hartung with s2w = 0 (all
        residuals 0: the estimate has variance 0; metafor stops with an error).

    References
    ----------
    Viechtbauer W, Cheung MW-L (2010). Outlier and influence diagnostics for meta-analysis.
    Res Synth Methods 1:112-25.
    """
    import pandas as pd

    k, p = fit.k, fit.p
    if p > 1 and k < p + 2:
        raise TooFewStudiesError(
            f"influence: with {p} coefficients every deletion fit needs more studies than "
            f"coefficients, so k >= {p + 2} is required; got k = {k}")
    if p == 1 and k < 2:
        raise TooFewStudiesError(f"influence: needs at least 2 studies, got k = {k}")
    y, v = np.asarray(fit.yi), np.asarray(fit.vi)
    X = np.ones((k, 1)) if fit.mods is None else np.column_stack([np.ones(k), fit.mods])
    beta = np.asarray(fit.beta)
    xwx_inv = _inv_xwx(X, 1.0 / (v + fit.tau2))
    vb = fit.s2w * xwx_inv
    # leverage; metafor sets values within 10 eps of 1 to exactly 1
    hat = np.einsum("ij,jk,ik->i", X, xwx_inv, X) / (v + fit.tau2)
    hat = np.where(hat > 1 - 10 * _EPS, 1.0, hat)
    if not fit.s2w > 0:  # metafor fails too (chol of a zero covariance)
        raise InputError(
            "influence: the Knapp-Hartung scale s2w is 0 (every residual is 0), so the "
            "estimate has variance 0 and Cook's distance, COVRATIO and the standardised "
            "residuals are undefined; use test='z'")
    vb_inv = np.linalg.inv(vb)
    det_vb = float(np.linalg.det(vb))

    nan = math.nan
    out = {name: np.full(k, nan) for name in
           ("rstudent", "dffits", "cooks_distance", "cov_r", "tau2_del", "qe_del")}
    dfbs = np.full((k, p), nan)
    keep = np.ones(k, dtype=bool)
    for i in range(k):
        keep[:] = True
        keep[i] = False
        deleted = _deletion_fit(fit, y[keep], v[keep], X[keep])
        if deleted is None:
            continue
        b_del, vb_del, tau2_del, qe_del, s2w_del = deleted
        xi = X[i]
        pred_del = float(xi @ b_del)
        resid = y[i] - pred_del
        if abs(resid) < 100 * _EPS:  # metafor's rounding of a zero residual
            resid = 0.0
        se_resid = np.sqrt(s2w_del * (v[i] + tau2_del) + xi @ vb_del @ xi)
        dfb = beta - b_del
        vb_del_all = _inv_xwx(X, 1.0 / (v + tau2_del))
        # s2w(-i) = 0 (the other studies agree exactly) gives +-Inf or NaN, as in metafor
        with np.errstate(divide="ignore", invalid="ignore"):
            out["rstudent"][i] = np.float64(resid) / se_resid
            out["dffits"][i] = (xi @ dfb) / np.sqrt(s2w_del * hat[i] * (tau2_del + v[i]))
            dfbs[i] = dfb / np.sqrt(s2w_del * np.diag(vb_del_all))
        out["cov_r"][i] = float(np.linalg.det(vb_del)) / det_vb
        out["cooks_distance"][i] = float(dfb @ vb_inv @ dfb)
        out["tau2_del"][i] = tau2_del
        out["qe_del"][i] = qe_del

    # metafor's cut-offs; a comparison with NaN is False, as its ifelse(is.infl & !is.na())
    with np.errstate(invalid="ignore"):
        flag = ((np.abs(out["dffits"]) > 3 * math.sqrt(p / (k - p)))
                | (special.chdtr(p, out["cooks_distance"]) > 0.5)
                | (hat > 3 * p / k)
                | (np.abs(dfbs) > 1).any(axis=1))
    table = pd.DataFrame(out, index=pd.RangeIndex(k, name="study"))
    table["hat"] = hat
    table["weight"] = np.asarray(fit.weights, dtype=float)
    if p == 1:
        table["dfbetas"] = dfbs[:, 0]
    else:
        for j, name in enumerate(fit.coef_names):
            table[f"dfbetas_{name}"] = dfbs[:, j]
    table["influential"] = flag
    return table


def _inv_xwx(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(X' diag(w) X)^-1, symmetrised."""
    m = np.linalg.inv((X * w[:, None]).T @ X)
    return (m + m.T) / 2


def _deletion_fit(fit: PooledResult, y: np.ndarray, v: np.ndarray, X: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, float, float, float] | None:
    """Coefficients, their covariance, tau^2, Q_E and s^2_w of the fit to the remaining
    studies, or None when that model is not identified (metafor: an NA row)."""
    from .models import _fit

    if y.shape[0] == 1:  # metafor's rma on one study: tau2 = 0, QE = 0, test switched to z
        return np.array([y[0]]), np.array([[v[0]]]), 0.0, 0.0, 1.0
    if np.linalg.matrix_rank(X) < X.shape[1]:
        return None
    M = None if X.shape[1] == 1 else X[:, 1:]
    r = _fit(y, v, M, fit.coef_names, fit.method, fit.test, fit.level, fit.pi_convention,
             fit.adhoc, fit.i2_definition, warn=False)
    vb = r.s2w * _inv_xwx(X, 1.0 / (v + r.tau2))
    return np.asarray(r.beta), vb, r.tau2, r.q, r.s2w

