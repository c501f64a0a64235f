"""Study-level input tables of the protocol's analyses (one row per study arm).

Each analysis takes the arms that report its outcome (``arm_selection``: in its time window
or with its leakage unit, with their values on one scale) and applies the protocol's rules:
excluded designs, declared overlapping cohorts, unverified or abstract-only studies,
procedures, possible duplicates, derived values, the design effect of per-vertebra counts,
combined arms. Every derived or imputed value is listed in ``flags`` and every exclusion has
a ``reason``. Effect sizes come from ``effect_sizes`` (metafor ``escalc`` definitions):
``MC`` for pain change (Becker 1988), ``PLO`` for proportions, with per-study
Clopper-Pearson (1934) intervals for proportions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from .arm_selection import as_int, is_missing, select_rows, study_label, table_rows
from .effect_input import add_effects, z_quantile
from .protocol import AnalysisSpec, Protocol

__all__ = [
    "EXTRA_COLUMNS",
    "INPUT_COLUMNS",
    "add_effects",
    "as_int",
    "build_input",
    "group_order",
    "study_label",
    "z_quantile",
]

NAN = float("nan")
INPUT_COLUMNS = [
    "study", "arm", "label", "lesion_type", "group", "design", "procedure", "timepoint",
    "days", "n", "patients", "events", "total", "mean_pre", "sd_pre", "mean_post", "sd_post",
    "yi", "vi", "ci_low", "ci_high", "flags", "included", "reason",
]
EXTRA_COLUMNS = ["arm_label", "vertebrae", "events_observed", "total_observed",
                 "design_effect", "cluster_size", "derived"]


def _declared_pairs(records: Sequence[Any]) -> list[tuple[str, str]]:
    """Declared overlapping cohorts as sorted key pairs (each once).

    A declaration with ``relation: distinct`` (checked: no shared patients) is not an overlap.
    """
    pairs = set()
    for rec in records:
        key = getattr(rec, "key", None)
        for ov in getattr(rec, "known_overlap", None) or []:
            get = ov.get if isinstance(ov, Mapping) else lambda name, o=ov: getattr(o, name, None)
            if get("relation") == "distinct":
                continue
            other = get("study")
            if key and other and other != key:
                pairs.add(tuple(sorted((key, other))))
    return sorted(pairs)


def _apply_overlap(rows: Sequence[dict[str, Any]], records: Sequence[Any],
                   protocol: Protocol) -> None:
    """Of two declared overlapping cohorts that both enter this analysis, keep the larger
    (the other's rows get a ``reason``).

    Size is the number of patients in the arms the analysis would use (tie: the first key in
    sort order is kept). A cohort whose partner has no usable data here is kept.
    """
    from .input_rules import larger_cohort

    if protocol.rules.overlapping_cohorts != "keep_larger" or not rows:
        return
    for a, b in _declared_pairs(records):
        larger = larger_cohort(rows, a, b, lambda p: as_int(p) or 0)
        if larger is None:
            continue
        keep, drop = larger
        for row in rows:
            if row["study"] == drop and is_missing(row["reason"]):
                row["reason"] = (f"declared overlapping cohort with {keep} "
                                 f"(the larger cohort is kept)")


def _empty_input() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in [*INPUT_COLUMNS, *EXTRA_COLUMNS]})
    frame["included"] = frame["included"].astype(bool)
    return frame


def build_input(records: Sequence[Any], table: pd.DataFrame, protocol: Protocol,
                spec: AnalysisSpec, bibliography: Any = None,
                findings: Iterable[Any] = (), icc: float | None = None,
                cache: dict[Any, Any] | None = None) -> pd.DataFrame:
    """The study-level input table of one analysis (one row per study and lesion-type
    group, arms of one study in one group combined).

    Columns: ``INPUT_COLUMNS`` (+ ``EXTRA_COLUMNS``); ``included`` is False with a ``reason``
    for rows that report the outcome but cannot enter the fit (design, identity, overlap,
    unit, missing SD, ...). ``flags`` lists derived, imputed or adjusted values, and
    ``derived`` is True when one of them is derived or imputed (``input_rules.is_derived``).
    ``findings``
    (from validation) name the undeclared possible duplicates; ``icc`` overrides the
    protocol's ICC of the design effect (per-vertebra analyses). ``cache`` (a dict shared
    by the calls of one report) keeps each analysis' selected rows, which depend only on the
    table, the windows and the data rules, across the sensitivity scenarios, and each
    finished table under the protocol settings it is built from (``_input_key``), so a
    scenario that changes only the model reuses the main analysis' input; and under the
    selected rows with the reasons the exclusion rules gave them (``_table_settings``), so
    a scenario whose rules exclude nothing new here reuses it too.
    """
    from .input_rules import duplicate_pairs

    if table.empty:
        return _empty_input()
    duplicates = tuple(duplicate_pairs(records, findings))
    if cache is None:
        return _build(records, table, protocol, spec, bibliography, duplicates, icc, cache)
    key = _input_key(records, table, protocol, spec, bibliography, duplicates, icc)
    if key not in cache:
        frame = _build(records, table, protocol, spec, bibliography, duplicates, icc, cache)
        cache[key] = ((records, table, bibliography), frame)  # keeps the keyed objects alive
    return cache[key][1].copy()


def _input_key(records: Sequence[Any], table: pd.DataFrame, protocol: Protocol,
               spec: AnalysisSpec, bibliography: Any, duplicates: tuple[tuple[str, str], ...],
               icc: float | None) -> tuple[Any, ...]:
    """Everything an input table is built from: the data (by identity), the analysis, and
    the whole protocol except what only the fit reads (``_FIT_ONLY``), so a scenario that
    changes only the model reuses the main analysis' table. The settings left out are named,
    not the ones kept: a setting added later is in the key until shown to be fit-only."""
    uoa = protocol.unit_of_analysis
    fit_free = _fit_free(protocol, unit_of_analysis=uoa.model_copy(
        update={"icc": uoa.icc if icc is None else icc}))
    return ("input", id(records), id(table), id(bibliography), spec, duplicates, fit_free)


def _fit_free(protocol: Protocol, **update: Any) -> Protocol:
    """``protocol`` without what only the fit reads (``_FIT_ONLY``, the pooling models), with
    ``update`` (a key of input tables, not a protocol to run)."""
    return protocol.model_copy(update={
        **{name: None for name in _FIT_ONLY},
        "model": protocol.model.level,  # the confidence level of the study CIs is input
        "proportions": protocol.proportions.model_copy(update={"model": None}),
        **update})


#: protocol sections only the fits, texts and figures read, never the input tables
_FIT_ONLY = ("bayes", "render", "subgroup_test", "clinical", "certainty", "sensitivity",
             "analyses")


def _build(records: Sequence[Any], table: pd.DataFrame, protocol: Protocol,
           spec: AnalysisSpec, bibliography: Any, duplicates: Sequence[tuple[str, str]],
           icc: float | None, cache: dict[Any, Any] | None) -> pd.DataFrame:
    """``build_input`` without the cache of finished tables: select the arms, apply the
    study rules, combine arms, add effect sizes, order the rows."""
    from .input_rules import (
        combine_arms,
        derived_reasons,
        design_effect,
        study_rule_reasons,
        write_reasons,
    )

    r = protocol.rules
    key = (id(table), id(bibliography), spec, protocol.windows, r.excluded_designs,
           r.ambiguous_values, r.missing_n, r.unlabelled_dispersion, r.se_dispersion,
           r.missing_total, r.derived_counts, r.ambiguous_leakage_unit)
    if cache is not None and key in cache:
        rows = [dict(row) for row in cache[key][1]]
    else:
        rows = select_rows(table_rows(table, cache), spec, protocol, bibliography)
        if cache is not None:
            cache[key] = (table, tuple(dict(row) for row in rows))  # keeps the table alive
    if not rows:
        return _empty_input()
    for row in rows:
        row["group"] = protocol.subgroups.group_of(row["lesion_type"])
    info = _study_info(records, cache)
    # the exclusion rules set only reasons, and read only the rows: applied to them first,
    # so that rules which exclude nothing here lead to a table already made
    selected = [row["reason"] for row in rows]
    _apply_overlap(rows, records, protocol)
    study_rule_reasons(rows, protocol, info, duplicates)
    if protocol.rules.exclude_derived:
        derived_reasons(rows)
    key = None
    if cache is not None:
        key = ("rows", id(records), spec, icc, repr(rows), _table_settings(protocol, cache))
        if key in cache:
            return cache[key][1]
    # the table of the rows as selected, with the rules' reasons written into it: the
    # reason column has the type it had when the rules wrote into the table
    frame = write_reasons(pd.DataFrame([{**row, "reason": reason}
                                        for row, reason in zip(rows, selected, strict=True)]),
                          rows)
    if spec.design_effect:
        frame = design_effect(frame, protocol, icc, info)
    frame = combine_arms(frame, spec, protocol)
    frame = add_effects(frame, spec, protocol, protocol.vas.correlation)
    frame = _finish(frame, protocol)
    if cache is not None:
        cache[key] = (records, frame)  # keeps the records alive; callers get copies
    return frame


def _table_settings(protocol: Protocol, cache: dict[Any, Any]) -> Protocol:
    """What the table is made from past the exclusion rules: the protocol without its
    ``rules`` (their effect is in the rows' reasons) and the sections only the fits read,
    once per protocol object."""
    key = ("table_settings", id(protocol))
    if key not in cache:
        cache[key] = (protocol, _fit_free(protocol, rules=None))  # keeps the protocol alive
    return cache[key][1]


def _study_info(records: Sequence[Any], cache: dict[Any, Any] | None) -> dict[str, Any]:
    """``input_rules.study_info(records)``, once per records when a ``cache`` is given."""
    from .input_rules import study_info

    key = ("study_info", id(records))
    if cache is None:
        return study_info(records)
    if key not in cache:
        cache[key] = (records, study_info(records))  # keeps the records alive
    return cache[key][1]


def _finish(frame: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """The input table's columns (``included``, ``derived``, absent ones empty), its rows in
    ``_input_order``."""
    from .input_rules import is_derived

    columns = [*INPUT_COLUMNS, *EXTRA_COLUMNS]
    frame = frame.assign(included=frame["reason"].isna(),
                         derived=[is_derived(f) for f in frame["flags"]],
                         **{col: None for col in columns
                            if col not in frame and col not in ("included", "derived")})
    return frame[columns].take(_input_order(frame, protocol)).reset_index(drop=True)


def _input_order(frame: pd.DataFrame, protocol: Protocol) -> list[int]:
    """Row positions in the order of the input table: groups in the protocol's order, then
    by label, study and arm (a stable sort, missing values last, as ``sort_values``)."""
    rank = {g: i for i, g in enumerate(group_order(protocol, frame["group"]))}

    def text(value: Any) -> tuple[int, str]:
        return (1, "") if is_missing(value) else (0, value)

    keys = [(rank[g], text(label), text(study), text(arm)) for g, label, study, arm in
            zip(frame["group"], frame["label"], frame["study"], frame["arm"], strict=True)]
    return sorted(range(len(keys)), key=keys.__getitem__)


def group_order(protocol: Protocol, groups: Iterable[str]) -> list[str]:
    present = list(dict.fromkeys(groups))
    known = [*protocol.subgroups.compared, *protocol.subgroups.kept_apart]
    return [g for g in known if g in present] + sorted(g for g in present if g not in known)
