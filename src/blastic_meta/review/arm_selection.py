"""The arms of one analysis, read from the registry's long table (before the study rules).

Each analysis selects the arms that report its outcome: in its time window (the value closest
to the window's target day; the last pre-operative value as baseline) or with its leakage
unit. Each arm's values come out on the 0-10 VAS scale, with an SD derived from an SE, a CI
or a range where that is all the study printed (``stats.conversions``), every derivation or
imputation named in ``flags`` and every reason an arm cannot be used in ``reason``. An arm
counted only in another unit, or with a follow-up whose day is not stated, is listed with
its reason, never dropped. The long table is read as plain records: the selection reads a
few cells of tens of rows per analysis, where pandas indexing costs far more than the reading.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from ..stats import conversions
from .protocol import AnalysisSpec, Protocol

__all__ = ["Row", "as_int", "is_missing", "row_records", "select_rows", "study_label",
           "table_rows"]


def is_missing(value: Any) -> bool:
    """True for None, NaN and pandas NA (values pandas cannot test are not missing)."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _num(value: Any) -> float | None:
    """A float, or None for missing values (None, NaN, pandas NA)."""
    if is_missing(value):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def as_int(value: Any) -> int | None:
    """An int, or None for missing values."""
    out = _num(value)
    return None if out is None else round(out)


def row_records(rows: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """The ``columns`` of each row as a dict (absent columns left out), read column by
    column: ``iterrows`` builds a Series per row, which costs more than the fit of a few."""
    present = [c for c in columns if c in rows]
    return [dict(zip(present, values, strict=True))
            for values in zip(*(rows[c] for c in present), strict=True)]


def _text(value: Any) -> str | None:
    return None if is_missing(value) else str(value)


def study_label(bibliography: Any, key: str) -> str:
    """How a reader recognises the study ('Tian et al. 2016', 'Acta Radiol 2007'), from the
    bibliography's ``label``; the key only when no bibliography is given."""
    if bibliography is None:
        return key
    try:
        return str(bibliography.label(key))
    except (KeyError, AttributeError, ValueError):
        return key


Row = Mapping[str, Any]  # one row of the long table, as a plain record


def table_rows(table: pd.DataFrame, cache: dict[Any, Any] | None = None) -> list[Row]:
    """The long table as plain records (one dict per row, in table order), built once per
    table when a ``cache`` is given: the selection reads a few cells of tens of rows per
    analysis, and pandas indexing of such small pieces costs far more than the reading."""
    key = ("table_rows", id(table))
    if cache is not None and key in cache:
        return cache[key][1]
    rows = table.to_dict(orient="records")
    if cache is not None:
        cache[key] = (table, rows)  # keeps the table alive, so its id is not reused
    return rows


def _by_arm(rows: Iterable[Row]) -> list[tuple[tuple[str, str], list[Row]]]:
    """Rows grouped by (study, arm), keys sorted, rows in table order within a group (as
    ``groupby(["study", "arm"], sort=True)``; rows without a study or arm are dropped)."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        study, arm = row.get("study"), row.get("arm")
        if not (is_missing(study) or is_missing(arm)):
            groups.setdefault((study, arm), []).append(row)
    return sorted(groups.items(), key=lambda item: item[0])


def _arm_rows(rows: Iterable[Row], spec: AnalysisSpec) -> list[Row]:
    """The rows of this analysis' outcome (its instrument; its unit, or an ambiguous one)."""
    out = [r for r in rows if r.get("outcome") == spec.outcome]
    if spec.outcome == "qol" and spec.instrument:
        wanted = spec.instrument.casefold()
        out = [r for r in out if (_text(r.get("instrument")) or "").casefold() == wanted]
    if spec.unit is not None and spec.kind == "proportion":
        # an ambiguous unit is listed (and excluded) in every per-unit analysis
        out = [r for r in out if r.get("unit") in (spec.unit, "ambiguous")
               or (spec.outcome != "leakage" and is_missing(r.get("unit")))]
    return out


def _other_unit_rows(table: Sequence[Row], spec: AnalysisSpec, base: dict[str, Any],
                     protocol: Protocol, seen: set[tuple[str, str]]) -> list[dict[str, Any]]:
    """Arms that count this outcome only in another clear unit: listed, never pooled, so a
    per-vertebra count never vanishes from a per-patient analysis (and back)."""
    if spec.kind != "proportion" or spec.unit is None or spec.window is not None:
        return []
    rows = [r for r in table if r.get("outcome") == spec.outcome and not is_missing(r.get("unit"))
            and r.get("unit") not in (spec.unit, "ambiguous")]
    out = []
    for (study, arm), grp in _by_arm(rows):
        if (study, arm) in seen or all(is_missing(r.get("events")) for r in grp):
            continue
        info = dict(base[study])
        info.update(_arm_info(grp[0], protocol))
        info.pop("_reason", None)
        units = ", ".join(sorted({str(r["unit"]).replace("_", " ") for r in grp}))
        counts = "; ".join(
            (f"{as_int(e)}/{as_int(t)} {_plural(str(u))}" if as_int(t) is not None
             else f"{as_int(e)} {_plural(str(u))}")
            for e, t, u in ((r.get("events"), r.get("total"), r["unit"]) for r in grp)
            if as_int(e) is not None)
        info.update(arm=arm, timepoint=None, days=None, events=None, total=None, n=None)
        out.append({**info, "flags": (), "reason": f"counted per {units} only ({counts}); "
                                                   f"not usable per {spec.unit}"})
    return out


def _plural(unit: str) -> str:
    return {"vertebra": "vertebrae", "leak_site": "leak sites"}.get(unit, unit + "s")


def _pick_in_window(rows: Sequence[Row], window: Any) -> Row | None:
    """The row closest to the window's target day (ties: the earlier day), or None."""
    best = None
    for pos, d in enumerate(_num(r.get("days")) for r in rows):
        if d is None or not window.contains(d):
            continue
        key = (abs(d - window.target_days), d)
        if best is None or key < best[0]:
            best = (key, pos)
    return None if best is None else rows[best[1]]


def _vas_values(row: Row, protocol: Protocol, flags: list[str], n: int | None,
                which: str) -> tuple[float | None, float | None, str | None]:
    """(mean, sd, reason) for one time point on the 0-10 scale, deriving what is needed."""
    mean, sd = _num(row.get("mean")), _num(row.get("sd"))
    kind = _text(row.get("sd_kind"))
    median = _num(row.get("median"))
    q1, q3 = _num(row.get("q1")), _num(row.get("q3"))
    lo, hi = _num(row.get("min")), _num(row.get("max"))
    if mean is None and median is not None:
        has_iqr, has_range = q1 is not None and q3 is not None, lo is not None and hi is not None
        if not (has_iqr or has_range):
            return None, None, f"no mean at {which} (median only, no spread)"
        if n is None or n < 5:
            return None, None, f"no mean at {which} (median with spread, but n < 5 or unknown)"
        est = conversions.estimate_mean_sd(n, median, q1=q1 if has_iqr else None,
                                           q3=q3 if has_iqr else None,
                                           minimum=lo if has_range else None,
                                           maximum=hi if has_range else None)
        flags.append(f"{which}: {est.method}")
        if sd is None:
            sd = est.sd
            kind = "sd"
        mean = est.mean
        sd_done = True
    else:
        sd_done = False
    if mean is None:
        return None, None, f"no mean reported at {which}"
    if sd is not None:
        if kind == "se":
            if protocol.rules.se_dispersion == "exclude" or n is None:
                return None, None, f"dispersion at {which} is an SE and n is unknown"
            d = conversions.sd_from_se(sd, n)
            sd = d.value
            flags.append(f"{which}: {d.description}")
        elif kind in (None, "unlabelled"):
            if protocol.rules.unlabelled_dispersion == "exclude":
                return None, None, f"dispersion at {which} is not labelled SD"
            flags.append(f"{which}: {conversions.DERIVATION_METHODS['unlabelled_as_sd']}")
    elif not sd_done:
        if q1 is not None and q3 is not None and n is not None:
            d = conversions.sd_from_iqr(q1, q3, n)
        elif lo is not None and hi is not None and (n is not None or median is not None):
            d = conversions.sd_from_range(lo, hi, n=n, median=median)
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


def _change_rows(table: Sequence[Row], spec: AnalysisSpec, protocol: Protocol,
                 base: dict[str, Any]) -> list[dict[str, Any]]:
    window = protocol.window(spec.window or "")
    out = []
    rows = _arm_rows(table, spec)
    for (study, arm), grp in _by_arm(rows):
        post = _pick_in_window(grp, window)
        if post is None:  # nothing dated in the window: listed only when a time is missing
            out += _unplaced(grp, base[study], arm, protocol)
            continue
        info = dict(base[study])
        info.update(_arm_info(grp[0], protocol))
        info.update(arm=arm, timepoint=_text(post.get("timepoint")), days=_num(post["days"]))
        flags: list[str] = []
        reason = info.pop("_reason", None)
        pre_days = [(d, pos) for pos, d in enumerate(_num(r.get("days")) for r in grp)
                    if d is not None and d <= 0]
        if not pre_days:
            reason = reason or "no baseline reported"
            out.append({**info, "flags": (), "reason": reason})
            continue
        pre = grp[max(pre_days)[1]]  # the last pre-operative value
        for which, tp in (("baseline", pre), ("follow-up", post)):
            if _text(tp.get("derived")):
                flags.append(f"{which}: derived by the reviewer ({_text(tp.get('derived'))})")
            if _num(tp.get("ambiguous")) == 1.0:
                if protocol.rules.ambiguous_values == "exclude":
                    reason = reason or f"{which} value marked ambiguous in the study file"
                else:
                    flags.append(f"{which}: marked ambiguous in the study file")
        n = as_int(post.get("n"))
        if n is None:
            if protocol.rules.missing_n == "arm_patients" and info["patients"] is not None:
                n = info["patients"]
                flags.append("n imputed from the arm's patients")
            else:
                reason = reason or "n at follow-up not reported"
        m1 = s1 = m2 = s2 = None
        if reason is None:
            n_pre = as_int(pre.get("n")) or n
            m1, s1, why1 = _vas_values(pre, protocol, flags, n_pre, "baseline")
            m2, s2, why2 = _vas_values(post, protocol, flags, n, "follow-up")
            reason = why1 or why2
        info.update(n=n, mean_pre=m1, sd_pre=s1, mean_post=m2, sd_post=s2)
        out.append({**info, "flags": tuple(flags), "reason": reason})
    return out


def _proportion_rows(table: Sequence[Row], spec: AnalysisSpec, protocol: Protocol,
                     base: dict[str, Any]) -> list[dict[str, Any]]:
    rows = _arm_rows(table, spec)
    window = protocol.window(spec.window) if spec.window else None
    out = []
    for (study, arm), grp in _by_arm(rows):
        if window is not None:
            row = _pick_in_window(grp, window)
            if row is None:
                continue
        else:
            clear = [r for r in grp if r.get("unit") == spec.unit]
            # one entry per arm: the first with the wanted unit (registry order), else ambiguous
            row = (clear or grp)[0]
        info = dict(base[study])
        info.update(_arm_info(row, protocol))
        info.update(arm=arm, timepoint=_text(row.get("timepoint")), days=_num(row.get("days")))
        reason = info.pop("_reason", None)
        flags: list[str] = []
        unit = _text(row.get("unit"))
        if unit == "ambiguous":
            reason = reason or "unit not stated (patients or vertebrae?)"
        elif _num(row.get("ambiguous")) == 1.0:
            if protocol.rules.ambiguous_values == "exclude":
                reason = reason or "count marked ambiguous in the study file"
            else:
                flags.append("marked ambiguous in the study file (see data-quality table)")
        events, total = as_int(row.get("events")), as_int(row.get("total"))
        for name in ("events", "total"):
            derived_value = as_int(row.get(f"derived_{name}"))
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


VALUE_COLUMNS = ("mean", "sd", "median", "q1", "q3", "min", "max")


def _unplaced(grp: Sequence[Row], base: dict[str, Any], arm: str, protocol: Protocol
              ) -> list[dict[str, Any]]:
    """An arm with a follow-up whose day the source does not state ("after PV", "follow-up")
    and nothing dated in the window: it cannot be placed in any window, so it is listed in
    every score analysis of its outcome with the reason, never silently dropped (Cochrane
    Handbook 6.2: which time point a result belongs to must be known)."""
    undated = [r for r in grp if is_missing(r.get("days"))]
    if not undated:
        return []
    row = undated[0]
    info = dict(base)
    info.update(_arm_info(row, protocol))
    reason = info.pop("_reason", None) or "time point not stated"
    if all(_num(row.get(c)) is None for c in VALUE_COLUMNS if c in row):
        reason += "; no follow-up value printed"
    info.update(arm=arm, timepoint=_text(row.get("timepoint")), days=None, n=None)
    return [{**info, "flags": (), "reason": reason}]


def _arm_info(row: Row, protocol: Protocol) -> dict[str, Any]:
    lesion = _text(row.get("lesion_type")) or "unspecified"
    return {
        "lesion_type": lesion,
        "group": protocol.subgroups.group_of(lesion),
        "patients": as_int(row.get("patients")),
        "vertebrae": as_int(row.get("vertebrae")),
        "arm_label": _text(row.get("arm_label")),
        "procedure": _text(row.get("procedure")),
    }


def select_rows(table: Sequence[Row], spec: AnalysisSpec, protocol: Protocol,
                 bibliography: Any) -> list[dict[str, Any]]:
    """The arms that report this analysis' outcome, each with its values or the reason it
    cannot be used (before the study-level rules); ``table``: the long table's records."""
    first: dict[str, Row] = {}  # each study's first row (its design)
    for row in table:
        if not is_missing(row.get("study")):
            first.setdefault(row["study"], row)
    base: dict[str, Any] = {}
    for study in sorted(first):
        design = _text(first[study].get("design"))
        reason = None
        if design in protocol.rules.excluded_designs:
            reason = f"{design.replace('_', ' ')} (listed, not pooled)"
        base[study] = {"study": study, "label": study_label(bibliography, study), "design": design,
                       "_reason": reason}
    if spec.kind == "change":
        rows = _change_rows(table, spec, protocol, base)
    else:
        rows = _proportion_rows(table, spec, protocol, base)
    rows += _other_unit_rows(table, spec, base, protocol, {(r["study"], r["arm"]) for r in rows})
    return rows
