"""Synthesis without meta-analysis: outcome domains, significance, and within-study comparisons
of lesion types.

Findings that cannot be pooled are grouped by outcome domain and summarised by the direction of
effect (SWiM, Campbell et al. 2020; effect-direction plot, Thomson and Thomas 2013). ``DOMAINS``
is the controlled vocabulary of ``narrative[].domain`` and ``within_study[].domain``;
``SIGNIFICANCES`` says what the source reports about statistical significance.

A within-study comparison contrasts two lesion types treated in one study (e.g. osteoblastic vs
osteolytic in wang2016, pure blastic vs mixed in calmels2007). It is kept apart from the
between-study subgroup comparison: both groups share centre, operators and period, so the
contrast is less confounded, and it must not be pooled as if it were two independent studies.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import Field, model_validator

from ._base import (
    CountInt,
    Id,
    Key,
    LesionType,
    Percent,
    PText,
    Real,
    SdKind,
    Spread,
    Text,
    _err,
    _Model,
    _Provenanced,
)

__all__ = [
    "DOMAINS",
    "SIGNIFICANCES",
    "Domain",
    "Significance",
    "WithinStudy",
    "WithinStudyValue",
    "narrative_rows",
    "within_study_rows",
]

# Outcome domains (one per finding); docs/study-format.md describes what each holds.
DOMAINS = (
    "pain",               # pain scores and pain relief (VAS, NRS, SF-36 bodily pain, "relief")
    "function",           # disability and function (ODI, RDQ, KPS, Barthel, ADL)
    "quality_of_life",    # quality-of-life instruments (SF-36 other than pain, QLQ, EORTC)
    "analgesic_use",      # analgesic or narcotic consumption
    "clinical_response",  # graded or global efficacy ("excellent/good", "good clinical result")
    "leakage",            # cement leakage (any, by site, risk factors)
    "complications",      # adverse events other than leakage counts
    "vertebral_height",   # vertebral body height, kyphosis angle, collapse, stability
    "technical",          # operation time, technical success, cement volume or filling, pressure
    "neurological",       # neurological status (cord or cauda equina compression)
    "survival",           # survival
    "other",              # anything else (brace use, hospital stay, crossover, tumour control)
)
Domain = Literal[
    "pain", "function", "quality_of_life", "analgesic_use", "clinical_response", "leakage",
    "complications", "vertebral_height", "technical", "neurological", "survival", "other",
]

# significant: the source reports the difference as statistically significant (or prints a
# p-value below its threshold); not_significant: it reports a test without significance (or
# prints p above the threshold); not_tested: no test was made (a description); unclear: the
# source does not say (e.g. "no difference" without a test or p-value).
SIGNIFICANCES = ("significant", "not_significant", "not_tested", "unclear")
Significance = Literal["significant", "not_significant", "not_tested", "unclear"]


class WithinStudyValue(_Provenanced):
    """A number of one compared group, with its provenance (only when the source prints it)."""

    _content = ("n", "mean", "sd", "median", "events", "total", "percent")
    lesion_type: LesionType = Field(description="one of the comparison's compared types")
    arm: Id | None = Field(None, description="the arm of that group, when the study has one")
    timepoint: Text | None = None
    n: CountInt | None = None
    mean: Real | None = None
    sd: Spread | None = None
    sd_kind: SdKind | None = None
    median: Real | None = None
    events: CountInt | None = None
    total: CountInt | None = None
    percent: Percent | None = None

    @model_validator(mode="after")
    def _sd_kind(self) -> Any:
        if (self.sd is None) != (self.sd_kind is None):
            raise _err("sd-kind-missing" if self.sd is not None else "sd-kind-without-sd",
                       "sd and sd_kind are given together (sd_kind: sd, se or unlabelled)")
        return self


class WithinStudy(_Model):
    """One comparison of two lesion types within a study, as the source reports it."""

    id: Id
    domain: Domain
    outcome: Text = Field(description="the source's name of the outcome, e.g. 'VAS'")
    compared: tuple[LesionType, LesionType] = Field(
        description="the two lesion types compared, e.g. [osteoblastic, osteolytic]")
    arms: tuple[Id, ...] = Field((), description="arm ids of the compared groups, when they exist")
    favours: Text = Field(
        description="one of the compared lesion types, 'neither' (no difference) or 'unclear'")
    significance: Significance
    p_value: PText | None = Field(None, description="as printed, e.g. '<0.05', '.033'")
    timepoints: tuple[Text, ...] = Field((), description="time point labels as printed")
    days: tuple[CountInt, ...] = Field((), description="days from the procedure, one per label")
    finding: Text = Field(description="a short quote or paraphrase of the source")
    values: tuple[WithinStudyValue, ...] = ()
    source: Text
    via: Key | None = None
    note: Text | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Any:
        a, b = self.compared
        if a == b:
            raise _err("within-study-compared", f"compared names {a!r} twice: give two types")
        if self.favours not in (a, b, "neither", "unclear"):
            raise _err("within-study-favours",
                       f"favours must be {a!r}, {b!r}, 'neither' or 'unclear', "
                       f"got {self.favours!r}")
        if self.favours == "neither" and self.significance == "significant":
            raise _err("within-study-significance",
                       "favours 'neither' contradicts significance 'significant'")
        if self.days:
            if len(self.days) != len(self.timepoints):
                raise _err("within-study-days",
                           f"{len(self.days)} days for {len(self.timepoints)} time point "
                           "label(s): give one day per label (or no days)")
            if any(x >= y for x, y in zip(self.days, self.days[1:], strict=False)):
                raise _err("within-study-days", "days must increase")
        for value in self.values:
            if value.lesion_type not in self.compared:
                raise _err("within-study-arm", f"a value of {value.lesion_type!r}, which is "
                           "not one of the compared lesion types")
        return self


def _join(items: Iterable[Any]) -> str | None:
    text = "|".join(str(i) for i in items)
    return text or None


def narrative_rows(records: Iterable[Any]) -> list[dict[str, Any]]:
    """One row per narrative finding (the input of an effect-direction plot)."""
    rows = []
    for rec in records:
        for i, item in enumerate(rec.narrative):
            rows.append({
                "study": rec.key, "entry": i, "domain": item.domain, "outcome": item.outcome,
                "direction": item.direction, "significance": item.significance,
                "arms": _join(item.arms), "timepoint": item.timepoint,
                "p_value": item.p_value, "finding": item.finding, "source": item.source,
                "via": item.via,
            })
    return rows


def within_study_rows(records: Iterable[Any]) -> list[dict[str, Any]]:
    """One row per within-study comparison of lesion types."""
    rows = []
    for rec in records:
        for item in rec.within_study:
            rows.append({
                "study": rec.key, "id": item.id, "domain": item.domain,
                "outcome": item.outcome, "type_a": item.compared[0],
                "type_b": item.compared[1], "favours": item.favours,
                "significance": item.significance, "p_value": item.p_value,
                "arms": _join(item.arms), "timepoints": _join(item.timepoints),
                "days": _join(item.days), "values": len(item.values),
                "finding": item.finding, "source": item.source, "via": item.via,
            })
    return rows

