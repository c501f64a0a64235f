"""Study records: the frozen, validated form of one ``studies/<key>.yaml`` file.

A record holds what one paper reports about one cohort, and where each number was read.
Every mapping that carries numbers also carries ``source`` (a locator such as "Abstract",
"Results para 2", "Table I") and, for a secondary source, ``via`` (the BibTeX key of the paper
in which the number was read). A mapping whose values are all unknown (``null``) says why in
``reason``. Values computed by the reviewer rather than printed carry ``derived: {method: ...}``
and are flagged in every table built from the record, so they can never pass for reported ones.

The models only check what a single mapping can know (types, vocabularies, provenance, the
unit of a leakage count). Checks that compare numbers with each other (events <= total,
n <= patients, GRIM, percentages, time order, ...) live in ``validation.py``, where each has a
stable code. Unknown fields are errors so that a misspelt key is never silently ignored.
"""
from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, StrictBool, StrictStr, model_validator

from ._base import (
    KEY_PATTERN,
    LEAKAGE_UNITS,
    LESION_TYPES,
    CountInt,
    Derivation,
    Design,
    Direction,
    Id,
    Key,
    LesionType,
    Procedure,
    PText,
    Real,
    Text,
    _err,
    _Model,
)
from .appraisal import Appraisal, AppraisalItem
from .events import (
    Complication,
    DerivedValue,
    Leakage,
    LeakSite,
    PercentValue,
    Responder,
    SymptomaticLeakage,
    percent_of,
)
from .synthesis import Domain, Significance, WithinStudy, WithinStudyValue
from .values import (
    Approach,
    CementVolume,
    Count,
    Counts,
    FollowUp,
    FractureCount,
    LesionCounts,
    LevelSummary,
    Outcome,
    ProcedureCount,
    PValue,
    Scale,
    Setting,
    Sex,
    Summary,
    TimePoint,
    VertebraeCount,
    outcome_kind,
)

__all__ = [
    "KEY_PATTERN",
    "LEAKAGE_UNITS",
    "LESION_TYPES",
    "Ambiguity",
    "Appraisal",
    "AppraisalItem",
    "Approach",
    "Arm",
    "CaseExample",
    "CementVolume",
    "Complication",
    "Count",
    "Counts",
    "Derivation",
    "DerivedValue",
    "Discrepancy",
    "DiscrepancyValue",
    "FollowUp",
    "FractureCount",
    "Identity",
    "KnownOverlap",
    "LeakSite",
    "Leakage",
    "LesionCounts",
    "LevelSummary",
    "Narrative",
    "Outcome",
    "PValue",
    "PercentValue",
    "ProcedureCount",
    "Responder",
    "Scale",
    "Setting",
    "Sex",
    "StudyRecord",
    "StudyTotals",
    "Summary",
    "SymptomaticLeakage",
    "TimePoint",
    "VertebraeCount",
    "WithinStudy",
    "WithinStudyValue",
    "outcome_kind",
    "percent_of",
]

# A BibTeX key: letters, digits and underscores, starting with a letter (e.g. xu2021,
# wu2021jnis, obPKP31_unk). The file name is the key plus ".yaml".

class CaseExample(_Model):
    """One illustrative patient (figure caption, case report): described, never pooled."""

    label: Text
    age: CountInt | None = None
    sex: Literal["male", "female"] | None = None
    primary: Text | None = None
    levels: Text | None = None
    scores: dict[Id, dict[Id, Real]] = Field(
        default_factory=dict, description="e.g. {vas: {before: 5, after_3_months: 2}}"
    )
    source: Text
    via: Key | None = None
    note: Text | None = None


class Arm(_Model):
    """A group of patients reported separately (one arm for a single-arm series)."""

    id: Id
    label: Text
    lesion_type: LesionType
    lesion_wording: Text | None = Field(None, description="the words the paper used")
    lesion_counts: LesionCounts | None = None
    procedure: Procedure | None = Field(None, description="defaults to the study's procedure")
    procedure_wording: Text | None = None
    patients: Count
    vertebrae: VertebraeCount | None = None
    procedures: ProcedureCount | None = None
    fractures: FractureCount | None = None
    age: Summary | None = None
    sex: Sex | None = None
    primary_tumours: Counts | None = None
    cement_volume_ml: CementVolume | None = None
    follow_up: FollowUp | None = None
    outcomes: tuple[Outcome, ...] = ()
    outcomes_note: Text | None = None
    responders: tuple[Responder, ...] = ()
    responders_note: Text | None = None
    leakage: tuple[Leakage, ...] = ()
    leakage_note: Text | None = None
    complications: tuple[Complication, ...] = ()
    complications_note: Text | None = None
    case_examples: tuple[CaseExample, ...] = ()
    note: Text | None = None

    @model_validator(mode="after")
    def _unique_outcomes(self) -> Any:
        ids = [o.id for o in self.outcomes]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise _err("duplicate-id", f"outcome id repeated in this arm: {', '.join(dup)}")
        return self


class StudyTotals(_Model):
    """Whole-study sizes when the arms' own sizes are not reported."""

    patients: Count | None = None
    vertebrae: VertebraeCount | None = None
    procedures: ProcedureCount | None = None


class Narrative(_Model):
    """A finding that cannot be pooled, with its direction (synthesis without meta-analysis).

    ``domain`` groups findings for the effect-direction plot (``synthesis.DOMAINS``);
    ``significance`` says what the source reports about a test (``synthesis.SIGNIFICANCES``).
    A comparison of two lesion types belongs in ``within_study``, not here.
    """

    outcome: Text
    domain: Domain
    finding: Text
    direction: Direction = Field(
        description="improvement, worse, no_change, no_difference, mixed, unclear, none, "
        "favours_<arm id or lesion type>, worse_in_<arm id or lesion type>"
    )
    arms: tuple[Id, ...] = Field((), description="arms the finding concerns (default all)")
    timepoint: Text | None = None
    p_value: PText | None = None
    significance: Significance | None = None
    source: Text
    via: Key | None = None
    note: Text | None = None


class DiscrepancyValue(_Model):
    """One of the conflicting values, as printed (text, so '4.30' and '<0.001' stay intact)."""

    value: Text
    source: Text
    via: Key | None = None


class Discrepancy(_Model):
    """Values of one quantity that a source prints differently in different places."""

    item: Text = Field(description="what the values are about, e.g. 'baseline VAS'")
    values: tuple[DiscrepancyValue, ...] = Field(min_length=2)
    used: Text | None = Field(
        None, description="the value the analysis uses, as text (null: none of them)"
    )
    reason: Text = Field(description="why that value is used")
    fields: tuple[Text, ...] = Field(
        (), description="record paths concerned, e.g. 'arms[0].leakage[0]' (as in findings)"
    )
    alternative: dict[Text, dict[Id, Real | CountInt]] = Field(
        default_factory=dict,
        description="the value not used, as numbers for a sensitivity analysis: record path "
        "-> {field: value}, e.g. {'arms[0].outcomes[0].timepoints[0]': {mean: 5.0, sd: 2.8}}; "
        "every number must be printed in one of values",
    )

    @model_validator(mode="after")
    def _alternative_printed(self) -> Any:
        printed = {float(x) for v in self.values for x in re.findall(r"\d+(?:\.\d+)?", v.value)}
        for path, values in self.alternative.items():
            for name, value in values.items():
                if float(value) not in printed:
                    raise _err("alternative-not-printed",
                               f"alternative {path}.{name} = {value:g} is not a number "
                               f"printed in this discrepancy's values")
        return self


class Ambiguity(_Model):
    about: Text
    fields: tuple[Text, ...] = ()
    source: Text | None = None
    via: Key | None = None


class KnownOverlap(_Model):
    """A cohort that may share patients with another study (or was checked not to)."""

    study: Key
    relation: Literal["possible", "same_cohort", "distinct"] = Field(
        "possible", description="distinct: checked, no shared patients (silences the warning)"
    )
    note: Text


class Identity(_Model):
    """Whether the study's bibliographic identity was verified (absent: verified)."""

    verified: StrictBool
    reason: Text | None = Field(None, description="what is missing (required when false)")
    note: Text | None = None

    @model_validator(mode="after")
    def _reason(self) -> Any:
        if not self.verified and self.reason is None:
            raise _err("reason-missing", "verified: false needs a reason: (what is not visible)")
        return self


class StudyRecord(_Model):
    """One study file."""

    key: Key
    source_access: Literal["full_text", "abstract", "abstract_truncated", "secondary_only"]
    source_urls: tuple[Text, ...] = ()
    source_note: Text | None = None
    design: Design
    design_note: Text | None = None
    setting: Setting | None = None
    procedure: Procedure
    procedure_wording: Text | None = None
    procedure_note: Text | None = None
    guidance: Text | None = None
    guidance_note: Text | None = None
    guidance_reason: Text | None = Field(None, description="why guidance is null")
    approach: Approach | None = None
    study_totals: StudyTotals | None = None
    known_overlap: tuple[KnownOverlap, ...] = ()
    arms: tuple[Arm, ...] = Field(min_length=1)
    narrative: tuple[Narrative, ...] = ()
    within_study: tuple[WithinStudy, ...] = Field(
        (), description="comparisons of two lesion types within this study")
    ambiguities: tuple[StrictStr | Ambiguity, ...] = ()
    discrepancies: tuple[Discrepancy, ...] = ()
    identity: Identity | None = Field(None, description="absent: identity verified")
    appraisal: Appraisal | None = Field(None, description="critical appraisal (docs/appraisal.md)")
    note: Text | None = None

    @model_validator(mode="after")
    def _unique_arms(self) -> Any:
        for what, ids in (("arm", [a.id for a in self.arms]),
                          ("within_study", [w.id for w in self.within_study])):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            if dup:
                raise _err("duplicate-id", f"{what} id repeated: {', '.join(dup)}")
        return self

    @property
    def identity_verified(self) -> bool:
        """False only when the file says ``identity: {verified: false, ...}``."""
        return self.identity is None or self.identity.verified

    def arm(self, arm_id: str) -> Arm:
        """The arm with this id (KeyError if none)."""
        for a in self.arms:
            if a.id == arm_id:
                return a
        raise KeyError(arm_id)
