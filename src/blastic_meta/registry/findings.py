"""A finding is one problem in a study file: where (path, line, field), how bad (error or
warning), what (message) and its stable check code. Structural problems (types, unknown fields,
provenance) are translated here from pydantic's errors into findings that name the YAML line."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from .records import StudyRecord
from .yamlio import YamlDocument, dotted, line_for

Severity = Literal["error", "warning"]
Where = tuple[str | int, ...]


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


def _message(err: dict[str, Any], where: Where, doc: YamlDocument) -> str:
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


# --- consistency checks ----------------------------------------------------------------------
