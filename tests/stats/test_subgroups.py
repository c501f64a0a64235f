"""compare_subgroups: both tau^2 conventions, against metafor and by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from blastic_meta import InputError
from blastic_meta.stats.models import pool
from blastic_meta.stats.subgroups import compare_subgroups
from tests.stats.test_tau2 import bcg

ALLOC = ["random", "random", "random", "random", "alternate", "alternate", "random", "random",
         "random", "systematic", "systematic", "systematic", "systematic"]


@pytest.mark.parametrize(
    ("tau2", "test", "q", "pval"),
    # metafor 3.8.1 on dat.bcg by allocation:
    #   separate: rma(est, sei=se, method="FE") on per-group REML fits -> QE, QEp
    #   common:   rma(yi, vi, mods=~factor(alloc), test=...) -> QM, QMp
    [("separate", "z", 1.86144495, 0.39426876),
     ("separate", "knha", 2.03834717, 0.36089307),
     ("common", "z", 1.76751140, 0.41322803),
     ("common", "knha", 0.96622084, 0.41338375)],
)
def test_subgroup_tests_match_metafor(tau2, test, q, pval):
    yi, vi = bcg()
    r = compare_subgroups(yi, vi, ALLOC, tau2=tau2, test=test)
    assert list(r.subgroups) == ["random", "alternate", "systematic"]
    assert r.df_between == 2
    assert r.q_between == pytest.approx(q, abs=1e-7)
    assert r.pval_between == pytest.approx(pval, abs=1e-7)
    assert r.statistic == ("F" if (tau2, test) == ("common", "knha") else "Q")


def test_separate_subgroups_are_ordinary_fits_and_q_is_by_hand():
    yi, vi = bcg()
    r = compare_subgroups(yi, vi, ALLOC, method="DL")
    g = np.array(ALLOC)
    est, w = [], []
    for name in ("random", "alternate", "systematic"):
        fit = pool(yi[g == name], vi[g == name], method="DL")
        assert r.subgroups[name].estimate == pytest.approx(fit.estimate, rel=1e-12)
        assert r.subgroups[name].tau2 == pytest.approx(fit.tau2, rel=1e-12)
        est.append(fit.estimate)
        w.append(1 / fit.se**2)
    est, w = np.array(est), np.array(w)
    mean = np.sum(w * est) / np.sum(w)
    assert r.q_between == pytest.approx(np.sum(w * (est - mean) ** 2), rel=1e-12)
    assert r.overall.estimate == pytest.approx(pool(yi, vi, method="DL").estimate, rel=1e-12)


def test_common_tau2_is_shared():
    yi, vi = bcg()
    r = compare_subgroups(yi, vi, ALLOC, tau2="common")
    taus = {fit.tau2 for fit in r.subgroups.values()}
    assert taus == {r.tau2_common}
    assert all(math.isnan(fit.tau2_se) for fit in r.subgroups.values())
    reg = pool(yi, vi, mods=np.column_stack([np.array(ALLOC) == "alternate",
                                             np.array(ALLOC) == "systematic"]).astype(float))
    assert r.tau2_common == pytest.approx(reg.tau2, rel=1e-12)
    # the subgroup estimate with the common tau^2 is the regression's fitted group mean
    assert r.subgroups["random"].estimate == pytest.approx(reg.beta[0], rel=1e-10)
    assert r.subgroups["alternate"].estimate == pytest.approx(reg.beta[0] + reg.beta[1],
                                                              rel=1e-10)


def test_single_study_subgroup_is_kept():
    y = [0.1, 0.3, 0.2, 0.9]
    v = [0.02, 0.03, 0.02, 0.04]
    r = compare_subgroups(y, v, ["a", "a", "a", "b"])
    single = r.subgroups["b"]
    assert (single.k, single.estimate, single.se, single.tau2) == (1, 0.9, 0.2, 0.0)
    assert math.isnan(single.i2)
    assert math.isfinite(r.q_between)


def test_summary_and_json():
    yi, vi = bcg()
    r = compare_subgroups(yi, vi, ALLOC, tau2="common", test="knha")
    text = r.summary()
    assert "F(df1 = 2, df2 = 10) = 0.9662, p-val = 0.4134" in text
    assert "random" in text and "common tau^2" in text
    json.dumps(r.to_dict(), allow_nan=False)


@pytest.mark.parametrize(
    ("groups", "kwargs", "pattern"),
    [
        (["a", "a", "a"], {}, "at least 2 distinct subgroups"),
        (["a", "b"], {}, r"yi, groups: .*groups has 2"),
        (["a", None, "b"], {}, r"groups\[1\] = None"),
        (["a", "b", "c"], {"tau2": "common"}, "more studies than subgroups"),
        (["a", "a", "b"], {"tau2": "pooled"}, "tau2 = 'pooled'"),
    ],
)
def test_bad_groups(groups, kwargs, pattern):
    with pytest.raises(InputError, match=pattern):
        compare_subgroups([0.1, 0.2, 0.3], [0.1, 0.1, 0.1], groups, **kwargs)


def test_single_study_subgroup_under_common_tau2_adds_tau2_to_its_variance():
    y = [0.1, 0.8, -0.3, 0.9, 0.2, 1.2]
    v = [0.02, 0.03, 0.02, 0.04, 0.03, 0.05]
    for test in ("z", "knha"):
        r = compare_subgroups(y, v, ["a", "a", "a", "b", "c", "c"], tau2="common", test=test)
        single = r.subgroups["b"]
        assert single.tau2 == r.tau2_common > 0
        assert single.se == pytest.approx(math.sqrt(0.04 + r.tau2_common), rel=1e-12)
        # metafor falls back to the normal distribution for k = 1, also under knha
        assert single.ci_high == pytest.approx(0.9 + 1.959963984540054 * single.se, rel=1e-12)


def test_effects_frame_input():
    import pandas as pd

    yi, vi = bcg()
    frame = pd.DataFrame({"yi": yi, "vi": vi})
    a = compare_subgroups(frame, None, ALLOC, method="PM").to_dict()
    assert a == compare_subgroups(yi, vi, ALLOC, method="PM").to_dict()
