"""Tables of results, built from the summary dictionaries (so they match ``summary.json``):
pooled estimates, the osteoblastic-vs-osteolytic comparison, the baseline-robust pain
measures, and the sensitivity scenarios."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..formatting import fmt_num, fmt_p
from .comparison import procedures_text

__all__ = ["baseline_robust", "comparison_table", "pooled_estimates", "sensitivity_table",
           "value_text"]

_SCALE_DIGITS = {"MC": 2, "MN": 2, "ROMC": 2}


def value_text(value: Any, scale: str) -> str:
    """One number as the tables print it (proportions as percent with 1 decimal)."""
    if value is None:
        return ""
    if scale == "proportion":
        return fmt_num(100 * float(value), 1) + "%"
    return fmt_num(float(value), _SCALE_DIGITS.get(scale, 2))


def _ci(fit: Mapping[str, Any], lo: str = "ci_low", hi: str = "ci_high") -> str:
    if fit.get(lo) is None or fit.get(hi) is None:
        return ""
    sc = fit.get("scale", "MC")
    return f"[{value_text(fit[lo], sc)}, {value_text(fit[hi], sc)}]"


def _result_text(fit: Mapping[str, Any] | None) -> str:
    """'3.68 [1.20, 6.10]', '25.6% [16.6%, 36.4%] (1 study)', 'not pooled (k = 2)'."""
    if not fit:
        return ""
    sc = fit.get("scale", "MC")
    status = fit["status"]
    if status == "pooled":
        return f"{value_text(fit['estimate'], sc)} {_ci(fit)}"
    if status == "single study":
        return f"{value_text(fit['estimate'], sc)} {_ci(fit)} (1 study)"
    if status in ("no events", "all events"):
        return (f"{fit.get('events')}/{fit.get('total')} "
                f"[{value_text(fit['crude_ci_low'], sc)}, {value_text(fit['crude_ci_high'], sc)}]"
                f" ({status})")
    per = "; ".join(f"{value_text(r['estimate'], sc)}" for r in fit.get("per_study") or [])
    return f"not pooled (k = {fit['k']}: {per})" if per else status


def pooled_estimates(analyses: Mapping[str, Mapping[str, Any]],
                     labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per analysis and lesion type, each from one model."""
    rows = []
    for aid, a in analyses.items():
        fits = (a.get("subgroups") or {}).items()
        if not fits:
            rows.append({"analysis": aid, "title": a["title"], "role": a.get("role", ""),
                         "subgroup": "", "status": "no usable data", "k": 0, "patients": "",
                         "events": "", "estimate": "", "ci": "", "pi": "", "tau2": "",
                         "i2": "", "heterogeneity": "", "bayes": "", "model": a["method"],
                         "studies": ""})
        for name, f in fits:
            sc = f.get("scale", "MC")
            het = ""
            if f["status"] == "pooled" and f.get("q") is not None:
                label = "Wald QE" if sc == "proportion" else "Q"
                het = (f"{label} = {fmt_num(f['q'], 2)}, df = {fmt_num(f.get('q_df'), 0)}, "
                       f"p {fmt_p(f.get('q_pval'), 3, equals=True)}")
                if f.get("q_lrt") is not None:
                    het += (f"; LRT = {fmt_num(f['q_lrt'], 2)}, p "
                            f"{fmt_p(f.get('q_lrt_pval'), 3, equals=True)}")
            b = f.get("bayes") or {}
            rows.append({
                "analysis": aid, "title": a["title"], "role": a.get("role", ""),
                "subgroup": name, "status": f["status"], "k": f["k"],
                "patients": "" if f.get("patients") is None else str(f["patients"]),
                "events": "" if f.get("total") is None else f"{f['events']}/{f['total']}",
                "estimate": "" if f["status"] == "side by side" else
                value_text(f.get("estimate"), sc),
                "ci": _ci(f) if f["status"] != "no events" else
                _ci(f, "crude_ci_low", "crude_ci_high"),
                "pi": _ci(f, "pi_low", "pi_high"),
                "tau2": "" if f.get("tau2") is None else fmt_num(f["tau2"], 3),
                "i2": "" if f.get("i2") is None else fmt_num(f["i2"], 1) + "%",
                "heterogeneity": het,
                "bayes": (f"{value_text(b['estimate'], sc)} [{value_text(b['ci_low'], sc)}, "
                          f"{value_text(b['ci_high'], sc)}]" if b else ""),
                "model": f.get("model") or a["method"],
                "studies": "; ".join((labels or {}).get(s, s) for s in f.get("studies") or []),
            })
    cols = ["analysis", "title", "role", "subgroup", "status", "k", "patients", "events",
            "estimate", "ci", "pi", "tau2", "i2", "heterogeneity", "bayes", "model", "studies"]
    return pd.DataFrame(rows, columns=cols)


def comparison_table(analyses: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per analysis: each lesion type's result, the difference between them, the kind
    of evidence, the procedures on each side, k and patients."""
    rows = []
    for aid, a in analyses.items():
        c = a.get("comparison") or {}
        first, second = (c.get("groups") or ["osteoblastic", "osteolytic"])[:2]
        subs = a.get("subgroups") or {}
        between = c.get("between") or {}
        diff = ""
        if between:
            diff = (f"{between['measure']} {fmt_num(between['estimate'], 2)} "
                    f"[{fmt_num(between['ci_low'], 2)}, {fmt_num(between['ci_high'], 2)}], "
                    f"p {fmt_p(between['pval'], 3, equals=True)}")
        within = c.get("within") or []
        row = {"analysis": aid, "title": a["title"], "evidence": c.get("kind", "none"),
               first: _result_text(subs.get(first)), second: _result_text(subs.get(second)),
               "difference": diff,
               "within_study": "; ".join(
                   f"{w['label']}: favours {w.get('favours')}" for w in within),
               f"procedures_{first}": procedures_text((c.get("procedures") or {}).get(first)
                                                      or []),
               f"procedures_{second}": procedures_text((c.get("procedures") or {}).get(second)
                                                       or []),
               "confounded_by_procedure": "yes" if c.get("confounded_by_procedure") else "",
               f"k_{first}": (subs.get(first) or {}).get("k", 0),
               f"patients_{first}": (subs.get(first) or {}).get("patients") or "",
               f"k_{second}": (subs.get(second) or {}).get("k", 0),
               f"patients_{second}": (subs.get(second) or {}).get("patients") or "",
               "note": c.get("reason") or ""}
        rows.append(row)
    return pd.DataFrame(rows)


def baseline_robust(analyses: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Mean change beside the ratio of means and the follow-up mean, with each one's I²."""
    rows = []
    for aid, a in analyses.items():
        sec = a.get("secondary_measures") or {}
        if not sec:
            continue
        for group, fit in (a.get("subgroups") or {}).items():
            row = {"analysis": aid, "title": a["title"], "subgroup": group, "k": fit["k"],
                   "MC": _result_text(fit), "MC_i2": _i2(fit)}
            for measure, fits in sec.items():
                f = fits.get(group)
                row[measure] = _result_text(f)
                row[f"{measure}_i2"] = _i2(f)
            rows.append(row)
    return pd.DataFrame(rows)


def _i2(fit: Mapping[str, Any] | None) -> str:
    if not fit or fit.get("status") != "pooled" or fit.get("i2") is None:
        return ""
    return fmt_num(fit["i2"], 1) + "%"


def sensitivity_table(analyses: Mapping[str, Mapping[str, Any]],
                      sensitivity: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Every scenario beside the main result, per analysis and lesion type."""
    rows = []
    for aid, a in analyses.items():
        for group, fit in (a.get("subgroups") or {}).items():
            rows.append({"analysis": aid, "scenario": "main analysis", "subgroup": group,
                         "k": fit["k"], "result": _result_text(fit),
                         "comparison": _comparison_text(a.get("comparison")),
                         "description": "as pre-specified"})
        for sid, sc in (sensitivity.get(aid) or {}).items():
            subs = sc.get("subgroups") or {}
            if not subs:
                rows.append({"analysis": aid, "scenario": sid, "subgroup": "", "k": 0,
                             "result": "no usable data", "comparison": "",
                             "description": sc.get("description", "")})
            for group, fit in subs.items():
                rows.append({"analysis": aid, "scenario": sid, "subgroup": group,
                             "k": fit["k"], "result": _result_text(fit),
                             "comparison": _comparison_text(sc.get("comparison")),
                             "description": sc.get("description", "")})
    cols = ["analysis", "scenario", "subgroup", "k", "result", "comparison", "description"]
    return pd.DataFrame(rows, columns=cols)


def _comparison_text(c: Mapping[str, Any] | None) -> str:
    if not c:
        return ""
    b = c.get("between")
    if b:
        return (f"{b['measure']} {fmt_num(b['estimate'], 2)} [{fmt_num(b['ci_low'], 2)}, "
                f"{fmt_num(b['ci_high'], 2)}]")
    return c.get("kind", "")
