"""Mean and SD from a five-number summary (or part of it), and the test for skewness.

Plain formulas on floats; ``conversions`` validates the inputs and tags the results. The
scenarios follow Luo et al. (2018), Shi et al. (2020, 2023), estmeansd and metafor's
``conv.fivenum``:

* S1 = {minimum a, median m, maximum b; n}
* S2 = {first quartile q1, median m, third quartile q3; n}
* S3 = {a, q1, m, q3, b; n}

(Wan et al. 2014 number the same cases C1, C3 and C2.) All estimators assume roughly normal
data; Shi et al. (2023) give a test that flags summaries too asymmetric for that.

References
----------
Hozo SP, Djulbegovic B, Hozo I (2005). Estimating the mean and variance from the median,
    range, and the size of a sample. BMC Med Res Methodol 5:13.
Wan X, Wang W, Liu J, Tong T (2014). Estimating the sample mean and standard deviation from
    the sample size, median, range and/or interquartile range. BMC Med Res Methodol 14:135.
Luo D, Wan X, Liu J, Tong T (2018). Optimally estimating the sample mean from the sample
    size, median, mid-range, and/or mid-quartile range. Stat Methods Med Res 27:1785-805.
Shi J, Luo D, Weng H, Zeng X-T, Lin L, Chu H, Tong T (2020). Optimally estimating the
    sample standard deviation from the five-number summary. Res Synth Methods 11:641-54.
Shi J, Luo D, Wan X, Liu Y, Liu J, Bian Z, Tong T (2023). Detecting the skewness of data
    from the five-number summary and its application in meta-analysis. Stat Methods Med Res
    32:1338-60.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import special

SCENARIOS = {
    "S1": "minimum, median and maximum",
    "S2": "median and quartiles",
    "S3": "minimum, quartiles, median and maximum",
}


@dataclass(frozen=True, slots=True)
class Summary:
    """The reported values of one sample (None where not reported)."""

    n: float
    median: float
    q1: float | None = None
    q3: float | None = None
    minimum: float | None = None
    maximum: float | None = None

    @property
    def scenario(self) -> str:
        has_range = self.minimum is not None
        has_iqr = self.q1 is not None
        return "S3" if has_range and has_iqr else "S1" if has_range else "S2"


def xi(n: float) -> float:
    """Expected range of n standard normal values, 2 Phi^-1((n - 0.375) / (n + 0.25))
    (Wan 2014, from Blom's approximation to normal order statistics)."""
    return 2.0 * float(special.ndtri((n - 0.375) / (n + 0.25)))


def eta(n: float) -> float:
    """Expected interquartile range of n standard normal values,
    2 Phi^-1((0.75 n - 0.125) / (n + 0.25)) (Wan 2014)."""
    return 2.0 * float(special.ndtri((0.75 * n - 0.125) / (n + 0.25)))


# -- means -----------------------------------------------------------------------------------

def mean_luo(s: Summary) -> float:
    """Luo 2018: optimally weighted mid-range, mid-quartile range and median.

    S1: w = 4 / (4 + n^0.75), mean = w (a + b)/2 + (1 - w) m
    S2: w = 0.7 + 0.39 / n,   mean = w (q1 + q3)/2 + (1 - w) m
    S3: w1 = 2.2 / (2.2 + n^0.75), w2 = 0.7 - 0.72 / n^0.55,
        mean = w1 (a + b)/2 + w2 (q1 + q3)/2 + (1 - w1 - w2) m
    """
    n, m = s.n, s.median
    if s.scenario == "S1":
        w = 4.0 / (4.0 + n ** 0.75)
        return w * (s.minimum + s.maximum) / 2.0 + (1.0 - w) * m
    if s.scenario == "S2":
        w = 0.7 + 0.39 / n
        return w * (s.q1 + s.q3) / 2.0 + (1.0 - w) * m
    w1 = 2.2 / (2.2 + n ** 0.75)
    w2 = 0.7 - 0.72 / n ** 0.55
    return (w1 * (s.minimum + s.maximum) / 2.0 + w2 * (s.q1 + s.q3) / 2.0
            + (1.0 - w1 - w2) * m)


def mean_wan(s: Summary) -> float:
    """Wan 2014: S1 (a + 2m + b)/4 (Hozo 2005, which Wan et al. keep for this case),
    S2 (q1 + m + q3)/3, S3 (a + 2 q1 + 2 m + 2 q3 + b)/8."""
    m = s.median
    if s.scenario == "S1":
        return (s.minimum + 2.0 * m + s.maximum) / 4.0
    if s.scenario == "S2":
        return (s.q1 + m + s.q3) / 3.0
    return (s.minimum + 2.0 * s.q1 + 2.0 * m + 2.0 * s.q3 + s.maximum) / 8.0


# -- standard deviations ---------------------------------------------------------------------

def sd_wan(s: Summary) -> float:
    """Wan 2014: S1 (b - a)/xi(n), S2 (q3 - q1)/eta(n), S3 the average of the two,
    (b - a)/(2 xi(n)) + (q3 - q1)/(2 eta(n))."""
    if s.scenario == "S1":
        return (s.maximum - s.minimum) / xi(s.n)
    if s.scenario == "S2":
        return (s.q3 - s.q1) / eta(s.n)
    return 0.5 * ((s.maximum - s.minimum) / xi(s.n) + (s.q3 - s.q1) / eta(s.n))


def sd_shi(s: Summary) -> float:
    """Shi 2020: in S3 the optimal weight w = 1 / (1 + 0.07 n^0.6) on the range term,
    SD = w (b - a)/xi(n) + (1 - w)(q3 - q1)/eta(n); in S1 and S2 Shi et al. keep
    Wan's estimators, which are already optimal there."""
    if s.scenario != "S3":
        return sd_wan(s)
    w = 1.0 / (1.0 + 0.07 * s.n ** 0.6)
    return w * (s.maximum - s.minimum) / xi(s.n) + (1.0 - w) * (s.q3 - s.q1) / eta(s.n)


MEAN_ESTIMATORS = {"luo": mean_luo, "wan": mean_wan}
SD_ESTIMATORS = {"shi": sd_shi, "wan": sd_wan}


# -- skewness (Shi 2023) ---------------------------------------------------------------------

def _asymmetry(low: float, mid: float, high: float) -> float:
    """|low + high - 2 mid| / (high - low): 0 for a symmetric summary, up to 1. A zero
    spread (all three equal) shows no asymmetry."""
    spread = high - low
    return 0.0 if spread == 0 else abs(low + high - 2.0 * mid) / spread


def skewness_statistic(s: Summary) -> tuple[float, float]:
    """(test statistic, critical value at the 5% level) of Shi 2023 for the scenario.

    S1: T1 = |a + b - 2m| / (b - a),        c = 1/ln(n + 9) + 2.5/(n + 1)
    S2: T2 = |q1 + q3 - 2m| / (q3 - q1),    c = 2.65/sqrt(n) - 6/n^2
    S3: T3 = max(2.65 ln(0.6 n)/sqrt(n) T1, T2),  c = 3/sqrt(n) - 40/n^3
    Skewness is flagged when T >= c (as metafor's conv.fivenum does).
    """
    n = s.n
    if s.scenario == "S1":
        return (_asymmetry(s.minimum, s.median, s.maximum),
                1.0 / math.log(n + 9.0) + 2.5 / (n + 1.0))
    t2 = _asymmetry(s.q1, s.median, s.q3)
    if s.scenario == "S2":
        return t2, 2.65 / math.sqrt(n) - 6.0 / n ** 2
    t1 = _asymmetry(s.minimum, s.median, s.maximum)
    return (max(2.65 * math.log(0.6 * n) / math.sqrt(n) * t1, t2),
            3.0 / math.sqrt(n) - 40.0 / n ** 3)
