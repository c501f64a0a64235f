"""pool() and its diagnostics: by-hand formulas, printed metafor output, edge cases, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from blastic_meta import BlasticMetaWarning, InputError
from blastic_meta.stats.models import PooledResult, pool, single_study_result
from tests.stats.test_tau2 import bcg, loop_dl

ABLAT = [44, 55, 42, 52, 13, 44, 19, 13, 27, 42, 18, 33, 33]
YEAR = [1948, 1949, 1960, 1977, 1973, 1953, 1973, 1980, 1968, 1961, 1974, 1969, 1976]

# A funnel with small studies showing larger effects (asymmetric on the right)
ASYM_Y = np.array([0.9, 0.7, 0.6, 0.5, 0.45, 0.3, 0.35, 0.2, 0.25, 0.15, 0.1, 0.12])
ASYM_V = np.array([0.20, 0.15, 0.12, 0.10, 0.08, 0.05, 0.06, 0.03, 0.04, 0.02, 0.01, 0.015])


def printed(value: float, text: str) -> None:
    """``value`` rounds to the number metafor printed (half a unit in the last digit)."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    assert abs(value - float(text)) <= 0.5 * 10.0**-decimals + 1e-12, (value, text)


# -- published / printed metafor output --------------------------------------------------------
def test_bcg_reml_matches_metafor_print():
    # print(rma(yi, vi, data=dat.bcg-as-RR)), confint() and predict() with metafor 3.8.1
    r = pool(*bcg())
    printed(r.tau2, "0.3132")
    printed(r.tau2_se, "0.1664")
    printed(r.tau, "0.5597")
    printed(r.i2, "92.22")
    printed(r.h2, "12.86")
    printed(r.q, "152.2330")
    printed(r.estimate, "-0.7145")
    printed(r.se, "0.1798")
    printed(r.zval, "-3.9744")
    printed(r.ci_low, "-1.0669")
    printed(r.ci_high, "-0.3622")
    printed(r.tau2_ci_low, "0.1197")
    printed(r.tau2_ci_high, "1.1115")
    printed(r.pi_low, "-1.8667")
    printed(r.pi_high, "0.4376")
    assert r.q_df == 12 and r.k == 13 and r.p == 1


def test_bcg_meta_regression_knha_matches_metafor_print():
    # rma(yi, vi, mods = ~ ablat + year, test = "knha") with metafor 3.8.1
    yi, vi = bcg()
    r = pool(yi, vi, mods=pd.DataFrame({"ablat": ABLAT, "year": YEAR}), test="knha")
    printed(r.tau2, "0.1108")
    printed(r.i2, "71.98")
    printed(r.h2, "3.57")
    printed(r.r2, "64.63")
    printed(r.q, "28.3251")
    printed(r.qm, "4.9649")
    printed(r.qm_pval, "0.0318")
    assert r.qm_df == (2, 10)
    coef = r.coefficients
    assert list(coef.index) == ["intrcpt", "ablat", "year"]
    assert list(coef.columns) == ["estimate", "se", "statistic", "pval", "ci_low", "ci_high"]
    printed(coef.loc["ablat", "estimate"], "-0.0280")
    printed(coef.loc["ablat", "se"], "0.0113")
    printed(coef.loc["ablat", "statistic"], "-2.4689")
    printed(coef.loc["ablat", "pval"], "0.0332")
    printed(coef.loc["ablat", "ci_low"], "-0.0533")
    printed(coef.loc["year", "ci_high"], "0.0382")
    assert r.estimate == coef.loc["intrcpt", "estimate"]


# -- direct computation ---------------------------------------------------------------------
def test_dl_fit_by_hand():
    yi, vi = bcg()
    r = pool(yi, vi, method="DL", level=0.9)
    tau2 = loop_dl(yi, vi)
    w = 1 / (vi + tau2)
    mu = np.sum(w * yi) / np.sum(w)
    se = math.sqrt(1 / np.sum(w))
    z = stats.norm.ppf(0.95)
    assert r.tau2 == pytest.approx(tau2, rel=1e-12)
    assert r.estimate == pytest.approx(mu, rel=1e-12)
    assert r.se == pytest.approx(se, rel=1e-12)
    assert r.ci_low == pytest.approx(mu - z * se, rel=1e-12)
    assert r.pval == pytest.approx(2 * stats.norm.sf(abs(mu / se)), rel=1e-9)
    assert r.weights == pytest.approx(100 * w / w.sum(), rel=1e-12)
    assert r.weights.sum() == pytest.approx(100.0)
    assert r.pi_high == pytest.approx(mu + z * math.sqrt(se**2 + tau2), rel=1e-12)


def test_knapp_hartung_by_hand():
    yi, vi = bcg()
    r = pool(yi, vi, method="DL", test="knha")
    w = 1 / (vi + r.tau2)
    mu = np.sum(w * yi) / np.sum(w)
    s2w = np.sum(w * (yi - mu) ** 2) / 12
    se = math.sqrt(s2w / np.sum(w))
    t = stats.t.ppf(0.975, 12)
    assert r.se == pytest.approx(se, rel=1e-12)
    assert r.df == 12
    assert r.ci_high == pytest.approx(mu + t * se, rel=1e-12)
    assert r.pval == pytest.approx(2 * stats.t.sf(abs(mu / se), 12), rel=1e-9)
    # metafor's default PI under knha uses t(k - p) and the KH-scaled se
    assert r.pi_low == pytest.approx(mu - t * math.sqrt(se**2 + r.tau2), rel=1e-12)


def test_adhoc_floor_only_widens():
    y = np.array([0.1, 0.12, 0.3, 0.2])  # Q < df, so s2w < 1
    v = np.array([0.02, 0.03, 0.02, 0.04])
    plain = pool(y, v, test="knha")
    floored = pool(y, v, test="knha", adhoc=True)
    assert plain.s2w < 1
    assert floored.s2w == 1.0
    assert floored.se > plain.se
    z = pool(y, v)
    assert floored.se == pytest.approx(z.se, rel=1e-12)


def test_i2_from_q_convention():
    yi, vi = bcg()
    r = pool(yi, vi, i2="Q")
    assert r.i2 == pytest.approx(100 * (r.q - 12) / r.q, rel=1e-12)
    assert r.h2 == pytest.approx(r.q / 12, rel=1e-12)
    assert pool(yi, vi, method="DL").i2 == pytest.approx(pool(yi, vi, method="DL", i2="Q").i2)


def test_pi_conventions_differ_as_named():
    yi, vi = bcg()
    base = pool(yi, vi)
    half = math.sqrt(base.se**2 + base.tau2)
    for conv, crit in (("t(k-1)", stats.t.ppf(0.975, 12)), ("t(k-2)", stats.t.ppf(0.975, 11))):
        r = pool(yi, vi, pi=conv)
        assert r.pi_high == pytest.approx(base.estimate + crit * half, rel=1e-12)
        assert r.estimate == base.estimate


def test_dataframe_input_equals_arrays():
    yi, vi = bcg()
    frame = pd.DataFrame({"study": range(13), "yi": yi, "vi": vi})
    assert pool(frame).to_dict() == pool(yi, vi).to_dict()


def test_input_order_is_kept():
    yi, vi = bcg()
    r = pool(yi, vi)
    np.testing.assert_array_equal(r.yi, yi)
    np.testing.assert_array_equal(r.vi, vi)
    assert not r.yi.flags.writeable


# -- edge cases -----------------------------------------------------------------------------
def test_identical_effects():
    r = pool([0.3] * 5, [0.01, 0.02, 0.03, 0.04, 0.05])
    assert r.tau2 == 0.0 and r.i2 == 0.0 and r.h2 == 1.0
    assert r.q == pytest.approx(0.0, abs=1e-25)
    assert (r.tau2_ci_low, r.tau2_ci_high) == (0.0, 0.0)
    assert r.estimate == pytest.approx(0.3)


def test_k2_with_knha_warns_and_k2_with_z_does_not():
    with pytest.warns(BlasticMetaWarning, match="k = 2"):
        r = pool([0.1, 0.5], [0.01, 0.02], test="knha")
    assert r.df == 1
    z = pool([0.1, 0.5], [0.01, 0.02])
    assert z.k == 2 and math.isfinite(z.ci_low)
    assert math.isnan(pool([0.1, 0.5], [0.01, 0.02], pi="t(k-2)").pi_low)


def test_k3_all_methods_finite():
    for method in ("DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM"):
        r = pool([0.1, 0.5, 0.9], [0.01, 0.02, 0.01], method=method)
        assert math.isfinite(r.estimate) and r.tau2 >= 0 and r.tau2_ci_low <= r.tau2_ci_high


def test_effects_far_from_zero_and_large_k():
    rng = np.random.default_rng(11)
    v = rng.uniform(0.5, 2.0, 200)
    y = 1e4 + rng.normal(0, np.sqrt(v + 1.0))
    r = pool(y, v)
    assert r.estimate == pytest.approx(1e4, abs=1.0)
    shifted = pool(y - 1e4, v)
    assert r.tau2 == pytest.approx(shifted.tau2, rel=1e-6)


def test_single_study_result_shape():
    r = single_study_result(0.4, 0.04)
    assert (r.k, r.estimate, r.se, r.tau2) == (1, 0.4, 0.2, 0.0)
    assert math.isnan(r.i2) and math.isnan(r.q)
    assert r.ci_low == pytest.approx(0.4 - stats.norm.ppf(0.975) * 0.2)


# -- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.2]}, r"yi, vi: .*yi has 3, vi has 2"),
        ({"yi": [0.1, float("nan"), 0.3], "vi": [0.1, 0.2, 0.3]}, r"yi\[1\] = nan"),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.0, 0.3]}, r"vi\[1\] = 0.0: .* > 0"),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.1, -1, 0.3]}, r"vi\[1\] = -1.0"),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.1, np.inf, 0.3]}, r"vi\[1\] = inf"),
        ({"yi": [0.1, 0.2], "vi": [0.1, 0.2], "method": "reml"}, r"method = 'reml'.*'REML'"),
        ({"yi": [0.1, 0.2], "vi": [0.1, 0.2], "test": "t"}, r"test = 't'.*'knha'"),
        ({"yi": [0.1, 0.2], "vi": [0.1, 0.2], "level": 95}, r"level = 95.*use 0.95"),
        ({"yi": [0.1, 0.2], "vi": [0.1, 0.2], "level": 0}, r"level = 0: .*\(0, 1\)"),
        ({"yi": [0.1, 0.2], "vi": [0.1, 0.2], "pi": "t"}, r"pi = 't'"),
        ({"yi": [0.1, 0.2], "vi": [0.1, 0.2], "adhoc": True}, r"adhoc = True.*knha"),
        ({"yi": [0.1], "vi": [0.1]}, r"k = 1 study; nothing to pool"),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.2, 0.3], "mods": [[1.0], [2.0]]},
         r"mods: one row per study"),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.2, 0.3], "mods": [[1.0, 2], [2, 4], [3, 6]]},
         r"linearly dependent"),
        ({"yi": [0.1, 0.2], "vi": [0.1, 0.2], "mods": [1.0, 2.0]}, r"k = 2 studies cannot"),
        ({"yi": [0.1, 0.2], "vi": None}, r"vi: required"),
    ],
)
def test_bad_input_names_argument_and_position(kwargs, pattern):
    kwargs = dict(kwargs)  # the parameter is shared between runs of this test
    yi = kwargs.pop("yi")
    vi = kwargs.pop("vi")
    with pytest.raises(InputError, match=pattern):
        pool(yi, vi, **kwargs)


def test_bad_input_is_a_value_error():
    with pytest.raises(ValueError):
        pool([0.1, 0.2], [0.1, -0.2])


def test_dataframe_without_vi_column():
    with pytest.raises(InputError, match="lacks column"):
        pool(pd.DataFrame({"yi": [0.1, 0.2]}))


# -- leave-one-out, Egger, trim-and-fill --------------------------------------------------------
def test_leave_one_out_equals_refits_in_input_order():
    yi, vi = bcg()
    r = pool(yi, vi, method="PM", test="knha")
    loo = r.leave_one_out()
    assert list(loo.columns[:6]) == ["estimate", "se", "statistic", "pval", "ci_low", "ci_high"]
    assert len(loo) == 13
    for i in (0, 6, 12):
        keep = np.arange(13) != i
        ref = pool(yi[keep], vi[keep], method="PM", test="knha")
        row = loo.iloc[i]
        assert row.estimate == pytest.approx(ref.estimate, rel=1e-12)
        assert row.tau2 == pytest.approx(ref.tau2, rel=1e-12)
        assert row.i2 == pytest.approx(ref.i2, rel=1e-12)
        assert row.ci_low == pytest.approx(ref.ci_low, rel=1e-12)


def test_leave_one_out_bcg_matches_metafor():
    # leave1out(rma(yi, vi)) with metafor 3.8.1 (threshold 1e-12), rows 1 and 7
    loo = pool(*bcg()).leave_one_out()
    assert loo.estimate.iloc[0] == pytest.approx(-0.70708378, abs=1e-8)
    assert loo.tau2.iloc[6] == pytest.approx(0.29302587, abs=1e-8)
    assert loo.i2.iloc[0] == pytest.approx(93.225934, abs=1e-6)


def test_leave_one_out_with_two_studies_gives_single_study_rows():
    loo = pool([0.1, 0.5], [0.01, 0.04]).leave_one_out()
    assert loo.estimate.tolist() == [0.5, 0.1]
    assert loo.se.tolist() == pytest.approx([0.2, 0.1])
    assert loo.tau2.tolist() == [0.0, 0.0]
    assert loo.i2.isna().all()


def test_egger_is_the_sei_coefficient_of_a_meta_regression():
    r = pool(ASYM_Y, ASYM_V, method="DL")
    e = r.egger_test()
    reg = pool(ASYM_Y, ASYM_V, method="DL", mods=pd.DataFrame({"sei": np.sqrt(ASYM_V)}))
    assert e.statistic == pytest.approx(reg.coefficients.loc["sei", "statistic"], rel=1e-12)
    assert e.limit_estimate == pytest.approx(reg.estimate, rel=1e-12)


@pytest.mark.parametrize(
    ("test", "stat", "pval", "lb"),
    # regtest(rma(yi, vi, test=...)) with metafor 3.8.1
    [("z", 3.0093658619, 0.0026179365, -0.3714975251),
     ("knha", 20.5654100631, 0.0000000016, -0.1679088764)],
)
def test_egger_matches_metafor(test, stat, pval, lb):
    e = pool(ASYM_Y, ASYM_V, test=test).egger_test()
    assert e.statistic == pytest.approx(stat, rel=1e-6)
    assert e.pval == pytest.approx(pval, abs=1e-9)
    assert e.limit_estimate == pytest.approx(-0.1272829411, abs=1e-7)
    assert e.limit_ci_low == pytest.approx(lb, abs=1e-7)
    assert json.dumps(e.to_dict(), allow_nan=False)
    assert "Test for Funnel Plot Asymmetry" in e.summary()


@pytest.mark.parametrize(
    ("method", "test", "est", "se", "tau2"),
    # trimfill(rma(yi, vi, method=..., test=...)) with metafor 3.8.1: k0 = 5 on the left
    [("REML", "z", 0.1612299465, 0.0502096445, 0.0),
     ("DL", "knha", 0.1693014852, 0.0580996374, 0.0076255853)],
)
def test_trim_and_fill_matches_metafor(method, test, est, se, tau2):
    tf = pool(ASYM_Y, ASYM_V, method=method, test=test).trim_and_fill()
    assert (tf.k0, tf.side) == (5, "left")
    assert tf.se_k0 == pytest.approx(2.1177552143, rel=1e-9)
    assert tf.estimate == pytest.approx(est, abs=1e-7)
    assert tf.se == pytest.approx(se, abs=1e-7)
    assert tf.tau2 == pytest.approx(tau2, abs=1e-7)
    assert len(tf.filled_yi) == 5 and tf.fit.k == 17


def test_trim_and_fill_mirrors_to_the_right_side():
    left = pool(ASYM_Y, ASYM_V).trim_and_fill()
    right = pool(-ASYM_Y, ASYM_V).trim_and_fill()
    assert right.side == "right" and right.k0 == left.k0
    assert right.estimate == pytest.approx(-left.estimate, rel=1e-9)
    np.testing.assert_allclose(np.sort(right.filled_yi), np.sort(-left.filled_yi))


def test_trim_and_fill_without_missing_studies_returns_the_fit():
    r = pool(*bcg(), method="PM")
    tf = r.trim_and_fill()
    assert tf.k0 == 0 and tf.fit is r and tf.estimate == r.estimate


def test_diagnostics_refuse_moderators():
    yi, vi = bcg()
    r = pool(yi, vi, mods=np.array(ABLAT, dtype=float)[:, None])
    with pytest.raises(InputError, match="without moderators"):
        r.leave_one_out()
    with pytest.raises(InputError, match="without moderators"):
        r.trim_and_fill()


# -- output ---------------------------------------------------------------------------------
def test_summary_layout_and_conventions():
    text = pool(*bcg()).summary()
    assert text.startswith("Random-Effects Model (k = 13; tau^2 estimator: REML)\n")
    assert "tau^2 (estimated amount of total heterogeneity): 0.3132 (SE = 0.1664)" in text
    assert "I^2 (total heterogeneity / total variability):   92.22%" in text
    assert "Q(df = 12) = 152.2330, p-val < .0001" in text
    assert " -0.7145  0.1798  -3.9744  <.0001  -1.0669  -0.3622" in text
    assert "prediction interval quantile: normal quantile" in text
    assert "I^2 and H^2: from tau^2" in text
    knha = pool(*bcg(), test="knha", adhoc=True, pi="t(k-2)").summary()
    assert "tval  df" in knha and "with the ad hoc floor" in knha and "k - 2" in knha


def test_to_dict_is_json_safe_and_deterministic():
    yi, vi = bcg()
    d = pool(yi, vi, mods=pd.DataFrame({"ablat": ABLAT})).to_dict()
    text = json.dumps(d, allow_nan=False, sort_keys=True)
    assert text == json.dumps(pool(yi, vi, mods=pd.DataFrame({"ablat": ABLAT})).to_dict(),
                              allow_nan=False, sort_keys=True)
    assert d["coefficients"]["ablat"]["estimate"] == pytest.approx(
        pool(yi, vi, mods=pd.DataFrame({"ablat": ABLAT})).beta[1])
    nomods = pool(yi, vi).to_dict()
    assert nomods["qm_pval"] is not None and nomods["r2"] is None
    assert isinstance(PooledResult.__dataclass_fields__, dict)


def test_number_formatting_follows_metafor():
    from blastic_meta.formatting import fmt_ci, fmt_num, fmt_p, fmt_pct, signif_stars

    assert fmt_p(0.00001) == "<.0001"
    assert fmt_p(0.00001, equals=True) == "< .0001"
    assert fmt_p(0.0016, equals=True) == "= 0.0016"
    assert fmt_p(0.0001) == "0.0001"
    assert fmt_p(0.0123, digits=2) == "0.01" and fmt_p(0.001, digits=2) == "<.01"
    assert fmt_num(-0.00001, 4) == "0.0000"
    assert fmt_num(float("nan"), 4) == "NA"
    assert (fmt_num(float("inf"), 4), fmt_num(-float("inf"), 2)) == ("Inf", "-Inf")
    assert fmt_ci(-1.06689, -0.36217) == "[-1.0669, -0.3622]"
    assert fmt_pct(92.2214) == "92.22%"
    assert [signif_stars(p) for p in (0.0005, 0.005, 0.03, 0.07, 0.5)] == \
        ["***", "**", "*", ".", ""]


def test_identical_effects_under_knha_collapse_like_metafor():
    # metafor: s2w = 0 when the weighted residual sum of squares is ~0, so se = 0, t = Inf
    r = pool([0.3] * 4, [0.01, 0.02, 0.03, 0.04], test="knha")
    assert r.se == 0.0 and r.zval == math.inf and r.pval == 0.0
    assert r.ci_low == r.ci_high == pytest.approx(0.3)
    assert "   Inf   3  <.0001" in r.summary()
    floored = pool([0.3] * 4, [0.01, 0.02, 0.03, 0.04], test="knha", adhoc=True)
    assert floored.se == pytest.approx(pool([0.3] * 4, [0.01, 0.02, 0.03, 0.04]).se)


def test_trim_and_fill_trimming_to_one_study_matches_metafor():
    # trimfill(rma(yi, vi, method="DL")) with metafor 3.8.1: k0 = 2 on the left, centre = the
    # one remaining study
    tf = pool([0.37, -0.2, -1.05], [1.6596, 1.7052, 0.1152], method="DL").trim_and_fill()
    assert (tf.k0, tf.side) == (2, "left")
    assert tf.estimate == pytest.approx(-1.05, abs=1e-10)
    assert tf.se == pytest.approx(0.3007121274, abs=1e-9)
    assert tf.tau2 == 0.0


def test_trim_and_fill_oscillation_raises_like_metafor():
    from blastic_meta import ConvergenceError

    # metafor 3.8.1: "Trim and fill algorithm did not converge." for these data with HE
    y = [-1.65606146, -4.52268905, -1.01885375, 0.99996598, -7.85945739, 0.0756275,
         0.46399244, 0.65652031]
    v = [1.33490972e-01, 8.18902371e-01, 1.53964544e-02, 2.97578891e00, 1.52689553e-05,
         2.58581403e02, 4.89674140e-02, 3.88270229e-02]
    with pytest.raises(ConvergenceError, match="did not settle"):
        pool(y, v, method="HE").trim_and_fill()


@pytest.mark.parametrize(("y", "v"), [
    ([1e200, -1e200, 3.0], [1.0, 1.0, 1.0]),  # numpy's overflow
    ([1.7e308, 1.7e308, 0.5], [1.0, 1.0, 1.0]),  # finite, but the sum overflows: no warning
    ([6e126, -3e126, 1e126], [5e12, 6e12, 7e12]),  # a Python float's power in the search
    ([8e12, -3e12, 1e12], [4e172, 5e172, 6e172]),  # weights that underflow to 0 (ML)
    ([6.9e-89, -3e-89, 1e-89], [4.7e-303, 6e-303, 5e-303]),
])
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_overflowing_values_are_rejected_clearly(y, v, method):
    with pytest.raises(InputError, match="too extreme"):
        pool(y, v, method=method)


def test_engine_result_equals_the_dataclass_constructor_and_checks_its_fields():
    import dataclasses

    from blastic_meta.stats.models import _make_result

    yi, vi = bcg()
    fit = pool(yi, vi, method="REML", mods=np.arange(13.0))
    fields = {f.name: getattr(fit, f.name) for f in dataclasses.fields(fit)}
    assert set(fit.__dict__) == set(fields)  # the engine gave every field, no other
    rebuilt = PooledResult(**fields)
    assert rebuilt.to_dict() == fit.to_dict()
    assert rebuilt.summary() == fit.summary()
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.tau2 = 0.0  # type: ignore[misc]
    with pytest.raises(TypeError, match=r"\['tau2'\]"):
        _make_result(**{n: x for n, x in fields.items() if n != "tau2"})
    with pytest.raises(TypeError, match=r"\['extra'\]"):
        _make_result(**fields, extra=1)
