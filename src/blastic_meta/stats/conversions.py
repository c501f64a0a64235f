"""Values derived at analysis time from what a study reported, each tagged with its method.

Study files hold only printed numbers. When an analysis needs an SD or a mean the paper did
not print, it is computed here from the reported SE, CI, range or quartiles, and the result
carries a ``method`` tag so every table, figure footnote and sentence can flag it as derived.

References
----------
- Higgins JPT, Li T, Deeks JJ (eds). Cochrane Handbook, chapter 6.5.2 (2019): SD from an SE
  or from a confidence interval of a mean.
- Hozo SP, Djulbegovic B, Hozo I. BMC Med Res Methodol 2005;5:13: mean and SD from the
  median and range.
- Wan X, Wang W, Liu J, Tong T. BMC Med Res Methodol 2014;14:135: SD from the range or the
  interquartile range with the sample size; mean from the median and quartiles.
- Luo D, Wan X, Liu J, Tong T. Stat Methods Med Res 2018;27:1785-1805: mean from the median
  with the range or the quartiles, weighted by the sample size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from ..errors import InputError

__all__ = [
    "DERIVATION_METHODS",
    "Derived",
    "mean_from_median_iqr",
    "mean_from_median_range",
    "sd_from_ci",
    "sd_from_iqr",
    "sd_from_range",
    "sd_from_se",
]

#: method tag -> short description used in footnotes and tables
DERIVATION_METHODS: dict[str, str] = {
    "sd_from_se": "SD = SE x sqrt(n) (Cochrane Handbook 6.5.2.2)",
    "sd_from_ci": "SD from the 95% CI of the mean, t quantile (Cochrane Handbook 6.5.2.2)",
    "sd_from_range_hozo2005": "SD from median and range (Hozo 2005)",
    "sd_from_range_wan2014": "SD from range and n (Wan 2014)",
    "sd_from_iqr_wan2014": "SD from IQR and n (Wan 2014)",
    "mean_from_median_range_hozo2005": "mean from median and range (Hozo 2005)",
    "mean_from_median_range_luo2018": "mean from median, range and n (Luo 2018)",
    "mean_from_median_iqr_wan2014": "mean from median and IQR (Wan 2014)",
    "mean_from_median_iqr_luo2018": "mean from median, IQR and n (Luo 2018)",
    "unlabelled_as_sd": "unlabelled dispersion used as SD (protocol rule)",
}


@dataclass(frozen=True, slots=True)
class Derived:
    """A derived number with the method that produced it (a key of DERIVATION_METHODS)."""

    value: float
    method: str

    @property
    def description(self) -> str:
        return DERIVATION_METHODS[self.method]


def _finite(name: str, value: float) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected a number, got {value!r}") from None
    if not math.isfinite(out):
        raise InputError(f"{name}: expected a finite number, got {value!r}")
    return out


def _n(n: float | None, *, minimum: int = 1) -> float:
    if n is None:
        raise InputError("n: the sample size is needed for this derivation")
    value = _finite("n", n)
    if value < minimum or value != int(value):
        raise InputError(f"n: expected an integer >= {minimum}, got {n!r}")
    return value


def _ordered(**pairs: float) -> None:
    names = list(pairs)
    values = [pairs[k] for k in names]
    for (a, va), (b, vb) in zip(zip(names, values, strict=True),
                                zip(names[1:], values[1:], strict=True), strict=False):
        if va > vb:
            raise InputError(f"{a} ({va}) must not exceed {b} ({vb})")


def sd_from_se(se: float, n: float) -> Derived:
    """SD = SE x sqrt(n) for the SE of a single mean (Cochrane Handbook 6.5.2.2)."""
    se = _finite("se", se)
    if se <= 0:
        raise InputError(f"se: expected a value > 0, got {se!r}")
    return Derived(se * math.sqrt(_n(n)), "sd_from_se")


def sd_from_ci(lower: float, upper: float, n: float, *, level: float = 0.95) -> Derived:
    """SD from a CI of a mean: sqrt(n) (upper - lower) / (2 t_{(1+level)/2, n-1}).

    Cochrane Handbook 6.5.2.2; the t quantile (rather than 1.96) keeps small samples right.
    """
    lower, upper = _finite("lower", lower), _finite("upper", upper)
    _ordered(lower=lower, upper=upper)
    if not 0 < level < 1:
        raise InputError(f"level: expected a value in (0, 1), got {level!r}")
    n = _n(n, minimum=2)
    t = stats.t.ppf((1 + level) / 2, n - 1)
    return Derived(math.sqrt(n) * (upper - lower) / (2 * t), "sd_from_ci")


def sd_from_range(minimum: float, maximum: float, *, n: float | None = None,
                  median: float | None = None) -> Derived:
    """SD from the range.

    With n (preferred): Wan 2014, SD = (max - min) / xi(n),
    xi(n) = 2 Phi^{-1}((n - 0.375) / (n + 0.25)).
    Without n but with the median: Hozo 2005,
    SD^2 = ((min - 2 median + max)^2 / 4 + (max - min)^2) / 12.
    """
    a, b = _finite("min", minimum), _finite("max", maximum)
    _ordered(min=a, max=b)
    if n is not None:
        n = _n(n)
        xi = 2 * stats.norm.ppf((n - 0.375) / (n + 0.25))
        return Derived((b - a) / xi, "sd_from_range_wan2014")
    if median is None:
        raise InputError("sd_from_range: give n (Wan 2014) or the median (Hozo 2005)")
    m = _finite("median", median)
    _ordered(min=a, median=m, max=b)
    var = ((a - 2 * m + b) ** 2 / 4 + (b - a) ** 2) / 12
    return Derived(math.sqrt(var), "sd_from_range_hozo2005")


def sd_from_iqr(q1: float, q3: float, n: float) -> Derived:
    """SD from the interquartile range (Wan 2014).

    SD = (q3 - q1) / eta(n), eta(n) = 2 Phi^{-1}((0.75 n - 0.125) / (n + 0.25)).
    """
    q1, q3 = _finite("q1", q1), _finite("q3", q3)
    _ordered(q1=q1, q3=q3)
    n = _n(n)
    eta = 2 * stats.norm.ppf((0.75 * n - 0.125) / (n + 0.25))
    return Derived((q3 - q1) / eta, "sd_from_iqr_wan2014")


def mean_from_median_range(median: float, minimum: float, maximum: float, *,
                           n: float | None = None) -> Derived:
    """Mean from the median and range.

    With n: Luo 2018, w = 4 / (4 + n^0.75), mean = w (min + max) / 2 + (1 - w) median.
    Without n: Hozo 2005, mean = (min + 2 median + max) / 4.
    """
    m, a, b = _finite("median", median), _finite("min", minimum), _finite("max", maximum)
    _ordered(min=a, median=m, max=b)
    if n is None:
        return Derived((a + 2 * m + b) / 4, "mean_from_median_range_hozo2005")
    n = _n(n)
    w = 4 / (4 + n ** 0.75)
    return Derived(w * (a + b) / 2 + (1 - w) * m, "mean_from_median_range_luo2018")


def mean_from_median_iqr(median: float, q1: float, q3: float, *,
                         n: float | None = None) -> Derived:
    """Mean from the median and quartiles.

    With n: Luo 2018, mean = (0.7 + 0.39/n)(q1 + q3)/2 + (0.3 - 0.39/n) median.
    Without n: Wan 2014, mean = (q1 + median + q3) / 3.
    """
    m, q1, q3 = _finite("median", median), _finite("q1", q1), _finite("q3", q3)
    _ordered(q1=q1, median=m, q3=q3)
    if n is None:
        return Derived((q1 + m + q3) / 3, "mean_from_median_iqr_wan2014")
    n = _n(n)
    return Derived((0.7 + 0.39 / n) * (q1 + q3) / 2 + (0.3 - 0.39 / n) * m,
                   "mean_from_median_iqr_luo2018")
