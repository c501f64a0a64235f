"""Derived SDs and means: each formula against its paper, computed independently here."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blastic_meta import InputError
from blastic_meta.stats.conversions import (
    DERIVATION_METHODS,
    mean_from_median_iqr,
    mean_from_median_range,
    sd_from_ci,
    sd_from_iqr,
    sd_from_range,
    sd_from_se,
)

PHI_INV = NormalDist().inv_cdf


def test_sd_from_se_scales_by_root_n():
    d = sd_from_se(0.5, 36)
    assert d.value == pytest.approx(3.0, rel=1e-12)
    assert d.method == "sd_from_se"
    assert "sqrt(n)" in d.description


def test_sd_from_ci_uses_t_quantile():
    # Cochrane Handbook 6.5.2.2: n = 25 uses the t(24) quantile 2.0639, not 1.96
    d = sd_from_ci(3.0, 7.0, 25)
    assert d.value == pytest.approx(5 * 4.0 / (2 * 2.063898561628021), rel=1e-9)
    # for a large sample it approaches sqrt(n) * width / 3.92
    big = sd_from_ci(3.0, 7.0, 100_000)
    assert big.value == pytest.approx(math.sqrt(100_000) * 4.0 / (2 * 1.959964), rel=1e-4)


def test_sd_from_range_wan2014():
    n = 50
    xi = 2 * PHI_INV((n - 0.375) / (n + 0.25))
    d = sd_from_range(2.0, 10.0, n=n)
    assert d.value == pytest.approx(8.0 / xi, rel=1e-10)
    assert d.method == "sd_from_range_wan2014"


def test_sd_from_range_hozo2005():
    a, m, b = 1.0, 3.0, 9.0
    expected = math.sqrt(((a - 2 * m + b) ** 2 / 4 + (b - a) ** 2) / 12)
    d = sd_from_range(a, b, median=m)
    assert d.value == pytest.approx(expected, rel=1e-12)
    # symmetric case: range / sqrt(12), the SD of a uniform distribution
    assert sd_from_range(0.0, 6.0, median=3.0).value == pytest.approx(6 / math.sqrt(12))
    assert d.method == "sd_from_range_hozo2005"


def test_sd_from_iqr_wan2014_and_normal_limit():
    n = 40
    eta = 2 * PHI_INV((0.75 * n - 0.125) / (n + 0.25))
    assert sd_from_iqr(2.0, 5.0, n).value == pytest.approx(3.0 / eta, rel=1e-10)
    # large n: IQR / 1.349 (normal distribution)
    assert sd_from_iqr(0.0, 1.349, 10**7).value == pytest.approx(1.0, abs=1e-3)


def test_mean_from_median_range_hozo_and_luo():
    assert mean_from_median_range(4.0, 1.0, 9.0).value == pytest.approx((1 + 8 + 9) / 4)
    n = 30
    w = 4 / (4 + n**0.75)
    d = mean_from_median_range(4.0, 1.0, 9.0, n=n)
    assert d.value == pytest.approx(w * 5.0 + (1 - w) * 4.0, rel=1e-12)
    assert d.method == "mean_from_median_range_luo2018"


def test_mean_from_median_iqr_wan_and_luo():
    assert mean_from_median_iqr(4.0, 2.0, 7.0).value == pytest.approx(13 / 3)
    n = 20
    d = mean_from_median_iqr(4.0, 2.0, 7.0, n=n)
    assert d.value == pytest.approx((0.7 + 0.39 / n) * 4.5 + (0.3 - 0.39 / n) * 4.0)
    assert d.method == "mean_from_median_iqr_luo2018"


@pytest.mark.parametrize(
    "call",
    [
        lambda: sd_from_se(0.0, 10),
        lambda: sd_from_se(1.0, None),
        lambda: sd_from_se(1.0, 2.5),
        lambda: sd_from_ci(5.0, 3.0, 10),
        lambda: sd_from_range(9.0, 1.0, n=10),
        lambda: sd_from_range(1.0, 9.0),
        lambda: sd_from_iqr(1.0, 2.0, float("nan")),
        lambda: mean_from_median_range(10.0, 1.0, 9.0),
        lambda: mean_from_median_iqr(1.0, 2.0, 3.0),
    ],
)
def test_bad_input_is_named_input_error(call):
    with pytest.raises(InputError):
        call()


def test_every_method_tag_is_described():
    tags = {
        sd_from_se(1, 4).method, sd_from_ci(1, 2, 4).method, sd_from_range(1, 2, n=4).method,
        sd_from_range(1, 3, median=2).method, sd_from_iqr(1, 2, 4).method,
        mean_from_median_range(2, 1, 3).method, mean_from_median_range(2, 1, 3, n=4).method,
        mean_from_median_iqr(2, 1, 3).method, mean_from_median_iqr(2, 1, 3, n=4).method,
    }
    assert tags <= set(DERIVATION_METHODS)


values = st.floats(min_value=-100, max_value=100, allow_nan=False)


@given(values, values, values, st.integers(min_value=1, max_value=10_000))
def test_derived_means_lie_within_the_reported_spread(x, y, z, n):
    lo, mid, hi = sorted((x, y, z))
    for d in (mean_from_median_range(mid, lo, hi), mean_from_median_range(mid, lo, hi, n=n),
              mean_from_median_iqr(mid, lo, hi), mean_from_median_iqr(mid, lo, hi, n=n)):
        assert lo - 1e-9 <= d.value <= hi + 1e-9
