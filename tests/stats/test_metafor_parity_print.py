"""``PooledResult.summary()`` opens with the block metafor 3.8 prints for the same fit.

The reference text is ``capture.output(print(fit))`` with ASCII quotes at width 80, pinned in
``tests/stats/reference/metafor_reference.json``. Trailing spaces and the surrounding blank lines of
R's output are ignored; every other character must match, line by line. blastic_meta may
append lines after the block (the Q-profile CI, the prediction interval, the conventions).
"""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np
import pandas as pd
import pytest

import blastic_meta as bm
from tests.stats._parity import cases, dataset

PRINT_CASES = cases("print")


def _strip_blank_ends(lines: list[str]) -> list[str]:
    while lines and not lines[0]:
        lines = lines[1:]
    while lines and not lines[-1]:
        lines = lines[:-1]
    return lines


@pytest.mark.parametrize("case", PRINT_CASES, ids=[c["id"] for c in PRINT_CASES])
def test_summary_opens_with_metafor_print(case: dict[str, Any]) -> None:
    d = dataset(case["dataset"])
    kwargs: dict[str, Any] = {"method": case["method"], "test": case["test"]}
    if case["adhoc"]:
        kwargs["adhoc"] = True
    if case.get("mods"):
        kwargs["mods"] = pd.DataFrame({n: np.array(d[n], dtype=float) for n in case["mods"]})
    res = bm.pool(np.array(d["yi"], dtype=float), np.array(d["vi"], dtype=float), **kwargs)
    want = _strip_blank_ends([line.rstrip() for line in case["text"]])
    got = _strip_blank_ends([line.rstrip() for line in res.summary().splitlines()])
    head = got[: len(want)]
    if head != want:
        diff = "\n".join(difflib.unified_diff(want, head, "metafor", "blastic_meta", lineterm=""))
        pytest.fail(f"{case['id']}: summary() differs from metafor's print\n{diff}")


def test_print_reference_has_moderators_and_knha() -> None:
    assert any(c.get("mods") for c in PRINT_CASES)
    assert {c["test"] for c in PRINT_CASES} == {"z", "knha"}
