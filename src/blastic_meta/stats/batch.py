"""Many random-effects meta-analyses at once, vectorised over analyses (rows).

``pool_many(Y, V)`` fits one intercept-only random-effects model per row of ``Y`` (effects)
and ``V`` (sampling variances); NaN marks a missing study, so rows may differ in k. Every
estimator of tau^2 is computed for all rows together with numpy (blocks of rows, no loop over
analyses; see ``_batch_tau2``): the closed forms directly, ML/REML (Viechtbauer, 2005) and
Paule-Mandel (Paule and Mandel, 1982) by a safeguarded Newton search on each row's estimating
equation, to a relative change of 1e-10. ML and REML scan the score first, so a row whose
likelihood has two maxima gets the global one. The values agree with ``pool()`` row by row.
Results follow metafor's ``rma`` conventions (I^2 from tau^2 and the "typical" within-study
variance, Higgins and Thompson, 2002; prediction interval with the CI's critical value).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import special

from .._checks import check_choice, check_level
from ._arrays import ArrayInputError, FloatArray, as_matrix
from ._batch_tau2 import ESTIMATORS, Rows, Scratch, thread_scratch

__all__ = ["COLUMNS", "METHODS", "TESTS", "pool_many"]

METHODS = ("DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
TESTS = ("z", "knha")
COLUMNS = ("k", "estimate", "se", "pval", "ci_low", "ci_high", "tau2", "i2", "h2", "q",
           "q_pval", "pi_low", "pi_high")
#: most rows, and most studies times rows, fitted together (bounds the work arrays)
_CHUNK = 8192
_CHUNK_CELLS = 2**17
#: largest degrees of freedom, and x / 2, for the closed form of chi-squared's upper tail
_SF_MAX_DF = 60
_SF_MAX_HALF_X = 600.0


def _inputs(Y: ArrayLike, V: ArrayLike) -> tuple[FloatArray, FloatArray, np.ndarray]:
    """Effects, variances and where a study is missing, after checking them."""
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
    return y, v, miss_y


def _block(y: FloatArray, v: FloatArray, idx: np.ndarray, scratch: Scratch) -> Rows:
    """Rows ``idx`` with studies along the first axis; missing studies get y = 0, v = inf."""
    if idx[-1] - idx[0] == idx.size - 1:  # consecutive rows: a view, no copy
        y, v = y[idx[0]:idx[-1] + 1], v[idx[0]:idx[-1] + 1]
    else:
        y, v = y[idx], v[idx]
    shape = (y.shape[1], y.shape[0])
    yt, vt = scratch.get("y", shape), scratch.get("v", shape)
    np.copyto(yt, y.T)
    np.copyto(vt, v.T)
    missing = np.isnan(yt)
    if missing.any():
        yt[missing] = 0.0
        vt[missing] = np.inf
    return Rows(yt, vt, ~missing, scratch)


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
    y, v, missing = _inputs(Y, V)
    kk = y.shape[1] - missing.sum(axis=1)
    out = np.full((len(COLUMNS) - 1, y.shape[0]), np.nan)
    ok = np.flatnonzero(kk >= 2)
    estimator = ESTIMATORS[method]
    scratch = thread_scratch()
    most = max(1, min(_CHUNK, _CHUNK_CELLS // y.shape[1]))
    size = -(-ok.size // -(-ok.size // most)) if ok.size else 1  # equal blocks
    for first in range(0, ok.size, size):
        idx = ok[first:first + size]
        rows = _block(y, v, idx, scratch)
        out[:, idx] = _summaries(rows, estimator(rows), test, lv)
    table = pd.DataFrame(out.T, columns=list(COLUMNS[1:]), copy=False)
    table.insert(0, "k", kk.astype(np.int64))
    return table


def _summaries(rows: Rows, tau2: FloatArray, test: str, level: float) -> FloatArray:
    """The columns of ``COLUMNS[1:]``, one row each, at the estimated ``tau2``."""
    k, y, v, scratch = rows.k, rows.y, rows.v, rows.scratch
    sw0, sw0_sq, q, _ = rows.at_zero
    vt = (k - 1) * sw0 / (sw0 * sw0 - sw0_sq)
    w = scratch.get("w", v.shape)
    np.add(v, tau2, out=w)
    np.divide(1.0, w, out=w)
    sw = w.sum(axis=0)
    mu = np.einsum("kn,kn->n", w, y) / sw
    se = np.sqrt(1 / sw)
    p = 1 - (1 - level) / 2
    if test == "knha":
        e = np.subtract(y, mu, out=scratch.get("e", v.shape))
        we = np.multiply(w, e, out=scratch.get("we", v.shape))
        se = se * np.sqrt(np.einsum("kn,kn->n", we, e) / (k - 1))
        # few distinct k: one quantile per k
        df, where = np.unique(k - 1, return_inverse=True)
        crit = special.stdtrit(df, p)[where]
    else:
        crit = np.full(k.size, special.ndtri(p))
    # identical effects under knha give se = 0: p = 0, or NaN for a zero estimate (as metafor)
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = np.abs(mu / se)
    # the survival functions behind scipy.stats' t.sf, norm.sf and chi2.sf, without their
    # argument handling
    pval = 2 * (special.stdtr(k - 1, -zval) if test == "knha" else special.ndtr(-zval))
    half_pi = crit * np.sqrt(se * se + tau2)
    return np.stack([mu, se, pval, mu - crit * se, mu + crit * se, tau2,
                     100 * tau2 / (vt + tau2), (vt + tau2) / vt, q,
                     _chi2_sf(q, k - 1), mu - half_pi, mu + half_pi])


def _chi2_sf(x: FloatArray, df: FloatArray) -> FloatArray:
    """Upper tail of the chi-squared distribution, as ``scipy.stats.chi2.sf(x, df)``.

    For integer df the tail is a finite sum (Abramowitz and Stegun, 1964, 26.4.4-5):
    exp(-x/2) sum_{j<m} (x/2)^j / j! for df = 2m, and erfc(sqrt(x/2)) + exp(-x/2) sum_{j=1..m}
    (x/2)^(j-1/2) / Gamma(j+1/2) for df = 2m + 1. All terms are positive, so the sum is
    accurate to a few units in the last place, and it costs a fraction of the incomplete gamma
    function; large df or x (and non-integer df) go to scipy.
    """
    half = 0.5 * x
    easy = (df <= _SF_MAX_DF) & (half < _SF_MAX_HALF_X) & (df == np.floor(df))
    if not easy.all():
        out = special.chdtrc(df, x)
        if easy.any():
            out[easy] = _chi2_sf(x[easy], df[easy])
        return out
    odd = df % 2 == 1
    terms = np.where(odd, (df - 1) / 2, df / 2)  # j = 1..m (odd df) or 0..m-1 (even df)
    e = np.exp(-half)
    root = np.sqrt(half)
    term = np.where(odd, e * root * (2 / np.sqrt(np.pi)), e)  # the first term
    total = np.where(odd, special.erfc(root), 0.0)
    denom = np.where(odd, 1.5, 1.0)
    for j in range(int(terms.max())):
        total += term if j < terms.min() else np.where(j < terms, term, 0.0)
        term *= half
        term /= denom
        denom += 1
    return total
