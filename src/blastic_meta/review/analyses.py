"""The protocol's analyses: study-level input, one fit per lesion type, the lesion-type
comparison, and the sensitivity analyses.

``run_analyses(records, table, protocol, bibliography, findings)`` builds, for each analysis
of the protocol, one row per study and lesion-type group (included or excluded, with the
reason, and every derived, imputed or adjusted value flagged), fits each group with one model
(``fitting``), compares the lesion types (``comparison``: within-study evidence first, then the
pre-specified between-study model), runs the baseline-robust secondary measures of pain
(ROMC, MN), leave-one-out and the correlation and ICC grids (``sensitivity``), and then every
sensitivity scenario of the protocol: the analysis rerun with one rule changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import pandas as pd

from .alternatives import apply_alternatives
from .analysis_input import build_input, group_order, study_label
from .comparison import Comparison, compare_lesion_types, within_reports
from .effect_input import secondary_effects
from .fitting import GroupFit, clean, method_text, safe_fit
from .protocol import AnalysisSpec, Protocol
from .sensitivity import correlation_grid, icc_grid, leave_one_out, small_study

__all__ = ["AnalysisResult", "GroupFit", "build_input", "collect_scenarios", "run_analyses",
           "run_analysis", "run_scenarios", "scenario_tasks", "study_label", "with_sensitivity"]

#: what one scenario gives: (analysis id, entry) for each analysis it applies to
ScenarioRows = list[tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class AnalysisResult:
    """Everything one analysis produced; ``data`` is its study-level input table."""

    spec: AnalysisSpec
    data: pd.DataFrame = field(compare=False)
    subgroups: Mapping[str, GroupFit]
    secondary: Mapping[str, Mapping[str, GroupFit]]
    comparison: Comparison
    leave_one_out: pd.DataFrame = field(compare=False)
    correlation: pd.DataFrame = field(compare=False)
    icc: pd.DataFrame = field(compare=False)
    small_study: Mapping[str, str]
    method: str
    notes: tuple[str, ...] = ()
    scale_direction: tuple[Mapping[str, Any], ...] = ()
    sensitivity: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def included(self) -> pd.DataFrame:
        return self.data[self.data["included"]] if len(self.data) else self.data

    @property
    def excluded(self) -> pd.DataFrame:
        return self.data[~self.data["included"]] if len(self.data) else self.data

    @property
    def contributing(self) -> tuple[str, ...]:
        """Study keys whose data enter any fit of this analysis (sorted)."""
        return tuple(sorted({r["study"] for r in self._rows("study") if r["included"]}))

    def _rows(self, *columns: str) -> list[dict[str, Any]]:
        """``included`` and ``columns`` of every input row as plain dicts, read column by
        column (row access to the wide input table costs more than the analysis needs)."""
        if not len(self.data):
            return []
        names = ("included", *columns)
        return [dict(zip(names, values, strict=True))
                for values in zip(*(self.data[c] for c in names), strict=True)]

    def summary(self) -> str:
        lines = [f"{self.spec.id}: {self.spec.title}", f"  {self.method}"]
        lines += [f"  {fit.summary()}" for fit in self.subgroups.values()]
        c = self.comparison
        lines.append(f"  comparison ({c.kind}): {c.measure} {c.estimate:.4f} "
                     f"[{c.ci_low:.4f}, {c.ci_high:.4f}]" if c.kind == "between" else
                     f"  comparison ({c.kind}): {c.reason or c.measure}")
        for _, row in self.excluded.iterrows():
            lines.append(f"  excluded: {row['label']} ({row['arm']}): {row['reason']}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        rows = self._rows("study", "arm", "label", "reason", "flags", "derived")
        excluded = [{"study": r["study"], "arm": r["arm"], "label": r["label"],
                     "reason": r["reason"]} for r in rows if not r["included"]]
        flagged = [{"study": r["study"], "arm": r["arm"], "label": r["label"],
                    "flags": list(r["flags"]), "derived": bool(r["derived"])}
                   for r in rows if r["included"] and r["flags"]]
        return clean({
            "title": self.spec.title, "outcome": self.spec.outcome, "window": self.spec.window,
            "unit": self.spec.unit, "instrument": self.spec.instrument, "role": self.spec.role,
            "design_effect": self.spec.design_effect, "method": self.method,
            "subgroups": {name: fit.to_dict() for name, fit in self.subgroups.items()},
            "secondary_measures": {m: {g: f.to_dict() for g, f in fits.items()}
                                   for m, fits in self.secondary.items()},
            "comparison": self.comparison.to_dict(),
            "small_study": dict(self.small_study),
            "excluded": excluded, "flagged": flagged, "studies": list(self.contributing),
            "leave_one_out": _records(self.leave_one_out),
            "correlation_grid": _records(self.correlation),
            "icc_grid": _records(self.icc),
            "notes": list(self.notes),
            "scale_direction": [dict(d) for d in self.scale_direction],
        })


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [clean(dict(row)) for row in frame.to_dict(orient="records")]


def _scale_direction(records: Sequence[Any], spec: AnalysisSpec,
                     studies: Iterable[str]) -> tuple[dict[str, Any], ...]:
    """How each contributing study states the direction of its score (never assumed)."""
    if spec.outcome != "qol":
        return ()
    wanted = set(studies)
    out = []
    for rec in records:
        if rec.key not in wanted:
            continue
        for arm in rec.arms:
            for outcome in arm.outcomes:
                if (outcome.instrument or "").casefold() != (spec.instrument or "").casefold():
                    continue
                scale = outcome.scale
                out.append({"study": rec.key, "instrument": outcome.instrument,
                            "lower_is_better": getattr(scale, "lower_is_better", None),
                            "source": getattr(scale, "source", None),
                            "note": getattr(scale, "note", None)})
                break
            else:
                continue
            break
    return tuple(out)


def run_analysis(records: Sequence[Any], table: pd.DataFrame, protocol: Protocol,
                 spec: AnalysisSpec, bibliography: Any = None, findings: Iterable[Any] = (),
                 *, light: bool = False, cache: dict[Any, Any] | None = None) -> AnalysisResult:
    """Build the input of one analysis and run every fit the protocol asks for (``light``:
    the main fits and the comparison only, as the sensitivity scenarios need).

    Past the input table nothing reads the protocol's ``rules`` (they only select and
    exclude rows) or its scenarios: the fits get the protocol without them, so a read
    would fail. With a ``cache``, a light result is therefore reused for any later call
    with the same input table, records, bibliography, analysis and other settings: a
    scenario whose rule changes no row of this analysis costs only its input table.
    """
    findings = list(findings)
    keep = cache is not None  # only a caller's cache outlives this call
    cache = {} if cache is None else cache
    data = build_input(records, table, protocol, spec, bibliography, findings, cache=cache)
    fit_protocol, settings = _without_rules(protocol, cache)
    key = ("light", id(records), id(bibliography), spec, settings, _content(data)) \
        if keep else None
    if light and keep and key in cache:
        return cache[key][1]
    full, lean = _analyse(records, table, protocol, fit_protocol, spec, bibliography,
                          findings, data, light, cache)
    if keep:
        cache[key] = ((records, bibliography), lean)  # keeps the keyed objects alive
    return full


def _without_rules(protocol: Protocol, cache: dict[Any, Any]) -> tuple[Protocol, str]:
    """``protocol`` with ``rules`` and ``sensitivity`` (the scenarios, which a scenario's
    protocol does not list again) set to None, and its settings as exact JSON (the key of
    its light results), once per protocol object."""
    key = ("without_rules", id(protocol))
    if key not in cache:
        without = protocol.model_copy(update={"rules": None, "sensitivity": None})
        cache[key] = (protocol, (without, without.model_dump_json()))  # keeps protocol alive
    return cache[key][1]


def _content(data: pd.DataFrame) -> str:
    """The input table exactly, as text: its index, and each column's name, dtype and values
    (``repr`` is exact for floats and tells 1 from 1.0, NaN from None)."""
    return repr([data.index.tolist(),
                 *((name, str(column.dtype), column.tolist()) for name, column in data.items())])


def _analyse(records: Sequence[Any], table: pd.DataFrame, protocol: Protocol,
             fit_protocol: Protocol, spec: AnalysisSpec, bibliography: Any,
             findings: list[Any], data: pd.DataFrame, light: bool, cache: dict[Any, Any],
             ) -> tuple[AnalysisResult, AnalysisResult]:
    """The result of ``run_analysis`` on its input ``data``, and the light result (the same
    fits and comparison, what a light call gives)."""
    p = fit_protocol
    included = data[data["included"]] if len(data) else data
    notes: list[str] = []
    groups = group_order(p, included["group"]) if len(included) else []
    fits = {g: safe_fit(g, included[included["group"] == g], spec, p, notes) for g in groups}
    fit_notes = list(notes)
    secondary: dict[str, dict[str, GroupFit]] = {}
    if spec.kind == "change" and spec.outcome == "vas" and not light and len(included):
        for measure in p.vas.secondary_measures:
            rows = secondary_effects(included, measure, p.vas.correlation, p.model.level)
            secondary[measure] = {g: safe_fit(g, rows[rows["group"] == g], spec, p, notes,
                                              scale=measure) for g in groups}
    labels = {str(r.key): study_label(bibliography, str(r.key)) for r in records}
    comparison = compare_lesion_types(included, spec, p,
                                      within_reports(records, spec, p, labels))
    side = [f.name for f in fits.values() if f.status == "side by side"]
    side_notes = [f"{', '.join(side)}: k = 2, shown side by side and not pooled "
                  f"(protocol: pool from k = {p.model.min_k})"] if side else []
    empty = pd.DataFrame()
    lean = AnalysisResult(spec=spec, data=data, subgroups=fits, secondary={},
                          comparison=comparison, leave_one_out=empty, correlation=empty,
                          icc=empty, small_study={}, method=method_text(spec, p),
                          notes=(*fit_notes, *side_notes),
                          scale_direction=_scale_direction(records, spec,
                                                           included["study"] if len(included)
                                                           else ()))
    if light:
        return lean, lean
    icc = icc_grid(lambda v: build_input(records, table, protocol, spec, bibliography, findings,
                                         icc=v, cache=cache), spec, p, groups)
    full = replace(lean, secondary=secondary,
                   leave_one_out=leave_one_out(fits, included, spec, p),
                   correlation=correlation_grid(data, spec, p, groups), icc=icc,
                   small_study=small_study(fits, p), notes=(*notes, *side_notes))
    return full, lean


def _applies(applies_to: str, spec: AnalysisSpec) -> bool:
    return applies_to == "all" or applies_to == spec.kind


def run_scenarios(records: Sequence[Any], table: pd.DataFrame, protocol: Protocol,
                  bibliography: Any = None, findings: Iterable[Any] = (),
                  cache: dict[Any, Any] | None = None, workers: int | None = None,
                  ) -> dict[str, dict[str, dict[str, Any]]]:
    """Every sensitivity scenario of the protocol for every analysis it applies to:
    ``{analysis: {scenario: {description, subgroups, comparison, studies, excluded}}}``.

    Scenarios are independent, so they run in ``workers`` forked processes (default: one
    per CPU); the result does not depend on the number of workers.
    """
    from .workers import fork_map, run_job

    tasks = scenario_tasks(records, table, protocol, bibliography, findings, cache)
    return collect_scenarios(protocol, fork_map(run_job, tasks, workers))


def scenario_tasks(records: Sequence[Any], table: pd.DataFrame, protocol: Protocol,
                   bibliography: Any = None, findings: Iterable[Any] = (),
                   cache: dict[Any, Any] | None = None) -> list[Callable[[], ScenarioRows]]:
    """One call per sensitivity scenario of the protocol (in protocol order), each giving
    ``[(analysis id, entry), ...]``; ``collect_scenarios`` files them. The calls are
    independent: the report runs them beside its figures, on every CPU."""
    findings = list(findings)
    cache = {} if cache is None else cache

    def one(sc: Any) -> ScenarioRows:
        changed = protocol.with_changes(sc.change)
        recs, tab, changes = records, table, ()
        if changed.rules.alternative_values:
            recs, tab, changes = apply_alternatives(records)
        rows = []
        for spec in changed.analyses:
            if not _applies(sc.applies_to, spec):
                continue
            res = run_analysis(recs, tab, changed, spec, bibliography, findings, light=True,
                               cache=cache)
            d = res.to_dict()
            rows.append((spec.id, {"description": sc.description,
                                   "subgroups": d["subgroups"], "comparison": d["comparison"],
                                   "studies": d["studies"], "excluded": d["excluded"],
                                   "method": d["method"],
                                   "values_changed": [dict(c) for c in changes]}))
        return rows

    return [partial(one, sc) for sc in protocol.sensitivity]


def collect_scenarios(protocol: Protocol, per_scenario: Sequence[ScenarioRows],
                      ) -> dict[str, dict[str, dict[str, Any]]]:
    """``{analysis: {scenario: entry}}`` from the results of ``scenario_tasks``."""
    out: dict[str, dict[str, dict[str, Any]]] = {spec.id: {} for spec in protocol.analyses}
    for sc, rows in zip(protocol.sensitivity, per_scenario, strict=True):
        for aid, entry in rows:
            out[aid][sc.id] = entry
    return out


def run_analyses(records: Sequence[Any], table: pd.DataFrame, protocol: Protocol,
                 bibliography: Any = None, findings: Iterable[Any] = (), *,
                 scenarios: bool = True, cache: dict[Any, Any] | None = None,
                 ) -> dict[str, AnalysisResult]:
    """Every analysis of the protocol, keyed by its id, in protocol order, each with its
    sensitivity scenarios (``scenarios=False`` skips them; ``scenario_tasks`` given the same
    ``cache`` then runs them without selecting the rows again)."""
    findings = list(findings)
    cache = {} if cache is None else cache
    results = {spec.id: run_analysis(records, table, protocol, spec, bibliography, findings,
                                     cache=cache)
               for spec in protocol.analyses}
    if not scenarios:
        return results
    by_analysis = run_scenarios(records, table, protocol, bibliography, findings, cache)
    return with_sensitivity(results, by_analysis)


def with_sensitivity(results: Mapping[str, AnalysisResult],
                     by_analysis: Mapping[str, Mapping[str, Any]],
                     ) -> dict[str, AnalysisResult]:
    """``results`` with each analysis' scenarios (``run_scenarios``) attached."""
    return {aid: replace(res, sensitivity=dict(by_analysis.get(aid, {})))
            for aid, res in results.items()}
