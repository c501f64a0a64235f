"""Parity of ``effect_sizes("ROMC")`` and ``effect_sizes("MN")`` with metafor 3.8 ``escalc``
(section ``escalc_romc_mn`` of ``engine_reference.json``: Morris (2008) pre/post data, a
synthetic set with ri = 0, 0.8, -0.3, 0.95, 0.5, and MN edge cases).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from blastic_meta import InputError, effect_sizes
from tests.stats._diagnostics_reference import engine
from tests.stats._parity import CLOSED_FORM_REL, Mismatches, expected

CASES = engine()["escalc_romc_mn"]


def _valid_rows(case: dict[str, Any]) -> np.ndarray:
    """Rows blastic_meta accepts: metafor takes sdi = 0 (vi = 0), which we refuse."""
    sds = [np.array(case["inputs"][n], dtype=float) for n in ("sdi", "sd1i", "sd2i")
           if n in case["inputs"]]
    return np.logical_and.reduce([sd > 0 for sd in sds])


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_romc_and_mn_match_escalc(case: dict[str, Any]) -> None:
    ok = _valid_rows(case)
    inputs = {n: np.array(v, dtype=float)[ok] for n, v in case["inputs"].items()}
    table = effect_sizes(case["measure"], **inputs)
    vi_ref = expected(case, "vi")[ok]
    m = Mismatches(case["id"])
    m.check("yi", table["yi"].to_numpy(dtype=float), expected(case, "yi")[ok],
            rel=CLOSED_FORM_REL, scale=float(np.sqrt(np.median(vi_ref))))
    m.check("vi", table["vi"].to_numpy(dtype=float), vi_ref, rel=CLOSED_FORM_REL)
    m.finish()


def test_reference_covers_the_edge_cases() -> None:
    romc = [c for c in CASES if c["measure"] == "ROMC"]
    ri = np.concatenate([c["inputs"]["ri"] for c in romc])
    assert {0.0, 0.8} <= set(ri.tolist())
    assert any(y < 0 for c in romc for y in c["yi"])  # a decrease: log(m1i/m2i) < 0
    edge = next(c for c in CASES if c["id"] == "synthetic_edge_MN")
    assert 1 in edge["inputs"]["ni"] and min(edge["inputs"]["mi"]) < 0


def test_romc_sign_is_log_of_m1_over_m2() -> None:
    case = next(c for c in CASES if c["id"] == "control_ROMC")
    m1, m2 = (np.array(case["inputs"][n]) for n in ("m1i", "m2i"))
    assert np.sign(expected(case, "yi")).tolist() == np.sign(np.log(m1 / m2)).tolist()
    table = effect_sizes("ROMC", **case["inputs"])
    assert (table["yi"] < 0).tolist() == (m1 < m2).tolist()


def test_mn_zero_sd_that_metafor_accepts_is_refused() -> None:
    edge = next(c for c in CASES if c["id"] == "synthetic_edge_MN")
    assert expected(edge, "vi")[2] == 0.0  # metafor: vi = 0, which no fit can weight
    with pytest.raises(InputError, match=r"sdi\[2\] = 0: must be a standard deviation > 0"):
        effect_sizes("MN", **edge["inputs"])


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_positional_call_in_the_documented_order_equals_the_named_call(case) -> None:
    order = ("mi", "sdi", "ni") if case["measure"] == "MN" else (
        "m1i", "m2i", "sd1i", "sd2i", "ni", "ri")
    ok = _valid_rows(case)
    inputs = {n: np.array(case["inputs"][n], dtype=float)[ok] for n in order}
    by_position = effect_sizes(case["measure"], *(inputs[n] for n in order))
    pd.testing.assert_frame_equal(by_position, effect_sizes(case["measure"], **inputs))


def test_positional_arguments_beyond_the_form_or_given_twice_are_refused() -> None:
    with pytest.raises(InputError, match=r"at most 3 positional arguments \(mi, sdi, ni\)"):
        effect_sizes("MN", [5.0], [2.0], [20], [1])
    with pytest.raises(InputError, match="mi given both by position and by name"):
        effect_sizes("MN", [5.0], [2.0], mi=[20])
