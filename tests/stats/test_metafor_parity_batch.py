"""Parity of ``blastic_meta.pool_many`` with one metafor ``rma`` fit per row.

Rows are pinned data sets of different k, padded with NaN to a rectangle, so the vectorised
code must honour the missing cells; each row must reproduce metafor 3.8.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import blastic_meta as bm
from tests.stats._parity import Mismatches, cases, dataset, expected, method_rel, scales

PM_CASES = cases("pool_many")


def _matrices(rows: list[str]) -> tuple[np.ndarray, np.ndarray]:
    width = max(dataset(r)["k"] for r in rows)
    Y = np.full((len(rows), width), np.nan)
    V = np.full((len(rows), width), np.nan)
    for i, name in enumerate(rows):
        d = dataset(name)
        Y[i, : d["k"]] = d["yi"]
        V[i, : d["k"]] = d["vi"]
    return Y, V


@pytest.mark.parametrize("case", PM_CASES, ids=[c["id"] for c in PM_CASES])
def test_pool_many_matches_rma_per_row(case: dict[str, Any]) -> None:
    Y, V = _matrices(case["rows"])
    table = bm.pool_many(Y, V, method=case["method"], test=case["test"])
    rel = method_rel(case["method"])
    m = Mismatches(case["id"])
    m.equal("rows", len(table), len(case["rows"]))
    for i, (name, out) in enumerate(zip(case["rows"], case["out"], strict=True)):
        d = dataset(name)
        sc = scales(d["yi"], d["vi"])
        row = table.iloc[i]
        m.equal(f"{name}.k", int(row["k"]), out["k"])
        for col, scale in (("estimate", sc["sd"]), ("se", sc["sd"]), ("ci_low", sc["sd"]),
                           ("ci_high", sc["sd"]), ("tau2", sc["var"]), ("i2", sc["percent"])):
            m.check(f"{name}.{col}", float(row[col]), expected(out, col), rel=rel, scale=scale)
        m.check(f"{name}.q", float(row["q"]), expected(out, "q"), rel=method_rel("DL"),
                scale=1.0)
    m.finish()


def test_pool_many_reference_grid_is_complete() -> None:
    seen = {(c["method"], c["test"]) for c in PM_CASES}
    assert seen == {(m, t) for m in ("DL", "REML", "ML", "PM") for t in ("z", "knha")}
    widths = {dataset(r)["k"] for r in PM_CASES[0]["rows"]}
    assert len(widths) > 1  # rows of different k, so NaN padding is exercised
