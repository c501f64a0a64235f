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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .analysis_input import build_input, group_order, study_label
from .comparison import SubgroupTest, WithinComparison, subgroup_tests, within_study
from .fitting import GroupFit, clean, safe_fit
from .protocol import AnalysisSpec, Protocol
from .sensitivity import leave_one_out, sensitivity, small_study

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
        return clean({
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
    return [clean(dict(row)) for row in frame.to_dict(orient="records")]


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
        fit = safe_fit(g, included[included["group"] == g], spec, protocol, model, notes)
        if fit is not None:
            fits[g] = fit
    scope = (list(protocol.subgroups.compared) if protocol.subgroups.overall == "compared"
             else groups)
    pooled_groups = [g for g in groups if g in scope]
    overall = None
    over_rows = included[included["group"].isin(pooled_groups)] if len(included) else included
    if len(pooled_groups) >= 2 and len(over_rows) >= protocol.model.min_k:
        overall = safe_fit("overall", over_rows, spec, protocol, model, notes)
    small_k = [f.name for f in [*fits.values(), overall] if f is not None
               and f.status == "pooled" and f.k == 2]
    if small_k and protocol.model.test == "knha" and spec.kind == "change":
        notes.append(f"k = 2 with Hartung-Knapp ({', '.join(small_k)}): the t distribution has "
                     f"1 df, so the CI is very wide")
    tests = subgroup_tests(included, protocol) if len(included) else (
        subgroup_tests(data, protocol))
    loo = leave_one_out(fits, included, spec, protocol, model)
    sens = sensitivity(data, spec, protocol, groups) if len(data) else sensitivity(
        data, spec, protocol, [])
    small = small_study(fits, overall, protocol)
    within = within_study(included, spec, protocol) if len(included) else ()
    return AnalysisResult(spec=spec, data=data, subgroups=fits, overall=overall,
                          subgroup_tests=tests, leave_one_out=loo, sensitivity=sens,
                          small_study=small, within=within,
                          method=describe_method(spec, protocol), notes=tuple(notes))


def run_analyses(records: Sequence[Any], table: pd.DataFrame, protocol: Protocol,
                 bibliography: Any = None) -> dict[str, AnalysisResult]:
    """Every analysis of the protocol, keyed by its id, in protocol order."""
    return {spec.id: run_analysis(records, table, protocol, spec, bibliography)
            for spec in protocol.analyses}
