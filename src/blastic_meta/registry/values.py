"""What a study reports about a cohort and its continuous outcomes: counts, summaries
(age, follow-up, cement volume), scales, p-values, time points."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, StrictBool, StrictInt, model_validator

from ._base import (
    CountInt,
    Id,
    Key,
    PText,
    Real,
    SdKind,
    Spread,
    Text,
    _err,
    _Model,
    _Provenanced,
)


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
