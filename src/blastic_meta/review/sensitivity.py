"""Sensitivity analyses inside one analysis: leave-one-out (studies, not arms), the assumed
pre/post correlation grid, the ICC grid of the design effect, and small-study tests where k
allows (Egger et al. 1997; only from the protocol's ``small_study_min_k``, Sterne et al. 2011).
Scenarios that change the protocol are run by ``analyses.run_scenarios``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from .effect_input import add_effects
from .fitting import SOFT_ERRORS, GroupFit, fit_group
from .protocol import AnalysisSpec, Protocol

__all__ = ["correlation_grid", "icc_grid", "leave_one_out", "small_study"]

_COLUMNS = ["group", "omitted", "label", "k", "estimate", "ci_low", "ci_high", "tau2", "i2"]


def leave_one_out(fits: Mapping[str, GroupFit], included: pd.DataFrame, spec: AnalysisSpec,
                  protocol: Protocol) -> pd.DataFrame:
    """Each pooled group refitted without each study in turn (one row per study)."""
    records = []
    for name, fit in fits.items():
        if not fit.pooled:
            continue
        rows = included[included["group"] == name]
        for i in range(len(rows)):
            rest = rows.drop(rows.index[i])
            try:
                loo = fit_group(name, rest, spec, protocol)
            except SOFT_ERRORS:
                continue
            r = rows.iloc[i]
            if loo.pooled or loo.status == "single study":
                est, lo, hi = loo.estimate, loo.ci_low, loo.ci_high
            else:  # k - 1 below min_k: the Bayesian fit, when there is one, else not shown
                if not loo.bayes:
                    continue
                est, lo, hi = (loo.bayes[c] for c in ("estimate", "ci_low", "ci_high"))
            records.append({"group": name, "omitted": r["study"], "label": r["label"],
                            "k": loo.k, "estimate": est, "ci_low": lo, "ci_high": hi,
                            "tau2": loo.tau2, "i2": loo.i2, "status": loo.status})
    return pd.DataFrame(records, columns=[*_COLUMNS, "status"])


def correlation_grid(data: pd.DataFrame, spec: AnalysisSpec, protocol: Protocol,
                     groups: Sequence[str]) -> pd.DataFrame:
    """Pooled score change of each group at every correlation of the protocol's grid."""
    records = []
    if spec.kind != "change" or data.empty:
        return pd.DataFrame(records, columns=["group", "r", *_COLUMNS[3:]])
    for r in protocol.vas.correlation_grid:
        redone = add_effects(data, spec, protocol, r)
        inc = redone[redone["reason"].isna()]
        for g in groups:
            rows = inc[inc["group"] == g]
            if len(rows) < protocol.model.min_k:
                continue
            row = _grid_fit(g, rows, spec, protocol)
            if row is not None:
                row.pop("status")
                records.append({"group": g, "r": r, **row})
    return pd.DataFrame(records, columns=["group", "r", *_COLUMNS[3:]])


def _grid_fit(group: str, rows: pd.DataFrame, spec: AnalysisSpec,
              protocol: Protocol) -> dict[str, Any] | None:
    """One grid point's fit of a group (None when it cannot be fitted there)."""
    try:
        fit = fit_group(group, rows, spec, protocol)
    except SOFT_ERRORS:
        return None
    return {"k": fit.k, "estimate": fit.estimate, "ci_low": fit.ci_low,
            "ci_high": fit.ci_high, "tau2": fit.tau2, "i2": fit.i2, "status": fit.status}


def icc_grid(rebuild: Callable[[float], pd.DataFrame], spec: AnalysisSpec, protocol: Protocol,
             groups: Sequence[str]) -> pd.DataFrame:
    """Per-vertebra pooled proportion of each group at every ICC of the protocol's grid
    (ICC 0: vertebrae treated as independent); ``rebuild(icc)`` gives the input table."""
    records = []
    if not spec.design_effect:
        return pd.DataFrame(records, columns=["group", "icc", *_COLUMNS[3:], "status"])
    for icc in protocol.unit_of_analysis.icc_grid:
        frame = rebuild(icc)
        inc = frame[frame["included"]] if len(frame) else frame
        for g in groups:
            rows = inc[inc["group"] == g] if len(inc) else inc
            if rows.empty:
                continue
            row = _grid_fit(g, rows, spec, protocol)
            if row is not None:
                records.append({"group": g, "icc": icc, **row})
    return pd.DataFrame(records, columns=["group", "icc", *_COLUMNS[3:], "status"])


def small_study(fits: Mapping[str, GroupFit], protocol: Protocol) -> dict[str, str]:
    """Egger's test per pooled group, or why it is not assessable."""
    out = {}
    min_k = protocol.model.small_study_min_k
    for name, fit in fits.items():
        if fit.k < min_k:
            out[name] = f"not assessable: k = {fit.k} (< {min_k})"
            continue
        model = fit.fitted if hasattr(fit.fitted, "egger_test") else None
        if model is None:
            out[name] = "not assessable: no inverse-variance model (GLMM)"
            continue
        try:
            eg = model.egger_test()
        except SOFT_ERRORS as exc:
            out[name] = f"not assessable: {exc}"
            continue
        out[name] = f"Egger test: statistic = {float(eg.statistic):.3f}, p = {float(eg.pval):.4f}"
    return out
