"""Effect sizes: values pinned from metafor 3.8.1 ``escalc``, edge cases, bad input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blastic_meta import InputError, effect_sizes
from blastic_meta.stats.effects import MEASURES, effect_values

# inputs shared by the cases below
PREPOST = dict(m1i=[7.2, 6.8, 8.1], m2i=[3.1, 2.5, 4.0], sd1i=[1.9, 2.2, 1.5],
               sd2i=[2.4, 1.8, 2.1], ni=[12, 30, 25], ri=[0.5, 0.2, 0.8])
PROPS = dict(xi=[0, 4, 17, 20], ni=[15, 20, 40, 20])  # includes 0 and all events
TWO_MEANS = dict(m1i=[7.2, 6.8, 8.1], m2i=[3.1, 2.5, 4.0], sd1i=[1.9, 2.2, 1.5],
                 sd2i=[2.4, 1.8, 2.1], n1i=[12, 30, 25], n2i=[14, 28, 20])
TABLE = dict(ai=[0, 5, 12], bi=[20, 15, 8], ci=[3, 9, 0], di=[17, 11, 20])  # zero cells
CORR = dict(ri=[-0.3, 0.1, 0.85], ni=[20, 50, 12])
MEAN = dict(mi=[-3.5, 0, 12.25], sdi=[2, 1.5, 0.4], ni=[10, 1, 30])  # a negative mean, ni = 1
INPUTS = {"MC": PREPOST, "SMCR": PREPOST, "SMCC": PREPOST, "ROMC": PREPOST, "MN": MEAN,
          "PR": PROPS, "PLO": PROPS,
          "PAS": PROPS, "PFT": PROPS, "MD": TWO_MEANS, "SMD": TWO_MEANS, "ROM": TWO_MEANS,
          "OR": TABLE, "RR": TABLE, "RD": TABLE, "ZCOR": CORR}

# R 4.2.2, metafor 3.8-1: escalc(measure, <inputs above>), printed with %.17g
METAFOR = {
    "MC": ([4.0999999999999996, 4.2999999999999998, 4.0999999999999996],
           [0.40083333333333332, 0.21653333333333338, 0.064799999999999969]),
    "SMCR": ([2.006755379421417, 1.9034829244390541, 2.6468649714237595],
             [0.25112779803486646, 0.1137207873938509, 0.15611788353900197]),
    "SMCC": ([1.7385032168142092, 1.6430419727243655, 3.119360283631464],
             [0.20926639311972306, 0.07832644873556624, 0.23460817158194736]),
    "ROMC": ([0.84267891453090915, 1.000631880307906, 0.70556970055850243],
             [0.038725993397866587, 0.01766316032295271, 0.0061745198902606298]),
    "MN": ([-3.5, 0, 12.25], [0.40000000000000002, 2.25, 0.005333333333333334]),
    "PR": ([0.03125, 0.20000000000000001, 0.42499999999999999, 0.97619047619047616],
           [0.00189208984375, 0.0080000000000000019, 0.0061093749999999994,
            0.0011067919231184549]),
    "PLO": ([-3.4339872044851463, -1.3862943611198906, -0.30228087187293351,
             3.7135720667043066],
            [2.064516129032258, 0.3125, 0.10230179028132992, 2.0487804878048781]),
    "PAS": ([0, 0.46364760900080609, 0.71011402700910531, 1.5707963267948966],
            [0.016666666666666666, 0.012500000000000001, 0.0062500000000000003,
             0.012500000000000001]),
    "PFT": ([0.12634012757103932, 0.48068655995551934, 0.71194122061688803,
             1.4608023380971669],
            [0.016129032258064516, 0.012195121951219513, 0.0061728395061728392,
             0.012195121951219513]),
    "MD": ([4.0999999999999996, 4.2999999999999998, 4.0999999999999996],
           [0.71226190476190476, 0.2770476190476191, 0.3105]),
    "SMD": ([1.8170015874475804, 2.1031045222797879, 2.2501673031532636],
            [0.21825218877703989, 0.10717734863066815, 0.14625836546866702]),
    "ROM": ([0.84267891453090915, 1.000631880307906, 0.70556970055850243],
            [0.048615658594503681, 0.022003328390179603, 0.015152992112482853]),
    "OR": ([-2.1041341542702074, -0.89794159320595857, 4.0992345475162928],
           [2.3916376306620206, 0.46868686868686871, 2.2464275466284076]),
    "RR": ([-1.9459101490553135, -0.58778666490211895, 3.218875824868201],
           [2.1904761904761907, 0.21111111111111114, 1.9847619047619045]),
    "RD": ([-0.14285714285714285, -0.20000000000000001, 0.5714285714285714],
           [0.0077205485368750677, 0.021749999999999999, 0.012579635028614622]),
    "ZCOR": ([-0.30951960420311175, 0.10033534773107562, 1.2561528119880574],
             [0.058823529411764705, 0.021276595744680851, 0.1111111111111111]),
}

CLOSED_FORM_RTOL = 1e-12  # closed forms: only rounding differs from R


def test_every_measure_has_a_pinned_case():
    assert set(METAFOR) == set(MEASURES) == set(INPUTS)


@pytest.mark.parametrize("measure", sorted(METAFOR))
def test_matches_metafor_escalc(measure):
    table = effect_sizes(measure, **INPUTS[measure])
    yi, vi = METAFOR[measure]
    np.testing.assert_allclose(table["yi"], yi, rtol=CLOSED_FORM_RTOL, atol=1e-15)
    np.testing.assert_allclose(table["vi"], vi, rtol=CLOSED_FORM_RTOL)


def test_table_keeps_inputs_in_order_then_measure_yi_vi():
    table = effect_sizes("PLO", ni=PROPS["ni"], xi=PROPS["xi"])
    assert list(table.columns) == ["ni", "xi", "measure", "yi", "vi"]
    assert table["xi"].tolist() == PROPS["xi"]
    assert (table["measure"] == "PLO").all()


def test_two_by_two_from_group_sizes_equals_from_cells():
    by_cells = effect_sizes("OR", **TABLE)
    n1 = np.add(TABLE["ai"], TABLE["bi"])
    n2 = np.add(TABLE["ci"], TABLE["di"])
    by_sizes = effect_sizes("OR", ai=TABLE["ai"], n1i=n1, ci=TABLE["ci"], n2i=n2)
    np.testing.assert_allclose(by_sizes["yi"], by_cells["yi"], rtol=1e-14)
    np.testing.assert_allclose(by_sizes["vi"], by_cells["vi"], rtol=1e-14)


def test_plo_adds_half_only_to_zero_and_all_event_studies():
    table = effect_sizes("PLO", xi=[0, 3, 10], ni=[10, 10, 10])
    assert table["yi"][0] == pytest.approx(math.log(0.5 / 10.5))
    assert table["yi"][1] == pytest.approx(math.log(3 / 7))  # untouched
    assert table["vi"][1] == pytest.approx(1 / 3 + 1 / 7)
    assert table["yi"][2] == pytest.approx(math.log(10.5 / 0.5))


def test_pas_and_pft_need_no_correction():
    table = effect_sizes("PAS", xi=[0, 5], ni=[5, 5])
    assert table["yi"].tolist() == pytest.approx([0.0, math.pi / 2])


def test_smd_correction_close_to_hedges_approximation():
    # the exact gamma-function factor differs from 1 - 3 / (4 m - 1) by O(m^-2)
    table = effect_sizes("SMD", **TWO_MEANS)
    n1, n2 = np.array(TWO_MEANS["n1i"]), np.array(TWO_MEANS["n2i"])
    sd1, sd2 = np.array(TWO_MEANS["sd1i"]), np.array(TWO_MEANS["sd2i"])
    sdp = np.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / (n1 + n2 - 2))
    d = (np.array(TWO_MEANS["m1i"]) - np.array(TWO_MEANS["m2i"])) / sdp
    approx = (1 - 3 / (4 * (n1 + n2 - 2) - 1)) * d
    np.testing.assert_allclose(table["yi"], approx, rtol=2e-4)


def test_smcr_does_not_need_sd2i():
    with_sd2 = effect_sizes("SMCR", **PREPOST)
    without = {k: v for k, v in PREPOST.items() if k != "sd2i"}
    np.testing.assert_array_equal(effect_sizes("SMCR", **without)["yi"], with_sd2["yi"])


# -- properties -------------------------------------------------------------------------

counts = st.integers(min_value=0, max_value=200)


@settings(max_examples=60, deadline=None)
@given(a=counts, b=counts, c=counts, d=counts)
def test_swapping_groups_negates_log_ratio_measures(a, b, c, d):
    if a + b == 0 or c + d == 0:
        return
    for measure in ("OR", "RR", "RD"):
        one = effect_sizes(measure, ai=[a], bi=[b], ci=[c], di=[d])
        two = effect_sizes(measure, ai=[c], bi=[d], ci=[a], di=[b])
        assert two["yi"][0] == pytest.approx(-one["yi"][0], abs=1e-12)
        assert two["vi"][0] == pytest.approx(one["vi"][0], rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(min_value=1, max_value=500), data=st.data())
def test_proportion_measures_increase_with_events(n, data):
    x = data.draw(st.integers(min_value=0, max_value=n - 1)) if n > 1 else 0
    for measure in ("PR", "PLO", "PAS", "PFT"):
        y = effect_sizes(measure, xi=[x, x + 1], ni=[n, n])["yi"]
        assert y[1] > y[0]
        assert (effect_sizes(measure, xi=[x], ni=[n])["vi"] > 0).all()


positive = st.floats(0.1, 1e3, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(m1=positive, m2=positive, sd1=positive, sd2=positive, n=st.integers(1, 500),
       r=st.floats(-1, 0.99), c=st.floats(1e-3, 1e3))
def test_romc_is_unit_free_and_antisymmetric(m1, m2, sd1, sd2, n, r, c):
    base = effect_sizes("ROMC", m1i=[m1], m2i=[m2], sd1i=[sd1], sd2i=[sd2], ni=[n], ri=[r])
    # a change of unit multiplies means and SDs alike: a ratio of means does not move
    scaled = effect_sizes("ROMC", m1i=[c * m1], m2i=[c * m2], sd1i=[c * sd1],
                          sd2i=[c * sd2], ni=[n], ri=[r])
    swapped = effect_sizes("ROMC", m1i=[m2], m2i=[m1], sd1i=[sd2], sd2i=[sd1], ni=[n], ri=[r])
    assert scaled["yi"][0] == pytest.approx(base["yi"][0], rel=1e-12, abs=1e-12)
    assert scaled["vi"][0] == pytest.approx(base["vi"][0], rel=1e-9)
    assert swapped["yi"][0] == pytest.approx(-base["yi"][0], rel=1e-12, abs=1e-12)
    assert swapped["vi"][0] == pytest.approx(base["vi"][0], rel=1e-9)


def test_romc_with_ri_zero_has_the_variance_of_rom_on_two_groups_of_ni():
    kw = {k: v for k, v in PREPOST.items() if k not in ("ni", "ri")}
    romc = effect_sizes("ROMC", **kw, ni=PREPOST["ni"], ri=[0, 0, 0])
    rom = effect_sizes("ROM", **kw, n1i=PREPOST["ni"], n2i=PREPOST["ni"])
    np.testing.assert_allclose(romc["yi"], rom["yi"], rtol=1e-15)
    np.testing.assert_allclose(romc["vi"], rom["vi"], rtol=1e-13)


# -- bad input --------------------------------------------------------------------------


def test_unknown_measure_lists_the_valid_codes():
    with pytest.raises(InputError, match=r"measure = 'XX': expected one of .*'MC'.*'ZCOR'"):
        effect_sizes("XX", xi=[1], ni=[2])


@pytest.mark.parametrize(
    ("measure", "arrays", "message"),
    [
        ("PLO", dict(xi=[1, 2], ni=[5]), "same length: xi has 2, ni has 1"),
        ("PLO", dict(xi=[1, np.nan], ni=[5, 5]), r"xi\[1\] = nan: must be a finite number"),
        ("PLO", dict(xi=[1, 7], ni=[5, 5]), r"xi\[1\] = 7 exceeds ni\[1\] = 5"),
        ("PLO", dict(xi=[-1, 2], ni=[5, 5]), r"xi\[0\] = -1: must be a count of events >= 0"),
        ("PLO", dict(xi=[1, 2], ni=[5, 0]), r"ni\[1\] = 0"),
        ("MD", {**TWO_MEANS, "sd2i": [1.0, 0.0, 2.0]}, r"sd2i\[1\] = 0: .*standard deviation > 0"),
        ("MC", {**PREPOST, "ri": [0.5, 1.2, 0.1]}, r"ri\[1\] = 1.2: must be a number in \[-1, 1\]"),
        ("ZCOR", dict(ri=[0.2, 1.0], ni=[10, 10]), r"ri\[1\] = 1: must be a number in \(-1, 1\)"),
        ("ZCOR", dict(ri=[0.2, 0.3], ni=[10, 3]), r"ni\[1\] = 3: must be a sample size > 3"),
        ("OR", {**TABLE, "bi": [20, -1, 8]}, r"bi\[1\] = -1"),
        ("OR", dict(ai=[3], n1i=[2], ci=[1], n2i=[5]), r"ai\[0\] = 3 exceeds n1i\[0\] = 2"),
        ("OR", dict(ai=[1], bi=[2], n1i=[9], ci=[1], di=[4]), r"n1i\[0\] = 9 is not ai\[0\] \+ bi"),
        ("ROM", {**TWO_MEANS, "m2i": [3.1, -2.5, 4.0]}, r"m2i\[1\] = -2.5: must be a mean > 0"),
        ("SMD", dict(m1i=[1], m2i=[0], sd1i=[1], sd2i=[1], n1i=[2], n2i=[1]), "must be > 3"),
        ("PLO", dict(xi=[1]), "needs ni"),
        ("PLO", dict(xi=[1], ni=[2], ai=[3]), "does not take ai"),
        ("MC", {**PREPOST, "sd2i": [1.9, 2.2, 1.5], "sd1i": [1.9, 2.2, 1.5],
                "ri": [1.0, 0.2, 0.8]}, "no variance"),
        ("PLO", dict(xi="12", ni=[5]), "got a string"),
        ("ROMC", {**PREPOST, "m1i": [7.2, -6.8, 8.1]}, r"m1i\[1\] = -6.8: must be a mean > 0"),
        ("ROMC", {**PREPOST, "m2i": [3.1, 2.5, 0.0]}, r"m2i\[2\] = 0: must be a mean > 0"),
        ("ROMC", {**PREPOST, "sd1i": [1.9, 0.0, 1.5]}, r"sd1i\[1\] = 0: .*deviation > 0"),
        ("ROMC", {**PREPOST, "sd2i": [-2.4, 1.8, 2.1]}, r"sd2i\[0\] = -2.4: .*deviation > 0"),
        ("ROMC", {**PREPOST, "ni": [12, 0.5, 25]}, r"ni\[1\] = 0.5: must be a sample size >= 1"),
        ("ROMC", {**PREPOST, "ri": [0.5, 0.2, -1.1]}, r"ri\[2\] = -1.1: .* in \[-1, 1\]"),
        ("ROMC", dict(m1i=[2.0], m2i=[4.0], sd1i=[1.0], sd2i=[2.0], ni=[9], ri=[1.0]),
         r"ri\[0\] = 1 .*no variance"),
        ("ROMC", {k: v for k, v in PREPOST.items() if k != "ri"}, "needs ri"),
        ("MN", {**MEAN, "sdi": [2, 1.5, 0]}, r"sdi\[2\] = 0: .*deviation > 0"),
        ("MN", {**MEAN, "ni": [10, 0, 30]}, r"ni\[1\] = 0: must be a sample size >= 1"),
        ("MN", {**MEAN, "mi": [1.0, np.inf, 2.0]}, r"mi\[1\] = inf: must be a finite"),
        ("MN", {**MEAN, "n1i": [1, 2, 3]}, "does not take n1i"),
    ],
)
def test_bad_input_names_argument_position_and_form(measure, arrays, message):
    with pytest.raises(InputError, match=message):
        effect_sizes(measure, **arrays)
    with pytest.raises(InputError, match=message):  # the same checks without the table
        effect_values(measure, **arrays)


@pytest.mark.parametrize("measure", sorted(METAFOR))
def test_effect_values_are_the_yi_and_vi_columns_of_effect_sizes(measure):
    yi, vi = effect_values(measure, **INPUTS[measure])
    table = effect_sizes(measure, **INPUTS[measure])
    assert yi.tobytes() == table["yi"].to_numpy().tobytes()
    assert vi.tobytes() == table["vi"].to_numpy().tobytes()


def test_pandas_series_inputs_are_accepted():
    frame = pd.DataFrame(PROPS)
    table = effect_sizes("PFT", xi=frame["xi"], ni=frame["ni"])
    np.testing.assert_allclose(table["yi"], METAFOR["PFT"][0], rtol=CLOSED_FORM_RTOL)
