"""Synthesis without meta-analysis: within-study comparisons and the direction of effect.

Reported directions are tabulated per study and outcome domain, as the effect-direction plot
does (Thomson & Thomas 2013), from the study files' ``within_study`` comparisons of lesion
types and ``narrative`` findings, and from each pooled study's own estimate (a VAS change with
its CI). A before/after direction is read against baseline: ``no_difference`` (between two
arms, or no association) and ``favours_<arm>`` compare arms and carry none.

A study with several entries in one domain gets one direction there, by one rule that both the
plot and the sign test use (``cell_directions``): the entries that state a direction vote once
each, and a direction held by at least 70% of them is the study's, otherwise the study's
findings in that domain conflict ("mixed"); entries whose direction is unclear do not vote
(Thomson & Thomas 2013; Boon & Thomson 2021). A sign test (two-sided binomial test of benefit
against harm, ties and unclear directions left out) is run where at least ``min_studies``
studies report a direction, as SWiM recommends in place of vote counting on p-values
(Campbell et al. 2020; McKenzie & Brennan, Cochrane Handbook 12.4.2.3). Within-study
comparisons rank above between-study contrasts.

Studies whose identity the file marks unverified are left out, as in the main analyses
(protocol rule ``unverified_studies: exclude``; they enter only its sensitivity scenario).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..formatting import words
from .arm_selection import is_missing, row_records

__all__ = ["BENEFIT_DOMAINS", "CELL_RULE", "cell_directions", "direction_notes",
           "direction_rows", "direction_table", "sign_test_pvalue", "sign_tests",
           "unverified_left_out", "within_table"]

BENEFIT_DOMAINS = ("pain", "function", "quality_of_life", "analgesic_use", "clinical_response")
# before/after directions only: "no_difference" compares arms (or finds no association) and
# is left out with "none", "favours_<arm>" and "worse_in_<arm>"
_NARRATIVE = {"improvement": "benefit", "worse": "harm", "no_change": "no change",
              "mixed": "mixed", "unclear": "unclear"}
DIRECTION_COLUMNS = ["study", "label", "evidence", "group", "domain", "outcome", "direction",
                     "significance", "patients", "basis", "source", "cell"]
CELL_KEY = ["evidence", "group", "study", "domain"]
CELL_COLUMNS = [*CELL_KEY, "label", "direction", "significance", "patients", "entries"]
CELL_SHARE_PERCENT = 70  # Thomson & Thomas 2013: at least 70% of a domain's entries agree
CELL_RULE = ("One direction per study, domain and kind of evidence, used by the plot and the "
             "sign tests alike (column cell): the entries that state a direction vote once "
             f"each; a direction held by at least {CELL_SHARE_PERCENT}% of them is the "
             "study's, otherwise its findings conflict (mixed); entries with an unclear "
             "direction do not vote (Thomson & Thomas 2013).")


def _dump(obj: Any) -> dict[str, Any]:
    return obj.model_dump() if hasattr(obj, "model_dump") else dict(obj)


def _verified(rec: Any) -> bool:
    """False only for a study whose file says ``identity: {verified: false}``."""
    return bool(getattr(rec, "identity_verified", True))


def _kept(records: Sequence[Any], unverified: str) -> list[Any]:
    return [r for r in records if unverified == "include" or _verified(r)]


def unverified_left_out(records: Sequence[Any], unverified: str = "exclude") -> list[str]:
    """Keys of the unverified studies with a within-study or narrative entry that the rule
    ``unverified`` ("exclude" or "include", the protocol's ``rules.unverified_studies``)
    keeps out of the directions, in key order."""
    if unverified == "include":
        return []
    return sorted(r.key for r in records if not _verified(r)
                  and (getattr(r, "within_study", None) or getattr(r, "narrative", None)))


def within_table(records: Sequence[Any], labels: Mapping[str, str],
                 concern: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Every within-study comparison of lesion types the study files record, with the study's
    overall appraisal (``concern``: key -> judgement, as in the appraisal table)."""
    rows = []
    for rec in records:
        for entry in getattr(rec, "within_study", ()) or ():
            d = _dump(entry)
            rows.append({
                "study": rec.key, "label": labels.get(rec.key, rec.key),
                "compared": " vs ".join(d.get("compared") or ()),
                "domain": words(d.get("domain")),
                "outcome": d.get("outcome") or "",
                "favours": words(d.get("favours")),
                "significance": words(d.get("significance")),
                "p_value": d.get("p_value") or "",
                "time_points": "; ".join(d.get("timepoints") or ()),
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
                   labels: Mapping[str, str], group_of: Any,
                   unverified: str = "exclude") -> pd.DataFrame:
    """One row per reported direction (study, outcome domain, kind of evidence, entry).

    ``evidence`` is "within-study comparison" (direction: favours <lesion type>, or "no
    difference") or "before/after" against baseline (benefit, harm, no change, mixed,
    unclear). A study with a pooled VAS change and no pain entry contributes its own estimate
    (benefit when the estimate is above 0) for the first window it reports. ``unverified``
    is the protocol's rule on unverified studies ("exclude" leaves them out, as the main
    analyses do). ``cell`` is the study's direction in that domain under ``CELL_RULE``.
    """
    rows: list[dict[str, Any]] = []
    records = _kept(records, unverified)
    kept = {r.key for r in records}
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
                if key in seen or study.get("estimate") is None or study["study"] not in kept:
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
    frame = frame.sort_values(["evidence", "group", "domain", "label"], kind="stable"
                              ).reset_index(drop=True)
    if len(frame):
        cells = cell_directions(frame).set_index(CELL_KEY)["direction"]
        frame["cell"] = [cells[tuple(k)] for k in frame[CELL_KEY].itertuples(index=False)]
    return frame


def _cell(entries: Sequence[Mapping[str, Any]]) -> tuple[str, str | None]:
    """(direction, significance) of one study's entries in one domain under ``CELL_RULE``;
    the significance is kept only when every entry behind the direction reports the same."""
    voting = [e for e in entries if e["direction"] != "unclear"]
    if not voting:
        return "unclear", None
    # in order of first appearance, as value_counts(sort=False); a missing direction votes
    # but names none
    counts = Counter(e["direction"] for e in voting if not is_missing(e["direction"]))
    if not counts:
        return "unclear", None
    top, most = max(counts.items(), key=lambda item: item[1])  # the first of the largest
    if 100 * most < CELL_SHARE_PERCENT * len(voting):
        return "mixed", None
    significance = {e["significance"] for e in voting if e["direction"] == top}
    one = significance.pop() if len(significance) == 1 else None
    return str(top), one if isinstance(one, str) else None


def cell_directions(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per kind of evidence, group, study and domain: the direction under
    ``CELL_RULE``, the one the effect-direction plot draws and the sign test counts.

    ``entries`` is how many of ``rows`` (from ``direction_rows``) the cell resolves;
    ``patients`` the largest count among them. Cells come in the order of their keys,
    missing values last (as pandas' ``groupby``); the rows are read as plain records, as
    there are hundreds of cells of one or two entries each."""
    out: list[dict[str, Any]] = []
    if rows.empty:
        return pd.DataFrame(out, columns=CELL_COLUMNS)
    cells: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for entry in row_records(rows, [*CELL_KEY, "label", "direction", "significance",
                                    "patients"]):
        key = tuple(None if is_missing(entry[c]) else entry[c] for c in CELL_KEY)
        cells.setdefault(key, []).append(entry)
    for key in sorted(cells, key=lambda k: tuple((1, "") if v is None else (0, v) for v in k)):
        entries = cells[key]
        direction, significance = _cell(entries)
        patients = [e["patients"] for e in entries if not is_missing(e["patients"])]
        first = entries[0]
        out.append({**{c: math.nan if v is None else v for c, v in zip(CELL_KEY, key,
                                                                       strict=True)},
                    "label": first["label"],
                    "direction": direction, "significance": significance,
                    "patients": int(max(patients)) if patients else None,
                    "entries": len(entries)})
    return pd.DataFrame(out, columns=CELL_COLUMNS)


def direction_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``direction_rows`` for reading: domains and significance in words."""
    frame = rows.copy()
    for column in ("domain", "significance"):
        frame[column] = frame[column].map(words)
    return frame


def direction_notes(left_out: Sequence[str], labels: Mapping[str, str]) -> list[str]:
    """Footnote lines of the direction table: the shared rule and the studies left out."""
    notes = [CELL_RULE]
    if left_out:
        named = "; ".join(f"{labels.get(k, k)} ({k})" for k in left_out)
        notes.append("Left out, identity unverified (protocol rule unverified_studies: "
                     f"exclude; the studies enter only the sensitivity scenario "
                     f"exclude_unverified): {named}.")
    return notes


def _reporting(n: int) -> str:
    return f"{n} study reports" if n == 1 else f"{n} studies report"


def sign_test_pvalue(positive: int, n: int) -> float:
    """Exact two-sided sign test: 2 P(X <= min(positive, n - positive)), X ~ Bin(n, 1/2),
    capped at 1 (Conover 1999, 3.4). With p = 1/2 the tail is a sum of binomial coefficients
    over 2^n, computed in integers and rounded once, so the value is the exact p-value to the
    last bit (scipy's ``binomtest`` agrees to 1e-15; importing scipy.stats takes a second)."""
    if n < 1 or not 0 <= positive <= n:
        raise ValueError(f"sign test: need 0 <= positive <= n and n >= 1, got {positive}, {n}")
    tail = sum(math.comb(n, i) for i in range(min(positive, n - positive) + 1))
    return min(1.0, tail / 2 ** (n - 1))


def sign_tests(rows: pd.DataFrame, min_studies: int = 3) -> pd.DataFrame:
    """Sign test per evidence kind, group and domain where enough studies give a direction.

    Each study counts once, with its direction under ``CELL_RULE`` (``cell_directions``, as
    the plot). Before/after: benefit against harm in the benefit domains. Within-study
    comparisons: favouring the first against the second lesion type. "No change", "mixed" and
    "unclear" are counted but left out of the test (Campbell et al. 2020)."""
    out = []
    cells = cell_directions(rows)
    for (evidence, group, domain), per_study in cells.groupby(["evidence", "group", "domain"],
                                                              sort=True):
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
        row = {"evidence": evidence, "group": group, "domain": words(domain),
               "studies": len(per_study), "positive": plus, "negative": minus,
               "other": other, "positive_means": labels[0], "negative_means": labels[1],
               "pval": None,
               "note": ""}
        if directional < min_studies:
            row["note"] = (f"not run: {_reporting(directional)} a direction "
                           f"(at least {min_studies} needed)")
        else:
            row["pval"] = sign_test_pvalue(plus, directional)
        out.append(row)
    cols = ["evidence", "group", "domain", "studies", "positive", "negative", "other",
            "positive_means", "negative_means", "pval", "note"]
    return pd.DataFrame(out, columns=cols)
