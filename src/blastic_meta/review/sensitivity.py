"""Sensitivity analyses of one analysis: leave-one-out, the assumed pre/post correlation grid
or the alternative proportion model, and small-study tests where k allows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from .analysis_input import add_effects
from .fitting import NAN, SOFT_ERRORS, GroupFit, fit_group
from .protocol import AnalysisSpec, Protocol


def leave_one_out(fits: Mapping[str, GroupFit], included: pd.DataFrame, spec: AnalysisSpec,
                   protocol: Protocol, model: str) -> pd.DataFrame:
    records = []
    for name, fit in fits.items():
        if fit.status != "pooled" or fit.k - 1 < protocol.model.min_k:
            continue
        rows = included[included["group"] == name]
        for i in range(len(rows)):
            rest = rows.drop(rows.index[i])
            try:
                loo = fit_group(name, rest, spec, protocol, model)
            except SOFT_ERRORS:
                continue
            r = rows.iloc[i]
            records.append({"group": name, "omitted": f"{r['study']}/{r['arm']}",
                            "label": r["label"], "k": loo.k, "estimate": loo.estimate,
                            "ci_low": loo.ci_low, "ci_high": loo.ci_high, "tau2": loo.tau2,
                            "i2": loo.i2})
    cols = ["group", "omitted", "label", "k", "estimate", "ci_low", "ci_high", "tau2", "i2"]
    return pd.DataFrame(records, columns=cols)


def sensitivity(data: pd.DataFrame, spec: AnalysisSpec, protocol: Protocol,
                 groups: Sequence[str]) -> pd.DataFrame:
    """Correlation grid (VAS change) or the alternative proportion model."""
    records = []
    if spec.kind == "change":
        for r in protocol.vas.correlation_grid:
            redone = add_effects(data, spec, protocol, r)
            inc = redone[data["included"].to_numpy()]
            for g in groups:
                rows = inc[inc["group"] == g]
                if len(rows) < protocol.model.min_k:
                    continue
                try:
                    fit = fit_group(g, rows, spec, protocol, "iv")
                except SOFT_ERRORS:
                    continue
                records.append({"group": g, "setting": f"r = {r:g}", "r": r, "k": fit.k,
                                "estimate": fit.estimate, "ci_low": fit.ci_low,
                                "ci_high": fit.ci_high, "tau2": fit.tau2, "i2": fit.i2})
    else:
        alt = protocol.proportions.sensitivity
        if alt != "none":
            model = "iv" if alt == "inverse_variance" else "glmm"
            inc = data[data["included"]]
            for g in groups:
                rows = inc[inc["group"] == g]
                if len(rows) < protocol.model.min_k:
                    continue
                try:
                    fit = fit_group(g, rows, spec, protocol, model)
                except SOFT_ERRORS:
                    continue
                records.append({"group": g, "setting": alt.replace("_", "-"), "r": NAN,
                                "k": fit.k, "estimate": fit.estimate, "ci_low": fit.ci_low,
                                "ci_high": fit.ci_high, "tau2": fit.tau2, "i2": fit.i2})
    cols = ["group", "setting", "r", "k", "estimate", "ci_low", "ci_high", "tau2", "i2"]
    return pd.DataFrame(records, columns=cols)


def small_study(fits: Mapping[str, GroupFit], overall: GroupFit | None,
                 protocol: Protocol) -> dict[str, str]:
    out = {}
    min_k = protocol.model.small_study_min_k
    items = list(fits.items()) + ([("overall", overall)] if overall is not None else [])
    for name, fit in items:
        if fit.k < min_k:
            out[name] = f"not assessable: k = {fit.k} (< {min_k})"
            continue
        iv = fit.model if hasattr(fit.model, "egger_test") else None
        if iv is None:
            out[name] = "not assessable: no inverse-variance model"
            continue
        try:
            eg = iv.egger_test()
        except SOFT_ERRORS as exc:
            out[name] = f"not assessable: {exc}"
            continue
        stat = getattr(eg, "statistic", None)
        pval = getattr(eg, "pval", None)
        if stat is None and isinstance(eg, Mapping):
            stat, pval = eg.get("statistic"), eg.get("pval")
        out[name] = f"Egger test: statistic = {float(stat):.3f}, p = {float(pval):.4f}"
    return out
