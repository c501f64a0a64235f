"""Synthesis without meta-analysis: within-study comparisons and the direction of effect.

Reported directions are tabulated per study and outcome domain, as the effect-direction plot
does (Thomson & Thomas 2013), from the study files' ``within_study`` comparisons of lesion
types and ``narrative`` findings, and from each pooled study's own estimate (a VAS change with
its CI). A sign test (two-sided binomial test of benefit against harm, ties and unclear
directions left out) is run where at least ``min_studies`` studies report a direction, as SWiM
recommends in place of vote counting on p-values (Campbell et al. 2020; McKenzie & Brennan,
Cochrane Handbook 12.4.2.3). Within-study comparisons rank above between-study contrasts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from scipy import stats

__all__ = ["BENEFIT_DOMAINS", "direction_rows", "sign_tests", "within_table"]

BENEFIT_DOMAINS = ("pain", "function", "quality_of_life", "analgesic_use", "clinical_response")
_NARRATIVE = {"improvement": "benefit", "worse": "harm", "no_change": "no change",
              "no_difference": "no change", "mixed": "mixed", "unclear": "unclear"}
DIRECTION_COLUMNS = ["study", "label", "evidence", "group", "domain", "outcome", "direction",
                     "significance", "patients", "basis", "source"]


def _dump(obj: Any) -> dict[str, Any]:
    return obj.model_dump() if hasattr(obj, "model_dump") else dict(obj)


def within_table(records: Sequence[Any], labels: Mapping[str, str],
                 concern: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Every within-study comparison of lesion types the study files record."""
    rows = []
    for rec in records:
        for entry in getattr(rec, "within_study", ()) or ():
            d = _dump(entry)
            rows.append({
                "study": rec.key, "label": labels.get(rec.key, rec.key),
                "compared": " vs ".join(d.get("compared") or ()),
                "domain": str(d.get("domain") or "").replace("_", " "),
                "outcome": d.get("outcome") or "",
                "favours": str(d.get("favours") or "").replace("_", " "),
                "significance": str(d.get("significance") or "").replace("_", " "),
                "p_value": d.get("p_value") or "", "time_points": d.get("timepoints") or "",
                "finding": d.get("finding") or "", "source": d.get("source") or "",
                "appraisal": (concern or {}).get(rec.key, ""),
            })
    cols = ["study", "label", "compared", "domain", "outcome", "favours", "significance",
            "p_value", "time_points", "finding", "source", "appraisal"]
    return pd.DataFrame(rows, columns=cols)


def _arm_group(rec: Any, arm_ids: Sequence[str], group_of: Any) -> str:
    arms = [a for a in rec.arms if not arm_ids or a.id in arm_ids]
    groups = sorted({group_of(a.lesion_type) for a in arms})
    return groups[0] if len(groups) == 1 else "+".join(groups)


def _patients(rec: Any, arm_ids: Sequence[str]) -> int | None:
    values = [a.patients.value for a in rec.arms if not arm_ids or a.id in arm_ids]
    if values and all(v is not None for v in values):
        return int(sum(values))
    totals = getattr(rec, "study_totals", None)
    count = getattr(totals, "patients", None) if totals is not None else None
    return None if count is None or count.value is None else int(count.value)


def direction_rows(records: Sequence[Any], analyses: Mapping[str, Mapping[str, Any]],
                   labels: Mapping[str, str], group_of: Any) -> pd.DataFrame:
    """One row per study, outcome domain and kind of evidence with the reported direction.

    ``evidence`` is "within-study comparison" (direction: favours <lesion type>, or "no
    difference") or "before/after" (benefit, harm, no change, mixed, unclear). A study with a
    pooled VAS change contributes its own estimate (benefit when the CI lies above 0) for the
    first window it reports.
    """
    rows: list[dict[str, Any]] = []
    for rec in records:
        for entry in getattr(rec, "within_study", ()) or ():
            d = _dump(entry)
            fav = d.get("favours")
            direction = ("no difference" if fav == "neither" else "unclear" if fav in
                         (None, "unclear") else f"favours {fav}")
            rows.append({"study": rec.key, "label": labels.get(rec.key, rec.key),
                         "evidence": "within-study comparison",
                         "group": " vs ".join(d.get("compared") or ()),
                         "domain": d.get("domain"), "outcome": d.get("outcome"),
                         "direction": direction, "significance": d.get("significance"),
                         "patients": _patients(rec, d.get("arms") or ()), "basis": "reported",
                         "source": d.get("source")})
        for entry in getattr(rec, "narrative", ()) or ():
            d = _dump(entry)
            domain = d.get("domain")
            direction = _NARRATIVE.get(str(d.get("direction")))
            if domain is None or direction is None:
                continue  # comparisons between arms and "none" carry no before/after direction
            arm_ids = tuple(d.get("arms") or ())
            rows.append({"study": rec.key, "label": labels.get(rec.key, rec.key),
                         "evidence": "before/after", "group": _arm_group(rec, arm_ids, group_of),
                         "domain": domain, "outcome": d.get("outcome"), "direction": direction,
                         "significance": d.get("significance"),
                         "patients": _patients(rec, arm_ids), "basis": "reported",
                         "source": d.get("source")})
    seen = {(r["study"], r["domain"], r["evidence"]) for r in rows}
    for aid, a in analyses.items():
        if a.get("outcome") != "vas":
            continue
        for group, fit in (a.get("subgroups") or {}).items():
            for study in fit.get("per_study") or []:
                key = (study["study"], "pain", "before/after")
                if key in seen or study.get("estimate") is None:
                    continue
                seen.add(key)
                lo, hi = study.get("ci_low"), study.get("ci_high")
                direction = "benefit" if study["estimate"] > 0 else "harm" if \
                    study["estimate"] < 0 else "no change"
                significant = lo is not None and hi is not None and (lo > 0 or hi < 0)
                rows.append({"study": study["study"], "label": study.get("label"),
                             "evidence": "before/after", "group": group, "domain": "pain",
                             "outcome": "VAS", "direction": direction,
                             "significance": "significant" if significant else "not_significant",
                             "patients": None, "basis": f"own estimate in {aid}",
                             "source": "study file"})
    frame = pd.DataFrame(rows, columns=DIRECTION_COLUMNS)
    return frame.sort_values(["evidence", "group", "domain", "label"], kind="stable"
                             ).reset_index(drop=True)


def sign_tests(rows: pd.DataFrame, min_studies: int = 3) -> pd.DataFrame:
    """Sign test per evidence kind, group and domain where enough studies give a direction.

    Before/after: benefit against harm in the benefit domains. Within-study comparisons:
    favouring the first against the second lesion type. "No change", "mixed" and "unclear"
    are counted but left out of the test (Campbell et al. 2020)."""
    out = []
    for (evidence, group, domain), sub in rows.groupby(["evidence", "group", "domain"],
                                                        sort=True):
        per_study = sub.drop_duplicates("study")
        if evidence == "before/after":
            if domain not in BENEFIT_DOMAINS:
                continue
            plus = int((per_study["direction"] == "benefit").sum())
            minus = int((per_study["direction"] == "harm").sum())
            labels = ("benefit", "harm")
        else:
            first = str(group).split(" vs ")[0]
            plus = int((per_study["direction"] == f"favours {first}").sum())
            minus = int(per_study["direction"].str.startswith("favours").sum()) - plus
            labels = (f"favours {first}", "favours the other")
        other = len(per_study) - plus - minus
        directional = plus + minus
        row = {"evidence": evidence, "group": group, "domain": domain,
               "studies": len(per_study), "positive": plus, "negative": minus,
               "other": other, "positive_means": labels[0], "negative_means": labels[1],
               "pval": None,
               "note": ""}
        if directional < min_studies:
            row["note"] = (f"not run: {directional} studies report a direction "
                           f"(at least {min_studies} needed)")
        else:
            row["pval"] = float(stats.binomtest(plus, directional, 0.5).pvalue)
        out.append(row)
    cols = ["evidence", "group", "domain", "studies", "positive", "negative", "other",
            "positive_means", "negative_means", "pval", "note"]
    return pd.DataFrame(out, columns=cols)
