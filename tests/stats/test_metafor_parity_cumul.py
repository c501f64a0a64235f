"""Parity of ``PooledResult.cumulative()`` with metafor 3.8 ``cumul.rma.uni``.

Cases: section ``cumul`` of ``engine_reference.json`` (REML/DL x z/knha on dat.bcg and
dat.normand1999, in input order and in a permuted order) and of
``diagnostics_reference.json`` (``test="adhoc"``, k = 2). metafor's ``order=`` is a sort key;
the JSON's ``study_sequence`` is the order in which metafor added the studies (1-based),
which is what ``cumulative(order=)`` takes (0-based).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.stats._diagnostics_reference import arrays, diagnostics, engine, fit_case
from tests.stats._parity import PVAL_ABS, Mismatches, expected, method_rel, scales

CASES = [(engine(), c) for c in engine()["cumul"]] + \
        [(diagnostics(), c) for c in diagnostics()["cumul"]]
IDS = [c["id"] for _, c in CASES]


@pytest.mark.parametrize(("ref", "case"), CASES, ids=IDS)
def test_cumulative_matches_cumul(ref: dict[str, Any], case: dict[str, Any]) -> None:
    fit = fit_case(ref, case)
    sequence = np.array(case["study_sequence"], dtype=int) - 1
    table = fit.cumulative(order=sequence)
    yi, vi = arrays(ref, case)
    sc = scales(yi, vi)
    rel = method_rel(case["method"])
    out = case["out"]
    m = Mismatches(case["id"])
    m.equal("added", table["added"].tolist(), sequence.tolist())
    m.equal("k", table["k"].tolist(), list(range(1, len(yi) + 1)))
    for col, key, scale in (("estimate", "estimate", sc["sd"]), ("se", "se", sc["sd"]),
                            ("zval", "stat", 1.0), ("ci_low", "ci_low", sc["sd"]),
                            ("ci_high", "ci_high", sc["sd"]), ("tau2", "tau2", sc["var"]),
                            ("i2", "i2", sc["percent"]), ("h2", "h2", 1.0)):
        m.check(col, table[col].to_numpy(dtype=float), expected(out, key), rel=rel,
                scale=scale)
    m.check("pval", table["pval"].to_numpy(dtype=float), expected(out, "pval"), rel=rel,
            abs_floor=PVAL_ABS)
    m.check("q", table["q"].to_numpy(dtype=float), expected(out, "q"), rel=method_rel("DL"),
            scale=1.0)
    m.check("q_pval", table["q_pval"].to_numpy(dtype=float), expected(out, "q_pval"),
            rel=method_rel("DL"), abs_floor=PVAL_ABS)
    m.finish()


def test_order_argument_of_metafor_is_the_inverse_permutation() -> None:
    """The JSON's order_arg p (1-based sort key) gives the sequence order(p) = argsort(p)."""
    permuted = [c for _, c in CASES if c.get("order_arg")]
    assert permuted
    for case in permuted:
        p = np.array(case["order_arg"], dtype=int)
        assert (np.argsort(p) + 1).tolist() == case["study_sequence"]
        assert case["study_sequence"] != case["order_arg"]  # the two readings differ here


def test_default_order_is_input_order_as_in_metafor() -> None:
    for ref, case in CASES:
        if case.get("order_arg") is None and case["study_sequence"] == sorted(
                case["study_sequence"]):
            fit = fit_case(ref, case)
            by_default = fit.cumulative()
            explicit = fit.cumulative(order=np.array(case["study_sequence"]) - 1)
            assert by_default.equals(explicit)
