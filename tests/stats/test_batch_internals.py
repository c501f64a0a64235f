"""The shortcuts that make pool_many fast give the values of the plain computation.

Each shortcut is checked against the computation it replaces: the certified grid scan against
the score on all grid points, the closed-form chi-squared tail against scipy, blocks of rows
against one block, and complete rows against the same rows with a missing-study column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

from blastic_meta import pool_many
from blastic_meta.stats import _batch_tau2, batch


def _rows(y: np.ndarray, v: np.ndarray) -> _batch_tau2.Rows:
    return batch._block(y, v, np.arange(y.shape[0]), _batch_tau2.Scratch())


def _full_grid(rows: _batch_tau2.Rows, bound: np.ndarray, reml: bool) -> np.ndarray:
    """The score at every grid point, straight from its definition y'P^2 y - tr(P)."""
    out = np.empty((_batch_tau2._GRID.size, rows.n))
    for p, g in enumerate(_batch_tau2._GRID):
        for j in range(rows.n):
            keep = rows.present[:, j]
            yj, vj = rows.y[keep, j], rows.v[keep, j]
            w = 1 / (vj + g * bound[j])
            e = yj - np.sum(w * yj) / np.sum(w)
            trace = np.sum(w) - np.sum(w * w) / np.sum(w) if reml else np.sum(w)
            out[p, j] = np.sum((w * e) ** 2) - trace
    return out


def _changes(scores: np.ndarray) -> np.ndarray:
    return np.argwhere(((scores[:-1] > 0) & (scores[1:] <= 0)).T)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), method=st.sampled_from(["ML", "REML"]))
def test_grid_scan_finds_the_changes_of_sign_of_the_full_grid(data, method):
    # variances over four orders of magnitude: likelihoods with two maxima occur
    rows_, k = data.draw(st.integers(1, 6)), data.draw(st.integers(2, 12))
    y = data.draw(hnp.arrays(np.float64, (rows_, k), elements=st.floats(-4, 4)))
    log_v = data.draw(hnp.arrays(np.float64, (rows_, k), elements=st.floats(-3, 1)))
    rows = _rows(y, 10.0 ** log_v)
    bound = rows.score_bound(method)
    r, c, s_lo, s_hi, s0 = _batch_tau2._sign_changes(rows, bound, method == "REML")
    full = _full_grid(rows, bound, method == "REML")
    np.testing.assert_array_equal(np.column_stack([r, c]), _changes(full))
    # the score at both ends of each change starts the Newton search; at 0 it decides ll0check
    np.testing.assert_allclose(s_lo, full[c, r], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(s_hi, full[c + 1, r], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(s0, full[0], rtol=1e-9, atol=1e-12)


def test_grid_scan_keeps_both_maxima_of_a_bimodal_likelihood():
    # REML likelihood with a local maximum near 0 and the global one near 0.48 (metafor)
    y = np.array([[-2.15239719, -0.03258704, 0.33732768, 0.08330053, 2.47589054, 0.28884571,
                   0.4208477, -0.40529545, 0.10762935, 0.26476755]])
    v = np.array([[0.44935974, 0.17966688, 0.35955378, 0.02426111, 0.48632427, 0.11228151,
                   0.18678343, 0.16931883, 0.06738, 0.39383842]])
    rows = _rows(y, v)
    bound = rows.score_bound("REML")
    r, c, _, _, s0 = _batch_tau2._sign_changes(rows, bound, True)
    changes = _changes(_full_grid(rows, bound, True))
    # the inner maximum is a change of sign; the one at 0 shows as a score <= 0 there
    assert len(changes) == 1 and s0[0] <= 0
    np.testing.assert_array_equal(np.column_stack([r, c]), changes)


@settings(max_examples=200, deadline=None)
@given(x=st.floats(0, 3000), df=st.integers(1, 120))
def test_chi2_tail_matches_scipy(x, df):
    got = batch._chi2_sf(np.array([x]), np.array([float(df)]))[0]
    want = stats.chi2.sf(x, df)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-300)


def test_chi2_tail_of_non_integer_and_extreme_arguments_is_scipy_s():
    x = np.array([0.0, 3.5, 7.0, 1e4, np.inf, 2.0])
    df = np.array([4.0, 2.5, 61.0, 3.0, 5.0, 1.0])
    np.testing.assert_allclose(batch._chi2_sf(x, df), stats.chi2.sf(x, df), rtol=1e-12)


def _batch(seed: int, rows: int, k: int, missing: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    v = 10 ** rng.uniform(-2, 0, (rows, k))
    y = rng.normal(0.2, np.sqrt(v + rng.choice([0.0, 0.05, 0.4], (rows, 1))))
    gone = rng.random((rows, k)) < missing
    y[gone] = v[gone] = np.nan
    return y, v


@pytest.mark.parametrize("method", batch.METHODS)
def test_blocks_of_rows_give_the_values_of_one_block(monkeypatch, method):
    y, v = _batch(3, 50, 8, missing=0.2)
    whole = pool_many(y, v, method=method, test="knha")
    monkeypatch.setattr(batch, "_CHUNK", 7)  # 8 blocks of different rows, one set of arrays
    blocks = pool_many(y, v, method=method, test="knha")
    pd.testing.assert_frame_equal(blocks, whole, check_exact=False, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("method", batch.METHODS)
def test_a_column_of_missing_studies_changes_nothing(method):
    y, v = _batch(4, 40, 6, missing=0.0)
    pad = np.full((40, 1), np.nan)
    complete = pool_many(y, v, method=method)
    padded = pool_many(np.hstack([pad, y]), np.hstack([pad, v]), method=method)
    pd.testing.assert_frame_equal(padded, complete, check_exact=False, rtol=1e-13, atol=1e-15)


def test_work_arrays_kept_between_calls_do_not_leak_into_results():
    a, b = _batch(5, 30, 9, missing=0.3), _batch(6, 70, 4, missing=0.0)
    first = pool_many(*a, method="REML", test="knha")
    pool_many(*b, method="PM")  # other shapes and contents in the same work arrays
    pd.testing.assert_frame_equal(pool_many(*a, method="REML", test="knha"), first,
                                  check_exact=True)
