"""Cohorts that may be reported twice: pairs of studies whose arms look alike (same lesion type,
similar patient and vertebra counts, overlapping periods) and that declare no ``known_overlap``."""

from __future__ import annotations

import re
from itertools import combinations

from .citations import Bibliography
from .findings import Finding
from .records import Arm, StudyRecord
from .yamlio import YamlDocument, line_for


def _years(text: str | None) -> tuple[int, int] | None:
    years = [int(y) for y in re.findall(r"\b(19\d\d|20\d\d)\b", text or "")]
    return (min(years), max(years)) if years else None


def cohort_findings(loaded: list[tuple[StudyRecord, YamlDocument]],
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

    # once per study, not once per pair
    authors = ({rec.key: bib.author_ids(rec.key) for rec, _ in loaded if rec.key in bib}
               if bib is not None else {})
    for (a, da), (b, _db) in combinations(loaded, 2):
        if a.key == b.key or declared(a, b):
            continue
        reasons = []
        if a.key in authors and b.key in authors:
            sa, sb = authors[a.key], authors[b.key]
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
