"""Counted events with an explicit unit: responders, cement leakage (with sites and
symptomatic leaks), complications; percentages as printed."""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictBool, StrictInt, model_validator

from ._base import (
    CountInt,
    CountUnit,
    Id,
    LeakageUnit,
    Percent,
    Text,
    _err,
    _Model,
    _Provenanced,
)


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
    unit: CountUnit = Field(
        description="patient or vertebra, always stated (the leak's unit may differ); the "
        "denominator is the arm's patients or vertebrae unless total is printed"
    )
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
