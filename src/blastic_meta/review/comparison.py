"""Osteoblastic vs osteolytic: the comparison an analysis makes, and the evidence it rests on.

Within-study evidence (one study comparing its own lesion types, recorded under
``within_study`` in the study file, or arms of both types with numbers) ranks above the
between-study contrast, which is observational and confounded by whatever else differs between
the series, the procedure first (Cochrane Handbook 10.11.2; ICEMAN, Schandelmaier et al.
2020). The between-study contrast is one pre-specified model: for scores a meta-regression on
lesion type (the mean difference, with the protocol's tau² estimator and Hartung-Knapp with
the ad hoc floor); for proportions the binomial-normal GLMM with lesion type as a moderator
(the odds ratio, Wald test, with the likelihood-ratio test beside it; Stijnen et al. 2010).
When the protocol models proportions by inverse variance on logits (the sensitivity scenario
``inverse_variance_logit``), the contrast is the mixed-effects meta-regression of those logits
on lesion type with the protocol's tau² estimator and test (metafor ``rma(yi, vi, mods=)``;
Viechtbauer 2010), so the scenario changes the comparison as well as the pooled proportions.
The other tau² convention (a separate tau² per lesion type) is the sensitivity test.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from ..errors import BlasticMetaWarning
from .effect_input import z_quantile
from .fitting import NAN, SOFT_ERRORS, clean
from .protocol import AnalysisSpec, Protocol

__all__ = ["PROCEDURE_WORDS", "Comparison", "WithinContrast", "compare_lesion_types",
           "procedures_text", "within_contrasts"]

PROCEDURE_WORDS = {
    "PVP": "PVP", "PKP": "PKP", "PVP_125I": "PVP with iodine-125 seeds",
    "mesh_container": "mesh-container device", "VP_and_KP": "PVP or PKP",
    "cement_augmentation": "cement augmentation", "cement_augmentation_rfa": "RFA with cement",
    "radiotherapy": "radiotherapy", "conservative": "conservative care", "other": "other",
}
# the study-file domain of within-study reports that speak to each outcome
DOMAINS = {"vas": ("pain",), "qol": ("quality_of_life",), "leakage": ("leakage",),
           "leakage_symptomatic": ("leakage",), "responder": ("clinical_response",)}


@dataclass(frozen=True)
class WithinContrast:
    """A numeric within-study contrast: one study's arms of two compared lesion types
    (first minus second: mean difference of the changes, or the log odds ratio)."""

    study: str
    label: str
    groups: tuple[str, str]
    measure: str
    yi: float
    vi: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict[str, Any]:
        return clean({"study": self.study, "label": self.label, "groups": list(self.groups),
                      "measure": self.measure, "yi": self.yi, "vi": self.vi,
                      "ci_low": self.ci_low, "ci_high": self.ci_high})


@dataclass(frozen=True)
class Comparison:
    """The lesion-type comparison of one analysis (summary.json ``comparison``)."""

    kind: str  # "within" | "between" | "none"
    groups: tuple[str, str]
    measure: str
    estimate: float = NAN
    ci_low: float = NAN
    ci_high: float = NAN
    pval: float = NAN
    model: str = ""
    procedures: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    reason: str | None = None
    primary_test: Mapping[str, Any] | None = None
    sensitivity_test: Mapping[str, Any] | None = None
    between: Mapping[str, Any] | None = None
    within: tuple[Mapping[str, Any], ...] = ()
    within_numeric: tuple[WithinContrast, ...] = ()
    sides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    confounded: bool = False
    credibility: str = ""

    def to_dict(self) -> dict[str, Any]:
        return clean({
            "kind": self.kind, "groups": list(self.groups), "measure": self.measure,
            "estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high,
            "pval": self.pval, "model": self.model,
            "procedures": {g: list(p) for g, p in self.procedures.items()},
            "reason": self.reason, "primary_test": dict(self.primary_test or {}) or None,
            "sensitivity_test": dict(self.sensitivity_test or {}) or None,
            "between": dict(self.between) if self.between else None,
            "within": [dict(w) for w in self.within],
            "within_numeric": [w.to_dict() for w in self.within_numeric],
            "sides": {g: dict(v) for g, v in self.sides.items()},
            "confounded_by_procedure": self.confounded, "credibility": self.credibility,
        })


def procedures_text(procedures: Sequence[str]) -> str:
    words = [PROCEDURE_WORDS.get(p, p.replace("_", " ")) for p in procedures]
    return ", ".join(dict.fromkeys(words)) or "none"


def _procedures(values: Iterable[Any]) -> tuple[str, ...]:
    """The procedures named in ``values`` (combined arms read "PVP+PKP"), sorted."""
    found: list[str] = []
    for value in values:
        found += [p for p in str(value or "").split("+") if p]
    return tuple(sorted(dict.fromkeys(found)))


def _what(spec: AnalysisSpec) -> str:
    if spec.outcome == "vas":
        return "VAS as mean and SD at baseline and follow-up"
    if spec.outcome == "qol":
        return f"{spec.instrument} at baseline and follow-up"
    unit = {"vertebra": "vertebra", "patient": "patient"}.get(spec.unit or "", spec.unit)
    return {"leakage": f"cement leakage per {unit}",
            "leakage_symptomatic": f"symptomatic leakage per {unit}",
            "responder": "responders"}.get(spec.outcome, spec.outcome)


def _in_window(entry: Mapping[str, Any], spec: AnalysisSpec, protocol: Protocol) -> bool:
    days = entry.get("days") or []
    if spec.window is None or not days:
        return True
    window = protocol.window(spec.window)
    return any(window.contains(float(d)) for d in days)


def within_reports(records: Sequence[Any], spec: AnalysisSpec, protocol: Protocol,
                   labels: Mapping[str, str]) -> tuple[dict[str, Any], ...]:
    """The study files' within-study comparisons that speak to this analysis."""
    domains = DOMAINS.get(spec.outcome, ())
    compared = set(protocol.subgroups.compared)
    out = []
    for rec in records:
        for entry in getattr(rec, "within_study", ()) or ():
            d = entry.model_dump() if hasattr(entry, "model_dump") else dict(entry)
            if d.get("domain") not in domains or not _in_window(d, spec, protocol):
                continue
            pair = {protocol.subgroups.group_of(g) for g in d.get("compared") or ()}
            if not pair & compared:
                continue
            out.append(clean({
                "study": rec.key, "label": labels.get(rec.key, rec.key),
                "compared": list(d.get("compared") or ()), "favours": d.get("favours"),
                "significance": d.get("significance"), "p_value": d.get("p_value"),
                "outcome": d.get("outcome"), "timepoints": d.get("timepoints"),
                "finding": d.get("finding"), "source": d.get("source"),
                "time_point_matched": bool(d.get("days")),
            }))
    return tuple(out)


def within_contrasts(included: pd.DataFrame, spec: AnalysisSpec, protocol: Protocol
                     ) -> tuple[WithinContrast, ...]:
    """Numeric contrasts of studies whose own arms cover both compared lesion types."""
    compared = list(protocol.subgroups.compared)
    first_row: dict[str, dict[str, int]] = {}  # study -> group -> position of its first row
    for pos, (study, group) in enumerate(zip(included["study"], included["group"],
                                             strict=True)):
        if not pd.isna(study):
            first_row.setdefault(study, {}).setdefault(group, pos)
    out = []
    for study in sorted(first_row):
        groups = [g for g in compared if g in first_row[study]]
        if len(groups) < 2:
            continue
        a = included.iloc[first_row[study][groups[0]]]
        b = included.iloc[first_row[study][groups[1]]]
        if spec.kind == "change":
            yi, vi, measure = float(a["yi"]) - float(b["yi"]), float(a["vi"]) + float(b["vi"]), "MD"
        else:
            from ..stats.effects import effect_values

            yis, vis = effect_values("OR", ai=[float(a["events"])], n1i=[float(a["total"])],
                                     ci=[float(b["events"])], n2i=[float(b["total"])])
            yi, vi, measure = float(yis[0]), float(vis[0]), "log OR"
        z = z_quantile(protocol.model.level)
        out.append(WithinContrast(study, str(a["label"]), (groups[0], groups[1]), measure, yi, vi,
                                  yi - z * math.sqrt(vi), yi + z * math.sqrt(vi)))
    return tuple(out)


def _quiet(func: Any, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", category=BlasticMetaWarning)
        return func(*args, **kwargs)


def _between_scores(rows: pd.DataFrame, first: str, protocol: Protocol) -> dict[str, Any]:
    """Meta-regression on lesion type: the coefficient is first minus second."""
    from ..stats.models import pool

    m = protocol.model
    x = (rows["group"] == first).astype(float).to_numpy()
    fit = _quiet(pool, rows["yi"].astype(float).to_numpy(), rows["vi"].astype(float).to_numpy(),
                 mods=pd.DataFrame({f"lesion_{first}": x}), method=m.method, test=m.test,
                 level=m.level, adhoc=m.adhoc)
    stat = "F" if m.test == "knha" else "QM"
    return {"measure": "MD", "estimate": float(fit.beta[1]), "ci_low": float(fit.beta_ci_low[1]),
            "ci_high": float(fit.beta_ci_high[1]), "pval": float(fit.qm_pval),
            "test": {"convention": "common_tau2", "statistic": stat, "value": float(fit.qm),
                     "df": list(fit.qm_df), "pval": float(fit.qm_pval),
                     "tau2_residual": float(fit.tau2)}}


def _between_proportions(rows: pd.DataFrame, first: str, protocol: Protocol
                         ) -> dict[str, Any]:
    """The odds ratio of the first lesion type against the second: exp of the lesion-type
    coefficient of the protocol's proportion model (GLMM or inverse-variance logit)."""
    if protocol.proportions.model == "inverse_variance":
        return _between_logits(rows, first, protocol)
    return _between_glmm(rows, first, protocol)


def _between_glmm(rows: pd.DataFrame, first: str, protocol: Protocol) -> dict[str, Any]:
    """Binomial-normal GLMM with lesion type as moderator (Stijnen et al. 2010)."""
    from ..stats.glmm import pool_glmm

    x = (rows["group"] == first).astype(float).to_numpy()
    g = _quiet(pool_glmm, rows["events"].astype(float).to_numpy(),
               rows["total"].astype(float).to_numpy(),
               mods=pd.DataFrame({f"lesion_{first}": x}), level=protocol.model.level)
    coef = g.coefficients.iloc[1]
    return {"measure": "OR", "estimate": math.exp(float(coef["estimate"])),
            "ci_low": math.exp(float(coef["ci_low"])),
            "ci_high": math.exp(float(coef["ci_high"])), "pval": float(coef["pval"]),
            "test": {"convention": "common_tau2", "statistic": "QM (Wald)", "value": float(g.qm),
                     "df": [int(g.qm_df)] if not isinstance(g.qm_df, (list, tuple))
                     else list(g.qm_df), "pval": float(g.qm_pval), "lrt": float(g.lrt),
                     "lrt_pval": float(g.lrt_pval), "tau2_residual": float(g.tau2)}}


def _between_logits(rows: pd.DataFrame, first: str, protocol: Protocol) -> dict[str, Any]:
    """Inverse-variance meta-regression of the study logits (0.5 added to studies with 0 or
    all events, as the rows carry them) on lesion type: the same model as for scores, on the
    log-odds scale (Viechtbauer 2010)."""
    fit = _between_scores(rows, first, protocol)
    return {**fit, "measure": "OR", "estimate": math.exp(fit["estimate"]),
            "ci_low": math.exp(fit["ci_low"]), "ci_high": math.exp(fit["ci_high"])}


def _separate_test(rows: pd.DataFrame, groups: Sequence[str], spec: AnalysisSpec,
                   protocol: Protocol) -> dict[str, Any]:
    """Wald test of the groups' own estimates (each with its own tau²; a single study by
    its own variance): Q = sum w_g (b_g - b)^2 on g - 1 df (Borenstein et al. 2009)."""
    est, se = [], []
    m = protocol.model
    for g in groups:
        sub = rows[rows["group"] == g]
        if len(sub) == 1:  # one study: its own estimate (the logit for a proportion)
            est.append(float(sub["yi"].iloc[0]))
            se.append(math.sqrt(float(sub["vi"].iloc[0])))
        elif spec.kind == "change" or protocol.proportions.model == "inverse_variance":
            from ..stats.models import pool

            fit = _quiet(pool, sub["yi"].astype(float).to_numpy(),
                         sub["vi"].astype(float).to_numpy(), method=m.method, test=m.test,
                         level=m.level, adhoc=m.adhoc)
            est.append(float(fit.estimate))
            se.append(float(fit.se))
        else:
            from ..stats.glmm import pool_glmm

            g_fit = _quiet(pool_glmm, sub["events"].astype(float).to_numpy(),
                           sub["total"].astype(float).to_numpy(), level=m.level)
            est.append(float(g_fit.estimate))
            se.append(float(g_fit.se))
    b, s = np.array(est), np.array(se)
    if not (np.all(np.isfinite(b)) and np.all(s > 0)):
        return {"convention": "separate_tau2", "note": "not assessable: an estimate is not "
                                                       "finite"}
    w = 1.0 / s**2
    q = float(np.sum(w * (b - np.sum(w * b) / np.sum(w)) ** 2))
    df = len(groups) - 1
    return {"convention": "separate_tau2", "statistic": "Q", "value": q, "df": [df],
            "pval": float(special.chdtrc(df, q))}


def compare_lesion_types(included: pd.DataFrame, spec: AnalysisSpec, protocol: Protocol,
                         within: tuple[Mapping[str, Any], ...]) -> Comparison:
    """The comparison entry of one analysis from its included rows (one per study and
    group) and the study files' within-study reports."""
    first, second = protocol.subgroups.compared[:2]
    rows = included[included["group"].isin([first, second])]
    cells = list(zip(rows["group"], rows["study"], rows["procedure"], strict=True))
    sides = {g: {"k": sum(1 for c in cells if c[0] == g),
                 "studies": sorted({c[1] for c in cells if c[0] == g})}
             for g in (first, second)}
    procedures = {g: _procedures(c[2] for c in cells if c[0] == g) for g in (first, second)}
    numeric = within_contrasts(included, spec, protocol)
    confounded = bool(procedures[first] and procedures[second]
                      and set(procedures[first]) != set(procedures[second]))
    credibility = protocol.subgroup_test.credibility
    if confounded:
        credibility = (f"{first.capitalize()}: {procedures_text(procedures[first])}; "
                       f"{second}: {procedures_text(procedures[second])}. The between-study "
                       f"contrast is confounded by procedure. " + credibility).strip()
    measure = "MD" if spec.kind == "change" else "OR"
    common = {"groups": (first, second), "procedures": procedures, "within": within,
              "within_numeric": numeric, "sides": sides, "confounded": confounded,
              "credibility": credibility}
    between, reason = None, None
    missing = [g for g in (first, second) if sides[g]["k"] == 0]
    if missing:
        reason = f"No {missing[0]} series reported {_what(spec)}."
    elif len(rows) < protocol.model.min_k:
        reason = (f"{len(rows)} studies in all ({sides[first]['k']} {first}, "
                  f"{sides[second]['k']} {second}): too few for a between-study comparison.")
    elif spec.kind == "proportion" and _no_contrast(rows, (first, second)):
        reason = ("The odds ratio is not estimable: in one lesion type no study had an event "
                  "(or every patient had one).")
    else:
        try:
            between = (_between_scores(rows, first, protocol) if spec.kind == "change"
                       else _between_proportions(rows, first, protocol))
            if protocol.subgroup_test.sensitivity == "separate_tau2":
                between["sensitivity_test"] = _separate_test(rows, (first, second), spec,
                                                             protocol)
        except SOFT_ERRORS as exc:
            between, reason = None, f"The between-study comparison is not estimable ({exc})."
    model = _model_name(spec, protocol)
    has_within = bool(within or numeric)
    if has_within and between is None:
        reason = (reason or "") + " The comparison rests on within-study reports only."
    if has_within:
        return Comparison(kind="within", measure=measure if numeric else "direction",
                          model=model if between else "within-study reports",
                          reason=reason.strip() if reason else None,
                          between=_between_view(between, model), **common)
    if between is None:
        return Comparison(kind="none", measure=measure, model=model, reason=reason, **common)
    return Comparison(kind="between", measure=measure, estimate=between["estimate"],
                      ci_low=between["ci_low"], ci_high=between["ci_high"],
                      pval=between["pval"], model=model, primary_test=between["test"],
                      sensitivity_test=between.get("sensitivity_test"),
                      between=_between_view(between, model), **common)


def _no_contrast(rows: pd.DataFrame, groups: Sequence[str]) -> bool:
    """True when in one of the ``groups`` no study had an event, or every patient had one:
    the odds ratio between the groups is then not estimable."""
    group = rows["group"].to_numpy()
    events = rows["events"].astype(float).to_numpy()
    totals = rows["total"].astype(float).to_numpy()
    return any(float(np.nansum(events[group == g])) in (0.0, float(np.nansum(totals[group == g])))
               for g in groups)


def _between_view(between: dict[str, Any] | None, model: str) -> dict[str, Any] | None:
    if between is None:
        return None
    return {**{k: between[k] for k in ("measure", "estimate", "ci_low", "ci_high", "pval")},
            "model": model, "primary_test": between["test"],
            "sensitivity_test": between.get("sensitivity_test")}


def _model_name(spec: AnalysisSpec, protocol: Protocol) -> str:
    """The between-study model in words, as summary.json and the comparison table name it."""
    if spec.kind == "change":
        return "meta-regression on lesion type, " + _model_words(protocol)
    if protocol.proportions.model == "inverse_variance":
        return ("inverse-variance meta-regression of logits (0.5 added to studies with 0 or "
                "all events) on lesion type, " + _model_words(protocol))
    return "binomial-normal GLMM with lesion type as moderator (ML; Wald test, LRT beside it)"


def _model_words(protocol: Protocol) -> str:
    m = protocol.model
    test = ("Hartung-Knapp" + (" with the ad hoc floor" if m.adhoc else "")
            if m.test == "knha" else "z")
    return f"{m.method} τ² (common to both lesion types), {test}"
