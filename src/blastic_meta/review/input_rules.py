"""Study-level rules applied to an analysis' input rows, in the protocol's order.

Each rule either excludes a row with a ``reason`` (named in the analysis' footnotes) or
changes it with a ``flag`` (named in every output): studies whose identity is unverified, read
only as an abstract, of another procedure; declared or flagged duplicate cohorts; arms of one
study in one lesion-type group combined into one study (Cochrane Handbook 23.3.4: a study
enters an analysis once); per-vertebra counts deflated by the design effect (Handbook
23.1.4); arms with derived values left out on request.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .arm_selection import is_missing, row_records
from .protocol import AnalysisSpec, Protocol

__all__ = ["StudyInfo", "apply_study_rules", "combine_arms", "derived_reasons", "design_effect",
           "duplicate_pairs", "exclude_derived", "is_derived", "larger_cohort", "study_info",
           "study_rule_reasons", "write_reasons"]

# flags that name an adjustment or a caveat of a reported value, not a value the review
# derived or imputed: a rescaled VAS, arms combined, the design effect, an ambiguity noted
_NOT_DERIVED = ("scale 0-100 divided by 10", "arms combined into one study", "design effect ")
_AMBIGUOUS = "marked ambiguous in the study file"

_DUPLICATE = re.compile(r"possible duplicate cohort with ([A-Za-z][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class StudyInfo:
    """What the rules need to know of a study beyond its rows."""

    key: str
    source_access: str
    verified: bool
    verification_note: str | None
    vertebrae_per_patient: float | None = None  # of the whole study (see _per_patient)


def _per_patient(rec: Any) -> float | None:
    """Vertebrae per patient of a study: from study_totals, else from the arms that report
    both counts (an arm that is the whole cohort, or independent arms added up)."""
    totals = getattr(rec, "study_totals", None)
    if totals is not None and totals.patients and totals.vertebrae and \
            totals.patients.value and totals.vertebrae.value is not None:
        return totals.vertebrae.value / totals.patients.value
    pairs = [(a.patients.value, a.vertebrae.value) for a in rec.arms
             if a.vertebrae is not None and a.patients.value and a.vertebrae.value is not None]
    if not pairs:
        return None
    return sum(v for _, v in pairs) / sum(p for p, _ in pairs)


def study_info(records: Sequence[Any]) -> dict[str, StudyInfo]:
    out = {}
    for rec in records:
        identity = getattr(rec, "identity", None)
        verified = True if identity is None else bool(getattr(identity, "verified", True))
        out[rec.key] = StudyInfo(rec.key, str(getattr(rec, "source_access", "full_text")),
                                 verified, getattr(identity, "reason", None), _per_patient(rec))
    return out


def duplicate_pairs(records: Sequence[Any], findings: Iterable[Any] = ()) -> list[tuple[str, str]]:
    """Possibly duplicated cohorts: declared ``relation: possible`` overlaps and pairs that
    ``validate`` flags (code possible-duplicate-cohort) but no file declares."""
    pairs = set()
    for rec in records:
        for ov in getattr(rec, "known_overlap", ()) or ():
            if getattr(ov, "relation", None) == "possible" and ov.study != rec.key:
                pairs.add(tuple(sorted((rec.key, ov.study))))
    for f in findings:
        if getattr(f, "code", None) != "possible-duplicate-cohort":
            continue
        match = _DUPLICATE.search(str(getattr(f, "message", "")))
        stem = re.sub(r"\.ya?ml$", "", str(getattr(f, "path", "")).replace("\\", "/").rsplit(
            "/", 1)[-1])
        if match and stem and match.group(1) != stem:
            pairs.add(tuple(sorted((stem, match.group(1)))))
    return sorted(pairs)  # type: ignore[arg-type]


def apply_study_rules(frame: pd.DataFrame, protocol: Protocol, info: Mapping[str, StudyInfo],
                      duplicates: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """Exclusions that follow from the study, not from its numbers (first reason wins):
    ``study_rule_reasons`` on the rows of ``frame``."""
    if frame.empty:
        return frame
    rows = _reason_rows(frame)
    study_rule_reasons(rows, protocol, info, duplicates)
    return write_reasons(frame, rows)


def study_rule_reasons(rows: Sequence[dict[str, Any]], protocol: Protocol,
                       info: Mapping[str, StudyInfo],
                       duplicates: Sequence[tuple[str, str]]) -> None:
    """Set the ``reason`` of the input rows (dicts with ``study``, ``procedure``,
    ``patients``, ``reason``) that the study rules exclude; a row's first reason wins.

    The rules read only these fields, so they run on the rows before any table is made.
    """
    rules = protocol.rules

    def exclude(mask: Iterable[bool], reason: str) -> None:
        for row, hit in zip(rows, mask, strict=True):
            if hit and is_missing(row["reason"]):
                row["reason"] = reason

    studies = [row["study"] for row in rows]
    if rules.unverified_studies == "exclude":
        exclude([not info[s].verified if s in info else False for s in studies],
                "identity unverified (enters only the sensitivity analysis that puts "
                "unverified studies back)")
    if rules.exclude_abstract_only:
        exclude([info[s].source_access != "full_text" if s in info else True for s in studies],
                "read only as an abstract or a secondary source")
    if rules.procedures:
        wanted = set(rules.procedures)
        exclude([row["procedure"] not in wanted for row in rows],
                f"procedure not {' or '.join(sorted(wanted))}")
    if rules.exclude_possible_duplicates:
        for a, b in duplicates:
            larger = larger_cohort(rows, a, b, lambda p: 0.0 if is_missing(p) else float(p))
            if larger is not None:
                keep, drop = larger
                exclude([s == drop for s in studies], f"possible duplicate of {keep} (smaller "
                                                      "cohort left out)")


def larger_cohort(rows: Sequence[dict[str, Any]], a: str, b: str,
                  size: Callable[[Any], float]) -> tuple[str, str] | None:
    """(kept, left out) of two possibly shared cohorts that both enter (have a row without a
    reason): the one with more patients in those rows is kept (``size`` reads a row's
    patients), on a tie the first key in sort order; None when either does not enter."""
    usable = [row for row in rows if is_missing(row["reason"])]
    entering = {row["study"] for row in usable}
    if a not in entering or b not in entering:
        return None
    sizes = {s: sum(size(row["patients"]) for row in usable if row["study"] == s)
             for s in (a, b)}
    keep, drop = sorted((a, b), key=lambda s: (-sizes[s], s))
    return keep, drop


def _reason_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The fields the exclusion rules read, one dict per row of ``frame``."""
    return row_records(frame, ("study", "procedure", "patients", "reason", "flags"))


def write_reasons(frame: pd.DataFrame, rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """A copy of ``frame`` with the reasons of ``rows`` (one per row, in order) written where
    they differ, cell by cell, so the column keeps its type (object, or pandas' string type
    when it held a reason already), as writing the excluded rows into the table does."""
    frame = frame.copy()
    changed = [i for i, (old, row) in enumerate(zip(frame["reason"], rows, strict=True))
               if row["reason"] is not old and not (is_missing(old) and is_missing(row["reason"]))]
    for i in changed:
        frame.iloc[i, frame.columns.get_loc("reason")] = rows[i]["reason"]
    return frame


def is_derived(flags: Iterable[str]) -> bool:
    """True when a row's ``flags`` name a derived or imputed value: a mean or SD estimated
    from a median, range, IQR or SE, a dispersion taken as an SD, an n or denominator imputed,
    a count derived by the reviewer. Rescaling, combined arms, the design effect and
    ambiguity notes are not derivations."""
    return any(not f.startswith(_NOT_DERIVED) and _AMBIGUOUS not in f for f in flags)


def exclude_derived(frame: pd.DataFrame) -> pd.DataFrame:
    """Leave out every included row that carries a derived or imputed value
    (``derived_reasons`` on the rows of ``frame``)."""
    rows = _reason_rows(frame)
    derived_reasons(rows)
    return write_reasons(frame, rows)


def derived_reasons(rows: Sequence[dict[str, Any]]) -> None:
    """Set the ``reason`` of every usable row (a dict with ``reason`` and ``flags``) that
    carries a derived or imputed value."""
    for row in rows:
        if is_missing(row["reason"]) and is_derived(row["flags"]):
            row["reason"] = "derived or imputed value (left out in this scenario)"


def _combined_summary(ns: list[float], means: list[float], sds: list[float]
                      ) -> tuple[float, float, float]:
    """n, mean and SD of groups combined (Cochrane Handbook 6.5.2.10, Table 6.5.a)."""
    n, m, s = ns[0], means[0], sds[0]
    for n2, m2, s2 in zip(ns[1:], means[1:], sds[1:], strict=True):
        total = n + n2
        mean = (n * m + n2 * m2) / total
        var = ((n - 1) * s * s + (n2 - 1) * s2 * s2 + n * n2 / total * (m - m2) ** 2) / (
            total - 1)
        n, m, s = total, mean, math.sqrt(var)
    return n, m, s


def combine_arms(frame: pd.DataFrame, spec: AnalysisSpec, protocol: Protocol) -> pd.DataFrame:
    """One row per study and lesion-type group: arms combined (or the largest kept).

    Proportions: events, denominators, patients and vertebrae added. Scores: the arms' n,
    means and SDs combined at baseline and follow-up (Handbook Table 6.5.a). The combined row
    keeps every flag of its arms and adds one naming them.
    """
    if frame.empty:
        return frame
    counts = Counter(  # (study, group) of the usable rows, in order of first appearance
        (s, g) for s, g, ok in zip(frame["study"], frame["group"], frame["reason"].isna(),
                                   strict=True) if ok and not (pd.isna(s) or pd.isna(g)))
    multi = [key for key, n in counts.items() if n > 1]
    if not multi:
        return frame
    frame = frame.copy()
    new_rows = []
    for study, group in multi:
        mask = (frame["study"] == study) & (frame["group"] == group) & frame["reason"].isna()
        rows = frame[mask]
        arms = list(rows["arm"])
        labels = [a if isinstance(a, str) and a else str(b)  # a missing label is NaN here
                  for a, b in zip(rows["arm_label"], rows["arm"], strict=True)]
        if protocol.unit_of_analysis.multi_arm == "largest":
            size = rows["n"].astype(float).fillna(0.0)
            keep = rows.index[int(size.to_numpy().argmax())]
            others = [i for i in rows.index if i != keep]
            frame.loc[others, "reason"] = (f"another arm of the same study kept "
                                           f"({frame.loc[keep, 'arm']}; protocol rule: largest)")
            continue
        first = rows.iloc[0].to_dict()
        first["arm"] = "+".join(arms)
        first["arm_label"] = " + ".join(labels)
        first["procedure"] = "+".join(dict.fromkeys(str(p) for p in rows["procedure"]))
        flags = [f for fl in rows["flags"] for f in fl]
        first["flags"] = (*dict.fromkeys(flags), f"arms combined into one study: "
                                                 f"{', '.join(labels)}")
        for col in ("patients", "vertebrae"):
            vals = [v for v in rows[col]]
            first[col] = None if any(pd.isna(v) for v in vals) else int(sum(vals))
        if spec.kind == "proportion":
            for col in ("events", "total", "events_observed", "total_observed"):
                if col in rows:
                    total = float(rows[col].astype(float).sum())
                    first[col] = int(total) if total.is_integer() else total
            first["n"] = first["total"]
        else:
            ns = [float(v) for v in rows["n"]]
            n, first["mean_pre"], first["sd_pre"] = _combined_summary(
                ns, list(rows["mean_pre"].astype(float)), list(rows["sd_pre"].astype(float)))
            _, first["mean_post"], first["sd_post"] = _combined_summary(
                ns, list(rows["mean_post"].astype(float)), list(rows["sd_post"].astype(float)))
            first["n"] = int(n)
        frame = frame[~mask]
        new_rows.append(first)
    return pd.concat([frame, pd.DataFrame(new_rows)], ignore_index=True)


def design_effect(frame: pd.DataFrame, protocol: Protocol, icc: float | None = None,
                  info: Mapping[str, StudyInfo] | None = None) -> pd.DataFrame:
    """Per-vertebra counts divided by the design effect 1 + (m - 1) ICC.

    m is the arm's vertebrae per patient, or the whole study's when the arm's counts are not
    reported (flagged); the effective events and denominator keep the observed proportion and
    carry the information of about total / DE independent units (Donner & Klar 2002; Cochrane
    Handbook 23.1.4). A study without either cannot be adjusted and is left out.
    """
    if frame.empty:
        return frame
    icc = protocol.unit_of_analysis.icc if icc is None else icc
    frame = frame.copy()
    frame["design_effect"] = math.nan
    frame["cluster_size"] = math.nan
    frame["events_observed"] = frame["events"]
    frame["total_observed"] = frame["total"]
    for col in ("events", "total"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64").astype(object)
    for i, row in frame[frame["reason"].isna()].iterrows():
        patients, vertebrae, whose = row["patients"], row["vertebrae"], "arm"
        if not (pd.isna(patients) or pd.isna(vertebrae)) and patients:
            m: float | None = float(vertebrae) / float(patients)
        else:
            study = (info or {}).get(row["study"])
            m = study.vertebrae_per_patient if study is not None else None
            whose = "whole study"
        if m is None:
            frame.loc[i, "reason"] = ("patients or vertebrae not reported: the design effect "
                                      "cannot be computed")
            continue
        de = 1.0 + (m - 1.0) * icc
        frame.at[i, "cluster_size"] = m
        frame.at[i, "design_effect"] = de
        frame.at[i, "events"] = float(row["events"]) / de
        frame.at[i, "total"] = float(row["total"]) / de
        frame.at[i, "flags"] = (*row["flags"], f"design effect {de:.2f} (m = {m:.2f} vertebrae "
                                               f"per patient, {whose}; ICC {icc:g})")
    return frame
