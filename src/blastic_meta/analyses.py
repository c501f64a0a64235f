"""The protocol's analyses: study-level input tables, fits, subgroup tests and sensitivity.

``run_analyses(records, table, protocol, bibliography)`` turns the registry's long table into,
for each analysis of the protocol, one row per study arm (included or excluded, with the
reason and every derived/imputed value flagged), then fits each lesion-type subgroup with the
protocol's model, tests subgroup differences under both tau2 conventions, and runs the
leave-one-out, small-study and sensitivity analyses. Within-study comparisons (one study with
arms of two compared lesion types) are kept apart from the between-study subgroup comparison.

Pain change is metafor's ``MC`` (baseline minus follow-up, so a positive value is less pain;
Becker 1988) with the protocol's assumed pre/post correlation. Proportions are pooled with the
binomial-normal GLMM (Stijnen et al. 2010; metafor ``rma.glmm``) and, as sensitivity, the
inverse-variance logit model; I² and Q of a GLMM subgroup come from that inverse-variance
model, as R meta reports them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import derive
from .errors import BlasticMetaError
from .protocol import AnalysisSpec, Protocol

__all__ = [
    "AnalysisResult",
    "GroupFit",
    "SubgroupTest",
    "WithinComparison",
    "build_input",
    "run_analyses",
    "run_analysis",
    "study_label",
]

NAN = float("nan")
INPUT_COLUMNS = [
    "study", "arm", "label", "lesion_type", "group", "design", "timepoint", "days", "n",
    "patients", "events", "total", "mean_pre", "sd_pre", "mean_post", "sd_post", "yi", "vi",
    "ci_low", "ci_high", "flags", "included", "reason",
]
EXTRA_COLUMNS = ["arm_label", "vertebrae"]


# --- small helpers ------------------------------------------------------------------------

def _num(value: Any) -> float | None:
    """A float, or None for missing values (None, NaN, pandas NA)."""
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    out = _num(value)
    return None if out is None else round(out)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _f(value: Any) -> float:
    out = _num(value)
    return NAN if out is None else out


def _clean(value: Any) -> Any:
    """JSON-safe value: NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    return value


# --- result objects -----------------------------------------------------------------------

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

    def to_dict(self) -> dict[str, Any]:
        return _clean({
            "name": self.name, "status": self.status, "scale": self.scale, "k": self.k,
            "patients": self.patients, "studies": list(self.studies), "arms": list(self.arms),
            "estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high,
            "pi_low": self.pi_low, "pi_high": self.pi_high, "tau2": self.tau2, "i2": self.i2,
            "q": self.q, "q_df": self.q_df, "q_pval": self.q_pval, "pval": self.pval,
            "weights": list(self.weights), "events": self.events, "total": self.total,
        })


@dataclass(frozen=True)
class SubgroupTest:
    """Test for subgroup differences under one tau2 convention (or why it is not assessable)."""

    tau2: str
    groups: tuple[str, ...]
    q_between: float = NAN
    df: float = NAN
    pval: float = NAN
    note: str | None = None
    statistic: str = "Q"
    df2: float = NAN

    @property
    def assessable(self) -> bool:
        return self.note is None

    def to_dict(self) -> dict[str, Any]:
        return _clean({"tau2": self.tau2, "groups": list(self.groups),
                       "q_between": self.q_between, "df": self.df, "pval": self.pval,
                       "note": self.note, "statistic": self.statistic, "df2": self.df2})


@dataclass(frozen=True)
class WithinComparison:
    """A within-study contrast between two lesion types of one study (first minus second)."""

    study: str
    label: str
    groups: tuple[str, str]
    measure: str
    yi: float
    vi: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict[str, Any]:
        return _clean({"study": self.study, "label": self.label, "groups": list(self.groups),
                       "measure": self.measure, "yi": self.yi, "vi": self.vi,
                       "ci_low": self.ci_low, "ci_high": self.ci_high})


@dataclass(frozen=True)
class AnalysisResult:
    """Everything one analysis produced; ``data`` is its study-level input table."""

    spec: AnalysisSpec
    data: pd.DataFrame = field(compare=False)
    subgroups: Mapping[str, GroupFit]
    overall: GroupFit | None
    subgroup_tests: tuple[SubgroupTest, ...]
    leave_one_out: pd.DataFrame = field(compare=False)
    sensitivity: pd.DataFrame = field(compare=False)
    small_study: Mapping[str, str]
    within: tuple[WithinComparison, ...]
    method: str
    notes: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def included(self) -> pd.DataFrame:
        return self.data[self.data["included"]]

    @property
    def excluded(self) -> pd.DataFrame:
        return self.data[~self.data["included"]]

    @property
    def contributing(self) -> tuple[str, ...]:
        """Study keys whose data enter any fit of this analysis (sorted)."""
        return tuple(sorted(set(self.included["study"])))

    def summary(self) -> str:
        lines = [f"{self.spec.id}: {self.spec.title}", f"  {self.method}"]
        for fit in self.subgroups.values():
            lines.append(f"  {fit.name:<14} k = {fit.k:<3} {fit.estimate: .3f} "
                         f"[{fit.ci_low: .3f}, {fit.ci_high: .3f}] ({fit.status})")
        for test in self.subgroup_tests:
            if test.assessable:
                lines.append(f"  subgroup test (tau2 {test.tau2}): Q = {test.q_between:.3f}, "
                             f"df = {test.df:g}, p = {test.pval:.4f}")
            else:
                lines.append(f"  subgroup test (tau2 {test.tau2}): {test.note}")
        for _, row in self.excluded.iterrows():
            lines.append(f"  excluded: {row['label']} ({row['arm']}): {row['reason']}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        tests = {t.tau2: t.to_dict() for t in self.subgroup_tests}
        excluded = [
            {"study": r.study, "arm": r.arm, "label": r.label, "reason": r.reason}
            for r in self.excluded.itertuples()
        ]
        flagged = [
            {"study": r.study, "arm": r.arm, "flags": list(r.flags)}
            for r in self.included.itertuples() if r.flags
        ]
        return _clean({
            "title": self.spec.title,
            "outcome": self.spec.outcome,
            "window": self.spec.window,
            "unit": self.spec.unit,
            "instrument": self.spec.instrument,
            "method": self.method,
            "subgroups": {name: fit.to_dict() for name, fit in self.subgroups.items()},
            "overall": self.overall.to_dict() if self.overall is not None else None,
            "subgroup_test": tests,
            "small_study": dict(self.small_study),
            "within_study": [w.to_dict() for w in self.within],
            "excluded": excluded,
            "flagged": flagged,
            "studies": list(self.contributing),
            "sensitivity": _frame_records(self.sensitivity),
            "leave_one_out": _frame_records(self.leave_one_out),
            "notes": list(self.notes),
        })


def _frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [_clean(dict(row)) for row in frame.to_dict(orient="records")]


# --- building the study-level input table -------------------------------------------------

def study_label(bibliography: Any, key: str) -> str:
    """'Tian et al. 2016' from the bibliography; the key when no author list is known."""
    if bibliography is None:
        return key
    try:
        label = str(bibliography.author_year(key))
    except (KeyError, AttributeError, ValueError):
        return key
    # no author list in the bibliography: the key itself reads better than "key year"
    return key if label.startswith(key) else label


def _declared_pairs(records: Sequence[Any]) -> list[tuple[str, str]]:
    """Declared overlapping cohorts as sorted key pairs (each once)."""
    pairs = set()
    for rec in records:
        key = getattr(rec, "key", None)
        for ov in getattr(rec, "known_overlap", None) or []:
            other = ov.get("study") if isinstance(ov, Mapping) else getattr(ov, "study", None)
            if key and other and other != key:
                pairs.add(tuple(sorted((key, other))))
    return sorted(pairs)


def _apply_overlap(frame: pd.DataFrame, records: Sequence[Any],
                   protocol: Protocol) -> pd.DataFrame:
    """Of two declared overlapping cohorts that both enter this analysis, keep the larger.

    Size is the number of patients in the arms the analysis would use (tie: the first key in
    sort order is kept). A cohort whose partner has no usable data here is kept.
    """
    if protocol.rules.overlapping_cohorts != "keep_larger" or frame.empty:
        return frame
    frame = frame.copy()
    for a, b in _declared_pairs(records):
        usable = frame["reason"].isna()
        if not ((frame["study"] == a) & usable).any() or not ((frame["study"] == b) & usable).any():
            continue
        size = {s: sum(_int(p) or 0 for p in frame.loc[(frame["study"] == s) & usable, "patients"])
                for s in (a, b)}
        keep, drop = sorted((a, b), key=lambda s: (-size[s], s))
        mask = (frame["study"] == drop) & usable
        frame.loc[mask, "reason"] = (f"declared overlapping cohort with {keep} "
                                     f"(the larger cohort is kept)")
    return frame


def _arm_count(arm: Any, name: str) -> int | None:
    value = arm.get(name) if isinstance(arm, Mapping) else getattr(arm, name, None)
    if value is None:
        return None
    if isinstance(value, Mapping):
        return _int(value.get("value"))
    inner = getattr(value, "value", value)
    return _int(inner)


def _empty_input() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in [*INPUT_COLUMNS, *EXTRA_COLUMNS]})
    frame["included"] = frame["included"].astype(bool)
    return frame


def _arm_rows(table: pd.DataFrame, spec: AnalysisSpec) -> pd.DataFrame:
    rows = table[table["outcome"] == spec.outcome]
    if spec.outcome == "qol" and spec.instrument:
        rows = rows[rows["instrument"].astype(str).str.casefold() == spec.instrument.casefold()]
    if spec.unit is not None and spec.kind == "proportion":
        # an ambiguous unit is listed (and excluded) in every per-unit analysis
        wanted = rows["unit"].isin([spec.unit, "ambiguous"])
        if spec.outcome != "leakage":
            wanted = wanted | rows["unit"].isna()
        rows = rows[wanted]
    return rows


def _pick_in_window(rows: pd.DataFrame, window: Any) -> pd.Series | None:
    """The row closest to the window's target day (ties: the earlier day), or None."""
    best = None
    for pos, d in enumerate(_num(v) for v in rows["days"]):
        if d is None or not window.contains(d):
            continue
        key = (abs(d - window.target_days), d)
        if best is None or key < best[0]:
            best = (key, pos)
    return None if best is None else rows.iloc[best[1]]


def _vas_values(row: pd.Series, protocol: Protocol, flags: list[str], n: int | None,
                which: str) -> tuple[float | None, float | None, str | None]:
    """(mean, sd, reason) for one time point on the 0-10 scale, deriving what is needed."""
    mean, sd = _num(row.get("mean")), _num(row.get("sd"))
    kind = _text(row.get("sd_kind"))
    median = _num(row.get("median"))
    q1, q3 = _num(row.get("q1")), _num(row.get("q3"))
    lo, hi = _num(row.get("min")), _num(row.get("max"))
    if mean is None and median is not None:
        if q1 is not None and q3 is not None:
            d = derive.mean_from_median_iqr(median, q1, q3, n=n)
        elif lo is not None and hi is not None:
            d = derive.mean_from_median_range(median, lo, hi, n=n)
        else:
            return None, None, f"no mean at {which} (median only, no spread)"
        mean = d.value
        flags.append(f"{which}: {d.description}")
    if mean is None:
        return None, None, f"no mean reported at {which}"
    if sd is not None:
        if kind == "se":
            if protocol.rules.se_dispersion == "exclude" or n is None:
                return None, None, f"dispersion at {which} is an SE and n is unknown"
            d = derive.sd_from_se(sd, n)
            sd = d.value
            flags.append(f"{which}: {d.description}")
        elif kind in (None, "unlabelled"):
            if protocol.rules.unlabelled_dispersion == "exclude":
                return None, None, f"dispersion at {which} is not labelled SD"
            flags.append(f"{which}: {derive.DERIVATION_METHODS['unlabelled_as_sd']}")
    else:
        if q1 is not None and q3 is not None and n is not None:
            d = derive.sd_from_iqr(q1, q3, n)
        elif lo is not None and hi is not None and (n is not None or median is not None):
            d = derive.sd_from_range(lo, hi, n=n, median=median)
        else:
            return None, None, f"no SD reported at {which}"
        sd = d.value
        flags.append(f"{which}: {d.description}")
    smax = _num(row.get("scale_max"))
    smin = _num(row.get("scale_min"))
    if _text(row.get("outcome")) != "vas":
        pass  # other instruments are pooled on their own scale
    elif smin not in (None, 0.0):
        return None, None, f"VAS scale starts at {smin:g}, not 0"
    if smax in (None, 10.0):
        pass
    elif smax == 100.0:
        mean, sd = mean / 10.0, sd / 10.0
        if "scale 0-100 divided by 10" not in flags:
            flags.append("scale 0-100 divided by 10")
    else:
        return None, None, f"VAS scale 0-{smax:g} is neither 0-10 nor 0-100"
    if sd <= 0:
        return None, None, f"SD at {which} is not positive"
    return mean, sd, None


def _change_rows(table: pd.DataFrame, spec: AnalysisSpec, protocol: Protocol,
                 base: dict[str, Any]) -> list[dict[str, Any]]:
    window = protocol.window(spec.window or "")
    out = []
    rows = _arm_rows(table, spec)
    for (study, arm), grp in rows.groupby(["study", "arm"], sort=True):
        post = _pick_in_window(grp, window)
        if post is None:
            continue  # this arm has nothing in the window: not part of this analysis
        info = dict(base[study])
        info.update(_arm_info(grp.iloc[0], protocol))
        info.update(arm=arm, timepoint=_text(post.get("timepoint")), days=_num(post["days"]))
        flags: list[str] = []
        reason = info.pop("_reason", None)
        pre_days = [(d, pos) for pos, d in enumerate(_num(v) for v in grp["days"])
                    if d is not None and d <= 0]
        if not pre_days:
            reason = reason or "no baseline reported"
            out.append({**info, "flags": (), "reason": reason})
            continue
        pre = grp.iloc[max(pre_days)[1]]  # the last pre-operative value
        for which, tp in (("baseline", pre), ("follow-up", post)):
            if _text(tp.get("derived")):
                flags.append(f"{which}: derived by the reviewer ({_text(tp.get('derived'))})")
            if _num(tp.get("ambiguous")) == 1.0:
                flags.append(f"{which}: marked ambiguous in the study file")
        n = _int(post.get("n"))
        if n is None:
            if protocol.rules.missing_n == "arm_patients" and info["patients"] is not None:
                n = info["patients"]
                flags.append("n imputed from the arm's patients")
            else:
                reason = reason or "n at follow-up not reported"
        m1 = s1 = m2 = s2 = None
        if reason is None:
            n_pre = _int(pre.get("n")) or n
            m1, s1, why1 = _vas_values(pre, protocol, flags, n_pre, "baseline")
            m2, s2, why2 = _vas_values(post, protocol, flags, n, "follow-up")
            reason = why1 or why2
        info.update(n=n, mean_pre=m1, sd_pre=s1, mean_post=m2, sd_post=s2)
        out.append({**info, "flags": tuple(flags), "reason": reason})
    return out


def _proportion_rows(table: pd.DataFrame, spec: AnalysisSpec, protocol: Protocol,
                     base: dict[str, Any]) -> list[dict[str, Any]]:
    rows = _arm_rows(table, spec)
    window = protocol.window(spec.window) if spec.window else None
    out = []
    for (study, arm), grp in rows.groupby(["study", "arm"], sort=True):
        if window is not None:
            row = _pick_in_window(grp, window)
            if row is None:
                continue
        else:
            clear = grp[grp["unit"] == spec.unit]
            # one entry per arm: the first with the wanted unit (registry order), else ambiguous
            row = (clear if not clear.empty else grp).iloc[0]
        info = dict(base[study])
        info.update(_arm_info(row, protocol))
        info.update(arm=arm, timepoint=_text(row.get("timepoint")), days=_num(row.get("days")))
        reason = info.pop("_reason", None)
        flags: list[str] = []
        unit = _text(row.get("unit"))
        if unit == "ambiguous":
            reason = reason or "unit not stated (patients or vertebrae?)"
        elif _num(row.get("ambiguous")) == 1.0:
            flags.append("marked ambiguous in the study file (see data-quality table)")
        events, total = _int(row.get("events")), _int(row.get("total"))
        for name in ("events", "total"):
            derived_value = _int(row.get(f"derived_{name}"))
            if (events if name == "events" else total) is None and derived_value is not None:
                if protocol.rules.derived_counts == "exclude":
                    reason = reason or f"{name} only derived by the reviewer"
                    continue
                flags.append(f"{name} derived: {_text(row.get('derived')) or 'see study file'}")
                if name == "events":
                    events = derived_value
                else:
                    total = derived_value
        if total is None and reason is None:
            count = info["patients"] if spec.unit == "patient" else (
                info["vertebrae"] if spec.unit == "vertebra" else None)
            if protocol.rules.missing_total == "arm_count" and count is not None:
                total = count
                flags.append(f"denominator imputed from the arm's {spec.unit} count")
            else:
                reason = "denominator not reported"
        if events is None and reason is None:
            reason = "number of events not reported"
        if reason is None and total is not None and events is not None and events > total:
            reason = f"events ({events}) exceed the denominator ({total})"
        if reason is None and total == 0:
            reason = "denominator is 0"
        info.update(events=events, total=total, n=total)
        out.append({**info, "flags": tuple(flags), "reason": reason})
    return out


def _arm_info(row: pd.Series, protocol: Protocol) -> dict[str, Any]:
    lesion = _text(row.get("lesion_type")) or "unspecified"
    return {
        "lesion_type": lesion,
        "group": protocol.subgroups.group_of(lesion),
        "patients": _int(row.get("patients")),
        "vertebrae": _int(row.get("vertebrae")),
        "arm_label": _text(row.get("arm_label")),
    }


def build_input(records: Sequence[Any], table: pd.DataFrame, protocol: Protocol,
                spec: AnalysisSpec, bibliography: Any = None) -> pd.DataFrame:
    """The study-level input table of one analysis (one row per study arm).

    Columns: ``INPUT_COLUMNS``; ``included`` is False with a ``reason`` for arms that report
    the outcome but cannot enter the fit (design, overlap, unit, missing SD, ...). ``flags``
    lists derived or imputed values.
    """
    if table.empty:
        return _empty_input()
    base: dict[str, Any] = {}
    for study, grp in table.groupby("study", sort=True):
        design = _text(grp["design"].iloc[0]) if "design" in grp else None
        reason = None
        if design in protocol.rules.excluded_designs:
            reason = f"{design.replace('_', ' ')} (listed, not pooled)"
        base[study] = {"study": study, "label": study_label(bibliography, study), "design": design,
                       "_reason": reason}
    if spec.kind == "change":
        rows = _change_rows(table, spec, protocol, base)
    else:
        rows = _proportion_rows(table, spec, protocol, base)
    if not rows:
        return _empty_input()
    frame = _apply_overlap(pd.DataFrame(rows), records, protocol)
    frame = _add_effects(frame, spec, protocol, protocol.vas.correlation)
    frame["included"] = frame["reason"].isna()
    for col in INPUT_COLUMNS:
        if col not in frame:
            frame[col] = None
    frame = frame.sort_values(["group", "label", "study", "arm"], kind="stable")
    order = {g: i for i, g in enumerate(_group_order(protocol, frame["group"]))}
    frame = frame.sort_values("group", key=lambda s: s.map(order), kind="stable")
    return frame[[*INPUT_COLUMNS, *EXTRA_COLUMNS]].reset_index(drop=True)


def _group_order(protocol: Protocol, groups: Iterable[str]) -> list[str]:
    present = list(dict.fromkeys(groups))
    known = [*protocol.subgroups.compared, *protocol.subgroups.kept_apart]
    return [g for g in known if g in present] + sorted(g for g in present if g not in known)


def _add_effects(frame: pd.DataFrame, spec: AnalysisSpec, protocol: Protocol,
                 r: float) -> pd.DataFrame:
    from .effects import effect_sizes

    frame = frame.copy()
    frame["yi"] = NAN
    frame["vi"] = NAN
    frame["ci_low"] = NAN
    frame["ci_high"] = NAN
    ok = frame["reason"].isna()
    if not ok.any():
        return frame
    sub = frame[ok]
    if spec.kind == "change":
        es = effect_sizes("MC", m1i=sub["mean_pre"].astype(float).to_numpy(),
                          m2i=sub["mean_post"].astype(float).to_numpy(),
                          sd1i=sub["sd_pre"].astype(float).to_numpy(),
                          sd2i=sub["sd_post"].astype(float).to_numpy(),
                          ni=sub["n"].astype(float).to_numpy(),
                          ri=np.full(len(sub), r))
        yi, vi = es["yi"].to_numpy(), es["vi"].to_numpy()
        z = _z(protocol.model.level)
        lo, hi = yi - z * np.sqrt(vi), yi + z * np.sqrt(vi)
    else:
        from .proportions import proportion_ci

        xi = sub["events"].astype(float).to_numpy()
        ni = sub["total"].astype(float).to_numpy()
        es = effect_sizes(protocol.proportions.measure, xi=xi, ni=ni)
        yi, vi = es["yi"].to_numpy(), es["vi"].to_numpy()
        lo, hi = proportion_ci(xi, ni, method=protocol.proportions.study_ci,
                               level=protocol.model.level)
    frame.loc[ok, "yi"] = yi
    frame.loc[ok, "vi"] = vi
    frame.loc[ok, "ci_low"] = np.asarray(lo, dtype=float)
    frame.loc[ok, "ci_high"] = np.asarray(hi, dtype=float)
    return frame


def _z(level: float) -> float:
    from scipy import stats

    return float(stats.norm.ppf(1 - (1 - level) / 2))


# --- fitting ------------------------------------------------------------------------------

_SOFT_ERRORS: tuple[type[BaseException], ...] = (BlasticMetaError,)


def _pool(protocol: Protocol, yi: np.ndarray, vi: np.ndarray) -> Any:
    from .models import pool

    m = protocol.model
    with warnings.catch_warnings():
        # k = 2 under knha is announced once in the method line, not per fit
        warnings.simplefilter("ignore", category=Warning)
        return pool(yi, vi, method=m.method, test=m.test, level=m.level, pi=m.pi)


def _glmm(protocol: Protocol, events: np.ndarray, totals: np.ndarray) -> Any:
    from .glmm import pool_glmm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)
        return pool_glmm(events, totals, level=protocol.model.level)


def _patients(rows: pd.DataFrame) -> int | None:
    vals = [_int(v) for v in rows["patients"]]
    return None if any(v is None for v in vals) else int(sum(vals))


def _fit_group(name: str, rows: pd.DataFrame, spec: AnalysisSpec, protocol: Protocol,
               model: str) -> GroupFit:
    """Fit one set of included rows with the given model ("iv" or "glmm")."""
    k = len(rows)
    studies = tuple(dict.fromkeys(rows["study"]))
    arms = tuple(f"{s}/{a}" for s, a in zip(rows["study"], rows["arm"], strict=True))
    yi = rows["yi"].astype(float).to_numpy()
    vi = rows["vi"].astype(float).to_numpy()
    common = {"name": name, "k": k, "patients": _patients(rows), "studies": studies,
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
    from .proportions import back_transform

    est, lo, hi, plo, phi = back_transform(
        np.array([iv.estimate, iv.ci_low, iv.ci_high, iv.pi_low, iv.pi_high], dtype=float),
        protocol.proportions.measure)
    return GroupFit(status="pooled", scale=scale, estimate=float(est), ci_low=float(lo),
                    ci_high=float(hi), pi_low=float(plo), pi_high=float(phi), weights=weights,
                    model=iv, **het, **common)


def _safe_fit(name: str, rows: pd.DataFrame, spec: AnalysisSpec, protocol: Protocol,
              model: str, notes: list[str]) -> GroupFit | None:
    try:
        return _fit_group(name, rows, spec, protocol, model)
    except _SOFT_ERRORS as exc:
        notes.append(f"{name}: not pooled ({exc})")
        return None


def _subgroup_tests(included: pd.DataFrame, protocol: Protocol) -> tuple[SubgroupTest, ...]:
    compared = [g for g in protocol.subgroups.compared if (included["group"] == g).any()]
    rows = included[included["group"].isin(compared)]
    out = []
    for conv in ("separate", "common"):
        if len(compared) < 2:
            have = ", ".join(compared) or "none"
            out.append(SubgroupTest(conv, tuple(compared),
                                    note=f"not assessable: fewer than two compared lesion "
                                         f"types have data ({have})"))
            continue
        if conv == "common" and len(rows) <= len(compared):
            out.append(SubgroupTest(conv, tuple(compared),
                                    note=f"not assessable: k = {len(rows)} studies for "
                                         f"{len(compared)} subgroups"))
            continue
        from .subgroups import compare_subgroups

        m = protocol.model
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=Warning)
                res = compare_subgroups(rows["yi"].astype(float).to_numpy(),
                                        rows["vi"].astype(float).to_numpy(),
                                        rows["group"].tolist(), method=m.method, test=m.test,
                                        tau2=conv, level=m.level)
        except _SOFT_ERRORS as exc:
            out.append(SubgroupTest(conv, tuple(compared), note=f"not assessable: {exc}"))
            continue
        if not math.isfinite(float(res.pval_between)):
            out.append(SubgroupTest(conv, tuple(compared),
                                    note="not assessable: the test statistic is not estimable"))
            continue
        out.append(SubgroupTest(conv, tuple(compared), q_between=float(res.q_between),
                                df=float(res.df_between), pval=float(res.pval_between),
                                statistic=str(getattr(res, "statistic", "Q")),
                                df2=float(getattr(res, "df2_between", NAN))))
    return tuple(out)


def _leave_one_out(fits: Mapping[str, GroupFit], included: pd.DataFrame, spec: AnalysisSpec,
                   protocol: Protocol, model: str) -> pd.DataFrame:
    records = []
    for name, fit in fits.items():
        if fit.status != "pooled" or fit.k - 1 < protocol.model.min_k:
            continue
        rows = included[included["group"] == name]
        for i in range(len(rows)):
            rest = rows.drop(rows.index[i])
            try:
                loo = _fit_group(name, rest, spec, protocol, model)
            except _SOFT_ERRORS:
                continue
            r = rows.iloc[i]
            records.append({"group": name, "omitted": f"{r['study']}/{r['arm']}",
                            "label": r["label"], "k": loo.k, "estimate": loo.estimate,
                            "ci_low": loo.ci_low, "ci_high": loo.ci_high, "tau2": loo.tau2,
                            "i2": loo.i2})
    cols = ["group", "omitted", "label", "k", "estimate", "ci_low", "ci_high", "tau2", "i2"]
    return pd.DataFrame(records, columns=cols)


def _sensitivity(data: pd.DataFrame, spec: AnalysisSpec, protocol: Protocol,
                 groups: Sequence[str]) -> pd.DataFrame:
    """Correlation grid (VAS change) or the alternative proportion model."""
    records = []
    if spec.kind == "change":
        for r in protocol.vas.correlation_grid:
            redone = _add_effects(data, spec, protocol, r)
            inc = redone[data["included"].to_numpy()]
            for g in groups:
                rows = inc[inc["group"] == g]
                if len(rows) < protocol.model.min_k:
                    continue
                try:
                    fit = _fit_group(g, rows, spec, protocol, "iv")
                except _SOFT_ERRORS:
                    continue
                records.append({"group": g, "setting": f"r = {r:g}", "r": r, "k": fit.k,
                                "estimate": fit.estimate, "ci_low": fit.ci_low,
                                "ci_high": fit.ci_high, "tau2": fit.tau2, "i2": fit.i2})
    else:
        alt = protocol.proportions.sensitivity
        if alt != "none":
            model = "iv" if alt == "inverse_variance" else "glmm"
            inc = data[data["included"]]
            for g in groups:
                rows = inc[inc["group"] == g]
                if len(rows) < protocol.model.min_k:
                    continue
                try:
                    fit = _fit_group(g, rows, spec, protocol, model)
                except _SOFT_ERRORS:
                    continue
                records.append({"group": g, "setting": alt.replace("_", "-"), "r": NAN,
                                "k": fit.k, "estimate": fit.estimate, "ci_low": fit.ci_low,
                                "ci_high": fit.ci_high, "tau2": fit.tau2, "i2": fit.i2})
    cols = ["group", "setting", "r", "k", "estimate", "ci_low", "ci_high", "tau2", "i2"]
    return pd.DataFrame(records, columns=cols)


def _small_study(fits: Mapping[str, GroupFit], overall: GroupFit | None,
                 protocol: Protocol) -> dict[str, str]:
    out = {}
    min_k = protocol.model.small_study_min_k
    items = list(fits.items()) + ([("overall", overall)] if overall is not None else [])
    for name, fit in items:
        if fit.k < min_k:
            out[name] = f"not assessable: k = {fit.k} (< {min_k})"
            continue
        iv = fit.model if hasattr(fit.model, "egger_test") else None
        if iv is None:
            out[name] = "not assessable: no inverse-variance model"
            continue
        try:
            eg = iv.egger_test()
        except _SOFT_ERRORS as exc:
            out[name] = f"not assessable: {exc}"
            continue
        stat = getattr(eg, "statistic", None)
        pval = getattr(eg, "pval", None)
        if stat is None and isinstance(eg, Mapping):
            stat, pval = eg.get("statistic"), eg.get("pval")
        out[name] = f"Egger test: statistic = {float(stat):.3f}, p = {float(pval):.4f}"
    return out


def _within(included: pd.DataFrame, spec: AnalysisSpec, protocol: Protocol,
            ) -> tuple[WithinComparison, ...]:
    compared = list(protocol.subgroups.compared)
    out = []
    for study, rows in included.groupby("study", sort=True):
        groups = [g for g in compared if (rows["group"] == g).any()]
        if len(groups) < 2:
            continue
        a = rows[rows["group"] == groups[0]].iloc[0]
        b = rows[rows["group"] == groups[1]].iloc[0]
        if spec.kind == "change":
            yi = float(a["yi"]) - float(b["yi"])
            vi = float(a["vi"]) + float(b["vi"])
            measure = "MD of change"
        else:
            from .effects import effect_sizes

            es = effect_sizes("OR", ai=[float(a["events"])], n1i=[float(a["total"])],
                              ci=[float(b["events"])], n2i=[float(b["total"])])
            yi, vi = float(es["yi"].iloc[0]), float(es["vi"].iloc[0])
            measure = "log OR"
        z = _z(protocol.model.level)
        out.append(WithinComparison(study, str(a["label"]), (groups[0], groups[1]), measure,
                                    yi, vi, yi - z * math.sqrt(vi), yi + z * math.sqrt(vi)))
    return tuple(out)


def describe_method(spec: AnalysisSpec, protocol: Protocol) -> str:
    m = protocol.model
    test = "Hartung-Knapp" if m.test == "knha" else "Wald-type z"
    pi = {"metafor": "t(k-1)" if m.test == "knha" else "z"}.get(m.pi, m.pi)
    if spec.kind == "change":
        return (f"Random effects, {m.method} τ², {test} CI; PI {pi}; mean change from "
                f"baseline, pre/post r = {protocol.vas.correlation:g}")
    model = ("binomial-normal GLMM (ML)" if protocol.proportions.model == "glmm"
             else f"inverse-variance logit, {m.method} τ², {test} CI")
    return (f"Random effects {model}; logit proportions; per-study "
            f"{protocol.proportions.study_ci.replace('-', '–').title()} CI; subgroup test and "
            f"I² from the inverse-variance logit model ({m.method}, {test})")


def run_analysis(records: Sequence[Any], table: pd.DataFrame, protocol: Protocol,
                 spec: AnalysisSpec, bibliography: Any = None) -> AnalysisResult:
    """Build the input table of one analysis and run every fit the protocol asks for."""
    data = build_input(records, table, protocol, spec, bibliography)
    included = data[data["included"]] if len(data) else data
    model = "glmm" if (spec.kind == "proportion" and protocol.proportions.model == "glmm") \
        else "iv"
    notes: list[str] = []
    fits: dict[str, GroupFit] = {}
    groups = _group_order(protocol, included["group"]) if len(included) else []
    for g in groups:
        fit = _safe_fit(g, included[included["group"] == g], spec, protocol, model, notes)
        if fit is not None:
            fits[g] = fit
    scope = (list(protocol.subgroups.compared) if protocol.subgroups.overall == "compared"
             else groups)
    pooled_groups = [g for g in groups if g in scope]
    overall = None
    over_rows = included[included["group"].isin(pooled_groups)] if len(included) else included
    if len(pooled_groups) >= 2 and len(over_rows) >= protocol.model.min_k:
        overall = _safe_fit("overall", over_rows, spec, protocol, model, notes)
    small_k = [f.name for f in [*fits.values(), overall] if f is not None
               and f.status == "pooled" and f.k == 2]
    if small_k and protocol.model.test == "knha" and spec.kind == "change":
        notes.append(f"k = 2 with Hartung-Knapp ({', '.join(small_k)}): the t distribution has "
                     f"1 df, so the CI is very wide")
    tests = _subgroup_tests(included, protocol) if len(included) else (
        _subgroup_tests(data, protocol))
    loo = _leave_one_out(fits, included, spec, protocol, model)
    sens = _sensitivity(data, spec, protocol, groups) if len(data) else _sensitivity(
        data, spec, protocol, [])
    small = _small_study(fits, overall, protocol)
    within = _within(included, spec, protocol) if len(included) else ()
    return AnalysisResult(spec=spec, data=data, subgroups=fits, overall=overall,
                          subgroup_tests=tests, leave_one_out=loo, sensitivity=sens,
                          small_study=small, within=within,
                          method=describe_method(spec, protocol), notes=tuple(notes))


def run_analyses(records: Sequence[Any], table: pd.DataFrame, protocol: Protocol,
                 bibliography: Any = None) -> dict[str, AnalysisResult]:
    """Every analysis of the protocol, keyed by its id, in protocol order."""
    return {spec.id: run_analysis(records, table, protocol, spec, bibliography)
            for spec in protocol.analyses}
