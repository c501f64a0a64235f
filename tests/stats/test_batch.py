"""pool_many: many random-effects fits at once, against metafor, pool() and direct formulas."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from blastic_meta import InputError, pool, pool_many
from blastic_meta.stats.batch import COLUMNS, METHODS

# metafor's dat.bcg (metadat), escalc("RR", ai=tpos, bi=tneg, ci=cpos, di=cneg)
BCG_YI = [-0.88931133392020545, -1.5853886572014306, -1.3480731482996933, -1.4415511900213054,
          -0.21754732221129558, -0.78611558581886398, -1.6208982235983918,
          0.011952333523840508, -0.4694176487381494, -1.3713448034727844,
          -0.33935882833839059, 0.44591340057137874, -0.017313948216879815]
BCG_VI = [0.32558476500396133, 0.19458112139814385, 0.41536796536796539,
          0.020010031902247573, 0.051210172169630863, 0.0069056184559087574,
          0.22301724757231517, 0.0039615792978177295, 0.056434210463248966,
          0.07302479361302891, 0.01241221397155972, 0.53250584520015276,
          0.071404659683986293]
# R 4.2.2, metafor 3.8-1: rma(yi, vi, method = m, control = list(threshold = 1e-12));
# beta, se, ci.lb, ci.ub, tau2, I2, H2, QE, QEp
METAFOR_BCG = {
    "DL": [-0.71411722207322692, 0.1787420895354031, -1.0644452800840507, -0.36378916406240319,
           0.30876026286237618, 92.117346854562058, 12.686084006864441, 152.23300808237329,
           1.9967645908459738e-26],
    "HE": [-0.71587858875873545, 0.18327998598878223, -1.0751007603837544, -0.3566564171337166,
           0.32856385799576882, 92.557097406627079, 13.435618529931977, 152.23300808237329,
           1.9967645908459738e-26],
    "HS": [-0.70453537391625665, 0.15865209305665554, -1.0154877623791987,
           -0.39358298545331466, 0.22836286367690684, 89.629966664089565, 9.6431705435034285,
           152.23300808237329, 1.9967645908459738e-26],
    "SJ": [-0.71724859255758366, 0.18705945841642663, -1.0838783940213477, -0.3506187910938196,
           0.34551570159859507, 92.896324095540066, 14.077218801214796, 152.23300808237329,
           1.9967645908459738e-26],
    "ML": [-0.71119913547418401, 0.17189680877689684, -1.0481106897342705,
           -0.37428758121409761, 0.28002813726867132, 91.378283789446883, 11.598618831549844,
           152.23300808237329, 1.9967645908459738e-26],
    "REML": [-0.71453234215813966, 0.1797815161052069, -1.0668976388103528,
             -0.36216704550592649, 0.3132432581364859, 92.221384521269073, 12.855758235309356,
             152.23300808237329, 1.9967645908459738e-26],
    "EB": [-0.71496815349344456, 0.18089219153762517, -1.0695103339917109,
           -0.36042597299517809, 0.31806845220503133, 92.330337954153393, 13.038384142904141,
           152.23300808237329, 1.9967645908459738e-26],
}
# metafor's "PM" solves Q(tau2) = k - 1 with uniroot's default tolerance (about 1e-4), so its
# value is off by 2.5e-5; its "EB" iteration (run to 1e-12) has the same fixed point,
# y'Py = k - p, and gives the exact root, which pool_many finds for both names
METAFOR_BCG["PM"] = METAFOR_BCG["EB"]
# rma(yi, vi, method = "REML", test = "knha"); beta, se, ci.lb, ci.ub, pval; predict: pi.lb, pi.ub
METAFOR_BCG_KNHA = [-0.71453234215813966, 0.18079174409284798, -1.1084437136855514,
                    -0.32062097063072803, 0.0019200150960572951, -1.9960168341962121,
                    0.5669521498799327]
ITERATIVE_RTOL = 1e-6  # metafor stops at threshold 1e-12 here, pool_many at 1e-10 relative
CLOSED_RTOL = 1e-10


def test_methods_are_metafor_s():
    assert set(METHODS) == set(METAFOR_BCG)


@pytest.mark.parametrize("method", sorted(METAFOR_BCG))
def test_matches_metafor_on_bcg(method):
    row = pool_many([BCG_YI], [BCG_VI], method=method).iloc[0]
    got = row[["estimate", "se", "ci_low", "ci_high", "tau2", "i2", "h2", "q", "q_pval"]]
    rtol = ITERATIVE_RTOL if method in ("ML", "REML", "EB", "PM") else CLOSED_RTOL
    np.testing.assert_allclose(got.to_numpy(float), METAFOR_BCG[method], rtol=rtol)
    assert row["k"] == 13


def test_knha_matches_metafor():
    row = pool_many([BCG_YI], [BCG_VI], method="REML", test="knha").iloc[0]
    got = row[["estimate", "se", "ci_low", "ci_high", "pval", "pi_low", "pi_high"]]
    np.testing.assert_allclose(got.to_numpy(float), METAFOR_BCG_KNHA, rtol=ITERATIVE_RTOL)


def test_dl_by_direct_computation():
    rng = np.random.default_rng(11)
    y, v = rng.normal(size=(5, 7)), rng.uniform(0.05, 1.0, size=(5, 7))
    table = pool_many(y, v, method="DL")
    for i in range(5):
        w = 1 / v[i]
        mu_fe = np.sum(w * y[i]) / np.sum(w)
        q = np.sum(w * (y[i] - mu_fe) ** 2)
        tau2 = max(0.0, (q - 6) / (np.sum(w) - np.sum(w**2) / np.sum(w)))
        wr = 1 / (v[i] + tau2)
        est = np.sum(wr * y[i]) / np.sum(wr)
        assert table["q"][i] == pytest.approx(q, rel=1e-12)
        assert table["tau2"][i] == pytest.approx(tau2, rel=1e-12, abs=1e-15)
        assert table["estimate"][i] == pytest.approx(est, rel=1e-12)
        assert table["se"][i] == pytest.approx(np.sqrt(1 / np.sum(wr)), rel=1e-12)


def _batch(seed: int, rows: int = 60, k: int = 9) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.02, 0.6, (rows, k))
    y = rng.normal(0.2, np.sqrt(v + rng.choice([0.0, 0.03, 0.3], (rows, 1))))
    missing = rng.random((rows, k)) < 0.25
    y[missing] = np.nan
    v[missing] = np.nan
    return y, v


@pytest.mark.parametrize("test", ["z", "knha"])
@pytest.mark.parametrize("method", METHODS)
def test_agrees_row_by_row_with_pool(method, test):
    y, v = _batch(5)
    table = pool_many(y, v, method=method, test=test)
    fields = [c for c in COLUMNS if c != "k"]
    compared = 0
    for i in range(y.shape[0]):
        keep = ~np.isnan(y[i])
        if keep.sum() < 2:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # k = 2 with knha warns in pool()
            fit = pool(y[i, keep], v[i, keep], method=method, test=test)
        got = table.loc[i, fields].to_numpy(float)
        want = np.array([getattr(fit, f) for f in fields], dtype=float)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9, err_msg=f"row {i}")
        assert table.loc[i, "k"] == fit.k
        compared += 1
    assert compared > 50


# a data set whose REML likelihood has a local maximum at tau2 = 0 and the global one inside
BIMODAL_Y = [-2.15239719, -0.03258704, 0.33732768, 0.08330053, 2.47589054, 0.28884571,
             0.4208477, -0.40529545, 0.10762935, 0.26476755]
BIMODAL_V = [0.44935974, 0.17966688, 0.35955378, 0.02426111, 0.48632427, 0.11228151,
             0.18678343, 0.16931883, 0.06738, 0.39383842]
# rma(y, v, method = "REML", control = list(threshold = 1e-12)): tau2, beta
METAFOR_BIMODAL = [0.48366755139342404, 0.1213063558627604]


def test_finds_the_global_reml_maximum_when_the_likelihood_is_bimodal():
    row = pool_many([BIMODAL_Y], [BIMODAL_V], method="REML").iloc[0]
    np.testing.assert_allclose([row["tau2"], row["estimate"]], METAFOR_BIMODAL, rtol=1e-6)


def test_pool_finds_the_same_global_maximum():
    fit = pool(np.array(BIMODAL_Y), np.array(BIMODAL_V), method="REML")
    assert fit.tau2 == pytest.approx(METAFOR_BIMODAL[0], rel=1e-6)


def test_missing_studies_and_small_rows():
    y = np.array([[0.1, 0.5, np.nan, 0.3], [0.2, np.nan, np.nan, np.nan],
                  [np.nan] * 4, [0.1, 0.5, 0.3, np.nan]])
    v = np.where(np.isnan(y), np.nan, 0.04)
    table = pool_many(y, v)
    assert list(table.columns) == list(COLUMNS)
    assert table["k"].tolist() == [3, 1, 0, 3]
    assert table.loc[1:2, "estimate"].isna().all() and table.loc[1:2, "tau2"].isna().all()
    # the position of the missing study does not matter
    pd.testing.assert_series_equal(table.iloc[0], table.iloc[3], check_names=False, rtol=1e-13)


def test_rows_are_independent():
    y, v = _batch(8, rows=20)
    whole = pool_many(y, v)
    part = pool_many(y[5:9], v[5:9])
    np.testing.assert_allclose(whole.iloc[5:9].to_numpy(float), part.to_numpy(float),
                               rtol=1e-13)


# -- properties -------------------------------------------------------------------------

effects = hnp.arrays(np.float64, st.integers(2, 12),
                     elements=st.floats(-5, 5, allow_nan=False, allow_subnormal=False))


@settings(max_examples=60, deadline=None)
@given(y=effects, data=st.data(), method=st.sampled_from(METHODS))
def test_permutation_shift_and_scale(y, data, method):
    k = y.size
    v = data.draw(hnp.arrays(np.float64, k, elements=st.floats(0.01, 4.0)))
    perm = np.array(data.draw(st.permutations(range(k))))
    c = data.draw(st.floats(-10, 10))
    a = data.draw(st.floats(0.1, 10))
    base, shuffled, shifted, scaled = pool_many(
        np.vstack([y, y[perm], y + c, a * y]), np.vstack([v, v[perm], v, a * a * v]),
        method=method).to_dict("records")
    assert base["tau2"] >= 0 and 0 <= base["i2"] < 100
    scale = 1 + abs(base["estimate"]) + np.sqrt(base["tau2"])
    assert shuffled["estimate"] == pytest.approx(base["estimate"], abs=1e-9 * scale)
    assert shuffled["tau2"] == pytest.approx(base["tau2"], rel=1e-7, abs=1e-10 * scale**2)
    assert shifted["estimate"] == pytest.approx(base["estimate"] + c, abs=1e-8 * (scale + 10))
    assert shifted["ci_low"] == pytest.approx(base["ci_low"] + c, abs=1e-8 * (scale + 10))
    assert scaled["estimate"] == pytest.approx(a * base["estimate"], abs=1e-8 * a * scale)
    assert scaled["tau2"] == pytest.approx(a * a * base["tau2"], rel=1e-6,
                                           abs=1e-9 * (a * scale) ** 2)


# -- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("Y", "V", "kwargs", "message"),
    [
        ([[0.1, 0.2]], [[0.1, 0.2, 0.3]], {}, "same shape"),
        ([[0.1, np.nan]], [[0.1, 0.2]], {}, r"Y\[0, 1\] is missing \(NaN\) but V\[0, 1\] is not"),
        ([[0.1, 0.2]], [[0.1, -0.2]], {}, r"V\[0, 1\] = -0.2: sampling variances must be > 0"),
        ([[0.1, np.inf]], [[0.1, 0.2]], {}, r"Y\[0, 1\] = inf"),
        ([[0.1, 0.2]], [[0.1, 0.2]], {"method": "FE"}, r"method = 'FE': expected one of .*'REML'"),
        ([[0.1, 0.2]], [[0.1, 0.2]], {"test": "t"}, r"test = 't': expected one of .*'knha'"),
        ([[0.1, 0.2]], [[0.1, 0.2]], {"level": 95}, "use 0.95 for a 95% interval"),
        (np.zeros((2, 2, 2)), np.ones((2, 2, 2)), {}, "2-D array"),
    ],
)
def test_bad_input(Y, V, kwargs, message):
    with pytest.raises(InputError, match=message):
        pool_many(Y, V, **kwargs)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), method=st.sampled_from(METHODS), test=st.sampled_from(["z", "knha"]))
def test_property_agrees_with_pool(data, method, test):
    # variances spanning four orders of magnitude, where likelihoods can be bimodal
    rows = data.draw(st.integers(1, 4))
    k = data.draw(st.integers(3, 10))
    y = data.draw(hnp.arrays(np.float64, (rows, k), elements=st.floats(-3, 3)))
    v = data.draw(hnp.arrays(np.float64, (rows, k), elements=st.floats(1e-3, 10.0)))
    table = pool_many(y, v, method=method, test=test)
    for i in range(rows):
        fit = pool(y[i], v[i], method=method, test=test)
        for field in ("estimate", "se", "tau2", "ci_low", "ci_high", "i2", "q"):
            want = getattr(fit, field)
            assert table.loc[i, field] == pytest.approx(want, rel=1e-6, abs=1e-9), field


def test_identical_effects_give_zero_tau2_and_knha_se_zero():
    table = pool_many([[0.5, 0.5, 0.5], [0.0, 0.0, 0.0]], [[0.1, 0.2, 0.3]] * 2, test="knha")
    assert table["tau2"].tolist() == [0.0, 0.0]
    assert table["i2"].tolist() == [0.0, 0.0]
    assert table["se"].tolist() == [0.0, 0.0]
    # metafor: p = 0 for a non-zero estimate, NaN for an estimate of exactly 0
    assert table["pval"][0] == 0.0 and np.isnan(table["pval"][1])
