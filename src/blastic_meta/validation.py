"""Check every study file and the bibliography; report all problems at once.

Each problem is a ``Finding`` printed as ``path:line: field: message [code]`` with a stable
code (listed in docs/study-format.md). Structural problems (YAML, unknown fields, types,
provenance) come from ``yamlio`` and ``records``; the consistency checks here compare numbers
with each other. The GRIM test follows Brown and Heathers (2017); the largest SD a bounded
scale allows given its mean is sqrt((mean - min)(max - mean)) * sqrt(n / (n - 1))
(Bhatia-Davis inequality, 2000, with the sample-SD correction).

A consistency problem on a path a study declares (listed in ``fields`` of a discrepancy or an
ambiguity, or inside a mapping marked ``ambiguous: true``) is reported as a warning: the
curator has seen it and the analysis rule decides.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from .citations import Bibliography, BibliographyError, load_bibliography
from .records import (
    LESION_TYPES,
    Arm,
    StudyRecord,
    Summary,
    TimePoint,
    percent_of,
)
from .yamlio import YamlDocument, YamlError, dotted, line_for, load_document

__all__ = [
    "SCHEMA_COMMENT",
    "Finding",
    "check_studies",
    "structural_findings",
    "validate_studies",
]

SCHEMA_COMMENT = "# yaml-language-server: $schema=schema.json"
Severity = Literal["error", "warning"]
_Where = tuple[str | int, ...]

# Codes of checks that a declaration (discrepancy/ambiguity fields, ambiguous: true) downgrades.
_DECLARABLE = {
    "events-exceed-total", "n-exceeds-patients", "total-exceeds-vertebrae",
    "vertebrae-fewer-than-patients", "percent-mismatch", "mean-outside-range", "range",
    "value-outside-scale", "grim", "sd-impossible", "sum-exceeds-patients",
}


@dataclass(frozen=True, order=True)
class Finding:
    """One problem: where it is, how bad, what it is."""

    path: str
    line: int
    field: str
    severity: Severity
    message: str
    code: str = "error"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "field": self.field,
                "severity": self.severity, "message": self.message, "code": self.code}

    def __str__(self) -> str:
        flag = "warning: " if self.severity == "warning" else ""
        return f"{self.path}:{self.line}: {self.field}: {flag}{self.message} [{self.code}]"


# --- structural errors -----------------------------------------------------------------------

_TYPE_CODES = {
    "missing": "required",
    "too_short": "required",
    "extra_forbidden": "unknown-field",
    "literal_error": "choice",
    "string_pattern_mismatch": "pattern",
    "greater_than_equal": "negative-count",
    "greater_than": "sd-not-positive",
    "less_than_equal": "range",
    "string_too_short": "required",
}


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[_Where, bool]:
    """Keep the parts of a pydantic ``loc`` that walk the data; True if union tags were skipped."""
    out: list[str | int] = []
    skipped = False
    node = data
    for part in loc:
        in_map = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_map or in_list:
            out.append(part)
            node = node[part]
        elif isinstance(part, str) and (isinstance(node, dict) or not out or node is None):
            # a missing or unknown key of a mapping: keep it as the field's name
            if isinstance(node, dict) and not _looks_like_tag(part):
                out.append(part)
                node = None
            else:
                skipped = True
        else:
            skipped = True
    return tuple(out), skipped


def _looks_like_tag(part: str) -> bool:
    return part[:1].isupper() or "[" in part or part in ("str", "int", "float", "bool") or (
        "-" in part and not part.islower()) or part.startswith(("constrained-", "function-"))


def _model_fields_at(loc: tuple[Any, ...]) -> list[str]:
    """Field names allowed by the model at a (pydantic) location, for 'did you mean'."""
    model: Any = StudyRecord
    for part in loc[:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is not None:
            model = _model_in(field.annotation)
            if model is None:
                return []
    return list(model.model_fields)


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _message(err: dict[str, Any], where: _Where, doc: YamlDocument) -> str:
    kind, value, msg = err["type"], err.get("input"), err["msg"]
    msg = msg.removeprefix("Value error, ")
    raw = doc.raw.get(where)
    if kind == "extra_forbidden":
        name = str(err["loc"][-1])
        close = difflib.get_close_matches(name, _model_fields_at(err["loc"]), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown field {name!r}{hint}"
    if kind == "missing":
        return "required field is missing"
    if kind == "string_type" and isinstance(value, (int, float)) and not isinstance(value, bool):
        shown = raw if raw is not None else str(value)
        return f"expected text, got the number {value!r}: quote it (\"{shown}\")"
    if kind == "string_type" and isinstance(value, bool):
        return f"expected text, got {value!r}: quote it"
    if kind == "bool_type":
        return f"expected true or false, got {value!r} (yes/no/on/off are text in this format)"
    if kind == "int_type" and isinstance(value, str) and re.fullmatch(r"[-+]?0[0-9]+", value):
        return f"expected a whole number, got the text {value!r} (no leading zeros)"
    if kind in ("int_type", "int_from_float"):
        return f"expected a whole number, got {value!r}"
    if kind == "float_type":
        return f"expected a number, got {value!r}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"expected a mapping ({{field: value, ...}}), got {value!r}"
    if kind in ("tuple_type", "list_type"):
        return f"expected a list ([...] or '- ' items), got {value!r}"
    if kind == "greater_than":
        return f"must be greater than 0, got {value!r}"
    if kind == "greater_than_equal":
        return f"must not be negative, got {value!r}"
    return msg


def structural_findings(exc: ValidationError, doc: YamlDocument) -> list[Finding]:
    """Findings (with codes and lines) of a pydantic ValidationError of one file."""
    groups: dict[_Where, list[tuple[dict[str, Any], bool]]] = {}
    for err in exc.errors(include_url=False):
        where, skipped = _data_path(tuple(err["loc"]), doc.data)
        groups.setdefault(where, []).append((err, skipped))
    findings = []
    paths = list(groups)
    union_paths = [p for p, errs in groups.items() if any(s for _, s in errs)]
    for where, errs in groups.items():
        deeper = any(len(p) > len(where) and p[:len(where)] == where for p in paths)
        errs = [(e, s) for e, s in errs if not (e["type"] == "too_short" and deeper)]
        # a union field given a mapping: the mapping branch's errors (deeper) say what is
        # wrong; drop the scalar branch's "expected a number" at the field itself
        deeper_union = any(len(p) > len(where) and p[:len(where)] == where for p in union_paths)
        if deeper_union:
            errs = [(e, s) for e, s in errs if not s]
        if not errs:
            continue
        line = line_for(where, doc.lines)
        if len(errs) > 1 and any(s for _, s in errs):
            messages = list(dict.fromkeys(_message(e, where, doc) for e, _ in errs))
            findings.append(Finding(doc.path, line, dotted(where), "error",
                                    "does not match any allowed form: " + " | ".join(messages),
                                    "type"))
            continue
        for err, _ in errs:
            code = _TYPE_CODES.get(err["type"])
            if code is None:
                code = "type" if err["type"].endswith("_type") or err["type"] in (
                    "finite_number", "int_from_float", "union_tag_invalid") else err["type"]
            findings.append(Finding(doc.path, line, dotted(where), "error",
                                    _message(err, where, doc), code))
    return findings


# --- consistency checks ----------------------------------------------------------------------

def _decimals(value: float, raw: str | None) -> int:
    """Decimal places as printed (from the YAML text when known)."""
    text = raw if raw is not None else repr(float(value))
    text = text.lower().split("e")[0]
    if "." not in text:
        return 0
    decimals = len(text.split(".")[1])
    return 0 if raw is None and text.endswith(".0") else decimals


class _Checker:
    """Consistency checks of one valid record; collects findings with lines."""

    def __init__(self, record: StudyRecord, doc: YamlDocument) -> None:
        self.record = record
        self.doc = doc
        self.findings: list[Finding] = []

    def add(self, where: _Where, code: str, message: str, severity: Severity = "error") -> None:
        self.findings.append(Finding(self.doc.path, line_for(where, self.doc.lines),
                                     dotted(where), severity, message, code))

    def raw(self, where: _Where) -> str | None:
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

    def secondary_sources(self, node: Any, where: _Where) -> None:
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

    def arm(self, where: _Where, arm: Arm) -> None:
        patients = arm.patients.value
        vertebrae = arm.vertebrae.value if arm.vertebrae else None
        procedures = arm.procedures.value if arm.procedures else None
        self.vertebrae_vs_patients(where, patients, vertebrae)
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

    def vertebrae_vs_patients(self, where: _Where, patients: int | None,
                              vertebrae: int | None) -> None:
        if patients is not None and vertebrae is not None and vertebrae < patients:
            self.add((*where, "vertebrae"), "vertebrae-fewer-than-patients",
                     f"{vertebrae} vertebrae for {patients} patients (each patient has at "
                     "least one treated vertebra)")

    def counts(self, where: _Where, entry: Any, unit: str, denominators: dict[str, int | None],
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

    def summary(self, where: _Where, s: Summary, patients: int | None) -> None:
        self.ranges(where, s.mean, s.median, s.q1, s.q3, s.min, s.max)
        if s.n is not None and patients is not None and s.n > patients:
            self.add((*where, "n"), "n-exceeds-patients",
                     f"n {s.n} exceeds the arm's {patients} patients")

    def ranges(self, where: _Where, mean: float | None, median: float | None,
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

    def timepoints(self, where: _Where, tps: tuple[TimePoint, ...]) -> None:
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

    def timepoint(self, where: _Where, tp: TimePoint, scale: Any, patients: int | None) -> None:
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
        n = tp.n
        if scale.integer and n:
            self.grim(where, tp.mean, n)
        if tp.sd is None or tp.sd_kind == "se":
            return
        bound = math.sqrt((tp.mean - lo) * (hi - tp.mean))
        factor = math.sqrt(n / (n - 1)) if n is not None and n >= 2 else math.sqrt(2.0)
        sd_slack = 0.5 * 10.0 ** -_decimals(tp.sd, self.raw((*where, "sd")))
        mean_slack = 0.5 * 10.0 ** -_decimals(tp.mean, self.raw((*where, "mean")))
        widest = max(math.sqrt(max((m - lo) * (hi - m), 0.0))
                     for m in (tp.mean - mean_slack, tp.mean + mean_slack))
        if tp.sd - sd_slack > max(bound, widest) * factor:
            self.add((*where, "sd"), "sd-impossible",
                     f"sd {tp.sd} is larger than any sample on the scale {lo:g} to {hi:g} with "
                     f"mean {tp.mean} allows ({max(bound, widest) * factor:.2f})")
        if tp.sd < 0.05 * (hi - lo):
            size = n if n is not None else patients
            plausible_se = size is None or tp.sd * math.sqrt(size) <= bound * factor
            if plausible_se:
                self.add((*where, "sd"), "sd-looks-like-se",
                         f"sd {tp.sd} is under 5% of the scale range; it looks like a standard "
                         "error (set sd_kind: se if the source says so)", "warning")

    def grim(self, where: _Where, mean: float, n: int) -> None:
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
                    if _parse_path(text) not in self.doc.lines:
                        self.add((kind, i, "fields", j), "declared-field-unknown",
                                 f"no field {text!r} in this file", "warning")


def _parse_path(text: str) -> _Where:
    parts: list[str | int] = []
    for name, index in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]", text):
        parts.append(name if name else int(index))
    return tuple(parts)


def _declared(record: StudyRecord, doc: YamlDocument) -> tuple[list[_Where], list[_Where]]:
    """Paths declared in discrepancies/ambiguities, and mappings marked ambiguous: true."""
    declared = [_parse_path(f) for d in record.discrepancies for f in d.fields]
    declared += [_parse_path(f) for a in record.ambiguities if not isinstance(a, str)
                 for f in a.fields]
    marked: list[_Where] = []

    def walk(node: Any, where: _Where) -> None:
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


def _downgrade(findings: list[Finding], record: StudyRecord, doc: YamlDocument) -> list[Finding]:
    declared, marked = _declared(record, doc)
    out = []
    for f in findings:
        where = _parse_path(f.field)
        hit = any(where[:len(p)] == p for p in declared + marked if p)
        if f.severity == "error" and f.code in _DECLARABLE and hit:
            f = Finding(f.path, f.line, f.field, "warning", f.message + " (declared)", f.code)
        out.append(f)
    return out


# --- whole registry --------------------------------------------------------------------------

def _walk_via(node: Any, where: _Where) -> Iterator[tuple[_Where, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "via":
                yield (*where, key), value
            else:
                yield from _walk_via(value, (*where, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk_via(value, (*where, i))


def _years(text: str | None) -> tuple[int, int] | None:
    years = [int(y) for y in re.findall(r"\b(19\d\d|20\d\d)\b", text or "")]
    return (min(years), max(years)) if years else None


def _cohort_findings(loaded: list[tuple[StudyRecord, YamlDocument]],
                     bib: Bibliography | None) -> list[Finding]:
    findings: list[Finding] = []
    keys = {rec.key for rec, _ in loaded}
    for rec, doc in loaded:
        for i, ov in enumerate(rec.known_overlap):
            if ov.study not in keys:
                findings.append(Finding(doc.path, line_for(("known_overlap", i, "study"),
                                                           doc.lines),
                                        f"known_overlap[{i}].study", "warning",
                                        f"no study file for {ov.study!r}",
                                        "overlap-unknown-study"))

    def declared(a: StudyRecord, b: StudyRecord) -> bool:
        return any(o.study == b.key for o in a.known_overlap) or any(
            o.study == a.key for o in b.known_overlap)

    for (a, da), (b, _db) in combinations(loaded, 2):
        if a.key == b.key or declared(a, b):
            continue
        reasons = []
        if bib is not None and a.key in bib and b.key in bib:
            sa, sb = bib.author_ids(a.key), bib.author_ids(b.key)
            shared = sorted(set(sa) & set(sb))
            if len(shared) >= 3 or (len(sa) > 1 and len(sb) > 1 and sa[0] == sb[0]
                                    and sa[-1] == sb[-1]):
                reasons.append(f"shared authors ({', '.join(shared)})")
        ca = (a.setting.centre or "").strip().lower() if a.setting else ""
        cb = (b.setting.centre or "").strip().lower() if b.setting else ""
        if ca and ca == cb:
            ya = _years(a.setting.period if a.setting else None)
            yb = _years(b.setting.period if b.setting else None)
            if ya is None or yb is None or (ya[0] <= yb[1] and yb[0] <= ya[1]):
                reasons.append("same centre and overlapping or unknown period")
        for arm_a in a.arms:
            for arm_b in b.arms:
                if _similar_arms(a, arm_a, b, arm_b):
                    reasons.append(f"arms {arm_a.id!r} and {arm_b.id!r} have the same lesion "
                                   "type, procedure and near-equal patient and vertebra counts")
        if reasons:
            message = (f"possible duplicate cohort with {b.key}: " + "; ".join(reasons)
                       + f" (declare it in known_overlap of {a.key} or {b.key})")
            findings.append(Finding(da.path, line_for(("key",), da.lines), "key", "warning",
                                    message, "possible-duplicate-cohort"))
    return findings


def _similar_arms(a: StudyRecord, arm_a: Arm, b: StudyRecord, arm_b: Arm) -> bool:
    if arm_a.lesion_type != arm_b.lesion_type:
        return False
    if (arm_a.procedure or a.procedure) != (arm_b.procedure or b.procedure):
        return False

    def near(x: int | None, y: int | None) -> bool:
        # small series (case reports) are alike by chance; compare cohorts of 10 or more
        return (x is not None and y is not None and min(x, y) >= 10
                and abs(x - y) <= max(1, 0.1 * max(x, y)))

    va = arm_a.vertebrae.value if arm_a.vertebrae else None
    vb = arm_b.vertebrae.value if arm_b.vertebrae else None
    return near(arm_a.patients.value, arm_b.patients.value) and near(va, vb)


def check_studies(studies_dir: str | Path, bibliography: Bibliography | None,
                  bib_findings: list[Finding] | None = None,
                  ) -> tuple[list[tuple[StudyRecord, YamlDocument]], list[Finding]]:
    """Load and check every ``*.yaml`` in ``studies_dir``: valid records and all findings."""
    studies = Path(studies_dir)
    findings = list(bib_findings or [])
    if not studies.is_dir():
        findings.append(Finding(str(studies), 1, "(folder)", "error",
                                "study folder not found", "file-unreadable"))
        return [], findings
    loaded: list[tuple[StudyRecord, YamlDocument]] = []
    for stray in sorted(studies.glob("*.yml")):
        findings.append(Finding(str(stray), 1, "(file)", "warning",
                                "study files end in .yaml; this file is not read", "file-name"))
    for path in sorted(studies.glob("*.yaml")):
        try:
            doc = load_document(path)
        except YamlError as exc:
            findings.append(Finding(exc.path, exc.line, exc.field, "error", exc.message,
                                    exc.code))
            continue
        if not isinstance(doc.data, dict):
            findings.append(Finding(doc.path, 1, "(top)", "error",
                                    "a study file is a mapping of fields (key: value)", "type"))
            continue
        text = path.read_text(encoding="utf-8-sig")
        if not text.startswith(SCHEMA_COMMENT):
            findings.append(Finding(doc.path, 1, "(file)", "warning",
                                    f"first line should be '{SCHEMA_COMMENT}'",
                                    "schema-comment"))
        try:
            record = StudyRecord.model_validate(doc.data)
        except ValidationError as exc:
            findings.extend(structural_findings(exc, doc))
            continue
        file_findings = _Checker(record, doc).run()
        if record.key != path.stem:
            file_findings.append(Finding(doc.path, line_for(("key",), doc.lines), "key",
                                         "error", f"key {record.key!r} differs from the file "
                                         f"name {path.name!r}", "key-filename"))
        if bibliography is not None:
            if record.key not in bibliography:
                file_findings.append(Finding(doc.path, line_for(("key",), doc.lines), "key",
                                             "error", f"{record.key!r} is not a key of "
                                             f"{bibliography.path}", "bib-missing"))
            for where, value in _walk_via(doc.data, ()):
                if value not in bibliography:
                    file_findings.append(Finding(doc.path, line_for(where, doc.lines),
                                                 dotted(where), "error",
                                                 f"via {value!r} is not a key of "
                                                 f"{bibliography.path}", "via-missing"))
        findings.extend(_downgrade(file_findings, record, doc))
        loaded.append((record, doc))
    by_key: dict[str, list[YamlDocument]] = {}
    for record, doc in loaded:
        by_key.setdefault(record.key, []).append(doc)
    for key, docs in by_key.items():
        if len(docs) > 1:
            others = ", ".join(d.path for d in docs)
            for doc in docs:
                findings.append(Finding(doc.path, line_for(("key",), doc.lines), "key", "error",
                                        f"key {key!r} is used by several files ({others})",
                                        "key-duplicate"))
    findings.extend(_cohort_findings(loaded, bibliography))
    return loaded, sorted(set(findings))


def _bibliography_findings(path: Path) -> tuple[Bibliography | None, list[Finding]]:
    if not path.is_file():
        return None, [Finding(str(path), 1, "(file)", "error", "bibliography not found",
                              "bibliography")]
    try:
        return load_bibliography(path), []
    except BibliographyError as exc:
        return None, [Finding(exc.path, line, "(bibtex)", "error", msg, "bibliography")
                      for line, msg in exc.problems]


def validate_studies(studies_dir: str | Path,
                     bibliography_path: str | Path | Bibliography) -> list[Finding]:
    """Every problem of the study files and the bibliography, sorted by file and line.

    Never raises for a problem in the files (each becomes a Finding) and never writes.
    """
    if isinstance(bibliography_path, Bibliography):
        bib, bib_findings = bibliography_path, []
    else:
        bib, bib_findings = _bibliography_findings(Path(bibliography_path))
    _, findings = check_studies(studies_dir, bib, bib_findings)
    return findings
