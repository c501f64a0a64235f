"""Shared loading and comparison helpers for the metafor parity tests.

The reference values live in ``tests/stats/reference/metafor_reference.json`` and are written
by ``tests/stats/reference/make_reference.R`` (R metafor 3.8, lme4, metadat). Doubles are
stored with 17 significant digits; a non-finite R value is stored as ``null`` with a
``<name>_nonfinite`` sibling saying which ("NaN", "Inf", "-Inf", "NA").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

REFERENCE = Path(__file__).resolve().parent / "reference" / "metafor_reference.json"

# -- tolerances (relative; see tests/stats/reference/README.md) -----------------------------------
#: closed forms (escalc, DL/HE/HS/SJ fits, Q, transforms, exact CIs): only rounding differs
CLOSED_FORM_REL = 1e-8
#: iterative estimators (ML, REML, EB, PM): the reference is solved to 1e-12, so 1e-6 leaves
#: room for a different stopping rule, never for a different optimum
ITERATIVE_REL = 1e-6
#: Q-profile confidence bounds of tau2 (root of a chi-square quantile equation)
QPROFILE_REL = 1e-4
#: binomial-normal GLMM: metafor goes through lme4's 7-point adaptive Gauss-Hermite quadrature
#: and its optimiser stops at ~1e-6 in the deviance, so only ~3-4 digits are stable
GLMM_REL = 1e-3
#: p-values are also compared absolutely at this floor: below it their relative error is the
#: statistic's relative error amplified by z^2, and such p-values print as "<.0001" anyway
PVAL_ABS = 1e-12

CLOSED_FORM_METHODS = frozenset({"DL", "HE", "HS", "SJ"})
ITERATIVE_METHODS = frozenset({"ML", "REML", "EB", "PM"})


@cache
def reference() -> dict[str, Any]:
    """The parsed reference JSON (read once per test session)."""
    with REFERENCE.open(encoding="utf-8") as fh:
        return json.load(fh)


def cases(section: str) -> list[dict[str, Any]]:
    return list(reference()[section])


def dataset(name: str) -> dict[str, Any]:
    return reference()["datasets"][name]


def method_rel(method: str) -> float:
    """Tolerance of a tau2 estimator's outputs: closed form or iterative."""
    if method in CLOSED_FORM_METHODS:
        return CLOSED_FORM_REL
    if method in ITERATIVE_METHODS:
        return ITERATIVE_REL
    raise KeyError(method)


_TAGS = {"NaN": np.nan, "NA": np.nan, "Inf": np.inf, "-Inf": -np.inf}


def expected(out: Mapping[str, Any], name: str) -> float | np.ndarray:
    """R's value of ``name`` in ``out`` with non-finite values restored from the flags."""
    value = out[name]
    flags = out.get(f"{name}_nonfinite")
    if isinstance(value, list):
        arr = np.array([np.nan if v is None else v for v in value], dtype=float)
        if flags is not None:
            for i, tag in enumerate(flags):
                if tag is not None:
                    arr[i] = _TAGS[tag]
        return arr
    if value is None:
        if flags is None:
            raise KeyError(f"{name} is null in the reference without a non-finite flag")
        return _TAGS[flags]
    return float(value)


def attr(obj: Any, name: str) -> Any:
    """``obj.name`` or ``obj[name]``: results are dataclasses, some helpers return mappings."""
    if isinstance(obj, Mapping):
        return obj[name]
    return getattr(obj, name)


class Mismatches:
    """Collects every mismatch of one case so a failure lists them all at once."""

    def __init__(self, case_id: str) -> None:
        self.case_id = case_id
        self.rows: list[str] = []

    def check(self, what: str, actual: Any, want: Any, *, rel: float, scale: float = 0.0,
              abs_floor: float = 0.0) -> None:
        """Record a mismatch unless |actual - want| <= max(rel * max(|want|, scale), abs_floor).

        ``scale`` is the natural size of the quantity in this data set (e.g. the median
        sampling variance for tau2), so that values that are 0 in R compare sensibly.
        Non-finite R values must be matched exactly (NaN by NaN, Inf by Inf of equal sign).
        """
        try:
            a = np.asarray(actual, dtype=float)
        except (TypeError, ValueError):
            self.rows.append(f"{what}: R {want!r}, Python {actual!r} (not numeric)")
            return
        w = np.asarray(want, dtype=float)
        if a.shape != w.shape:
            self.rows.append(f"{what}: shape R {w.shape}, Python {a.shape}; R {w}, Python {a}")
            return
        a1, w1 = np.atleast_1d(a), np.atleast_1d(w)
        for i, (x, y) in enumerate(zip(a1, w1, strict=True)):
            label = what if a.ndim == 0 else f"{what}[{i}]"
            if not np.isfinite(y):
                same = (np.isnan(y) and np.isnan(x)) or (np.isinf(y) and x == y)
                if not same:
                    self.rows.append(f"{label}: R {y!r}, Python {x!r}")
                continue
            tol = max(rel * max(abs(y), scale), abs_floor)
            if not np.isfinite(x) or abs(x - y) > tol:
                err = abs(x - y) / abs(y) if y != 0 else float("inf")
                self.rows.append(
                    f"{label}: R {y:.17g}, Python {x:.17g} (rel err {err:.3g}, tol {tol:.3g})")

    def equal(self, what: str, actual: Any, want: Any) -> None:
        if actual != want:
            self.rows.append(f"{what}: R {want!r}, Python {actual!r}")

    def finish(self) -> None:
        if self.rows:
            raise AssertionError(
                f"{self.case_id}: {len(self.rows)} mismatch(es) with metafor\n  "
                + "\n  ".join(self.rows))


def scales(yi: Sequence[float], vi: Sequence[float]) -> dict[str, float]:
    """Natural sizes of the quantities of a fit of (yi, vi), used as floors for values ~0.

    I2 is in percent; its floor is one percentage point (I2 is printed to 2 decimals).
    """
    v = float(np.median(np.asarray(vi, dtype=float)))
    return {"var": v, "sd": float(np.sqrt(v)), "percent": 1.0, "unit": 1.0}
