"""GRADE certainty of the evidence per outcome and lesion type, and the summary of findings.

Non-randomised evidence starts at low certainty and is rated down by one or two levels per
domain (Cochrane Handbook chapter 14; Schünemann et al., GRADE handbook 2013):

- risk of bias, from the contributing studies' appraisal (overall level of concern);
- inconsistency, from I², the prediction interval and the reported directions;
- indirectness, from device-assisted techniques and lesion types other than the one asked
  about;
- imprecision, from the CI against the protocol's clinically important difference (VAS: the
  larger of 2 points and 30% of the baseline mean, ``review.clinical``: Farrar et al. 2001;
  Dworkin et al. 2008; at least 2 points is a partial response for bone metastases, Chow et
  al. 2012), or for proportions the width of the CI and the number of patients;
- publication bias: not assessable below the protocol's small-study k, which is said.

Each judgement carries the reason the data gave. The protocol may override one judgement only
with a written reason, which the table shows. Plain-language statements follow GRADE's
informative statements (Santesso et al. 2020).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..formatting import words
from .clinical import vas_mcid
from .comparison import procedures_text

__all__ = ["LEVELS", "Certainty", "rate", "rate_all", "summary_of_findings"]

LEVELS = ("very low", "low", "moderate", "high")
SYMBOLS = {"high": "⊕⊕⊕⊕", "moderate": "⊕⊕⊕◯", "low": "⊕⊕◯◯", "very low": "⊕◯◯◯"}
DEVICE_ASSISTED = {"mesh_container", "cement_augmentation_rfa", "PVP_125I"}
DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")


@dataclass(frozen=True)
class Certainty:
    """The rating of one outcome and lesion type, and every domain's judgement."""

    analysis: str
    subgroup: str
    rating: str
    start: str
    downgrades: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"rating": self.rating, "start": self.start,
                "downgrades": {d: dict(v) for d, v in self.downgrades.items()}}


def _judge(levels: int, reason: str) -> dict[str, Any]:
    return {"levels": levels, "reason": reason}


def _risk_of_bias(studies: Sequence[str], concern: Mapping[str, str],
                  no_information: Collection[str] = ()) -> dict[str, Any]:
    """Rated down two levels when half or more of the studies are of high concern (or not
    appraised), one when any is of some or high concern. ``no_information``: the studies
    whose high concern rests on items an abstract leaves unclear (registry ConcernRule),
    named in the reason so that "high" from missing information is told from "high" from
    what a report shows."""
    levels = [concern.get(s, "not appraised") for s in studies]
    high = sum(1 for v in levels if v in ("high", "not appraised"))
    some = sum(1 for v in levels if v == "some")
    counts = ", ".join(f"{n} {name}" for name, n in (
        ("high concern or not appraised", high), ("some concerns", some),
        ("low concern", len(levels) - high - some)) if n)
    unread = sum(1 for s in studies if s in no_information and concern.get(s) == "high")
    who = "read" if len(levels) == 1 else f"{unread} of them read"
    why = (f" ({who} only as an abstract or a secondary source, whose unclear items count as "
           "concerns: no information)" if unread else "")
    if high * 2 >= len(levels) and high:
        head = (f"the one study is {'of high concern' if levels[0] == 'high' else 'not appraised'}"
                if len(levels) == 1 else f"{high} of {len(levels)} studies of high concern or "
                                         "not appraised")
        return _judge(2, f"{head}{why}; single-arm series without a control")
    if high or some:
        return _judge(1, f"appraisal: {counts}{why}; single-arm series without a control")
    return _judge(0, "every study appraised with low concern")


def _inconsistency(fit: Mapping[str, Any], directions: Sequence[str]) -> dict[str, Any]:
    k, status = fit.get("k", 0), fit.get("status")
    if k < 2:
        return _judge(0, "one study: inconsistency cannot be judged (see imprecision)")
    conflicting = {"benefit", "harm"} <= set(directions)
    if status == "pooled":
        i2 = fit.get("i2") or 0.0
        plo, phi = fit.get("pi_low"), fit.get("pi_high")
        crosses = plo is not None and phi is not None and plo < 0 < phi and \
            fit.get("scale") != "proportion"
        if i2 > 75 and (crosses or conflicting):
            return _judge(2, f"I² = {i2:.0f}% and the prediction interval includes effects of "
                             "opposite direction")
        if i2 > 75 or crosses or conflicting:
            why = [f"I² = {i2:.0f}%" if i2 > 75 else "",
                   "the prediction interval crosses no effect" if crosses else "",
                   "studies report opposite directions" if conflicting else ""]
            return _judge(1, "; ".join(w for w in why if w))
        return _judge(0, f"I² = {i2:.0f}%; prediction interval on one side of no effect"
                      if fit.get("scale") != "proportion" else f"I² = {i2:.0f}%")
    per = fit.get("per_study") or []
    if len(per) >= 2:
        overlap = max(r["ci_low"] for r in per) <= min(r["ci_high"] for r in per)
        if not overlap:
            return _judge(1, "the studies' confidence intervals do not overlap (not pooled)")
        return _judge(0, "the studies' confidence intervals overlap (not pooled)")
    return _judge(0, "not judged")


def _indirectness(group: str, procedures: Sequence[str], compared: Sequence[str],
                  outcome: str) -> dict[str, Any]:
    reasons = []
    devices = sorted(set(procedures) & DEVICE_ASSISTED)
    if devices:
        reasons.append(f"device-assisted technique ({procedures_text(devices)})")
    if group not in compared:
        reasons.append(f"lesion type {group}, not one of those compared")
    if len(set(procedures) - DEVICE_ASSISTED) > 1:
        reasons.append(f"procedures mixed ({procedures_text(procedures)})")
    if outcome == "responder":
        reasons.append("responders as each study defined them")
    if not reasons:
        return _judge(0, f"{procedures_text(procedures)} in {group} metastases, as asked")
    return _judge(2 if len(reasons) > 1 else 1, "; ".join(reasons))


def _imprecision(fit: Mapping[str, Any], analysis: Mapping[str, Any],
                 clinical: Mapping[str, Any]) -> dict[str, Any]:
    status, k = fit.get("status"), fit.get("k", 0)
    patients = fit.get("patients")
    if status in ("side by side", "not estimable"):
        return _judge(2, f"not pooled (k = {k}): no summary estimate"
                      + _per_study_mcid(fit, analysis, clinical))
    lo, hi = fit.get("ci_low"), fit.get("ci_high")
    if lo is None or hi is None:
        return _judge(2, "no confidence interval")
    if fit.get("scale") == "proportion":
        return _proportion_imprecision(lo, hi, patients)
    if analysis.get("outcome") != "vas":
        return _judge(1, "no clinically important difference is set for this score; "
                         f"{patients} patients")
    mcid = vas_mcid(clinical, fit.get("baseline"))
    threshold = f"the clinically important change of {mcid.describe()}"
    if lo < 0 < hi:
        also = f" and {threshold}" if hi >= mcid.value else f"; {threshold}"
        return _judge(2, f"the CI ({lo:.2f} to {hi:.2f}) includes no effect{also}")
    if lo < mcid.value <= hi:
        return _judge(1, f"the CI ({lo:.2f} to {hi:.2f}) crosses {threshold}")
    if k == 1 and patients is not None and patients < 100:
        return _judge(1, f"one study of {patients} patients; the whole CI lies "
                         f"{_side(lo, mcid.value)} {threshold}")
    return _judge(0, f"the whole CI lies {_side(lo, mcid.value)} {threshold}")


def _side(lo: float, value: float) -> str:
    return "above" if lo >= value else "below"


def _per_study_mcid(fit: Mapping[str, Any], analysis: Mapping[str, Any],
                    clinical: Mapping[str, Any]) -> str:
    """Each unpooled study's CI against its own clinically important change (VAS)."""
    if analysis.get("outcome") != "vas" or fit.get("scale") != "MC":
        return ""
    parts = []
    for r in fit.get("per_study") or []:
        mcid = vas_mcid(clinical, r.get("baseline"))
        lo, hi = r["ci_low"], r["ci_high"]
        where = ("crosses" if lo < mcid.value <= hi else
                 f"lies {_side(lo, mcid.value)}")
        parts.append(f"{r.get('label') or r['study']}: CI {lo:.2f} to {hi:.2f} {where} "
                     f"{mcid.describe()}")
    return "; each study against its clinically important change: " + "; ".join(parts) \
        if parts else ""


def _proportion_imprecision(lo: float, hi: float, patients: int | None) -> dict[str, Any]:
    width = 100 * (hi - lo)
    small = patients is not None and patients < 100
    if width > 20 and small:
        return _judge(2, f"CI {width:.0f} percentage points wide, {patients} patients")
    if width > 20 or small or patients is None:
        why = f"CI {width:.0f} percentage points wide" if width > 20 else (
            f"{patients} patients" if patients is not None else "patients not reported")
        return _judge(1, why)
    return _judge(0, f"CI {width:.0f} percentage points wide, {patients} patients")


def _publication_bias(k: int, min_k: int) -> dict[str, Any]:
    if k < min_k:
        return _judge(0, f"not assessable: k = {k} (< {min_k}); not rated down for lack of a "
                         "test")
    return _judge(0, "funnel plot and Egger test in the report")


def rate(analysis_id: str, group: str, fit: Mapping[str, Any], analysis: Mapping[str, Any],
         concern: Mapping[str, str], directions: Sequence[str], protocol: Any,
         no_information: Collection[str] = ()) -> Certainty:
    """The GRADE rating of one lesion type's result (``no_information``: see
    ``_risk_of_bias``)."""
    compared = tuple(protocol.subgroups.compared)
    procedures = sorted({p for s in fit.get("arms") or []
                         for p in _arm_procedures(analysis, s)})
    down = {
        "risk_of_bias": _risk_of_bias(fit.get("studies") or [], concern, no_information),
        "inconsistency": _inconsistency(fit, directions),
        "indirectness": _indirectness(group, procedures, compared, analysis.get("outcome")),
        "imprecision": _imprecision(fit, analysis, protocol.clinical.model_dump()),
        "publication_bias": _publication_bias(fit.get("k", 0),
                                              protocol.model.small_study_min_k),
    }
    for o in getattr(getattr(protocol, "certainty", None), "overrides", ()) or ():
        if o.analysis == analysis_id and o.subgroup in (group, "*"):
            down[o.domain] = {"levels": o.levels, "reason": f"protocol override: {o.reason}",
                              "data_reason": down[o.domain]["reason"]}
    start = LEVELS.index("low")
    total = sum(int(d["levels"]) for d in down.values())
    rating = LEVELS[max(0, start - total)]
    return Certainty(analysis_id, group, rating, "low (non-randomised studies)", down)


def _arm_procedures(analysis: Mapping[str, Any], arm_key: str) -> list[str]:
    procs = analysis.get("_procedures") or {}
    return [p for p in str(procs.get(arm_key, "")).split("+") if p]


#: the effect-direction domains that speak to an analysis' outcome (its inconsistency); a
#: proportion of events (leakage, complications) has no direction of effect to conflict
OUTCOME_DOMAINS: dict[str, tuple[str, ...]] = {"vas": ("pain",), "responder": ("pain",),
                                               "qol": ("quality_of_life",)}


def directions_for(directions: pd.DataFrame, outcome: str, group: str,
                   studies: Collection[str]) -> list[str]:
    """The before/after directions that ``studies`` of ``group`` report in the domains of
    ``outcome`` (``OUTCOME_DOMAINS``), one per study and domain (the synthesis' cell rule,
    so a study with several entries is one vote, as in the effect-direction plot)."""
    domains = {words(d) for d in OUTCOME_DOMAINS.get(outcome, ())}
    if not len(directions) or not domains:
        return []
    rows = directions[(directions["group"] == group)
                      & (directions["evidence"] == "before/after")
                      & directions["domain"].map(words).isin(domains)
                      & directions["study"].isin(list(studies))]
    column = "cell" if "cell" in rows else "direction"
    return list(rows.drop_duplicates(["study", "domain"])[column])


def rate_all(analyses: Mapping[str, Mapping[str, Any]], procedures: Mapping[str, Mapping[str, str]],
             concern: Mapping[str, str], directions: pd.DataFrame, protocol: Any,
             no_information: Collection[str] = ()) -> dict[str, dict[str, Certainty]]:
    """Every analysis and lesion type with a result; ``procedures[analysis][study/arm]``;
    ``no_information``: the studies whose concern rests on what their abstract leaves
    unclear."""
    out: dict[str, dict[str, Certainty]] = {}
    for aid, a in analyses.items():
        a = {**a, "_procedures": procedures.get(aid, {})}
        for group, fit in (a.get("subgroups") or {}).items():
            dirs = directions_for(directions, str(a.get("outcome")), group,
                                  fit.get("studies") or [])
            out.setdefault(aid, {})[group] = rate(aid, group, fit, a, concern, dirs, protocol,
                                                  no_information)
    return out


def _effect_text(fit: Mapping[str, Any], analysis: Mapping[str, Any]) -> tuple[str, str]:
    """(absolute effect, its CI) in points or events per 100."""
    status = fit.get("status")
    if status == "side by side":
        per = fit.get("per_study") or []
        if fit.get("scale") == "proportion":
            return "; ".join(f"{100 * r['estimate']:.0f} per 100" for r in per), "not pooled"
        return "; ".join(f"{r['estimate']:.1f}" for r in per) + " points", "not pooled"
    if fit.get("estimate") is None:
        return "not estimable", ""
    if fit.get("scale") == "proportion":
        lo = fit.get("ci_low") if status != "no events" else fit.get("crude_ci_low")
        hi = fit.get("ci_high") if status != "no events" else fit.get("crude_ci_high")
        return (f"{100 * fit['estimate']:.0f} per 100 {_plural(analysis.get('unit') or 'patient')}",
                f"{100 * lo:.0f} to {100 * hi:.0f}")
    unit = " points" if analysis.get("outcome") == "vas" else ""
    return f"{fit['estimate']:.1f}{unit}", f"{fit['ci_low']:.1f} to {fit['ci_high']:.1f}"


def _plural(unit: str) -> str:
    return {"vertebra": "vertebrae"}.get(unit, unit + "s")


def _statement(fit: Mapping[str, Any], analysis: Mapping[str, Any], group: str, rating: str,
               procedure: str, window: str | None) -> str:
    """A plain-language statement (Santesso et al. 2020): 'may reduce' at low certainty,
    with 'the evidence is very uncertain' at very low."""
    verb = {"high": "reduces", "moderate": "probably reduces", "low": "may reduce",
            "very low": "may reduce"}[rating]
    tail = "; the evidence is very uncertain" if rating == "very low" else ""
    where = f"in {group} metastases" if group in ("osteoblastic", "osteolytic") else \
        f"in {group.replace('unspecified', 'metastases of unspecified lesion type')}"
    when = f" at {window}" if window else ""
    status = fit.get("status")
    per = fit.get("per_study") or []
    outcome = analysis.get("outcome")
    unit = _plural(analysis.get("unit") or "patient")
    if outcome == "vas":
        if status in ("pooled", "single study"):
            return (f"{procedure} {verb} pain by about {fit['estimate']:.1f} points{when} "
                    f"{where}{tail}.")
        if per:
            lo, hi = min(r["estimate"] for r in per), max(r["estimate"] for r in per)
            return (f"{procedure} {verb} pain{when} {where} ({lo:.0f} to {hi:.0f} points in "
                    f"{len(per)} studies, not pooled){tail}.")
    if outcome == "qol":
        direction = analysis.get("scale_direction") or []
        lower = {d.get("lower_is_better") for d in direction}
        if lower == {True} and fit.get("estimate") is not None:
            change = "improve" if fit["estimate"] > 0 else "worsen"
            verb = {"high": change + "s", "moderate": "probably " + change + "s"}.get(
                rating, "may " + change)
            return (f"{procedure} {verb} {analysis.get('instrument')} scores{when} {where} "
                    f"(lower is better, as the source states){tail}.")
        return (f"The direction of the {analysis.get('instrument')} change{when} {where} is "
                f"not stated by the source{tail}.")
    noun = {"leakage": "cement leakage", "leakage_symptomatic": "symptomatic cement leakage",
            "responder": "a response"}.get(str(outcome), "the event")
    if status in ("no events", "all events"):
        upper = 100 * fit.get("crude_ci_high", 0.0)
        return (f"{noun.capitalize()} may be rare after {procedure} {where}: "
                f"{fit.get('events')} of {fit.get('total')} {unit} (upper 95% limit "
                f"{upper:.0f} per 100){tail}.")
    if status in ("pooled", "single study") and fit.get("estimate") is not None:
        how = {"high": "occurs", "moderate": "probably occurs", "low": "may occur",
               "very low": "may occur"}[rating]
        return (f"{noun.capitalize()} {how} in about {100 * fit['estimate']:.0f} of 100 "
                f"{unit} after {procedure} {where}{tail}.")
    if per:
        lo, hi = (100 * min(r["estimate"] for r in per), 100 * max(r["estimate"] for r in per))
        return (f"{noun.capitalize()} ranged from {lo:.0f} to {hi:.0f} per 100 {unit} after "
                f"{procedure} {where} ({len(per)} studies, not pooled){tail}.")
    return f"The evidence {where} is {rating}."


def _first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def summary_of_findings(analyses: Mapping[str, Mapping[str, Any]],
                        certainty: Mapping[str, Mapping[str, Certainty]],
                        procedures: Mapping[str, Mapping[str, str]],
                        windows: Mapping[str, str]) -> pd.DataFrame:
    """One row per outcome and lesion type (Cochrane Handbook 14.1)."""
    rows = []
    for aid, groups in certainty.items():
        a = analyses[aid]
        for group, cert in groups.items():
            fit = a["subgroups"][group]
            effect, ci = _effect_text(fit, a)
            procs = sorted({p for arm in fit.get("arms") or []
                            for p in str(procedures.get(aid, {}).get(arm, "")).split("+") if p})
            procedure = ("PVP" if procs == ["PVP"] else "PKP" if procs == ["PKP"] else
                         "PVP or PKP" if set(procs) <= {"PVP", "PKP", "VP_and_KP"} else
                         "vertebral augmentation")
            short = ", ".join(f"{d.replace('_', ' ')} −{v['levels']}"
                              for d, v in cert.downgrades.items() if v["levels"])
            reasons = "; ".join(f"{d.replace('_', ' ')}: {v['reason']}"
                                for d, v in cert.downgrades.items())
            overrides = "; ".join(f"{d.replace('_', ' ')}: {v['reason']}"
                                  for d, v in cert.downgrades.items()
                                  if str(v["reason"]).startswith("protocol override"))
            rows.append({
                "outcome": a["title"], "analysis": aid, "lesion_type": group,
                "effect": effect, "ci": ci, "studies": fit.get("k", 0),
                "patients": fit.get("patients") or "",
                "certainty": f"{SYMBOLS[cert.rating]} {cert.rating.upper()}",
                "rated_down": short or "—", "reasons": reasons, "overrides": overrides,
                "statement": _first_upper(_statement(fit, a, group, cert.rating, procedure,
                                                     windows.get(a.get("window") or ""))),
            })
    cols = ["outcome", "analysis", "lesion_type", "effect", "ci", "studies", "patients",
            "certainty", "rated_down", "statement", "reasons", "overrides"]
    return pd.DataFrame(rows, columns=cols)
