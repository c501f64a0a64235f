"""One subgroup's fit on the reporting scale: the protocol's model (inverse-variance random
effects for score changes; the binomial-normal GLMM or the inverse-variance logit model for
proportions), or a single study's own estimate when a subgroup has fewer than ``min_k``."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import BlasticMetaError, BlasticMetaWarning
from .analysis_input import as_int
from .protocol import AnalysisSpec, Protocol

NAN = float("nan")


def clean(value: Any) -> Any:
    """JSON-safe value: NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class GroupFit:
    """One subgroup's (or the overall) fit, on the scale reported to readers.

    ``scale`` is "MC" (VAS change, points on 0-10) or "proportion" (back-transformed).
    ``status`` is "pooled" or "single study" (k = 1: the study's own estimate, no pooling).
    """

    name: str
    status: str
    scale: str
    k: int
    patients: int | None
    studies: tuple[str, ...]
    arms: tuple[str, ...]
    estimate: float
    ci_low: float
    ci_high: float
    pi_low: float = NAN
    pi_high: float = NAN
    tau2: float = NAN
    i2: float = NAN
    q: float = NAN
    q_df: float = NAN
    q_pval: float = NAN
    pval: float = NAN
    weights: tuple[float, ...] = ()
    total: int | None = None
    events: int | None = None
    model: Any = field(default=None, compare=False, repr=False)

    def summary(self) -> str:
        """One line: name, k, estimate [CI], PI and heterogeneity (reporting scale)."""
        line = (f"{self.name}: k = {self.k}, estimate {self.estimate:.4f} "
                f"[{self.ci_low:.4f}, {self.ci_high:.4f}]")
        if self.status != "pooled":
            return line + " (single study, not pooled)"
        return (line + f", PI [{self.pi_low:.4f}, {self.pi_high:.4f}], tau^2 = {self.tau2:.4f}, "
                f"I^2 = {self.i2:.2f}%")

    def to_dict(self) -> dict[str, Any]:
        return clean({
            "name": self.name, "status": self.status, "scale": self.scale, "k": self.k,
            "patients": self.patients, "studies": list(self.studies), "arms": list(self.arms),
            "estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high,
            "pi_low": self.pi_low, "pi_high": self.pi_high, "tau2": self.tau2, "i2": self.i2,
            "q": self.q, "q_df": self.q_df, "q_pval": self.q_pval, "pval": self.pval,
            "weights": list(self.weights), "events": self.events, "total": self.total,
        })


SOFT_ERRORS: tuple[type[BaseException], ...] = (BlasticMetaError,)


def _pool(protocol: Protocol, yi: np.ndarray, vi: np.ndarray) -> Any:
    from ..stats.models import pool

    m = protocol.model
    with warnings.catch_warnings():
        # k = 2 under knha is announced once in the method line, not per fit
        warnings.simplefilter("ignore", category=BlasticMetaWarning)
        return pool(yi, vi, method=m.method, test=m.test, level=m.level, pi=m.pi)


def _glmm(protocol: Protocol, events: np.ndarray, totals: np.ndarray) -> Any:
    from ..stats.glmm import pool_glmm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=BlasticMetaWarning)
        return pool_glmm(events, totals, level=protocol.model.level)


def patients_of(rows: pd.DataFrame, spec: AnalysisSpec) -> int | None:
    """Patients behind a pooled estimate: for a score change, the n analysed at follow-up
    (the n the effect sizes use); for a proportion, the patients of the contributing arms."""
    column = "n" if spec.kind == "change" else "patients"
    vals = [as_int(v) for v in rows[column]]
    return None if any(v is None for v in vals) else int(sum(vals))


def fit_group(name: str, rows: pd.DataFrame, spec: AnalysisSpec, protocol: Protocol,
               model: str) -> GroupFit:
    """Fit one set of included rows with the given model ("iv" or "glmm")."""
    k = len(rows)
    studies = tuple(dict.fromkeys(rows["study"]))
    arms = tuple(f"{s}/{a}" for s, a in zip(rows["study"], rows["arm"], strict=True))
    yi = rows["yi"].astype(float).to_numpy()
    vi = rows["vi"].astype(float).to_numpy()
    common = {"name": name, "k": k, "patients": patients_of(rows, spec), "studies": studies,
              "arms": arms}
    proportion = spec.kind == "proportion"
    if proportion:
        common["events"] = int(rows["events"].astype(int).sum())
        common["total"] = int(rows["total"].astype(int).sum())
    scale = "proportion" if proportion else "MC"
    if k < protocol.model.min_k:
        row = rows.iloc[0]
        est = float(row["events"]) / float(row["total"]) if proportion else float(yi[0])
        return GroupFit(status="single study", scale=scale, estimate=est,
                        ci_low=float(row["ci_low"]), ci_high=float(row["ci_high"]),
                        weights=(100.0,), **common)
    iv = _pool(protocol, yi, vi)
    weights = tuple(float(w) for w in np.asarray(iv.weights, dtype=float))
    het = {"tau2": float(iv.tau2), "i2": float(iv.i2), "q": float(iv.q),
           "q_df": float(iv.q_df), "q_pval": float(iv.q_pval)}
    if not proportion:
        return GroupFit(status="pooled", scale=scale, estimate=float(iv.estimate),
                        ci_low=float(iv.ci_low), ci_high=float(iv.ci_high),
                        pi_low=float(iv.pi_low), pi_high=float(iv.pi_high),
                        pval=float(iv.pval), weights=weights, model=iv, **het, **common)
    if model == "glmm":
        g = _glmm(protocol, rows["events"].astype(int).to_numpy(),
                  rows["total"].astype(int).to_numpy())
        het["tau2"] = float(g.tau2)
        return GroupFit(status="pooled", scale=scale, estimate=float(g.proportion),
                        ci_low=float(g.proportion_ci_low), ci_high=float(g.proportion_ci_high),
                        pi_low=float(g.pi_low), pi_high=float(g.pi_high), weights=weights,
                        model=g, **het, **common)
    from ..stats.proportions import back_transform

    est, lo, hi, plo, phi = back_transform(
        np.array([iv.estimate, iv.ci_low, iv.ci_high, iv.pi_low, iv.pi_high], dtype=float),
        protocol.proportions.measure)
    return GroupFit(status="pooled", scale=scale, estimate=float(est), ci_low=float(lo),
                    ci_high=float(hi), pi_low=float(plo), pi_high=float(phi), weights=weights,
                    model=iv, **het, **common)


def safe_fit(name: str, rows: pd.DataFrame, spec: AnalysisSpec, protocol: Protocol,
              model: str, notes: list[str]) -> GroupFit | None:
    try:
        return fit_group(name, rows, spec, protocol, model)
    except SOFT_ERRORS as exc:
        notes.append(f"{name}: not pooled ({exc})")
        return None
