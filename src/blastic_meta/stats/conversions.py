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
- Shi J, Luo D, Weng H, et al. Res Synth Methods 2020;11:641-54: SD from the full
  five-number summary with an n-dependent weight.
- Shi J, Luo D, Wan X, et al. Stat Methods Med Res 2023;32:1338-60: test for skewness from
  the five-number summary.

``estimate_mean_sd`` is the entry point for a median reported with a range, quartiles or both
(the scenarios S1, S2, S3 of ``_fivenum``): it returns mean, SD, the methods in words and the
skewness test. The single-value functions below keep their signatures for the review layer;
they implement the same formulas (Luo 2018 means, Wan 2014 SDs, Hozo 2005 without n).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from scipy import special

from ..errors import InputError
from . import _fivenum as fn

__all__ = [
    "DERIVATION_METHODS",
    "MEAN_METHODS",
    "SD_METHODS",
    "Derived",
    "MeanSdEstimate",
    "SkewnessTest",
    "estimate_mean_sd",
    "mean_from_median_iqr",
    "mean_from_median_range",
    "sd_from_ci",
    "sd_from_iqr",
    "sd_from_range",
    "sd_from_se",
    "skewness_test",
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
    "mean_from_fivenum_luo2018": "mean from median, range, IQR and n (Luo 2018)",
    "mean_from_fivenum_wan2014": "mean from median, range and IQR (Wan 2014)",
    "sd_from_fivenum_shi2020": "SD from range, IQR and n (Shi 2020)",
    "sd_from_fivenum_wan2014": "SD from range, IQR and n (Wan 2014)",
    "unlabelled_as_sd": "unlabelled dispersion used as SD (protocol rule)",
}

#: estimate_mean_sd's method names -> method tag per scenario (keys of DERIVATION_METHODS)
MEAN_METHODS: dict[str, dict[str, str]] = {
    "luo": {"S1": "mean_from_median_range_luo2018", "S2": "mean_from_median_iqr_luo2018",
            "S3": "mean_from_fivenum_luo2018"},
    "wan": {"S1": "mean_from_median_range_hozo2005", "S2": "mean_from_median_iqr_wan2014",
            "S3": "mean_from_fivenum_wan2014"},
}
SD_METHODS: dict[str, dict[str, str]] = {
    "shi": {"S1": "sd_from_range_wan2014", "S2": "sd_from_iqr_wan2014",
            "S3": "sd_from_fivenum_shi2020"},
    "wan": {"S1": "sd_from_range_wan2014", "S2": "sd_from_iqr_wan2014",
            "S3": "sd_from_fivenum_wan2014"},
}
_PAPERS = {
    "mean_from_median_range_luo2018": "Luo et al. 2018", "mean_from_median_iqr_luo2018":
    "Luo et al. 2018", "mean_from_fivenum_luo2018": "Luo et al. 2018",
    "mean_from_median_range_hozo2005": "Hozo et al. 2005, as recommended by Wan et al. 2014",
    "mean_from_median_iqr_wan2014": "Wan et al. 2014", "mean_from_fivenum_wan2014":
    "Wan et al. 2014", "sd_from_range_wan2014": "Wan et al. 2014", "sd_from_iqr_wan2014":
    "Wan et al. 2014", "sd_from_fivenum_shi2020": "Shi et al. 2020",
    "sd_from_fivenum_wan2014": "Wan et al. 2014",
}


@dataclass(frozen=True, slots=True)
class Derived:
    """A derived number with the method that produced it (a key of DERIVATION_METHODS)."""

    value: float
    method: str

    @property
    def description(self) -> str:
        return DERIVATION_METHODS[self.method]

    @property
    def derived(self) -> bool:
        """Always True: the number was computed here, not printed in the paper."""
        return True


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
    t = special.stdtrit(n - 1, (1 + level) / 2)  # the t quantile, as stats.t.ppf
    return Derived(math.sqrt(n) * (upper - lower) / (2 * t), "sd_from_ci")


def sd_from_range(minimum: float, maximum: float, *, n: float | None = None,
                  median: float | None = None) -> Derived:
    """SD from the range.

    With n (preferred, n >= 2): Wan 2014, SD = (max - min) / xi(n),
    xi(n) = 2 Phi^{-1}((n - 0.375) / (n + 0.25)).
    Without n but with the median: Hozo 2005,
    SD^2 = ((min - 2 median + max)^2 / 4 + (max - min)^2) / 12.
    """
    a, b = _finite("min", minimum), _finite("max", maximum)
    _ordered(min=a, max=b)
    if n is not None:
        n = _n(n, minimum=2)
        return Derived(fn.sd_wan(fn.Summary(n, a, minimum=a, maximum=b)),
                       "sd_from_range_wan2014")
    if median is None:
        raise InputError("sd_from_range: give n (Wan 2014) or the median (Hozo 2005)")
    m = _finite("median", median)
    _ordered(min=a, median=m, max=b)
    var = ((a - 2 * m + b) ** 2 / 4 + (b - a) ** 2) / 12
    return Derived(math.sqrt(var), "sd_from_range_hozo2005")


def sd_from_iqr(q1: float, q3: float, n: float) -> Derived:
    """SD from the interquartile range (Wan 2014), n >= 2.

    SD = (q3 - q1) / eta(n), eta(n) = 2 Phi^{-1}((0.75 n - 0.125) / (n + 0.25)).
    """
    q1, q3 = _finite("q1", q1), _finite("q3", q3)
    _ordered(q1=q1, q3=q3)
    n = _n(n, minimum=2)
    return Derived(fn.sd_wan(fn.Summary(n, q1, q1=q1, q3=q3)), "sd_from_iqr_wan2014")


def mean_from_median_range(median: float, minimum: float, maximum: float, *,
                           n: float | None = None) -> Derived:
    """Mean from the median and range.

    With n: Luo 2018, w = 4 / (4 + n^0.75), mean = w (min + max) / 2 + (1 - w) median.
    Without n: Hozo 2005, mean = (min + 2 median + max) / 4.
    """
    m, a, b = _finite("median", median), _finite("min", minimum), _finite("max", maximum)
    _ordered(min=a, median=m, max=b)
    if n is None:
        return Derived(fn.mean_wan(fn.Summary(1.0, m, minimum=a, maximum=b)),
                       "mean_from_median_range_hozo2005")
    n = _n(n)
    return Derived(fn.mean_luo(fn.Summary(n, m, minimum=a, maximum=b)),
                   "mean_from_median_range_luo2018")


def mean_from_median_iqr(median: float, q1: float, q3: float, *,
                         n: float | None = None) -> Derived:
    """Mean from the median and quartiles.

    With n: Luo 2018, mean = (0.7 + 0.39/n)(q1 + q3)/2 + (0.3 - 0.39/n) median.
    Without n: Wan 2014, mean = (q1 + median + q3) / 3.
    """
    m, q1, q3 = _finite("median", median), _finite("q1", q1), _finite("q3", q3)
    _ordered(q1=q1, median=m, q3=q3)
    if n is None:
        return Derived(fn.mean_wan(fn.Summary(1.0, m, q1=q1, q3=q3)),
                       "mean_from_median_iqr_wan2014")
    n = _n(n)
    return Derived(fn.mean_luo(fn.Summary(n, m, q1=q1, q3=q3)), "mean_from_median_iqr_luo2018")


# -- the entry point for medians ---------------------------------------------------------------

_MIN_N = 5  # the estimators' weights and the skewness critical values are derived for n >= 5
SKEWNESS_REFERENCE = "Shi et al. 2023"


@dataclass(frozen=True, slots=True)
class SkewnessTest:
    """Shi et al. (2023) test of symmetry from the reported quantiles (5% level).

    ``skewed`` is True when ``statistic >= critical_value``: the data look too asymmetric
    for the normal-theory mean and SD estimators (consider excluding the study from the
    main analysis or a log-normal method).
    """

    scenario: str
    statistic: float
    critical_value: float
    skewed: bool

    @property
    def description(self) -> str:
        verdict = "skewness flagged" if self.skewed else "no skewness detected"
        sign = ">=" if self.skewed else "<"
        return (f"{verdict} (test of {SKEWNESS_REFERENCE}: T = {self.statistic:.3f} {sign} "
                f"critical value {self.critical_value:.3f})")


@dataclass(frozen=True, slots=True)
class MeanSdEstimate:
    """Mean and SD derived from a median with a range and/or quartiles.

    ``mean_method``/``sd_method`` are the options used (``"luo"``, ``"shi"``, ...);
    ``mean_tag``/``sd_tag`` are keys of ``DERIVATION_METHODS`` for footnotes; ``method`` is
    the full sentence naming the papers and the skewness check, to be carried to every output.
    """

    n: int
    median: float
    mean: float
    sd: float
    scenario: str
    mean_method: str
    sd_method: str
    mean_tag: str
    sd_tag: str
    skewness: SkewnessTest
    method: str
    derived: bool = True

    @property
    def mean_derived(self) -> Derived:
        return Derived(self.mean, self.mean_tag)

    @property
    def sd_derived(self) -> Derived:
        return Derived(self.sd, self.sd_tag)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "skewness"}
        out["skewness"] = {f.name: getattr(self.skewness, f.name)
                           for f in fields(self.skewness)}
        return out


def _summary(n: Any, median: Any, q1: Any, q3: Any, minimum: Any,
             maximum: Any) -> fn.Summary:
    nn = _n(n, minimum=_MIN_N)
    m = _finite("median", median)
    if (q1 is None) != (q3 is None):
        raise InputError("q1, q3: give both quartiles or neither")
    if (minimum is None) != (maximum is None):
        raise InputError("minimum, maximum: give both ends of the range or neither")
    if q1 is None and minimum is None:
        raise InputError("estimate_mean_sd: the median needs the range (minimum, maximum), "
                         "the quartiles (q1, q3) or both")
    vals = {"minimum": minimum, "q1": q1, "median": m, "q3": q3, "maximum": maximum}
    given = {k: _finite(k, v) for k, v in vals.items() if v is not None}
    _ordered(**given)
    s = fn.Summary(nn, m, given.get("q1"), given.get("q3"), given.get("minimum"),
                   given.get("maximum"))
    if s.scenario == "S1" and s.maximum == s.minimum:
        raise InputError("minimum, maximum: the range is zero, so no SD can be derived")
    if s.scenario == "S2" and s.q3 == s.q1:
        raise InputError("q1, q3: the interquartile range is zero, so no SD can be derived")
    if s.scenario == "S3" and s.maximum == s.minimum:
        raise InputError("minimum, maximum: the range is zero, so no SD can be derived")
    return s


def skewness_test(n: int, median: float, *, q1: float | None = None, q3: float | None = None,
                  minimum: float | None = None,
                  maximum: float | None = None) -> SkewnessTest:
    """Shi et al. (2023) test for skewness from a median with range and/or quartiles (n >= 5).

    S1: T = |a + b - 2m| / (b - a) against 1/ln(n + 9) + 2.5/(n + 1);
    S2: T = |q1 + q3 - 2m| / (q3 - q1) against 2.65/sqrt(n) - 6/n^2;
    S3: T = max(2.65 ln(0.6 n)/sqrt(n) T1, T2) against 3/sqrt(n) - 40/n^3.
    """
    s = _summary(n, median, q1, q3, minimum, maximum)
    return _skewness(s)


def _skewness(s: fn.Summary) -> SkewnessTest:
    t, c = fn.skewness_statistic(s)
    return SkewnessTest(s.scenario, t, c, bool(t >= c))


def estimate_mean_sd(n: int, median: float, *, q1: float | None = None,
                     q3: float | None = None, minimum: float | None = None,
                     maximum: float | None = None, mean_method: str = "luo",
                     sd_method: str = "shi") -> MeanSdEstimate:
    """Mean and SD from the median with the range (S1), the quartiles (S2) or both (S3).

    Defaults are the optimal estimators: means of Luo et al. (2018), SDs of Wan et al.
    (2014) for S1 and S2 and of Shi et al. (2020) for S3 (the same choice as metafor's
    ``conv.fivenum``). ``mean_method="wan"`` gives Wan et al.'s means (Hozo et al. 2005 for
    S1); ``sd_method="wan"`` gives Wan's equal-weight S3 SD. The Shi et al. (2023) skewness
    test is always computed and reported; a flagged summary still gets estimates (the
    caller decides), and the flag appears in ``method``.

    Raises
    ------
    InputError
        n not an integer >= 5, a quartile or range end without its partner, values out of
        order (minimum <= q1 <= median <= q3 <= maximum), zero spread, unknown method.
    """
    if mean_method not in MEAN_METHODS:
        raise InputError(f"mean_method = {mean_method!r}: expected one of "
                         + ", ".join(repr(k) for k in MEAN_METHODS))
    if sd_method not in SD_METHODS:
        raise InputError(f"sd_method = {sd_method!r}: expected one of "
                         + ", ".join(repr(k) for k in SD_METHODS))
    s = _summary(n, median, q1, q3, minimum, maximum)
    mean = fn.MEAN_ESTIMATORS[mean_method](s)
    sd = fn.SD_ESTIMATORS[sd_method](s)
    mean_tag, sd_tag = MEAN_METHODS[mean_method][s.scenario], SD_METHODS[sd_method][s.scenario]
    skew = _skewness(s)
    text = (f"mean and SD derived from the {fn.SCENARIOS[s.scenario]} (n = {int(s.n)}): "
            f"mean by {_PAPERS[mean_tag]}, SD by {_PAPERS[sd_tag]}; {skew.description}")
    return MeanSdEstimate(n=int(s.n), median=s.median, mean=mean, sd=sd, scenario=s.scenario,
                          mean_method=mean_method, sd_method=sd_method, mean_tag=mean_tag,
                          sd_tag=sd_tag, skewness=skew, method=text)
