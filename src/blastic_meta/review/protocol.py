"""The analysis plan (``evidence/protocol.yaml``) as a frozen, validated model.

The protocol says which analyses the report runs and every rule they follow (time windows,
estimator, assumed correlation, proportion model, subgroup variable, exclusion rules), so
that these choices live in data a reviewer can read rather than in code. It is validated like
a study file: unknown fields are errors, and every problem is reported as
``path:line: field: message``.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
    model_validator,
)

from ..errors import StudyRecordError

__all__ = [
    "AnalysisSpec",
    "ModelSettings",
    "ProportionSettings",
    "Protocol",
    "ProtocolError",
    "RenderSettings",
    "Rules",
    "SubgroupSettings",
    "VasSettings",
    "Window",
    "load_protocol",
]

LESION_TYPES = ("osteoblastic", "osteolytic", "mixed", "myeloma", "unspecified")
LesionType = Literal["osteoblastic", "osteolytic", "mixed", "myeloma", "unspecified"]
Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
WindowId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_]*$", max_length=20)]


class ProtocolError(StudyRecordError):
    """The protocol file could not be read or is invalid (lists every problem found)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class ModelSettings(_Frozen):
    """Random-effects model defaults (metafor ``rma.uni`` arguments)."""

    method: Literal["DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM"] = "REML"
    test: Literal["z", "knha"] = "knha"
    level: StrictFloat = Field(0.95, gt=0.5, lt=1.0)
    pi: Literal["metafor", "t(k-1)", "t(k-2)"] = "metafor"
    min_k: StrictInt = Field(2, ge=2)
    small_study_min_k: StrictInt = Field(10, ge=3)


class Window(_Frozen):
    """A time window mapping reported follow-up days onto one analysis point."""

    id: WindowId
    label: str
    min_days: StrictInt = Field(ge=1)
    max_days: StrictInt | None = None
    target_days: StrictInt

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.max_days is not None and self.max_days < self.min_days:
            raise ValueError(f"max_days ({self.max_days}) is below min_days ({self.min_days})")
        upper = self.max_days if self.max_days is not None else self.target_days
        if not self.min_days <= self.target_days <= upper:
            raise ValueError(f"target_days ({self.target_days}) is outside the window")
        return self

    def contains(self, days: float) -> bool:
        return days >= self.min_days and (self.max_days is None or days <= self.max_days)


class VasSettings(_Frozen):
    """Pain (VAS) change: measure, analysis scale and the assumed pre/post correlation."""

    measure: Literal["MC"] = "MC"
    scale_max: Literal[10] = 10
    correlation: StrictFloat = Field(0.5, ge=-1.0, le=1.0)
    correlation_grid: tuple[StrictFloat, ...] = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)

    @model_validator(mode="after")
    def _grid(self) -> VasSettings:
        if not self.correlation_grid:
            raise ValueError("correlation_grid is empty")
        bad = [r for r in self.correlation_grid if not -1.0 <= r <= 1.0]
        if bad:
            raise ValueError(f"correlation_grid values outside [-1, 1]: {bad}")
        if list(self.correlation_grid) != sorted(set(self.correlation_grid)):
            raise ValueError("correlation_grid must be increasing without repeats")
        return self


class ProportionSettings(_Frozen):
    """Single-proportion model (leakage, responders) and its sensitivity analysis."""

    measure: Literal["PLO"] = "PLO"
    model: Literal["glmm", "inverse_variance"] = "glmm"
    sensitivity: Literal["inverse_variance", "glmm", "none"] = "inverse_variance"
    study_ci: Literal["clopper-pearson", "wilson"] = "clopper-pearson"


class SubgroupSettings(_Frozen):
    """Subgroup variable, which groups the subgroup test compares and which are kept apart."""

    variable: Literal["lesion_type"] = "lesion_type"
    compared: tuple[LesionType, ...] = ("osteoblastic", "osteolytic")
    kept_apart: tuple[LesionType, ...] = ("mixed", "myeloma", "unspecified")
    myeloma_as_osteolytic: StrictBool = False
    overall: Literal["compared", "all"] = "compared"

    @model_validator(mode="after")
    def _disjoint(self) -> SubgroupSettings:
        both = set(self.compared) & set(self.kept_apart)
        if both:
            raise ValueError(f"lesion types both compared and kept apart: {sorted(both)}")
        if len(self.compared) < 2:
            raise ValueError("compared needs at least two lesion types")
        if self.myeloma_as_osteolytic and "myeloma" in self.compared:
            raise ValueError("myeloma_as_osteolytic is true but myeloma is also compared")
        return self

    def group_of(self, lesion_type: str) -> str:
        """The subgroup a lesion type is reported in (myeloma may join osteolytic)."""
        if lesion_type == "myeloma" and self.myeloma_as_osteolytic:
            return "osteolytic"
        return lesion_type


class Rules(_Frozen):
    """Decision rules for the data problems the registry flags rather than resolves."""

    excluded_designs: tuple[str, ...] = ("case_report",)
    ambiguous_leakage_unit: Literal["exclude"] = "exclude"
    unlabelled_dispersion: Literal["treat_as_sd", "exclude"] = "treat_as_sd"
    se_dispersion: Literal["convert_when_n_known", "exclude"] = "convert_when_n_known"
    missing_n: Literal["arm_patients", "exclude"] = "arm_patients"
    overlapping_cohorts: Literal["keep_larger", "keep_both"] = "keep_larger"
    missing_total: Literal["arm_count", "exclude"] = "arm_count"
    derived_counts: Literal["use_flagged", "exclude"] = "use_flagged"
    ambiguous_values: Literal["exclude", "use_flagged"] = "exclude"


class RenderSettings(_Frozen):
    """Limits of ``blastic-meta render`` (a template is someone's file: it must not hang).

    Past either limit rendering stops with an error; ``--timeout`` and ``--max-bytes`` on the
    command line take precedence. Capped so that a protocol cannot switch the limits off.
    """

    timeout: StrictInt | StrictFloat = Field(10, gt=0, le=600)  # seconds
    max_bytes: StrictInt = Field(10_000_000, ge=1, le=100_000_000)  # of rendered text (UTF-8)


class AnalysisSpec(_Frozen):
    """One analysis: what is pooled (outcome, unit or window) under the protocol's rules."""

    id: Identifier
    title: str
    outcome: Literal["vas", "qol", "responder", "leakage", "leakage_symptomatic"]
    window: WindowId | None = None
    unit: Literal["vertebra", "patient", "procedure"] | None = None
    instrument: str | None = None
    lower_is_better: StrictBool = True  # direction of the score (labels of the forest axis)

    @property
    def kind(self) -> Literal["change", "proportion"]:
        return "change" if self.outcome in ("vas", "qol") else "proportion"

    @model_validator(mode="after")
    def _fields(self) -> AnalysisSpec:
        if self.kind == "change":
            if self.window is None:
                raise ValueError(f"a {self.outcome} analysis needs a window")
            if self.unit is not None:
                raise ValueError(f"a {self.outcome} analysis has no unit")
            if self.outcome == "qol" and not self.instrument:
                raise ValueError("a qol analysis needs an instrument")
        elif self.unit is None:
            raise ValueError(f"a {self.outcome} analysis needs a unit (vertebra, patient, ...)")
        if self.outcome == "responder" and self.window is None:
            raise ValueError("a responder analysis needs a window")
        return self


class Protocol(_Frozen):
    """The whole analysis plan, validated."""

    version: Literal[1]
    model: ModelSettings = ModelSettings()
    windows: tuple[Window, ...]
    vas: VasSettings = VasSettings()
    proportions: ProportionSettings = ProportionSettings()
    subgroups: SubgroupSettings = SubgroupSettings()
    rules: Rules = Rules()
    render: RenderSettings = RenderSettings()
    analyses: tuple[AnalysisSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> Protocol:
        ids = [w.id for w in self.windows]
        if len(set(ids)) != len(ids):
            raise ValueError(f"window ids repeat: {ids}")
        ordered = sorted(self.windows, key=lambda w: w.min_days)
        for a, b in itertools.pairwise(ordered):
            if a.max_days is None or a.max_days >= b.min_days:
                raise ValueError(f"windows {a.id!r} and {b.id!r} overlap")
        names = [a.id for a in self.analyses]
        if len(set(names)) != len(names):
            raise ValueError(f"analysis ids repeat: {names}")
        for a in self.analyses:
            if a.window is not None and a.window not in ids:
                raise ValueError(f"analysis {a.id!r}: unknown window {a.window!r} "
                                 f"(defined: {', '.join(ids)})")
        return self

    def window(self, window_id: str) -> Window:
        for w in self.windows:
            if w.id == window_id:
                return w
        raise KeyError(window_id)

    def analysis(self, analysis_id: str) -> AnalysisSpec:
        for a in self.analyses:
            if a.id == analysis_id:
                return a
        raise KeyError(analysis_id)


# --- loading -------------------------------------------------------------------------------

def load_protocol(path: str | Path) -> Protocol:
    """Read and validate ``protocol.yaml``; raises ProtocolError listing every problem.

    Each problem is one line ``path:line: field: message``.
    """
    path = Path(path)
    if not path.is_file():
        raise ProtocolError(f"{path}: protocol file not found")
    from ..registry.yamlio import dotted, line_for, load_yaml_with_lines

    data, lines = load_yaml_with_lines(path)
    if not isinstance(data, dict):
        raise ProtocolError(f"{path}:1: (top): expected a mapping of protocol settings")
    try:
        return Protocol.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{path}:{line_for(loc, lines)}: {dotted(loc)}: {msg}")
        raise ProtocolError("\n".join(problems)) from None
