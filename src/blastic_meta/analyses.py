"""The protocol's analyses: study-level input tables, fits, subgroup tests and sensitivity.

``run_analyses(records, table, protocol, bibliography)`` turns the registry's long table into,
for each analysis of the protocol, one row per study arm (included or excluded, with the
reason and every derived/imputed value flagged), then fits each lesion-type subgroup with the
protocol's model, tests subgroup differences under both tau2 conventions, and runs the
leave-one-out, small-study and sensitivity analyses. Within-study comparisons (one study with
arms of two compared lesion types) are kept apart from the between-study subgroup comparison.

Pain change is metafor's ``MC`` (baseline minus follow-up, so a positive value is less pain;
Becker 1988) with the protocol's assumed pre/post correlation. Proportions are pooled with the
binomial-normal GLMM (Stijnen et al. 2010; metafor ``rma.glmm``) and, as sensitivity, the
inverse-variance logit model; I² and Q of a GLMM subgroup come from that inverse-variance
model, as R meta reports them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .analysis_input import (
    add_effects,
    as_int,
    build_input,
    group_order,
    study_label,
    z_quantile,
)
from .errors import BlasticMetaError, BlasticMetaWarning
from .protocol import AnalysisSpec, Protocol

__all__ = [
    "AnalysisResult",
    "GroupFit",
    "SubgroupTest",
    "WithinComparison",
    "build_input",
    "run_analyses",
    "run_analysis",
    "study_label",
]

NAN = float("nan")


def _clean(value: Any) -> Any:
    """JSON-safe value: NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    return value


# --- result objects -----------------------------------------------------------------------

@dataclass(frozen=True)
class GroupFit:
    """One subgroup's (or the overall) fit, on the scale reported to readers.

    ``scale`` is "MC" (VAS change, points on 0-10) or "proportion" (back-transformed).
    ``status`` is "pooled" or "single study" (k = 1: the study's own estimate, no pooling).
    """

    name: str
    status: str
    scale: str
    k: int
    patients: int | None
    studies: tuple[str, ...]
    arms: tuple[str, ...]
    estimate: float
    ci_low: float
    ci_high: float
    pi_low: float = NAN
    pi_high: float = NAN
    tau2: float = NAN
    i2: float = NAN
    q: float = NAN
    q_df: float = NAN
    q_pval: float = NAN
    pval: float = NAN
    weights: tuple[float, ...] = ()
    total: int | None = None
    events: int | None = None
    model: Any = field(default=None, compare=False, repr=False)

    def summary(self) -> str:
        """One line: name, k, estimate [CI], PI and heterogeneity (reporting scale)."""
        line = (f"{self.name}: k = {self.k}, estimate {self.estimate:.4f} "
                f"[{self.ci_low:.4f}, {self.ci_high:.4f}]")
        if self.status != "pooled":
            return line + " (single study, not pooled)"
        return (line + f", PI [{self.pi_low:.4f}, {self.pi_high:.4f}], tau^2 = {self.tau2:.4f}, "
                f"I^2 = {self.i2:.2f}%")

    def to_dict(self) -> dict[str, Any]:
        return _clean({
            "name": self.name, "status": self.status, "scale": self.scale, "k": self.k,
            "patients": self.patients, "studies": list(self.studies), "arms": list(self.arms),
            "estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high,
            "pi_low": self.pi_low, "pi_high": self.pi_high, "tau2": self.tau2, "i2": self.i2,
            "q": self.q, "q_df": self.q_df, "q_pval": self.q_pval, "pval": self.pval,
            "weights": list(self.weights), "events": self.events, "total": self.total,
        })


@dataclass(frozen=True)
class SubgroupTest:
    """Test for subgroup differences under one tau2 convention (or why it is not assessable)."""

    tau2: str
    groups: tuple[str, ...]
    q_between: float = NAN
    df: float = NAN
    pval: float = NAN
    note: str | None = None
    statistic: str = "Q"
    df2: float = NAN

    @property
    def assessable(self) -> bool:
        return self.note is None

    def to_dict(self) -> dict[str, Any]:
        return _clean({"tau2": self.tau2, "groups": list(self.groups),
                       "q_between": self.q_between, "df": self.df, "pval": self.pval,
                       "note": self.note, "statistic": self.statistic, "df2": self.df2})


@dataclass(frozen=True)
class WithinComparison:
    """A within-study contrast between two lesion types of one study (first minus second)."""

    study: str
    label: str
    groups: tuple[str, str]
    measure: str
    yi: float
    vi: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict[str, Any]:
        return _clean({"study": self.study, "label": self.label, "groups": list(self.groups),
                       "measure": self.measure, "yi": self.yi, "vi": self.vi,
                       "ci_low": self.ci_low, "ci_high": self.ci_high})


@dataclass(frozen=True)
class AnalysisResult:
    """Everything one analysis produced; ``data`` is its study-level input table."""

    spec: AnalysisSpec
    data: pd.DataFrame = field(compare=False)
    subgroups: Mapping[str, GroupFit]
    overall: GroupFit | None
    subgroup_tests: tuple[SubgroupTest, ...]
    leave_one_out: pd.DataFrame = field(compare=False)
    sensitivity: pd.DataFrame = field(compare=False)
    small_study: Mapping[str, str]
    within: tuple[WithinComparison, ...]
    method: str
    notes: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def included(self) -> pd.DataFrame:
        return self.data[self.data["included"]]

    @property
    def excluded(self) -> pd.DataFrame:
        return self.data[~self.data["included"]]

    @property
    def contributing(self) -> tuple[str, ...]:
        """Study keys whose data enter any fit of this analysis (sorted)."""
        return tuple(sorted(set(self.included["study"])))

    def summary(self) -> str:
        lines = [f"{self.spec.id}: {self.spec.title}", f"  {self.method}"]
        for fit in self.subgroups.values():
            lines.append(f"  {fit.summary()}")
        if self.overall is not None:
            lines.append(f"  {self.overall.summary()}")
        for test in self.subgroup_tests:
            if test.assessable:
                df = f"{test.df:g}" + (f", {test.df2:g}" if test.statistic == "F" else "")
                lines.append(f"  subgroup test (tau2 {test.tau2}): {test.statistic} = "
                             f"{test.q_between:.3f}, df = {df}, p = {test.pval:.4f}")
            else:
                lines.append(f"  subgroup test (tau2 {test.tau2}): {test.note}")
        for _, row in self.excluded.iterrows():
            lines.append(f"  excluded: {row['label']} ({row['arm']}): {row['reason']}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        tests = {t.tau2: t.to_dict() for t in self.subgroup_tests}
        excluded = [
            {"study": r.study, "arm": r.arm, "label": r.label, "reason": r.reason}
            for r in self.excluded.itertuples()
        ]
        flagged = [
            {"study": r.study, "arm": r.arm, "flags": list(r.flags)}
            for r in self.included.itertuples() if r.flags
        ]
        return _clean({
            "title": self.spec.title,
            "outcome": self.spec.outcome,
            "window": self.spec.window,
            "unit": self.spec.unit,
            "instrument": self.spec.instrument,
            "method": self.method,
            "subgroups": {name: fit.to_dict() for name, fit in self.subgroups.items()},
            "overall": self.overall.to_dict() if self.overall is not None else None,
            "subgroup_test": tests,
            "small_study": dict(self.small_study),
            "within_study": [w.to_dict() for w in self.within],
            "excluded": excluded,
            "flagged": flagged,
            "studies": list(self.contributing),
            "sensitivity": _frame_records(self.sensitivity),
            "leave_one_out": _frame_records(self.leave_one_out),
            "notes": list(self.notes),
        })


def _frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [_clean(dict(row)) for row in frame.to_dict(orient="records")]


# --- fitting ------------------------------------------------------------------------------

_SOFT_ERRORS: tuple[type[BaseException], ...] = (BlasticMetaError,)


def _pool(protocol: Protocol, yi: np.ndarray, vi: np.ndarray) -> Any:
    from .models import pool

    m = protocol.model
    with warnings.catch_warnings():
        # k = 2 under knha is announced once in the method line, not per fit
        warnings.simplefilter("ignore", category=BlasticMetaWarning)
        return pool(yi, vi, method=m.method, test=m.test, level=m.level, pi=m.pi)


def _glmm(protocol: Protocol, events: np.ndarray, totals: np.ndarray) -> Any:
    from .glmm import pool_glmm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=BlasticMetaWarning)
        return pool_glmm(events, totals, level=protocol.model.level)


def _patients(rows: pd.DataFrame, spec: AnalysisSpec) -> int | None:
    """Patients behind a pooled estimate: for a score change, the n analysed at follow-up
    (the n the effect sizes use); for a proportion, the patients of the contributing arms."""
    column = "n" if spec.kind == "change" else "patients"
    vals = [as_int(v) for v in rows[column]]
    return None if any(v is None for v in vals) else int(sum(vals))


def _fit_group(name: str, rows: pd.DataFrame, spec: AnalysisSpec, protocol: Protocol,
               model: str) -> GroupFit:
    """Fit one set of included rows with the given model ("iv" or "glmm")."""
    k = len(rows)
    studies = tuple(dict.fromkeys(rows["study"]))
    arms = tuple(f"{s}/{a}" for s, a in zip(rows["study"], rows["arm"], strict=True))
    yi = rows["yi"].astype(float).to_numpy()
    vi = rows["vi"].astype(float).to_numpy()
    common = {"name": name, "k": k, "patients": _patients(rows, spec), "studies": studies,
              "arms": arms}
    proportion = spec.kind == "proportion"
    if proportion:
        common["events"] = int(rows["events"].astype(int).sum())
        common["total"] = int(rows["total"].astype(int).sum())
    scale = "proportion" if proportion else "MC"
    if k < protocol.model.min_k:
        row = rows.iloc[0]
        est = float(row["events"]) / float(row["total"]) if proportion else float(yi[0])
        return GroupFit(status="single study", scale=scale, estimate=est,
                        ci_low=float(row["ci_low"]), ci_high=float(row["ci_high"]),
                        weights=(100.0,), **common)
    iv = _pool(protocol, yi, vi)
    weights = tuple(float(w) for w in np.asarray(iv.weights, dtype=float))
    het = {"tau2": float(iv.tau2), "i2": float(iv.i2), "q": float(iv.q),
           "q_df": float(iv.q_df), "q_pval": float(iv.q_pval)}
    if not proportion:
        return GroupFit(status="pooled", scale=scale, estimate=float(iv.estimate),
                        ci_low=float(iv.ci_low), ci_high=float(iv.ci_high),
                        pi_low=float(iv.pi_low), pi_high=float(iv.pi_high),
                        pval=float(iv.pval), weights=weights, model=iv, **het, **common)
    if model == "glmm":
        g = _glmm(protocol, rows["events"].astype(int).to_numpy(),
                  rows["total"].astype(int).to_numpy())
        het["tau2"] = float(g.tau2)
        return GroupFit(status="pooled", scale=scale, estimate=float(g.proportion),
                        ci_low=float(g.proportion_ci_low), ci_high=float(g.proportion_ci_high),
                        pi_low=float(g.pi_low), pi_high=float(g.pi_high), weights=weights,
                        model=g, **het, **common)
    from .proportions import back_transform

    est, lo, hi, plo, phi = back_transform(
        np.array([iv.estimate, iv.ci_low, iv.ci_high, iv.pi_low, iv.pi_high], dtype=float),
        protocol.proportions.measure)
    return GroupFit(status="pooled", scale=scale, estimate=float(est), ci_low=float(lo),
                    ci_high=float(hi), pi_low=float(plo), pi_high=float(phi), weights=weights,
                    model=iv, **het, **common)


def _safe_fit(name: str, rows: pd.DataFrame, spec: AnalysisSpec, protocol: Protocol,
              model: str, notes: list[str]) -> GroupFit | None:
    try:
        return _fit_group(name, rows, spec, protocol, model)
    except _SOFT_ERRORS as exc:
        notes.append(f"{name}: not pooled ({exc})")
        return None


def _subgroup_tests(included: pd.DataFrame, protocol: Protocol) -> tuple[SubgroupTest, ...]:
    compared = [g for g in protocol.subgroups.compared if (included["group"] == g).any()]
    rows = included[included["group"].isin(compared)]
    out = []
    for conv in ("separate", "common"):
        if len(compared) < 2:
            have = ", ".join(compared) or "none"
            out.append(SubgroupTest(conv, tuple(compared),
                                    note=f"not assessable: fewer than two compared lesion "
                                         f"types have data ({have})"))
            continue
        if conv == "common" and len(rows) <= len(compared):
            out.append(SubgroupTest(conv, tuple(compared),
                                    note=f"not assessable: k = {len(rows)} studies for "
                                         f"{len(compared)} subgroups"))
            continue
        from .subgroups import compare_subgroups

        m = protocol.model
        try:
            # a subgroup whose estimate has se = 0 makes the statistic NaN (reported below as
            # not assessable); numpy's divide warning for it is expected here
            with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
                warnings.simplefilter("ignore", category=BlasticMetaWarning)
                res = compare_subgroups(rows["yi"].astype(float).to_numpy(),
                                        rows["vi"].astype(float).to_numpy(),
                                        rows["group"].tolist(), method=m.method, test=m.test,
                                        tau2=conv, level=m.level)
        except _SOFT_ERRORS as exc:
            out.append(SubgroupTest(conv, tuple(compared), note=f"not assessable: {exc}"))
            continue
        if not math.isfinite(float(res.pval_between)):
            out.append(SubgroupTest(conv, tuple(compared),
                                    note="not assessable: the test statistic is not estimable"))
            continue
        out.append(SubgroupTest(conv, tuple(compared), q_between=float(res.q_between),
                                df=float(res.df_between), pval=float(res.pval_between),
                                statistic=str(getattr(res, "statistic", "Q")),
                                df2=float(getattr(res, "df2_between", NAN))))
    return tuple(out)


def _leave_one_out(fits: Mapping[str, GroupFit], included: pd.DataFrame, spec: AnalysisSpec,
                   protocol: Protocol, model: str) -> pd.DataFrame:
    records = []
    for name, fit in fits.items():
        if fit.status != "pooled" or fit.k - 1 < protocol.model.min_k:
            continue
        rows = included[included["group"] == name]
        for i in range(len(rows)):
            rest = rows.drop(rows.index[i])
            try:
                loo = _fit_group(name, rest, spec, protocol, model)
            except _SOFT_ERRORS:
                continue
            r = rows.iloc[i]
            records.append({"group": name, "omitted": f"{r['study']}/{r['arm']}",
                            "label": r["label"], "k": loo.k, "estimate": loo.estimate,
                            "ci_low": loo.ci_low, "ci_high": loo.ci_high, "tau2": loo.tau2,
                            "i2": loo.i2})
    cols = ["group", "omitted", "label", "k", "estimate", "ci_low", "ci_high", "tau2", "i2"]
    return pd.DataFrame(records, columns=cols)


def _sensitivity(data: pd.DataFrame, spec: AnalysisSpec, protocol: Protocol,
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
                    fit = _fit_group(g, rows, spec, protocol, "iv")
                except _SOFT_ERRORS:
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
                    fit = _fit_group(g, rows, spec, protocol, model)
                except _SOFT_ERRORS:
                    continue
                records.append({"group": g, "setting": alt.replace("_", "-"), "r": NAN,
                                "k": fit.k, "estimate": fit.estimate, "ci_low": fit.ci_low,
                                "ci_high": fit.ci_high, "tau2": fit.tau2, "i2": fit.i2})
    cols = ["group", "setting", "r", "k", "estimate", "ci_low", "ci_high", "tau2", "i2"]
    return pd.DataFrame(records, columns=cols)


def _small_study(fits: Mapping[str, GroupFit], overall: GroupFit | None,
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
        except _SOFT_ERRORS as exc:
            out[name] = f"not assessable: {exc}"
            continue
        stat = getattr(eg, "statistic", None)
        pval = getattr(eg, "pval", None)
        if stat is None and isinstance(eg, Mapping):
            stat, pval = eg.get("statistic"), eg.get("pval")
        out[name] = f"Egger test: statistic = {float(stat):.3f}, p = {float(pval):.4f}"
    return out


def _within(included: pd.DataFrame, spec: AnalysisSpec, protocol: Protocol,
            ) -> tuple[WithinComparison, ...]:
    compared = list(protocol.subgroups.compared)
    out = []
    for study, rows in included.groupby("study", sort=True):
        groups = [g for g in compared if (rows["group"] == g).any()]
        if len(groups) < 2:
            continue
        a = rows[rows["group"] == groups[0]].iloc[0]
        b = rows[rows["group"] == groups[1]].iloc[0]
        if spec.kind == "change":
            yi = float(a["yi"]) - float(b["yi"])
            vi = float(a["vi"]) + float(b["vi"])
            measure = "MD of change"
        else:
            from .effects import effect_sizes

            es = effect_sizes("OR", ai=[float(a["events"])], n1i=[float(a["total"])],
                              ci=[float(b["events"])], n2i=[float(b["total"])])
            yi, vi = float(es["yi"].iloc[0]), float(es["vi"].iloc[0])
            measure = "log OR"
        z = z_quantile(protocol.model.level)
        out.append(WithinComparison(study, str(a["label"]), (groups[0], groups[1]), measure,
                                    yi, vi, yi - z * math.sqrt(vi), yi + z * math.sqrt(vi)))
    return tuple(out)


def describe_method(spec: AnalysisSpec, protocol: Protocol) -> str:
    m = protocol.model
    test = "Hartung-Knapp" if m.test == "knha" else "Wald-type z"
    pi = {"metafor": "t(k-1)" if m.test == "knha" else "z"}.get(m.pi, m.pi)
    if spec.kind == "change":
        return (f"Random effects, {m.method} τ², {test} CI; PI {pi}; mean change from "
                f"baseline, pre/post r = {protocol.vas.correlation:g}")
    model = ("binomial-normal GLMM (ML)" if protocol.proportions.model == "glmm"
             else f"inverse-variance logit, {m.method} τ², {test} CI")
    return (f"Random effects {model}; logit proportions; per-study "
            f"{protocol.proportions.study_ci.replace('-', '–').title()} CI; weights, subgroup "
            f"test and I² from the inverse-variance logit model ({m.method}, {test}; 0.5 added "
            f"to studies with 0 or all events)")


def run_analysis(records: Sequence[Any], table: pd.DataFrame, protocol: Protocol,
                 spec: AnalysisSpec, bibliography: Any = None) -> AnalysisResult:
    """Build the input table of one analysis and run every fit the protocol asks for."""
    data = build_input(records, table, protocol, spec, bibliography)
    included = data[data["included"]] if len(data) else data
    model = "glmm" if (spec.kind == "proportion" and protocol.proportions.model == "glmm") \
        else "iv"
    notes: list[str] = []
    fits: dict[str, GroupFit] = {}
    groups = group_order(protocol, included["group"]) if len(included) else []
    for g in groups:
        fit = _safe_fit(g, included[included["group"] == g], spec, protocol, model, notes)
        if fit is not None:
            fits[g] = fit
    scope = (list(protocol.subgroups.compared) if protocol.subgroups.overall == "compared"
             else groups)
    pooled_groups = [g for g in groups if g in scope]
    overall = None
    over_rows = included[included["group"].isin(pooled_groups)] if len(included) else included
    if len(pooled_groups) >= 2 and len(over_rows) >= protocol.model.min_k:
        overall = _safe_fit("overall", over_rows, spec, protocol, model, notes)
    small_k = [f.name for f in [*fits.values(), overall] if f is not None
               and f.status == "pooled" and f.k == 2]
    if small_k and protocol.model.test == "knha" and spec.kind == "change":
        notes.append(f"k = 2 with Hartung-Knapp ({', '.join(small_k)}): the t distribution has "
                     f"1 df, so the CI is very wide")
    tests = _subgroup_tests(included, protocol) if len(included) else (
        _subgroup_tests(data, protocol))
    loo = _leave_one_out(fits, included, spec, protocol, model)
    sens = _sensitivity(data, spec, protocol, groups) if len(data) else _sensitivity(
        data, spec, protocol, [])
    small = _small_study(fits, overall, protocol)
    within = _within(included, spec, protocol) if len(included) else ()
    return AnalysisResult(spec=spec, data=data, subgroups=fits, overall=overall,
                          subgroup_tests=tests, leave_one_out=loo, sensitivity=sens,
                          small_study=small, within=within,
                          method=describe_method(spec, protocol), notes=tuple(notes))


def run_analyses(records: Sequence[Any], table: pd.DataFrame, protocol: Protocol,
                 bibliography: Any = None) -> dict[str, AnalysisResult]:
    """Every analysis of the protocol, keyed by its id, in protocol order."""
    return {spec.id: run_analysis(records, table, protocol, spec, bibliography)
            for spec in protocol.analyses}
