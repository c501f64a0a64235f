"""Checks of the blocks that serve the review's appraisal and synthesis, with line numbers.

``review_findings(record, doc)`` checks one valid record: the appraisal's items against its
tool (unknown and missing items are errors), the tool against the review's rule and
``appraised_from`` against ``source_access`` (warnings), the arms of each within-study
comparison, narrative findings that compare lesion types (they belong in ``within_study``),
and an unverified identity. A study without an appraisal is a warning (``not-appraised``).
"""

from __future__ import annotations

import difflib
import re

from .appraisal import TOOLS, expected_tool
from .findings import Finding, Severity, Where
from .records import LESION_TYPES, StudyRecord
from .yamlio import YamlDocument, dotted, line_for

__all__ = ["review_findings"]

_LESION_DIRECTION = re.compile(r"^(favours|worse_in)_(" + "|".join(LESION_TYPES) + r")$")


class _Collector:
    def __init__(self, doc: YamlDocument) -> None:
        self.doc = doc
        self.findings: list[Finding] = []

    def add(self, where: Where, code: str, message: str, severity: Severity = "error",
            field: Where | None = None, reason: str = "") -> None:
        self.findings.append(Finding(self.doc.path, line_for(where, self.doc.lines),
                                     dotted(field if field is not None else where), severity,
                                     message, code, reason))


def _appraisal(rec: StudyRecord, out: _Collector) -> None:
    appraisal = rec.appraisal
    if appraisal is None:
        out.add(("key",), "not-appraised", "no appraisal: block (docs/appraisal.md); the study "
                "counts as 'not appraised'", "warning", field=("appraisal",))
        return
    items = TOOLS[appraisal.tool]
    for name in appraisal.items:
        if name in items:
            continue
        others = [t for t, names in TOOLS.items() if name in names]
        if others:
            hint = f" (an item of {', '.join(others)})"
        else:
            close = difflib.get_close_matches(name, items, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
        out.add(("appraisal", "items", name), "appraisal-item-unknown",
                f"{name!r} is not an item of {appraisal.tool}{hint}")
    for name in items:
        if name not in appraisal.items:
            out.add(("appraisal", "items"), "appraisal-item-missing",
                    f"item {name!r} of {appraisal.tool} has no answer",
                    field=("appraisal", "items", name))
    expected = expected_tool(rec.design, bool(rec.within_study))
    if appraisal.tool != expected:
        why = ("the study compares lesion types (within_study)" if rec.within_study else
               f"design {rec.design}")
        out.add(("appraisal", "tool"), "appraisal-tool",
                f"the review's rule appraises {why} with {expected}, not {appraisal.tool} "
                "(docs/appraisal.md)", "warning")
    if appraisal.appraised_from != rec.source_access:
        out.add(("appraisal", "appraised_from"), "appraisal-access",
                f"appraised from {appraisal.appraised_from} but source_access is "
                f"{rec.source_access}: one of them does not say what was read", "warning")


def _within_study(rec: StudyRecord, out: _Collector) -> None:
    arms = {a.id: a for a in rec.arms}
    for i, item in enumerate(rec.within_study):
        for j, arm_id in enumerate(item.arms):
            where: Where = ("within_study", i, "arms", j)
            if arm_id not in arms:
                out.add(where, "within-study-arm", f"no arm {arm_id!r} in this study")
            elif arms[arm_id].lesion_type not in item.compared:
                out.add(where, "within-study-arm",
                        f"arm {arm_id!r} is {arms[arm_id].lesion_type}, not one of the "
                        f"compared types {list(item.compared)}")
        for j, value in enumerate(item.values):
            where = ("within_study", i, "values", j, "arm")
            if value.arm is None:
                continue
            if value.arm not in arms:
                out.add(where, "within-study-arm", f"no arm {value.arm!r} in this study")
            elif arms[value.arm].lesion_type != value.lesion_type:
                out.add(where, "within-study-arm",
                        f"arm {value.arm!r} is {arms[value.arm].lesion_type}, but the value "
                        f"is given for {value.lesion_type}")


def _narrative(rec: StudyRecord, out: _Collector) -> None:
    for i, item in enumerate(rec.narrative):
        m = _LESION_DIRECTION.match(item.direction)
        if m:
            out.add(("narrative", i, "direction"), "narrative-lesion-comparison",
                    f"direction {item.direction!r} compares lesion types: record the "
                    "comparison once, under within_study", "warning")


def review_findings(record: StudyRecord, doc: YamlDocument) -> list[Finding]:
    """Findings of the appraisal, within-study, narrative and identity blocks of one record."""
    out = _Collector(doc)
    _appraisal(record, out)
    _within_study(record, out)
    _narrative(record, out)
    if not record.identity_verified:
        reason = record.identity.reason if record.identity is not None else ""
        # the file itself declares it, with its reason: counted as accepted, not repeated
        out.add(("identity", "verified"), "identity-unverified",
                f"bibliographic identity not verified: {reason}", "accepted",
                reason=f"declared in the file: {reason}")
    return out.findings
