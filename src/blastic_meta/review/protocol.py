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
    "BayesSettings",
    "CertaintyOverride",
    "CertaintySettings",
    "ClinicalSettings",
    "ModelSettings",
    "ProportionSettings",
    "Protocol",
    "ProtocolError",
    "RenderSettings",
    "Rules",
    "Scenario",
    "SubgroupSettings",
    "SubgroupTestSettings",
    "UnitSettings",
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
    """Random-effects model defaults (metafor ``rma.uni`` arguments) and the small-k rules.

    ``adhoc``: Hartung-Knapp with the ad hoc floor max(1, s²), so an interval is never
    narrower than the Wald interval (Knapp & Hartung 2003; Röver et al. 2015). ``min_k``: the
    fewest studies pooled; with fewer (k = 2 by default) the studies are shown side by side.
    ``pi_min_k``: no prediction interval below this k (Higgins et al. 2009; Partlett & Riley
    2017).
    """

    method: Literal["DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM", "EE"] = "REML"
    test: Literal["z", "knha"] = "knha"
    adhoc: StrictBool = True
    level: StrictFloat = Field(0.95, gt=0.5, lt=1.0)
    pi: Literal["metafor", "t(k-1)", "t(k-2)"] = "metafor"
    min_k: StrictInt = Field(3, ge=2)
    pi_min_k: StrictInt = Field(3, ge=3)
    small_study_min_k: StrictInt = Field(10, ge=3)

    @model_validator(mode="after")
    def _adhoc(self) -> ModelSettings:
        if self.adhoc and self.test != "knha":
            raise ValueError("adhoc: true needs test: knha (the floor applies to Hartung-Knapp)")
        return self


class BayesSettings(_Frozen):
    """Bayesian random-effects fit reported beside the frequentist one when k is small.

    Half-normal (or half-Cauchy) prior on tau with its scale per effect measure, flat prior on
    mu (Friede et al. 2017; Röver et al. 2021). ``reason`` says why the scales were chosen.
    """

    tau_prior: Literal["halfnormal", "halfcauchy"] = "halfnormal"
    tau_scale: dict[Literal["MC", "ROMC", "MN"], Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: {"MC": 1.0, "ROMC": 0.5, "MN": 1.0})
    min_k: StrictInt = Field(2, ge=1)
    max_k: StrictInt | None = Field(None, ge=2, description="null: at every k")
    reason: str = ""


class SubgroupTestSettings(_Frozen):
    """One pre-specified test for lesion-type differences per analysis, the other convention
    as a sensitivity analysis (Cochrane Handbook 10.11; Borenstein & Higgins 2013)."""

    primary: Literal["common_tau2", "separate_tau2"] = "common_tau2"
    sensitivity: Literal["common_tau2", "separate_tau2", "none"] = "separate_tau2"
    credibility: str = ""

    @model_validator(mode="after")
    def _distinct(self) -> SubgroupTestSettings:
        if self.primary == self.sensitivity:
            raise ValueError("subgroup_test: primary and sensitivity must differ")
        return self


class UnitSettings(_Frozen):
    """Unit of analysis: vertebrae nested in patients, arms in studies (Cochrane Handbook
    6.2, 23). Per-vertebra counts are deflated by the design effect 1 + (m - 1) ICC, with m
    each study's vertebrae per patient (Donner & Klar 2002; Handbook 23.1.4)."""

    primary_leakage_unit: Literal["patient", "vertebra"] = "patient"
    icc: StrictFloat = Field(0.1, ge=0.0, le=1.0)
    icc_grid: tuple[StrictFloat, ...] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)
    icc_reason: str = ""
    multi_arm: Literal["combine", "largest"] = "combine"

    @model_validator(mode="after")
    def _grid(self) -> UnitSettings:
        bad = [v for v in self.icc_grid if not 0.0 <= v <= 1.0]
        if bad:
            raise ValueError(f"icc_grid values outside [0, 1]: {bad}")
        if list(self.icc_grid) != sorted(set(self.icc_grid)):
            raise ValueError("icc_grid must be increasing without repeats")
        return self


class ClinicalSettings(_Frozen):
    """Thresholds a result is read against (text, summary of findings, imprecision).

    ``vas_mcid_rule`` says how the points and the percent thresholds combine: ``larger``
    (a clinically important change must meet both: the larger of ``vas_mcid_points`` and
    ``vas_mcid_percent`` of the baseline mean; Farrar et al. 2001, Dworkin et al. 2008, Chow
    et al. 2012) or ``smaller`` (either suffices); see ``review.clinical``."""

    vas_mcid_points: StrictFloat = Field(2.0, gt=0)
    vas_mcid_percent: StrictFloat = Field(30.0, gt=0, lt=100)
    vas_mcid_rule: Literal["larger", "smaller"] = "larger"
    reference: str = ""


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
    """Pain (VAS) change: measure, analysis scale and the assumed pre/post correlation.

    ``secondary_measures``: baseline-robust measures reported beside the mean change, each
    with its own heterogeneity: ROMC (ratio of follow-up to baseline mean, metafor ``ROMC``)
    and MN (the follow-up mean)."""

    measure: Literal["MC"] = "MC"
    secondary_measures: tuple[Literal["ROMC", "MN"], ...] = ("ROMC", "MN")
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
    """Single-proportion model (leakage, responders): the binomial-normal GLMM is the analysis
    (its own tau², I² and heterogeneity tests; no inverse-variance weights); the
    inverse-variance logit model is only the sensitivity scenario ``inverse_variance_logit``."""

    measure: Literal["PLO"] = "PLO"
    model: Literal["glmm", "inverse_variance"] = "glmm"
    study_ci: Literal["clopper-pearson", "wilson"] = "clopper-pearson"


class SubgroupSettings(_Frozen):
    """Subgroup variable, which groups the subgroup test compares and which are kept apart."""

    variable: Literal["lesion_type"] = "lesion_type"
    compared: tuple[LesionType, ...] = ("osteoblastic", "osteolytic")
    kept_apart: tuple[LesionType, ...] = ("mixed", "myeloma", "unspecified")
    myeloma_as_osteolytic: StrictBool = False
    mixed_as_osteoblastic: StrictBool = False

    @model_validator(mode="after")
    def _disjoint(self) -> SubgroupSettings:
        both = set(self.compared) & set(self.kept_apart)
        if both:
            raise ValueError(f"lesion types both compared and kept apart: {sorted(both)}")
        if len(self.compared) < 2:
            raise ValueError("compared needs at least two lesion types")
        if self.myeloma_as_osteolytic and "myeloma" in self.compared:
            raise ValueError("myeloma_as_osteolytic is true but myeloma is also compared")
        if self.mixed_as_osteoblastic and "mixed" in self.compared:
            raise ValueError("mixed_as_osteoblastic is true but mixed is also compared")
        return self

    def group_of(self, lesion_type: str) -> str:
        """The subgroup a lesion type is reported in (myeloma may join osteolytic, mixed may
        join osteoblastic; both off by default)."""
        if lesion_type == "myeloma" and self.myeloma_as_osteolytic:
            return "osteolytic"
        if lesion_type == "mixed" and self.mixed_as_osteoblastic:
            return "osteoblastic"
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
    unverified_studies: Literal["exclude", "include"] = "exclude"
    procedures: tuple[str, ...] = Field((), description="only these procedures (empty: all)")
    exclude_abstract_only: StrictBool = False
    exclude_derived: StrictBool = False
    exclude_possible_duplicates: StrictBool = False
    alternative_values: StrictBool = False


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
    # direction of the score; null: as the studies' scale entries state it (with their source)
    lower_is_better: StrictBool | None = None
    role: Literal["primary", "secondary"] = "primary"
    # per-vertebra counts deflated by the design effect (unit of analysis: the patient)
    design_effect: StrictBool = False

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
        if self.design_effect and self.unit != "vertebra":
            raise ValueError("design_effect applies to per-vertebra analyses only")
        return self


class CertaintyOverride(_Frozen):
    """A GRADE judgement the review team changes, with its written reason."""

    analysis: Identifier
    subgroup: str = Field(description="a lesion type, or * for every one")
    domain: Literal["risk_of_bias", "inconsistency", "indirectness", "imprecision",
                    "publication_bias"]
    levels: StrictInt = Field(ge=0, le=2)
    reason: Annotated[str, Field(min_length=10)]


class AppraisalRule(_Frozen):
    """How a study's appraisal answers become its level of concern (registry ConcernRule).

    ``no_information_from``: what an appraiser read when an ``unclear`` answer means no
    information and counts as a concern like ``no`` (Sterne et al. 2016, ROBINS-I "no
    information"; docs/appraisal.md), so that a study read only as an abstract is never rated
    better than a full text."""

    high_no: StrictInt = Field(1, ge=1)
    high_unclear_share: StrictFloat = Field(1.0, ge=0.0, le=1.0)
    low_unclear: StrictInt = Field(0, ge=0)
    no_information_from: tuple[Literal["full_text", "abstract", "abstract_truncated",
                                       "secondary_only"], ...] = (
        "abstract", "abstract_truncated", "secondary_only")
    reason: str = ""


class CertaintySettings(_Frozen):
    """GRADE rating: the appraisal rule behind risk of bias, and any overrides."""

    appraisal_rule: AppraisalRule = AppraisalRule()
    overrides: tuple[CertaintyOverride, ...] = ()


class Scenario(_Frozen):
    """A named sensitivity analysis: the main analysis rerun with part of the protocol
    changed (``change``, a mapping merged into the protocol)."""

    id: Identifier
    description: str
    applies_to: Literal["all", "change", "proportion"] = "all"
    change: dict[str, dict[str, object]]


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
    bayes: BayesSettings = BayesSettings()
    subgroup_test: SubgroupTestSettings = SubgroupTestSettings()
    unit_of_analysis: UnitSettings = UnitSettings()
    clinical: ClinicalSettings = ClinicalSettings()
    certainty: CertaintySettings = CertaintySettings()
    sensitivity: tuple[Scenario, ...] = ()
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
        for o in self.certainty.overrides:
            if o.analysis not in names:
                raise ValueError(f"certainty override: unknown analysis {o.analysis!r}")
        scenarios = [sc.id for sc in self.sensitivity]
        if len(set(scenarios)) != len(scenarios):
            raise ValueError(f"sensitivity scenario ids repeat: {scenarios}")
        for sc in self.sensitivity:
            unknown = sorted(set(sc.change) - set(type(self).model_fields)
                             - {"version", "windows", "analyses", "sensitivity"})
            if unknown or {"version", "windows", "analyses", "sensitivity"} & set(sc.change):
                raise ValueError(f"scenario {sc.id!r}: cannot change {sorted(sc.change)}; "
                                 f"it may change model, rules, subgroups, proportions, vas, "
                                 f"unit_of_analysis, bayes")
            try:
                self.with_changes(sc.change)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ValueError(f"scenario {sc.id!r}: {where}: {first['msg']}") from None
        return self

    def with_changes(self, change: dict[str, dict[str, object]]) -> Protocol:
        """This protocol with ``change`` merged in (one level deep), validated again."""
        data = self.model_dump()
        for section, values in change.items():
            data[section] = {**data[section], **values}
        data["sensitivity"] = ()
        return type(self).model_validate(data)

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
