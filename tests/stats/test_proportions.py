"""Proportion transforms, back-transforms and per-study confidence intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from blastic_meta import InputError, back_transform, effect_sizes, proportion_ci, transform

EVENTS = [0, 3, 10, 7, 1]
TOTALS = [10, 10, 10, 25, 200]
# R 4.2.2: binom.test(x, n)$conf.int and prop.test(x, n, correct = FALSE)$conf.int
CP_LOW = [0, 0.066739511177734495, 0.69150289218123917, 0.12071668850406665,
          0.00012658102786701841]
CP_HIGH = [0.30849710781876083, 0.65245285005999731, 1, 0.49387682180625547,
           0.02754189845720556]
W_LOW = [0, 0.10779126740630104, 0.72246720013711085, 0.14283853850956565,
         0.00088316871560097717]
W_HIGH = [0.27753279986288915, 0.60322185253885452, 1, 0.47576605190361576,
          0.02777370439789292]
CP90_LOW = [0, 0.087264433914150272, 0.74113444910694759, 0.13947530657892995,
            0.00025643358722347425]
CP90_HIGH = [0.2588655508930523, 0.60662421610541339, 1, 0.46220892170364469,
             0.02349847043495068]
# metafor 3.8-1: transf.ipft.hm(Z, targs = list(ni = c(10, 20, 30))), transf.iarcsin(Z)
Z = [-0.1, 0.05, 0.3, 0.7, 1.2, 1.6]
IPFT = [0, 0, 0.064397293328769811, 0.4099771179509204, 0.88980368618188854, 1]
IARCSIN = [0, 0.002497917360987117, 0.087332192545160836, 0.41501642854987947,
           0.86869685777062267, 1]
# metafor: transf.pft(c(0, 0.25, 1), 17)
PFT_OF = [0.11897056241510413, 0.53895876744118087, 1.4518257643797923]


def test_clopper_pearson_matches_binom_test():
    low, high = proportion_ci(EVENTS, TOTALS)
    np.testing.assert_allclose(low, CP_LOW, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(high, CP_HIGH, rtol=1e-9)


def test_clopper_pearson_at_other_level():
    low, high = proportion_ci(EVENTS, TOTALS, level=0.9)
    np.testing.assert_allclose(low, CP90_LOW, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(high, CP90_HIGH, rtol=1e-9)


def test_wilson_matches_prop_test():
    low, high = proportion_ci(EVENTS, TOTALS, method="wilson")
    np.testing.assert_allclose(low, W_LOW, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(high, W_HIGH, rtol=1e-9)


def test_back_transform_pft_is_miller_at_harmonic_mean():
    got = back_transform(Z, "PFT", ni=[10, 20, 30])
    np.testing.assert_allclose(got, IPFT, rtol=1e-12, atol=1e-15)


def test_back_transform_pas_and_plo():
    np.testing.assert_allclose(back_transform(Z, "PAS"), IARCSIN, rtol=1e-12, atol=1e-15)
    assert back_transform(0.0, "PLO") == 0.5
    assert back_transform(math.log(3), "PLO") == pytest.approx(0.75)
    assert back_transform(0.4, "PR") == 0.4


def test_transform_pft_matches_metafor():
    np.testing.assert_allclose(transform([0, 0.25, 1], "PFT", ni=17), PFT_OF, rtol=1e-12)


def test_transform_agrees_with_effect_sizes_pas():
    table = effect_sizes("PAS", xi=[3, 9], ni=[12, 20])
    np.testing.assert_allclose(transform([3 / 12, 9 / 20], "PAS"), table["yi"], rtol=1e-14)


def test_scalars_in_scalars_out_and_nan_passes():
    assert isinstance(back_transform(0.2, "PLO"), float)
    got = back_transform([np.nan, 0.2], "PFT", ni=[10, 20])
    assert math.isnan(got[0]) and not math.isnan(got[1])


# -- properties -------------------------------------------------------------------------

probs = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
sizes = st.integers(min_value=1, max_value=5000)


@settings(max_examples=100, deadline=None)
@given(p=probs, n=sizes)
def test_pft_round_trip(p, n):
    assert back_transform(transform(p, "PFT", ni=n), "PFT", ni=n) == pytest.approx(p, abs=1e-7)


@settings(max_examples=100, deadline=None)
@given(p=probs)
def test_pas_round_trip(p):
    assert back_transform(transform(p, "PAS"), "PAS") == pytest.approx(p, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(p=st.floats(min_value=1e-12, max_value=1 - 1e-12))
def test_plo_round_trip(p):
    assert back_transform(transform(p, "PLO"), "PLO") == pytest.approx(p, rel=1e-9)


@settings(max_examples=150, deadline=None)
@given(n=sizes, data=st.data(), method=st.sampled_from(["clopper-pearson", "wilson"]),
       level=st.floats(min_value=0.5, max_value=0.999))
def test_interval_contains_estimate_and_stays_in_unit_interval(n, data, method, level):
    x = data.draw(st.integers(min_value=0, max_value=n))
    low, high = proportion_ci([x], [n], method=method, level=level)
    assert 0.0 <= low[0] <= x / n <= high[0] <= 1.0


@settings(max_examples=80, deadline=None)
@given(n=sizes, data=st.data())
def test_wider_level_gives_wider_interval(n, data):
    x = data.draw(st.integers(min_value=0, max_value=n))
    assume(0 < x < n)
    lo95, hi95 = proportion_ci([x], [n])
    lo99, hi99 = proportion_ci([x], [n], level=0.99)
    assert lo99[0] < lo95[0] and hi99[0] > hi95[0]


# -- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: transform([0.2], "PXX"), r"measure = 'PXX': expected one of .*'PLO'"),
        (lambda: back_transform([0.2], "PFT"), "needs the sample sizes"),
        (lambda: transform([0.2, 1.5], "PLO"), r"values\[1\] = 1.5: must be a number in \[0, 1\]"),
        (lambda: proportion_ci([3], [2]), r"events\[0\] = 3 exceeds totals\[0\] = 2"),
        (lambda: proportion_ci([-1], [2]), r"events\[0\] = -1"),
        (lambda: proportion_ci([1, 2], [2]), "same length"),
        (lambda: proportion_ci([1], [2], level=95), r"level = 95: .*use 0.95"),
        (lambda: proportion_ci([1], [2], method="exact"), "'clopper-pearson', 'wilson'"),
        (lambda: proportion_ci([1], [0]), r"totals\[0\] = 0"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(InputError, match=message):
        call()
