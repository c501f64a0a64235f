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

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "KEY_PATTERN",
    "LEAKAGE_UNITS",
    "LESION_TYPES",
    "Ambiguity",
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
    "outcome_kind",
    "percent_of",
]

# A BibTeX key: letters, digits and underscores, starting with a letter (e.g. xu2021,
# wu2021jnis, obPKP31_unk). The file name is the key plus ".yaml".
KEY_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
ID_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
P_PATTERN = r"^(<|>|<=|>=|=)?(0|0?\.[0-9]+|1|1\.0+)$|^ns$"

LESION_TYPES = ("osteoblastic", "osteolytic", "mixed", "myeloma", "unspecified")
LEAKAGE_UNITS = ("vertebra", "patient", "procedure", "leak_site", "ambiguous")

Key = Annotated[StrictStr, Field(pattern=KEY_PATTERN)]
Id = Annotated[StrictStr, Field(pattern=ID_PATTERN)]
Text = Annotated[StrictStr, Field(min_length=1)]
CountInt = Annotated[StrictInt, Field(ge=0)]
Real = Annotated[StrictFloat, Field(allow_inf_nan=False)]
Spread = Annotated[StrictFloat, Field(gt=0, allow_inf_nan=False)]
Percent = Annotated[StrictFloat, Field(ge=0, le=100, allow_inf_nan=False)]
PText = Annotated[StrictStr, Field(pattern=P_PATTERN)]
SdKind = Literal["sd", "se", "unlabelled"]
LesionType = Literal["osteoblastic", "osteolytic", "mixed", "myeloma", "unspecified"]
Design = Literal[
    "case_report",
    "case_series",
    "retrospective_case_series",
    "prospective_case_series",
    "retrospective_cohort",
    "prospective_cohort",
    "comparative_cohort",
    "rct",
    "meta_analysis",
]
Procedure = Literal[
    "PVP",  # percutaneous vertebroplasty
    "PKP",  # kyphoplasty (balloon kyphoplasty, BKP, KP)
    "PVP_125I",  # vertebroplasty with iodine-125 seed implantation
    "mesh_container",  # bone-filling mesh container, vesselplasty, mesh-container plasty
    "VP_and_KP",  # a cohort treated with either, not split
    "cement_augmentation",  # cement augmentation, technique not stated
    "cement_augmentation_rfa",  # radiofrequency ablation followed by cement augmentation
    "radiotherapy",  # comparator arm
    "conservative",  # comparator arm (non-surgical care)
    "other",
]
LeakageUnit = Literal["vertebra", "patient", "procedure", "leak_site", "ambiguous"]
CountUnit = Literal["vertebra", "patient", "procedure", "leak_site", "ambiguous"]
# Fixed directions, or favours_<arm id or lesion type> / worse_in_<arm id or lesion type>.
DIRECTION_PATTERN = (
    r"^(improvement|worse|no_change|no_difference|mixed|unclear|none)$"
    r"|^(favours|worse_in)_[a-z][a-z0-9_]*$"
)
Direction = Annotated[StrictStr, Field(pattern=DIRECTION_PATTERN)]


def _err(code: str, message: str) -> PydanticCustomError:
    """A validation error whose type is the stable check code used in findings."""
    return PydanticCustomError(code, message)


class _Model(BaseModel):
    """Frozen, unknown fields forbidden, no coercion of numbers to strings (or back)."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=False)


class Derivation(_Model):
    """How a value was computed by the reviewer (never printed in the source)."""

    method: Text = Field(description="e.g. 'count from printed percentage 27.7% of 18'")
    inputs: Text | None = Field(None, description="the printed values it was computed from")


class _Provenanced(_Model):
    """A mapping of values with its provenance.

    ``_content`` names the fields that carry data. When any of them is given, ``source`` is
    required; when all are null, ``reason`` is required (why the value is unknown).
    """

    _content: ClassVar[tuple[str, ...]] = ()

    source: Text | None = Field(None, description="where the values were read, e.g. 'Table 2'")
    via: Key | None = Field(
        None, description="BibTeX key of the paper the values were read in (secondary source)"
    )
    reason: Text | None = Field(None, description="why the values are null (not reported, ...)")
    note: Text | None = None
    ambiguous: StrictBool = Field(
        False, description="the source leaves the meaning open; say how in note or ambiguities"
    )
    derived: Derivation | None = Field(
        None, description="present only when the values were computed, not printed"
    )

    def has_content(self) -> bool:
        """True when at least one data field is given."""
        for name in self._content:
            value = getattr(self, name)
            if value is None or (isinstance(value, (tuple, dict)) and not value):
                continue
            return True
        return False

    @model_validator(mode="after")
    def _provenance(self) -> Any:
        if self.has_content():
            if self.source is None:
                raise _err("source-missing", "a value is given without its source (add source:)")
        elif self.reason is None:
            raise _err(
                "reason-missing",
                "every value is null: say why in reason: (e.g. 'not reported in the abstract')",
            )
        if self.derived is not None and not self.has_content():
            raise _err("derived-without-value", "derived: is given but no value is")
        return self


class Count(_Provenanced):
    """One count (patients, procedures) with provenance."""

    _content = ("value",)
    value: CountInt | None = None


class VertebraeCount(Count):
    """Treated vertebrae, in the words the source counts them."""

    unit: Literal[
        "vertebrae", "lesions", "metastases", "levels", "segments", "vertebral_bodies"
    ] = "vertebrae"


class ProcedureCount(Count):
    """Procedures (sessions) performed."""

    unit: Literal["procedures", "sessions"] = "procedures"


class FractureCount(Count):
    """Pathological fractures among the treated, counted in ``unit``."""

    unit: Literal["vertebrae", "patients", "lesions"] = "vertebrae"


class Summary(_Provenanced):
    """Summary statistics of a continuous variable as printed (age, follow-up, volume)."""

    _content = ("value", "n", "mean", "sd", "median", "q1", "q3", "min", "max")
    value: Real | None = Field(None, description="a single printed value (one patient)")
    n: CountInt | None = None
    mean: Real | None = None
    sd: Spread | None = None
    sd_kind: SdKind | None = Field(None, description="sd, se, or unlabelled ('±' only)")
    median: Real | None = None
    q1: Real | None = None
    q3: Real | None = None
    min: Real | None = None
    max: Real | None = None

    @model_validator(mode="after")
    def _sd_kind(self) -> Any:
        if self.sd is not None and self.sd_kind is None:
            raise _err("sd-kind-missing", "sd is given without sd_kind (sd, se or unlabelled)")
        if self.sd is None and self.sd_kind is not None:
            raise _err("sd-kind-without-sd", "sd_kind is given without sd")
        return self


class LevelSummary(_Model):
    """Summary printed for a part of the cohort; provenance is the parent's."""

    n: CountInt | None = None
    mean: Real | None = None
    sd: Spread | None = None
    sd_kind: SdKind | None = None
    median: Real | None = None
    min: Real | None = None
    max: Real | None = None


class CementVolume(Summary):
    """Cement volume in ml, as printed (possibly by spinal level)."""

    _content = ("value", "n", "mean", "sd", "median", "q1", "q3", "min", "max", "by_level")
    per: Literal["vertebra", "patient", "procedure"] | None = Field(
        None, description="what one volume refers to (null: not stated)"
    )
    by_level: dict[Text, LevelSummary] = Field(
        default_factory=dict, description="e.g. {thoracic: {mean: 2.8}, lumbar: {mean: 3.1}}"
    )


class FollowUp(Summary):
    """Follow-up duration in ``unit``; ``value`` for a single printed duration."""

    unit: Literal["days", "weeks", "months", "years"]


class Sex(_Provenanced):
    _content = ("male", "female")
    male: CountInt | None = None
    female: CountInt | None = None


class Counts(_Provenanced):
    """Counts by category (primary tumours), as printed."""

    _content = ("counts",)
    counts: dict[Text, CountInt] | None = None
    unit: Literal["patients", "vertebrae", "lesions"] = "patients"


class LesionCounts(_Provenanced):
    """How many treated lesions of each type an arm holds (when an arm mixes types)."""

    _content = ("osteoblastic", "osteolytic", "mixed", "myeloma", "unspecified")
    osteoblastic: CountInt | None = None
    osteolytic: CountInt | None = None
    mixed: CountInt | None = None
    myeloma: CountInt | None = None
    unspecified: CountInt | None = None
    unit: Literal["lesions", "metastases", "vertebrae", "patients"] = "lesions"


class Setting(_Provenanced):
    _content = ("centre", "country", "period")
    centre: Text | None = None
    country: Text | None = None
    period: Text | None = Field(None, description="as printed, e.g. 'August 2017 to February 2019'")
    multicentre: StrictBool | None = None


class Approach(_Provenanced):
    """Unilateral / bilateral injections, counted in ``unit``."""

    _content = ("unilateral", "bilateral")
    unilateral: CountInt | None = None
    bilateral: CountInt | None = None
    unit: Literal["vertebrae", "patients", "procedures"] = "vertebrae"


class Scale(_Model):
    """Range of an instrument; ``assumed`` when the source does not print it."""

    min: Real | None = None
    max: Real | None = None
    reason: Text | None = Field(None, description="why min/max are null")
    source: Text | None = None
    via: Key | None = None
    note: Text | None = None
    assumed: StrictBool = False
    integer: StrictBool | None = Field(
        None, description="each respondent scores whole numbers (enables the GRIM check)"
    )
    lower_is_better: StrictBool | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Any:
        if self.min is None or self.max is None:
            if self.min is not None or self.max is not None:
                raise _err("scale-range", "give both min and max, or neither (with reason)")
            if self.reason is None:
                raise _err("reason-missing", "scale min/max are null: say why in reason:")
            return self
        if not self.min < self.max:
            raise _err("scale-range", f"scale min {self.min} must be below max {self.max}")
        return self


class PValue(_Provenanced):
    """A printed p-value, kept as text so '<0.001' and '0.009' survive as printed."""

    _content = ("value",)
    value: PText | None = None
    comparison: Text | None = Field(None, description="e.g. 'each time point vs baseline'")
    timepoint_label: Text | None = None


class TimePoint(_Provenanced):
    """One assessment of an outcome; ``days`` from the procedure (baseline <= 0)."""

    _content = ("n", "mean", "sd", "median", "q1", "q3", "min", "max", "change", "p_value")
    label: Text
    days: StrictInt | None = Field(
        description="days from the procedure; pre-operative values <= 0 (null: days_reason)"
    )
    days_reason: Text | None = None
    n: CountInt | None = None
    reason_n: Text | None = Field(None, description="why n is null")
    mean: Real | None = None
    sd: Spread | None = None
    sd_kind: SdKind | None = None
    median: Real | None = None
    q1: Real | None = None
    q3: Real | None = None
    min: Real | None = None
    max: Real | None = None
    change: Summary | None = Field(None, description="change from baseline, when printed")
    p_value: PValue | PText | None = Field(
        None, description="vs baseline, as printed ('<0.001'), or {value, comparison, source}"
    )

    @model_validator(mode="after")
    def _sd_kind(self) -> Any:
        if self.sd is not None and self.sd_kind is None:
            raise _err("sd-kind-missing", "sd is given without sd_kind (sd, se or unlabelled)")
        if self.sd is None and self.sd_kind is not None:
            raise _err("sd-kind-without-sd", "sd_kind is given without sd")
        return self


def outcome_kind(instrument: str) -> Literal["vas", "qol"]:
    """'vas' for pain intensity scales (VAS, NRS), 'qol' for every other instrument."""
    head = instrument.strip().upper()
    return "vas" if head.startswith(("VAS", "NRS")) else "qol"


class Outcome(_Model):
    """A continuous outcome of one arm over time."""

    id: Id
    instrument: Text = Field(description="VAS, NRS, QLQ-BM22, ODI, KPS, SF-36 bodily pain, ...")
    kind: Literal["vas", "qol"] | None = Field(
        None, description="defaults to vas for VAS/NRS instruments, else qol"
    )
    scale: Scale | None = None
    timepoints: tuple[TimePoint, ...] = ()
    timepoints_note: Text | None = None
    change_p_value: PValue | None = Field(None, description="an overall test as printed")
    between_arm_p_value: PValue | None = Field(
        None, description="a test between this arm and another, as printed"
    )
    ambiguous: StrictBool = False
    note: Text | None = None

    @property
    def outcome(self) -> Literal["vas", "qol"]:
        return self.kind or outcome_kind(self.instrument)


class DerivedValue(_Model):
    """A count the reviewer computed (never printed); kept apart from the reported field."""

    value: CountInt
    method: Text
    inputs: Text | None = None


class PercentValue(_Provenanced):
    """A printed percentage with its own provenance."""

    _content = ("value",)
    value: Percent | None = None


PercentField = Percent | PercentValue


def percent_of(value: float | PercentValue | None) -> float | None:
    """The number of a percent field given either as a number or as a mapping."""
    return value.value if isinstance(value, PercentValue) else value


class Responder(_Provenanced):
    _content = ("events", "total", "percent")
    definition: Text
    timepoint_label: Text | None = None
    days: StrictInt | None = None
    days_reason: Text | None = None
    events: CountInt | None = None
    total: CountInt | None = None
    derived_events: DerivedValue | None = None
    derived_total: DerivedValue | None = None
    percent: PercentField | None = Field(None, description="only when printed")
    unit: CountUnit = "patient"
    candidate_units: tuple[CountUnit, ...] = ()


class SymptomaticLeakage(_Provenanced):
    _content = ("events", "total", "percent")
    events: CountInt | None = None
    total: CountInt | None = None
    derived_events: DerivedValue | None = None
    derived_total: DerivedValue | None = None
    percent: PercentField | None = None
    unit: CountUnit | None = Field(None, description="defaults to the leakage entry's unit")
    description: Text | None = None


class LeakSite(_Provenanced):
    """Leakage into one site (the key in ``sites``: canal, venous, disc, paravertebral, ...)."""

    _content = ("events", "total", "percent")
    events: CountInt | None = None
    total: CountInt | None = None
    percent: PercentField | None = None
    unit: CountUnit | None = Field(None, description="defaults to the leakage entry's unit")


def _check_units(unit: str, candidates: tuple[str, ...]) -> None:
    if unit == "ambiguous":
        if len(set(candidates)) < 2 or "ambiguous" in candidates:
            raise _err(
                "candidate-units",
                "unit ambiguous needs candidate_units with at least two units it may be",
            )
    elif candidates:
        raise _err("candidate-units", "candidate_units is only for unit: ambiguous")


class Leakage(_Provenanced):
    """Cement leakage counted in an explicit unit (leak sites can outnumber vertebrae)."""

    _content = ("events", "total", "percent", "symptomatic", "sites")
    id: Id | None = None
    events: CountInt | None = None
    total: CountInt | None = None
    derived_events: DerivedValue | None = None
    derived_total: DerivedValue | None = None
    percent: PercentField | None = Field(None, description="only when printed")
    unit: LeakageUnit
    candidate_units: tuple[LeakageUnit, ...] = ()
    candidate_totals: dict[LeakageUnit, CountInt] = Field(
        default_factory=dict, description="denominator under each candidate unit"
    )
    symptomatic: SymptomaticLeakage | None = None
    sites: dict[Id, LeakSite] = Field(
        default_factory=dict, description="canal, venous, disc, paravertebral, ... -> counts"
    )

    @model_validator(mode="after")
    def _units(self) -> Any:
        _check_units(self.unit, self.candidate_units)
        extra = sorted(set(self.candidate_totals) - set(self.candidate_units))
        if extra:
            raise _err("candidate-units",
                       f"candidate_totals for units not in candidate_units: {', '.join(extra)}")
        return self

    @property
    def is_ambiguous(self) -> bool:
        return self.ambiguous or self.unit == "ambiguous"


class Complication(_Provenanced):
    _content = ("events", "total", "percent")
    id: Id | None = None
    description: Text
    events: CountInt | None = None
    total: CountInt | None = None
    derived_events: DerivedValue | None = None
    derived_total: DerivedValue | None = None
    percent: PercentField | None = None
    unit: CountUnit = "patient"
    candidate_units: tuple[CountUnit, ...] = ()
    serious: StrictBool | None = None

    @model_validator(mode="after")
    def _units(self) -> Any:
        if self.candidate_units:
            _check_units(self.unit, self.candidate_units)
        return self


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
    """A finding that cannot be pooled, with its direction (synthesis without meta-analysis)."""

    outcome: Text
    finding: Text
    direction: Direction = Field(
        description="improvement, worse, no_change, no_difference, mixed, unclear, none, "
        "favours_<arm id or lesion type>, worse_in_<arm id or lesion type>"
    )
    arms: tuple[Id, ...] = Field((), description="arms the finding concerns (default all)")
    timepoint: Text | None = None
    p_value: PText | None = None
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
    ambiguities: tuple[StrictStr | Ambiguity, ...] = ()
    discrepancies: tuple[Discrepancy, ...] = ()
    note: Text | None = None

    @model_validator(mode="after")
    def _unique_arms(self) -> Any:
        ids = [a.id for a in self.arms]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise _err("duplicate-id", f"arm id repeated: {', '.join(dup)}")
        return self

    def arm(self, arm_id: str) -> Arm:
        """The arm with this id (KeyError if none)."""
        for a in self.arms:
            if a.id == arm_id:
                return a
        raise KeyError(arm_id)
