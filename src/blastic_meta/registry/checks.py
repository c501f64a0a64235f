"""Consistency checks of one study record: numbers compared with each other (events <= total,
n <= patients, percentages against counts, ranges, time order, GRIM, SDs a bounded scale cannot
have, spreads that look like standard errors). Each check has a stable code.

The GRIM test follows Brown and Heathers (2017). The largest SD a sample of n values on [a, b]
with mean m can have is sqrt((m - a)(b - m)) * sqrt(n / (n - 1)) (the Bhatia-Davis inequality,
Bhatia and Davis 2000, with the sample-SD correction); both spread checks measure against it.
A problem on a path the study declares (``fields`` of a discrepancy or an ambiguity, or a
mapping marked ``ambiguous: true``) is downgraded to a warning.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from .findings import DECLARABLE, Finding, Severity, Where, parse_path
from .records import LESION_TYPES, Arm, StudyRecord, Summary, TimePoint, percent_of
from .yamlio import YamlDocument, dotted, line_for

# An SD under this share of the largest SD possible at its mean looks like an SE (when an SE
# is possible at all, see RecordChecker.spread).
SE_SHARE = 0.1


def _half_unit(value: float, raw: str | None) -> float:
    """Half a unit of the last printed decimal: how far the true value may lie."""
    return 0.5 * 10.0 ** -_decimals(value, raw)


def sd_max(mean: float, lo: float, hi: float, n: int | None) -> float:
    """Largest SD of n values on [lo, hi] with this mean (Bhatia and Davis 2000).

    sqrt((mean - lo)(hi - mean)) is the population bound; the sample SD (divisor n - 1) can be
    larger by sqrt(n / (n - 1)). With n unknown (or below 2) the population bound is returned.
    """
    bound = math.sqrt(max((mean - lo) * (hi - mean), 0.0))
    return bound * _sample(n) if n is not None else bound


def _sample(n: int) -> float:
    """sqrt(n / (n - 1)): how much larger a sample SD can be than the population bound."""
    return math.sqrt(n / (n - 1)) if n >= 2 else 1.0


def _widest(mean: float, slack: float, lo: float, hi: float) -> float:
    """The population bound at the mean in [mean - slack, mean + slack] nearest mid-scale."""
    centre = min(max((lo + hi) / 2.0, mean - slack), mean + slack)
    return sd_max(min(max(centre, lo), hi), lo, hi, None)


def _decimals(value: float, raw: str | None) -> int:
    """Decimal places as printed (from the YAML text when known)."""
    text = raw if raw is not None else repr(float(value))
    text = text.lower().split("e")[0]
    if "." not in text:
        return 0
    decimals = len(text.split(".")[1])
    return 0 if raw is None and text.endswith(".0") else decimals


class RecordChecker:
    """Consistency checks of one valid record; collects findings with lines."""

    def __init__(self, record: StudyRecord, doc: YamlDocument) -> None:
        self.record = record
        self.doc = doc
        self.findings: list[Finding] = []

    def add(self, where: Where, code: str, message: str, severity: Severity = "error") -> None:
        self.findings.append(Finding(self.doc.path, line_for(where, self.doc.lines),
                                     dotted(where), severity, message, code))

    def raw(self, where: Where) -> str | None:
        return self.doc.raw.get(where)

    # -- entry points
    def run(self) -> list[Finding]:
        rec = self.record
        for i, arm in enumerate(rec.arms):
            self.arm(("arms", i), arm)
        if rec.study_totals is not None:
            t = rec.study_totals
            if t.patients and t.vertebrae:
                self.vertebrae_vs_patients(("study_totals",), t.patients.value, t.vertebrae.value)
        self.narrative()
        self.declared_fields()
        if rec.source_access == "secondary_only":
            self.secondary_sources(self.doc.data, ())
        return self.findings

    def secondary_sources(self, node: Any, where: Where) -> None:
        """With source_access secondary_only, every located value names its paper (via)."""
        if isinstance(node, dict):
            if "source" in node and node.get("source") is not None and "via" not in node:
                self.add((*where, "source"), "via-expected",
                         "the study was read only in other papers: add via: <their key>",
                         "warning")
            for key, value in node.items():
                self.secondary_sources(value, (*where, key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                self.secondary_sources(value, (*where, i))

    def arm(self, where: Where, arm: Arm) -> None:
        patients = arm.patients.value
        vertebrae = arm.vertebrae.value if arm.vertebrae else None
        procedures = arm.procedures.value if arm.procedures else None
        self.vertebrae_vs_patients(where, patients, vertebrae)
        if arm.follow_up is None:
            self.add((*where, "follow_up"), "required",
                     "follow_up is required: when it is not reported, write {unit: months, "
                     "mean: null, reason: \"not reported in the text read\"}")
        for name in ("age", "follow_up", "cement_volume_ml"):
            summary = getattr(arm, name)
            if summary is not None:
                self.summary((*where, name), summary, patients)
        if arm.sex is not None and patients is not None:
            total = (arm.sex.male or 0) + (arm.sex.female or 0)
            if total > patients:
                self.add((*where, "sex"), "sum-exceeds-patients",
                         f"male + female = {total} exceeds the arm's {patients} patients")
        if (arm.primary_tumours is not None and arm.primary_tumours.counts
                and arm.primary_tumours.unit == "patients" and patients is not None):
            total = sum(arm.primary_tumours.counts.values())
            if total > patients:
                self.add((*where, "primary_tumours"), "sum-exceeds-patients",
                         f"primary tumour counts sum to {total}, more than {patients} patients",
                         "warning")
        for j, outcome in enumerate(arm.outcomes):
            ow = (*where, "outcomes", j)
            self.timepoints(ow, outcome.timepoints)
            if outcome.outcome == "vas" and outcome.scale is None and outcome.timepoints:
                self.add((*ow, "instrument"), "scale-missing",
                         "a pain scale needs scale: {min, max} (assumed: true when the source "
                         "does not print it), so values can be checked and rescaled",
                         "warning")
            for k, tp in enumerate(outcome.timepoints):
                self.timepoint((*ow, "timepoints", k), tp, outcome.scale, patients)
        denominators = {"patient": patients, "vertebra": vertebrae, "procedure": procedures}
        for name in ("responders", "leakage", "complications"):
            for j, entry in enumerate(getattr(arm, name)):
                ew = (*where, name, j)
                self.counts(ew, entry, entry.unit, denominators)
                if name == "responders" and entry.days is None and entry.days_reason is None:
                    self.add((*ew, "days"), "days-missing",
                             "days is null: say why in days_reason")
                if name == "leakage":
                    for unit, total in entry.candidate_totals.items():
                        cw = (*ew, "candidate_totals", unit)
                        if entry.events is not None and entry.events > total:
                            self.add(cw, "events-exceed-total",
                                     f"events {entry.events} exceed the {unit} total {total}")
                        arm_total = denominators.get(unit)
                        if arm_total is not None and total > arm_total:
                            self.add(cw, "n-exceeds-patients" if unit == "patient" else
                                     "total-exceeds-vertebrae",
                                     f"{unit} total {total} exceeds the arm's {arm_total}")
                    if entry.symptomatic is not None:
                        s = entry.symptomatic
                        same = s.unit in (None, entry.unit)
                        self.counts((*ew, "symptomatic"), s, s.unit or entry.unit, denominators,
                                    default_total=entry.total if same else None)
                        if (same and s.events is not None and entry.events is not None
                                and s.events > entry.events):
                            self.add((*ew, "symptomatic", "events"), "events-exceed-total",
                                     f"{s.events} symptomatic leakages but {entry.events} "
                                     "leakages in all")
                    for site, counts in entry.sites.items():
                        self.counts((*ew, "sites", site), counts, counts.unit or entry.unit,
                                    denominators)

    def vertebrae_vs_patients(self, where: Where, patients: int | None,
                              vertebrae: int | None) -> None:
        if patients is not None and vertebrae is not None and vertebrae < patients:
            self.add((*where, "vertebrae"), "vertebrae-fewer-than-patients",
                     f"{vertebrae} vertebrae for {patients} patients (each patient has at "
                     "least one treated vertebra)")

    def counts(self, where: Where, entry: Any, unit: str, denominators: dict[str, int | None],
               default_total: int | None = None) -> None:
        events = entry.events
        total = entry.total if entry.total is not None else default_total
        if events is None and getattr(entry, "derived_events", None) is not None:
            events = entry.derived_events.value
        if entry.total is None and getattr(entry, "derived_total", None) is not None:
            total = entry.derived_total.value
        if events is not None and total is not None and events > total:
            self.add((*where, "events"), "events-exceed-total",
                     f"events {events} exceed total {total}")
        arm_total = denominators.get(unit)
        if entry.total is not None and arm_total is not None and entry.total > arm_total:
            code = {"patient": "n-exceeds-patients", "vertebra": "total-exceeds-vertebrae",
                    "procedure": "total-exceeds-vertebrae"}[unit]
            self.add((*where, "total"), code,
                     f"total {entry.total} exceeds the arm's {arm_total} ({unit} count)")
        percent = percent_of(entry.percent)
        if percent is not None and entry.events is not None and entry.total:
            pw = (*where, "percent", "value") if isinstance(entry.percent, BaseModel) else (
                *where, "percent")
            decimals = _decimals(percent, self.raw(pw))
            actual = 100.0 * entry.events / entry.total
            unit = 10.0 ** -decimals
            rounded = abs(actual - percent) <= 0.5 * unit + 1e-9
            truncated = -1e-9 <= actual - percent < unit
            if not (rounded or truncated):
                self.add(pw, "percent-mismatch",
                         f"printed {percent}% but {entry.events}/{entry.total} = "
                         f"{actual:.{decimals + 2}f}%")

    def summary(self, where: Where, s: Summary, patients: int | None) -> None:
        self.ranges(where, s.mean, s.median, s.q1, s.q3, s.min, s.max)
        if s.n is not None and patients is not None and s.n > patients:
            self.add((*where, "n"), "n-exceeds-patients",
                     f"n {s.n} exceeds the arm's {patients} patients")

    def ranges(self, where: Where, mean: float | None, median: float | None,
               q1: float | None, q3: float | None, lo: float | None, hi: float | None) -> None:
        if lo is not None and hi is not None and lo > hi:
            self.add((*where, "min"), "range", f"min {lo} is above max {hi}")
        if q1 is not None and q3 is not None and q1 > q3:
            self.add((*where, "q1"), "range", f"q1 {q1} is above q3 {q3}")
        for name, value in (("mean", mean), ("median", median)):
            if value is None:
                continue
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                self.add((*where, name), "mean-outside-range",
                         f"{name} {value} lies outside the range {lo} to {hi}")
        if median is not None and ((q1 is not None and median < q1)
                                   or (q3 is not None and median > q3)):
            self.add((*where, "median"), "mean-outside-range",
                     f"median {median} lies outside the IQR {q1} to {q3}")

    def timepoints(self, where: Where, tps: tuple[TimePoint, ...]) -> None:
        last: tuple[int, int] | None = None
        for k, tp in enumerate(tps):
            if tp.days is None:
                if tp.days_reason is None:
                    self.add((*where, "timepoints", k, "days"), "days-missing",
                             "days is null: say why in days_reason")
                continue
            if last is not None and tp.days <= last[1]:
                self.add((*where, "timepoints", k, "days"), "timepoints-unordered",
                         f"days {tp.days} does not come after {last[1]} (timepoints[{last[0]}]);"
                         " list time points in increasing days, each once")
            last = (k, tp.days)

    def timepoint(self, where: Where, tp: TimePoint, scale: Any, patients: int | None) -> None:
        self.ranges(where, tp.mean, tp.median, tp.q1, tp.q3, tp.min, tp.max)
        if tp.n is None and tp.reason_n is None and tp.has_content():
            self.add((*where, "n"), "n-missing-reason",
                     "n is not given: say why in reason_n (e.g. 'not reported')", "warning")
        if tp.change is not None:
            self.summary((*where, "change"), tp.change, patients)
        if tp.n is not None and patients is not None and tp.n > patients:
            self.add((*where, "n"), "n-exceeds-patients",
                     f"n {tp.n} exceeds the arm's {patients} patients")
        if scale is None or scale.min is None or scale.max is None:
            return
        lo, hi = scale.min, scale.max
        for name in ("mean", "median", "q1", "q3", "min", "max"):
            value = getattr(tp, name)
            if value is not None and not lo <= value <= hi:
                self.add((*where, name), "value-outside-scale",
                         f"{name} {value} lies outside the scale {lo:g} to {hi:g}")
        if tp.mean is None or not lo <= tp.mean <= hi:
            return
        if scale.integer and tp.n:
            self.grim(where, tp.mean, tp.n)
        if tp.sd is not None:
            self.spread(where, tp, lo, hi, patients)

    def spread(self, where: Where, tp: TimePoint, lo: float, hi: float,
               patients: int | None) -> None:
        """SDs the scale cannot have, and SDs that look like standard errors.

        Both measure against ``sd_max``, the largest SD n values on the scale can have at their
        mean (Bhatia and Davis 2000), allowing half a unit of the last printed decimal on the
        mean and on the spread.

        - ``sd-impossible``: the SD is above ``sd_max`` (n unknown: the loosest bound, n = 2);
          with ``sd_kind: se``, the SD it implies, SE * sqrt(n), is (n unknown: the SE itself is
          above the population bound, which no SE can be).
        - ``sd-looks-like-se`` (warning): an SD or a bare ± under ``SE_SHARE`` of ``sd_max``,
          unless reading it as an SE would imply an impossible SD (spread * sqrt(n) above
          ``sd_max``, with n unknown the arm's patients; neither known: the SE reading cannot
          be ruled out, so it warns).
        """
        sd, mean, n = tp.sd, tp.mean, tp.n
        if sd is None or mean is None:
            return
        low_sd = sd - _half_unit(sd, self.raw((*where, "sd")))
        widest = _widest(mean, _half_unit(mean, self.raw((*where, "mean"))), lo, hi)
        if tp.sd_kind == "se":
            if n is None or n < 2:
                # whatever n is, an SE (SD / sqrt(n)) cannot exceed the population bound
                if low_sd > widest:
                    self.add((*where, "sd"), "sd-impossible",
                             f"se {sd} is larger than any SD, let alone an SE, on the scale "
                             f"{lo:g} to {hi:g} with mean {mean} ({widest:.2f})")
                return
            largest = widest * _sample(n)
            if low_sd * math.sqrt(n) > largest:
                self.add((*where, "sd"), "sd-impossible",
                         f"se {sd} with n {n} implies an SD of {sd * math.sqrt(n):.2f} "
                         f"(se * sqrt(n)), larger than any sample on the scale {lo:g} to "
                         f"{hi:g} with mean {mean} allows ({largest:.2f})")
            return
        largest = widest * (_sample(n) if n is not None and n >= 2 else math.sqrt(2.0))
        if low_sd > largest:
            self.add((*where, "sd"), "sd-impossible",
                     f"sd {sd} is larger than any sample on the scale {lo:g} to {hi:g} with "
                     f"mean {mean} allows ({largest:.2f})")
            return
        size = n if n is not None else patients
        cap = sd_max(mean, lo, hi, size)
        if not sd < SE_SHARE * cap:
            return
        if size is not None and low_sd * math.sqrt(size) > widest * _sample(size):
            return  # read as an SE it would imply an SD the scale cannot have: it is an SD
        self.add((*where, "sd"), "sd-looks-like-se",
                 f"sd {sd} is under {SE_SHARE:.0%} of the largest SD possible at mean {mean} "
                 f"on {lo:g} to {hi:g} ({cap:.2f}) and, read as an SE, implies a possible SD: "
                 "set sd_kind: se if the source says so, or accept it with a reason",
                 "warning")

    def grim(self, where: Where, mean: float, n: int) -> None:
        decimals = _decimals(mean, self.raw((*where, "mean")))
        if n >= 10 ** decimals:
            return
        half = 0.5 * 10.0 ** -decimals + 1e-9
        lowest = math.floor((mean - half) * n)
        if not any(abs(s / n - mean) <= half for s in range(lowest, lowest + 3)):
            self.add((*where, "mean"), "grim",
                     f"mean {mean} is impossible for {n} whole-number scores (GRIM)")

    def narrative(self) -> None:
        arm_ids = {a.id for a in self.record.arms}
        for i, item in enumerate(self.record.narrative):
            for j, arm_id in enumerate(item.arms):
                if arm_id not in arm_ids:
                    self.add(("narrative", i, "arms", j), "narrative-arm",
                             f"no arm {arm_id!r} in this study")
            m = re.match(r"^(favours|worse_in)_(.+)$", item.direction)
            if m and m.group(2) not in arm_ids and m.group(2) not in LESION_TYPES:
                self.add(("narrative", i, "direction"), "narrative-arm",
                         f"{m.group(2)!r} is neither an arm id nor a lesion type")

    def declared_fields(self) -> None:
        for kind in ("discrepancies", "ambiguities"):
            for i, item in enumerate(getattr(self.record, kind)):
                for j, text in enumerate(getattr(item, "fields", ())):
                    if parse_path(text) not in self.doc.lines:
                        self.add((kind, i, "fields", j), "declared-field-unknown",
                                 f"no field {text!r} in this file", "warning")
        for i, disc in enumerate(self.record.discrepancies):
            for path, values in disc.alternative.items():
                node = _resolve(self.record, parse_path(path))
                where = ("discrepancies", i, "alternative")
                if node is None:
                    self.add(where, "alternative-path", f"no mapping {path!r} in this file")
                    continue
                fields = getattr(type(node), "model_fields", {})
                unknown = sorted(set(values) - set(fields))
                if unknown:
                    self.add(where, "alternative-path",
                             f"{path!r} has no field {', '.join(unknown)}")


def _resolve(model: Any, parts: Where) -> Any:
    """The mapping of a record at a parsed path, or None when the path leads nowhere."""
    node = model
    for part in parts:
        if isinstance(part, int):
            if not isinstance(node, (list, tuple)) or part >= len(node):
                return None
            node = node[part]
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            node = getattr(node, part, None)
        if node is None:
            return None
    return node


def _declared(record: StudyRecord, doc: YamlDocument) -> tuple[list[Where], list[Where]]:
    """Paths declared in discrepancies/ambiguities, and mappings marked ambiguous: true."""
    declared = [parse_path(f) for d in record.discrepancies for f in d.fields]
    declared += [parse_path(f) for a in record.ambiguities if not isinstance(a, str)
                 for f in a.fields]
    marked: list[Where] = []

    def walk(node: Any, where: Where) -> None:
        if isinstance(node, dict):
            if node.get("ambiguous") is True:
                marked.append(where)
            for key, value in node.items():
                walk(value, (*where, key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, (*where, i))

    walk(doc.data, ())
    return declared, marked


def downgrade_declared(findings: list[Finding], record: StudyRecord,
                       doc: YamlDocument) -> list[Finding]:
    declared, marked = _declared(record, doc)
    out = []
    for f in findings:
        where = parse_path(f.field)
        hit = any(where[:len(p)] == p for p in declared + marked if p)
        if f.severity == "error" and f.code in DECLARABLE and hit:
            f = Finding(f.path, f.line, f.field, "warning", f.message + " (declared)", f.code)
        out.append(f)
    return out


# --- whole registry --------------------------------------------------------------------------

def via_keys(node: Any, where: Where) -> Iterator[tuple[Where, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "via":
                yield (*where, key), value
            else:
                yield from via_keys(value, (*where, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from via_keys(value, (*where, i))
