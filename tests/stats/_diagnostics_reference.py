"""Loading of the metafor reference values of the influence and cumulative diagnostics.

``engine_reference.json`` (written by ``make_reference_engine.R``) pins ``influence``,
``cumul`` and ``escalc_romc_mn``; ``diagnostics_reference.json`` (``make_reference_diagnostics.R``)
adds meta-regressions, k = 2 and ``test="adhoc"``. Both follow the conventions of
``tests/stats/_parity.py`` (17 digits, non-finite values flagged).
"""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import blastic_meta as bm

FOLDER = Path(__file__).resolve().parent / "reference"


@cache
def _load(name: str) -> dict[str, Any]:
    with (FOLDER / name).open(encoding="utf-8") as fh:
        return json.load(fh)


def engine() -> dict[str, Any]:
    return _load("engine_reference.json")


def diagnostics() -> dict[str, Any]:
    return _load("diagnostics_reference.json")


def arrays(ref: dict[str, Any], case: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    d = ref["datasets"][case["dataset"]]
    return np.array(d["yi"], dtype=float), np.array(d["vi"], dtype=float)


def fit_case(ref: dict[str, Any], case: dict[str, Any]) -> bm.PooledResult:
    """The pool() call of a case: metafor's test="adhoc" is knha with adhoc=True."""
    yi, vi = arrays(ref, case)
    names = case.get("mods") or []
    mods = None
    if names:
        d = ref["datasets"][case["dataset"]]
        mods = pd.DataFrame({n: np.array(d[n], dtype=float) for n in names})
    adhoc = case["test"] == "adhoc"
    test = "knha" if adhoc else case["test"]
    with warnings.catch_warnings():
        # k = 2 with Knapp-Hartung announces its 1 df (tested in test_models)
        warnings.simplefilter("ignore", bm.BlasticMetaWarning)
        return bm.pool(yi, vi, method=case["method"], test=test, adhoc=adhoc, mods=mods)
