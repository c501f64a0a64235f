"""Transforms of single proportions, their inverses, and per-study confidence intervals.

``transform`` maps proportions to the scale of a measure (for plotting ticks and axes);
``back_transform`` maps pooled estimates and bounds back to proportions, as metafor's
``transf.ilogit``, ``transf.iarcsin`` and ``transf.ipft.hm`` (Miller, 1978: the Freeman-Tukey
inversion at the harmonic mean of the sample sizes). ``proportion_ci`` gives the exact
Clopper-Pearson (1934) or the Wilson (1927) score interval of each study.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from .._checks import check_choice, check_level
from ._arrays import (
    ArrayInputError,
    FloatArray,
    as_vector,
    check_at_most,
    check_between,
    check_nonnegative,
    check_positive,
    same_length,
)

__all__ = ["MEASURES", "back_transform", "proportion_ci", "transform"]

#: measures of a single proportion that can be transformed and back-transformed
MEASURES = ("PR", "PLO", "PAS", "PFT")
CI_METHODS = ("clopper-pearson", "wilson")


def _values(values: ArrayLike) -> tuple[FloatArray, bool]:
    scalar = np.ndim(values) == 0
    return as_vector("values", values, allow_nan=True), scalar


def _out(arr: FloatArray, scalar: bool) -> FloatArray | float:
    return float(arr[0]) if scalar else arr


def _size(ni: ArrayLike | None, measure: str) -> float:
    """Harmonic mean of the sample sizes ``ni`` (a single number is used as is)."""
    if ni is None:
        raise ArrayInputError(f"ni: measure {measure!r} needs the sample sizes (ni), whose "
                              "harmonic mean is used (Miller, 1978)")
    n = as_vector("ni", ni)
    check_positive("ni", n, "a sample size > 0")
    return float(1 / np.mean(1 / n))


def _pft(p: FloatArray, n: float) -> FloatArray:
    x = p * n
    return 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))


def transform(values: ArrayLike, measure: str, *, ni: ArrayLike | None = None
              ) -> FloatArray | float:
    """Map proportions in [0, 1] to the scale of ``measure`` (PR, PLO, PAS or PFT).

    PLO gives the logit (``-inf``/``inf`` at 0 and 1), PAS ``asin(sqrt(p))``, PFT the
    Freeman-Tukey double arcsine of ``x = p * n`` with ``n`` the harmonic mean of ``ni``
    (metafor ``transf.pft``; Freeman and Tukey, 1950). NaN passes through.
    """
    check_choice("measure", measure, MEASURES)
    p, scalar = _values(values)
    finite = ~np.isnan(p)
    check_between("values", np.where(finite, p, 0.5), 0.0, 1.0)
    if measure == "PR":
        out = p.copy()
    elif measure == "PLO":
        with np.errstate(divide="ignore"):
            out = special.logit(p)
    elif measure == "PAS":
        out = np.arcsin(np.sqrt(p))
    else:
        out = _pft(p, _size(ni, measure))
    return _out(out, scalar)


def back_transform(values: ArrayLike, measure: str, *, ni: ArrayLike | None = None
                   ) -> FloatArray | float:
    """Map values on the scale of ``measure`` back to proportions.

    PLO: inverse logit. PAS: ``sin(z)^2``, 0 below 0 and 1 above pi/2 (metafor
    ``transf.iarcsin``). PFT: Miller's (1978) inversion at the harmonic mean of ``ni``,
    0 or 1 beyond the transform of 0 or 1 events (metafor ``transf.ipft.hm``). PR: unchanged.
    NaN passes through.

    References
    ----------
    Miller JJ (1978). The inverse of the Freeman-Tukey double arcsine transformation.
    Am Stat 32:138.
    """
    check_choice("measure", measure, MEASURES)
    z, scalar = _values(values)
    if measure == "PR":
        out = z.copy()
    elif measure == "PLO":
        out = special.expit(z)
    elif measure == "PAS":
        out = np.where(z < 0, 0.0, np.where(z > np.pi / 2, 1.0, np.sin(z) ** 2))
        out[np.isnan(z)] = np.nan
    else:
        n = _size(ni, measure)
        s = np.sin(2 * z)
        with np.errstate(divide="ignore", invalid="ignore"):
            inner = 1 - (s + (s - 1 / s) / n) ** 2
            out = 0.5 * (1 - np.sign(np.cos(2 * z)) * np.sqrt(inner))
        lo, hi = _pft(np.array([0.0, 1.0]), n)
        out = np.where(z < lo, 0.0, np.where(z > hi, 1.0, out))
        out[np.isnan(z)] = np.nan
    return _out(out, scalar)


def proportion_ci(events: ArrayLike, totals: ArrayLike, *, method: str = "clopper-pearson",
                  level: float = 0.95) -> tuple[FloatArray, FloatArray]:
    """Confidence interval of each single proportion ``events / totals``.

    ``"clopper-pearson"`` (default) is the exact interval from beta quantiles (Clopper and
    Pearson, 1934; 0 and 1 at the edges, as R's ``binom.test``); ``"wilson"`` is the score
    interval without continuity correction (Wilson, 1927; R's ``prop.test(correct=FALSE)``).

    Returns
    -------
    (low, high)
        Two arrays in [0, 1], one value per study.
    """
    check_choice("method", method, CI_METHODS)
    lv = check_level(level)
    x = as_vector("events", events)
    n = as_vector("totals", totals)
    same_length({"events": x, "totals": n})
    check_nonnegative("events", x, "a count of events >= 0")
    check_positive("totals", n, "a number of participants > 0")
    check_at_most("events", x, "totals", n)
    alpha = 1 - lv
    if method == "clopper-pearson":
        # the beta quantiles (stats.beta.ppf) from scipy.special: scipy.stats takes a second
        # to import
        with np.errstate(invalid="ignore"):
            low = np.where(x == 0, 0.0, special.betaincinv(x, n - x + 1, alpha / 2))
            high = np.where(x == n, 1.0, special.betaincinv(x + 1, n - x, 1 - alpha / 2))
        return low, high
    z = special.ndtri(1 - alpha / 2)
    centre = (x + z**2 / 2) / (n + z**2)
    half = z / (n + z**2) * np.sqrt(x * (n - x) / n + z**2 / 4)
    # exactly 0 (1) with no (all) events, where rounding could leave 1e-17
    low = np.where(x == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(x == n, 1.0, np.clip(centre + half, 0.0, 1.0))
    return low, high
