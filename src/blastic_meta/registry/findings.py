"""A finding is one problem in a study file: where (path, line, field), how bad (error,
warning, or a warning the reviewer accepted), what (message) and its stable check code.
Structural problems (types, unknown fields, provenance) are translated here from pydantic's
errors into findings that name the YAML line; ``CODES`` lists every code ``validate`` reports
(docs/study-format.md documents each)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from ._base import CHECK_CODE_PATTERN, Acceptance, _Provenanced
from .records import StudyRecord
from .yamlio import YamlDocument, dotted, line_for

Severity = Literal["error", "warning", "accepted"]
Where = tuple[str | int, ...]

# Every code, in the order docs/study-format.md lists them.
STRUCTURE_CODES = (
    "yaml-syntax", "yaml-duplicate-key", "yaml-alias", "yaml-tag", "yaml-key", "yaml-encoding",
    "yaml-empty", "required", "unknown-field", "type", "choice", "pattern", "negative-count",
    "sd-not-positive", "range", "source-missing", "reason-missing", "sd-kind-missing",
    "sd-kind-without-sd", "candidate-units", "scale-range", "duplicate-id",
    "derived-without-value", "alternative-not-printed",
)
CONSISTENCY_CODES = (
    "key-filename", "key-duplicate", "bib-missing", "via-missing", "bibliography",
    "events-exceed-total", "n-exceeds-patients", "total-exceeds-vertebrae",
    "timepoints-unordered", "days-missing", "vertebrae-fewer-than-patients", "percent-mismatch",
    "mean-outside-range", "value-outside-scale", "grim", "sd-impossible", "sd-looks-like-se",
    "sum-exceeds-patients", "narrative-arm", "overlap-unknown-study",
    "possible-duplicate-cohort", "declared-field-unknown", "n-missing-reason", "scale-missing",
    "via-expected", "accept-unknown-check", "accept-not-warning", "accept-unused",
    "alternative-path",
    "schema-comment", "file-name", "file-unreadable",
)
# appraisal, within-study comparisons, directions and identity (registry.review_checks)
REVIEW_CODES = (
    "not-appraised", "appraisal-item-unknown", "appraisal-item-missing", "appraisal-tool",
    "appraisal-access", "within-study-compared", "within-study-favours",
    "within-study-significance", "within-study-days", "within-study-arm",
    "narrative-lesion-comparison", "identity-unverified",
)
CODES = frozenset(STRUCTURE_CODES + CONSISTENCY_CODES + REVIEW_CODES)
# Errors that a declaration (discrepancy/ambiguity fields, ambiguous: true) turns into warnings.
DECLARABLE = frozenset({
    "events-exceed-total", "n-exceeds-patients", "total-exceeds-vertebrae",
    "vertebrae-fewer-than-patients", "percent-mismatch", "mean-outside-range", "range",
    "value-outside-scale", "grim", "sd-impossible", "sum-exceeds-patients",
})
# Warnings a mapping of values can carry, and so the codes ``accept`` may name.
ACCEPTABLE = DECLARABLE | {"sd-looks-like-se", "n-missing-reason", "via-expected"}


@dataclass(frozen=True, order=True)
class Finding:
    """One problem: where it is, how bad, what it is."""

    path: str
    line: int
    field: str
    severity: Severity
    message: str
    code: str = "error"
    reason: str = ""  # why an accepted warning was kept (its ``accept`` entry)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "field": self.field,
                "severity": self.severity, "message": self.message, "code": self.code,
                "reason": self.reason}

    def __str__(self) -> str:
        flag = {"warning": "warning: ", "accepted": "accepted: "}.get(self.severity, "")
        why = f" (accepted: {self.reason})" if self.reason else ""
        return f"{self.path}:{self.line}: {self.field}: {flag}{self.message}{why} [{self.code}]"


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


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[Where, bool]:
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


def model_fields_at(loc: tuple[Any, ...], root: Any = None) -> list[str]:
    """Field names allowed by the model at a (pydantic) location, for 'did you mean';
    ``root`` is the model of the whole file (default: a study file's)."""
    model: Any = StudyRecord if root is None else root
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


_ACCEPT_FORM = 'accept: [{{check: {code}, reason: "..."}}]'


def _accept_hint(where: Where, value: Any) -> str:
    """The required form of an ``accept`` entry, when ``where`` is one (or the list)."""
    if "accept" not in where[-3:]:
        return ""
    named = value.get("check") if isinstance(value, dict) else value
    code = named if isinstance(named, str) and re.fullmatch(CHECK_CODE_PATTERN, named) \
        else "sd-looks-like-se"
    return (f"; each accepted warning is a mapping with the check and why it was kept: "
            f"{_ACCEPT_FORM.format(code=code)}")


def _message(err: dict[str, Any], where: Where, doc: YamlDocument) -> str:
    return _plain_message(err, where, doc) + _accept_hint(where, err.get("input"))


def _plain_message(err: dict[str, Any], where: Where, doc: YamlDocument) -> str:
    kind, value, msg = err["type"], err.get("input"), err["msg"]
    msg = msg.removeprefix("Value error, ")
    raw = doc.raw.get(where)
    if kind == "extra_forbidden":
        name = str(err["loc"][-1])
        close = difflib.get_close_matches(name, model_fields_at(err["loc"]), n=1)
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
        hint = _spread_hint(value) if where and where[-1] in ("sd", "mean") else ""
        return f"expected a number, got {value!r}{hint}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"expected a mapping ({{field: value, ...}}), got {value!r}"
    if kind in ("tuple_type", "list_type"):
        return f"expected a list ([...] or '- ' items), got {value!r}"
    if kind == "greater_than":
        return f"must be greater than 0, got {value!r}"
    if kind == "greater_than_equal":
        return f"must not be negative, got {value!r}"
    return msg


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)"
_SE_LABEL = re.compile(r"\b(?:SEM?|s\.e\.(?:m\.)?|standard error)(?![A-Za-z])", re.I)
_SD_LABEL = re.compile(r"\b(?:SD|s\.d\.|standard deviation)(?![A-Za-z])", re.I)
_PLUS_MINUS = re.compile(r"±|\+/-|\+-")


def _spread_hint(value: Any) -> str:
    """How to write a spread pasted as text: '1.2 (SE)' -> sd: 1.2 with sd_kind: se."""
    if not isinstance(value, str):
        return ""
    numbers = re.findall(_NUMBER, _PLUS_MINUS.sub(" ", value))
    if not numbers or len(numbers) > 2:
        return ""
    if _SE_LABEL.search(value):
        kind = "se"
    elif _SD_LABEL.search(value):
        kind = "sd"
    elif _PLUS_MINUS.search(value):
        kind = "unlabelled"  # a bare ± says neither SD nor SE
    else:
        return ""
    why = ("a bare ± says neither SD nor SE" if kind == "unlabelled" else
           "the label goes in sd_kind")
    if len(numbers) == 2:
        return f": write mean: {numbers[0]}, sd: {numbers[1]}, sd_kind: {kind} ({why})"
    return f": write sd: {numbers[0]} with sd_kind: {kind} ({why})"


def structural_findings(exc: ValidationError, doc: YamlDocument) -> list[Finding]:
    """Findings (with codes and lines) of a pydantic ValidationError of one file."""
    groups: dict[Where, list[tuple[dict[str, Any], bool]]] = {}
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


# --- accepted warnings -----------------------------------------------------------------------

def _accepting(node: Any, where: Where, out: dict[Where, tuple[Acceptance, ...]]) -> None:
    """Path -> ``accept`` entries of every mapping of values (``_Provenanced``) in a record."""
    if isinstance(node, _Provenanced):
        out[where] = node.accept
    if isinstance(node, BaseModel):
        for name in type(node).model_fields:
            if name != "accept":
                _accepting(getattr(node, name), (*where, name), out)
    elif isinstance(node, (tuple, list)):
        for i, item in enumerate(node):
            _accepting(item, (*where, i), out)
    elif isinstance(node, dict):
        for key, item in node.items():
            _accepting(item, (*where, key), out)


def parse_path(text: str) -> Where:
    """'arms[0].leakage[1].percent' -> ('arms', 0, 'leakage', 1, 'percent')."""
    parts: list[str | int] = []
    for name, index in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]", text):
        parts.append(name if name else int(index))
    return tuple(parts)


def accept_checked(findings: list[Finding], record: StudyRecord,
                   doc: YamlDocument) -> list[Finding]:
    """Apply the ``accept`` entries of one file to its findings.

    A warning on a mapping (or on one of its own values, not on a nested mapping) whose
    ``accept`` names its code becomes ``accepted`` with the entry's reason. An entry is itself
    reported when its code is unknown (``accept-unknown-check``), names an error or the value
    triggers that check as an error (``accept-not-warning``: errors are fixed or declared, never
    accepted), or matches nothing on the mapping (``accept-unused``, a stale acceptance).
    """
    owners: dict[Where, tuple[Acceptance, ...]] = {}
    _accepting(record, (), owners)
    used: set[tuple[Where, int]] = set()
    out: list[Finding] = []
    for f in findings:
        where = parse_path(f.field) if f.field and not f.field.startswith("(") else ()
        owner = next((where[:end] for end in range(len(where), 0, -1)
                      if where[:end] in owners), None)
        matches = [i for i, a in enumerate(owners.get(owner, ())) if a.check == f.code] if (
            owner is not None) else []
        if matches and f.severity == "warning":
            used.update((owner, i) for i in matches)
            f = Finding(f.path, f.line, f.field, "accepted", f.message, f.code,
                        owners[owner][matches[0]].reason)
        elif matches:
            for i in matches:
                used.add((owner, i))
                at = (*owner, "accept", i, "check")
                out.append(Finding(doc.path, line_for(at, doc.lines), dotted(at), "error",
                                   f"{f.code} is an error here, and errors cannot be accepted: "
                                   "fix the value, or declare it in discrepancies",
                                   "accept-not-warning"))
        out.append(f)
    for owner, entries in owners.items():
        for i, entry in enumerate(entries):
            if (owner, i) in used:
                continue
            at = (*owner, "accept", i, "check")
            line = line_for(at, doc.lines)
            if entry.check not in CODES:
                close = difflib.get_close_matches(entry.check, sorted(CODES), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                out.append(Finding(doc.path, line, dotted(at), "error",
                                   f"no check has the code {entry.check!r}{hint}",
                                   "accept-unknown-check"))
            elif entry.check not in ACCEPTABLE:
                out.append(Finding(doc.path, line, dotted(at), "error",
                                   f"{entry.check} is never a warning of a value, so it cannot "
                                   "be accepted (only warnings can)", "accept-not-warning"))
            else:
                out.append(Finding(doc.path, line, dotted(at), "warning",
                                   f"this mapping does not trigger {entry.check}: remove the "
                                   "stale acceptance", "accept-unused"))
    return out
