"""One lesion-type group's result on the reporting scale, from one model only.

Scores (``MC``, ``ROMC``, ``MN``): inverse-variance random effects with the protocol's tau²
estimator and Hartung-Knapp with the ad hoc floor (Knapp & Hartung 2003), a prediction
interval from ``pi_min_k`` studies on (Higgins et al. 2009; Partlett & Riley 2017), and the
Bayesian fit with a weakly informative half-normal prior on tau beside it (Friede et al.
2017; Röver et al. 2021), its prediction interval also only from ``pi_min_k`` on.
Proportions: the binomial-normal GLMM (Stijnen et al. 2010; metafor ``rma.glmm``) with its
own tau², I² and heterogeneity tests and no inverse-variance weights (as R meta reports a
GLMM); the inverse-variance logit model only when a sensitivity scenario asks for it. Fewer
than ``min_k`` studies are shown side by side, not pooled; a group in which no study has an
event is reported as 0/N with its exact interval.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import BlasticMetaError, BlasticMetaWarning
from .analysis_input import as_int
from .arm_selection import row_records
from .protocol import AnalysisSpec, Protocol

__all__ = ["NAN", "SOFT_ERRORS", "GroupFit", "clean", "fit_group", "method_text", "row_records",
           "safe_fit"]

NAN = float("nan")
SOFT_ERRORS: tuple[type[BaseException], ...] = (BlasticMetaError,)
STATUSES = ("pooled", "side by side", "single study", "no events", "all events",
            "not estimable")


def clean(value: Any) -> Any:
    """JSON-safe value: NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class GroupFit:
    """One group's result. ``status`` is one of ``STATUSES``; ``scale`` "MC" (points),
    "ROMC" (ratio of follow-up to baseline mean), "MN" (follow-up mean) or "proportion".

    ``baseline`` (scores): the baseline mean a clinically important change is read against
    (``review.clinical``): the study's own for a single study, the studies' baseline means
    averaged with the pooling weights for a pooled result; each ``per_study`` row carries its
    own."""

    name: str
    status: str
    scale: str
    model: str
    k: int
    patients: int | None
    studies: tuple[str, ...]
    arms: tuple[str, ...]
    estimate: float = NAN
    ci_low: float = NAN
    ci_high: float = NAN
    pi_low: float = NAN
    pi_high: float = NAN
    pval: float = NAN
    tau2: float = NAN
    i2: float = NAN
    q: float = NAN
    q_df: float = NAN
    q_pval: float = NAN
    q_lrt: float = NAN
    q_lrt_pval: float = NAN
    weights: tuple[float, ...] = ()
    events: float | None = None  # observed counts (before any design effect)
    total: float | None = None
    events_effective: float | None = None  # after the design effect (per-vertebra analyses)
    total_effective: float | None = None
    crude_ci_low: float = NAN
    crude_ci_high: float = NAN
    baseline: float = NAN
    per_study: tuple[dict[str, Any], ...] = ()
    bayes: dict[str, Any] | None = None
    fitted: Any = field(default=None, compare=False, repr=False)

    @property
    def pooled(self) -> bool:
        return self.status == "pooled"

    def summary(self) -> str:
        """One line: name, k, status, estimate [CI] and heterogeneity."""
        line = f"{self.name}: k = {self.k}, {self.status}"
        if not math.isnan(self.estimate):
            line += f", estimate {self.estimate:.4f} [{self.ci_low:.4f}, {self.ci_high:.4f}]"
        if self.pooled:
            line += f", tau^2 = {self.tau2:.4f}, I^2 = {self.i2:.2f}%"
        return line

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__dataclass_fields__
               if name != "fitted"}
        out["studies"] = list(self.studies)
        out["arms"] = list(self.arms)
        out["weights"] = list(self.weights)
        out["per_study"] = [dict(r) for r in self.per_study]
        return clean(out)


def method_text(spec: AnalysisSpec, protocol: Protocol, scale: str | None = None) -> str:
    """The model in a few words, as the methods paragraph and the figures name it."""
    m = protocol.model
    if spec.kind == "proportion" and protocol.proportions.model == "glmm":
        return "binomial-normal GLMM (ML, logit link)"
    if m.method == "EE":
        return "common-effect (inverse-variance) model" + (
            " on logits" if spec.kind == "proportion" else "")
    test = ("Hartung-Knapp" + (" with the ad hoc floor" if m.adhoc else "")
            if m.test == "knha" else "Wald-type z")
    what = " on logits (0.5 added to studies with 0 or all events)" \
        if spec.kind == "proportion" else ""
    return f"random effects{what}, {m.method} τ², {test} CI"


def _patients(rows: pd.DataFrame, spec: AnalysisSpec) -> int | None:
    """Patients behind a result: for a score change, the n analysed at follow-up; for a
    proportion, the patients of the contributing arms."""
    column = "n" if spec.kind == "change" else "patients"
    vals = [as_int(v) for v in rows[column]]
    return None if any(v is None for v in vals) else int(sum(vals))


def _quiet(func: Any, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=BlasticMetaWarning)
        return func(*args, **kwargs)


def _per_study(rows: pd.DataFrame, proportion: bool, scale: str = "MC"
               ) -> tuple[dict[str, Any], ...]:
    """Each study's own estimate and CI on the reporting scale (with its observed counts)."""
    out = []
    for r in row_records(rows, ("study", "arm", "label", "yi", "ci_low", "ci_high", "mean_pre",
                             "events", "total", "events_observed", "total_observed")):
        if proportion:
            est, lo, hi = (float(r["events"]) / float(r["total"]), float(r["ci_low"]),
                           float(r["ci_high"]))
        else:
            est, lo, hi = (float(v) for v in _transform(scale, np.array(
                [r["yi"], r["ci_low"], r["ci_high"]], dtype=float)))
        item = {"study": r["study"], "arm": r["arm"], "label": r["label"], "estimate": est,
                "ci_low": lo, "ci_high": hi}
        if not proportion:
            item["baseline"] = _float(r.get("mean_pre"))
        if proportion:
            observed = r.get("events_observed")
            item["events"] = _count(float(r["events"] if pd.isna(observed) else observed))
            total = r.get("total_observed")
            item["total"] = _count(float(r["total"] if pd.isna(total) else total))
        out.append(item)
    return tuple(out)


def _float(value: Any) -> float:
    """A number from an input cell (NaN when empty)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return NAN


def _weighted_baseline(rows: pd.DataFrame, weights: Any) -> float:
    """The baseline means averaged with the pooling ``weights`` (NaN if one is missing)."""
    base = np.array([_float(v) for v in rows.get("mean_pre", pd.Series(NAN, rows.index))])
    w = np.asarray(weights, dtype=float)
    if len(base) != len(w) or not np.isfinite(base).all() or not w.sum() > 0:
        return NAN
    return float(np.sum(w * base) / np.sum(w))


def _bayes(yi: np.ndarray, vi: np.ndarray, scale: str, protocol: Protocol) -> dict[str, Any] | None:
    """The Bayesian random-effects fit on the reporting scale, or None where the protocol asks
    for none (proportions, or k outside ``bayes.min_k``..``bayes.max_k``).

    The credible interval for mu is kept at every k; the prediction interval only from the
    protocol's ``pi_min_k`` on, as for the frequentist fit (Higgins et al. 2009; Partlett &
    Riley 2017): at k = 2 the predictive spread rests largely on the prior on tau. ``pi_reason``
    says why a prediction interval is missing.
    """
    b = protocol.bayes
    if scale not in b.tau_scale or len(yi) < b.min_k or (b.max_k is not None
                                                          and len(yi) > b.max_k):
        return None
    try:
        from ..stats.bayes import pool_bayes
    except ImportError:  # pragma: no cover - the engine ships pool_bayes
        return None
    fit = pool_bayes(yi, vi, tau_prior=b.tau_prior, tau_scale=b.tau_scale[scale],
                     level=protocol.model.level)
    keys = ("estimate", "mean", "ci_low", "ci_high", "pi_low", "pi_high")
    out: dict[str, Any] = {key: float(getattr(fit, key)) for key in keys}
    if scale == "ROMC":  # the ratio follow-up / baseline, as the frequentist fit reports it
        out = {key: math.exp(v) for key, v in out.items()}
    out["pi_reason"] = None
    pi_min_k = protocol.model.pi_min_k
    if len(yi) < pi_min_k:
        out.update(pi_low=None, pi_high=None,
                   pi_reason=f"no prediction interval below k = {pi_min_k} (protocol pi_min_k)")
    return clean({**out, "tau_median": fit.tau_median, "tau_ci_low": fit.tau_ci_low,
                  "tau_ci_high": fit.tau_ci_high, "tau_prior": b.tau_prior,
                  "tau_scale": b.tau_scale[scale], "k": len(yi)})


def _transform(scale: str, values: np.ndarray) -> np.ndarray:
    """Reporting scale: ROMC as the ratio follow-up / baseline, proportions as proportions."""
    if scale == "ROMC":
        return np.exp(values)
    return values


def fit_group(name: str, rows: pd.DataFrame, spec: AnalysisSpec, protocol: Protocol,
              scale: str = "MC") -> GroupFit:
    """Fit the included ``rows`` of one group (one row per study) with the protocol's model."""
    k = len(rows)
    proportion = spec.kind == "proportion"
    scale = "proportion" if proportion else scale
    common: dict[str, Any] = {
        "name": name, "scale": scale, "model": method_text(spec, protocol), "k": k,
        "patients": _patients(rows, spec), "studies": tuple(dict.fromkeys(rows["study"])),
        "arms": tuple(f"{s}/{a}" for s, a in zip(rows["study"], rows["arm"], strict=True)),
    }
    yi = rows["yi"].astype(float).to_numpy()
    vi = rows["vi"].astype(float).to_numpy()
    if proportion:
        return _fit_proportion(rows, spec, protocol, common)
    if k == 1:
        est, lo, hi = _transform(scale, np.array([yi[0], float(rows["ci_low"].iloc[0]),
                                                  float(rows["ci_high"].iloc[0])]))
        return GroupFit(status="single study", estimate=float(est), ci_low=float(lo),
                        ci_high=float(hi), weights=(100.0,),
                        baseline=_weighted_baseline(rows, [100.0]),
                        per_study=_per_study(rows, False, scale), **common)
    bayes = _bayes(yi, vi, scale, protocol)
    if k < protocol.model.min_k:
        return GroupFit(status="side by side", per_study=_per_study(rows, False, scale),
                        bayes=bayes, **common)
    from ..stats.models import pool

    m = protocol.model
    fit = _quiet(pool, yi, vi, method=m.method, test=m.test, level=m.level, pi=m.pi,
                 adhoc=m.adhoc)
    est, lo, hi, plo, phi = _transform(scale, np.array(
        [fit.estimate, fit.ci_low, fit.ci_high, fit.pi_low, fit.pi_high], dtype=float))
    if k < m.pi_min_k:
        plo = phi = NAN
    return GroupFit(status="pooled", estimate=float(est), ci_low=float(lo), ci_high=float(hi),
                    pi_low=float(plo), pi_high=float(phi), pval=float(fit.pval),
                    tau2=float(fit.tau2), i2=float(fit.i2), q=float(fit.q),
                    q_df=float(fit.q_df), q_pval=float(fit.q_pval),
                    weights=tuple(float(w) for w in fit.weights), bayes=bayes, fitted=fit,
                    baseline=_weighted_baseline(rows, fit.weights),
                    per_study=_per_study(rows, False, scale), **common)


def _count(value: float) -> float | int:
    """A count as an int when whole (effective counts after a design effect are not)."""
    return int(value) if float(value).is_integer() else value


def _crude(rows: pd.DataFrame, protocol: Protocol) -> dict[str, Any]:
    """Observed events/total of the group, and the exact CI of the (effective) pooled counts."""
    from ..stats.proportions import proportion_ci

    events = float(rows["events"].astype(float).sum())
    total = float(rows["total"].astype(float).sum())
    lo, hi = proportion_ci([events], [total], method=protocol.proportions.study_ci,
                           level=protocol.model.level)
    out = {"events": _count(events), "total": _count(total),
           "crude_ci_low": float(lo[0]), "crude_ci_high": float(hi[0])}
    if "events_observed" in rows and rows["events_observed"].notna().all():
        out["events_effective"], out["total_effective"] = out["events"], out["total"]
        out["events"] = _count(float(rows["events_observed"].astype(float).sum()))
        out["total"] = _count(float(rows["total_observed"].astype(float).sum()))
    return out


def _fit_proportion(rows: pd.DataFrame, spec: AnalysisSpec, protocol: Protocol,
                    common: dict[str, Any]) -> GroupFit:
    k = common["k"]
    crude = _crude(rows, protocol)
    per = _per_study(rows, True)
    events = rows["events"].astype(float).to_numpy()
    totals = rows["total"].astype(float).to_numpy()
    if k == 1:
        r = per[0]
        return GroupFit(status="single study", estimate=r["estimate"], ci_low=r["ci_low"],
                        ci_high=r["ci_high"], per_study=per, **crude, **common)
    if not events.any() or np.all(events == totals):
        # the maximum-likelihood logit is infinite: the crude 0/N (or N/N) with its exact CI
        share = 0.0 if not events.any() else 1.0
        return GroupFit(status="no events" if share == 0.0 else "all events",
                        estimate=share, ci_low=crude["crude_ci_low"],
                        ci_high=crude["crude_ci_high"], per_study=per, **crude, **common)
    if k < protocol.model.min_k:
        return GroupFit(status="side by side", per_study=per, **crude, **common)
    m = protocol.model
    if protocol.proportions.model == "inverse_variance":
        from ..stats.models import pool
        from ..stats.proportions import back_transform

        fit = _quiet(pool, rows["yi"].astype(float).to_numpy(),
                     rows["vi"].astype(float).to_numpy(), method=m.method, test=m.test,
                     level=m.level, pi=m.pi, adhoc=m.adhoc)
        est, lo, hi, plo, phi = back_transform(np.array(
            [fit.estimate, fit.ci_low, fit.ci_high, fit.pi_low, fit.pi_high], dtype=float),
            protocol.proportions.measure)
        return GroupFit(status="pooled", estimate=float(est), ci_low=float(lo),
                        ci_high=float(hi), pi_low=float(plo), pi_high=float(phi),
                        pval=float(fit.pval), tau2=float(fit.tau2), i2=float(fit.i2),
                        q=float(fit.q), q_df=float(fit.q_df), q_pval=float(fit.q_pval),
                        weights=tuple(float(w) for w in fit.weights), per_study=per,
                        fitted=fit, **crude, **common)
    from ..stats.glmm import pool_glmm

    g = _quiet(pool_glmm, events, totals, level=m.level)
    plo, phi = (float(g.pi_low), float(g.pi_high)) if k >= m.pi_min_k else (NAN, NAN)
    return GroupFit(
        status="pooled", estimate=float(g.proportion), ci_low=float(g.proportion_ci_low),
        ci_high=float(g.proportion_ci_high), pi_low=plo, pi_high=phi, pval=float(g.pval),
        tau2=float(g.tau2), i2=float(g.i2),
        q=float(getattr(g, "qe_wald", NAN)), q_df=float(getattr(g, "qe_df", k - 1)),
        q_pval=float(getattr(g, "qe_wald_pval", NAN)),
        q_lrt=float(getattr(g, "qe_lrt", NAN)), q_lrt_pval=float(getattr(g, "qe_lrt_pval", NAN)),
        per_study=per, fitted=g, **crude, **common)


def safe_fit(name: str, rows: pd.DataFrame, spec: AnalysisSpec, protocol: Protocol,
             notes: list[str], scale: str = "MC") -> GroupFit:
    """``fit_group``, or a "not estimable" result with the reason in ``notes``."""
    try:
        return fit_group(name, rows, spec, protocol, scale)
    except SOFT_ERRORS as exc:
        notes.append(f"{name}: not estimable ({exc})")
        return GroupFit(name=name, status="not estimable",
                        scale="proportion" if spec.kind == "proportion" else scale,
                        model=method_text(spec, protocol), k=len(rows),
                        patients=_patients(rows, spec),
                        studies=tuple(dict.fromkeys(rows["study"])),
                        arms=tuple(f"{s}/{a}" for s, a in
                                   zip(rows["study"], rows["arm"], strict=True)),
                        per_study=_per_study(rows, spec.kind == "proportion", scale))
