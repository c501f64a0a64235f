"""Report tables as DataFrames, written as CSV and Markdown.

- ``study_characteristics``: one row per study arm, like Table I of the index paper (author,
  year, procedure, patients, vertebrae, cement volume, primary tumours, follow-up,
  assessments), extended with design, lesion type and leakage as reported;
- ``data_quality``: discrepancies and ambiguities recorded in the study files, validation
  warnings (those the files accept marked so, with the reason), and every derived/imputed
  value or exclusion an analysis made.

Records are read through ``model_dump()`` so the tables only depend on field names.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..formatting import words as _words
from .comparison import PROCEDURE_WORDS

__all__ = [
    "INPUT_WORDS",
    "TABLE_WORDS",
    "data_quality",
    "in_words",
    "study_characteristics",
    "to_markdown",
    "write_table",
]


def _dump(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    return obj


def _get(mapping: Any, *names: str) -> Any:
    if not isinstance(mapping, Mapping):
        return None
    for name in names:
        if mapping.get(name) is not None:
            return mapping[name]
    return None


def _g(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return str(x)


def _summary(s: Any, unit: str = "") -> str:
    """'1.6 ± 0.8 (0.5-4.5) ml' from a summary mapping (mean/sd/median/min/max)."""
    if isinstance(s, (list, tuple)):
        return "; ".join(filter(None, (_summary(x, unit) for x in s)))
    if not isinstance(s, Mapping):
        return ""
    parts = []
    if s.get("mean") is not None:
        text = _g(s["mean"])
        if s.get("sd") is not None:
            text += f" ± {_g(s['sd'])}"
        parts.append(text)
    elif s.get("median") is not None:
        parts.append(f"median {_g(s['median'])}")
    elif s.get("value") is not None:
        parts.append(_g(s["value"]))
    if s.get("min") is not None and s.get("max") is not None:
        rng = f"{_g(s['min'])}-{_g(s['max'])}"
        parts.append(f"({rng})" if parts else rng)
    if not parts:
        return ""
    label = s.get("subgroup")
    if unit and s.get("value") == 1 and s.get("mean") is None and unit.endswith("s"):
        unit = unit[:-1]  # "1 year", not "1 years"
    text = " ".join(parts) + (f" {unit}" if unit else "")
    return f"{label}: {text}" if label else text


def _count(c: Any) -> str:
    if isinstance(c, Mapping):
        return _g(c.get("value"))
    return _g(c)


def _tumours(t: Any) -> str:
    counts = _get(t, "counts")
    if not isinstance(counts, Mapping):
        return ""
    return ", ".join(f"{name.replace('_', ' ')} ({_g(n)})" for name, n in counts.items())


def _leakage(entries: Any) -> str:
    out = []
    for e in entries or []:
        if not isinstance(e, Mapping):
            continue
        unit = e.get("unit") or ""
        events, total = e.get("events"), e.get("total")
        if events is None and total is None:
            continue
        frac = f"{_g(events)}/{_g(total)}" if total is not None else f"{_g(events)}"
        text = f"{frac} per {unit}" if unit != "ambiguous" else f"{frac} (unit not stated)"
        out.append(text)
    return "; ".join(out)


def study_characteristics(records: Sequence[Any], bibliography: Any = None) -> pd.DataFrame:
    """One row per study arm, in record (key) order."""
    rows = []
    from .analyses import study_label

    for rec in records:
        d = _dump(rec)
        key = d.get("key")
        entry = bibliography[key] if bibliography is not None and key in bibliography else {}
        label = study_label(bibliography, key) if entry else key
        for arm in d.get("arms") or []:
            instruments = [o.get("instrument") for o in arm.get("outcomes") or []
                           if isinstance(o, Mapping)]
            follow = _get(arm, "follow_up", "follow_up_months")
            unit = ""
            if isinstance(follow, Mapping):
                unit = follow.get("unit") or ("months" if "follow_up_months" in arm else "")
            rows.append({
                "study": key,
                "author": label,
                "year": str(entry.get("year", "")) if entry else "",
                "design": _words(d.get("design")),
                "source_access": _words(d.get("source_access")),
                "procedure": PROCEDURE_WORDS.get(str(arm.get("procedure") or d.get("procedure")),
                                                 str(arm.get("procedure") or d.get("procedure")
                                                     or "").replace("_", " ")),
                "arm": arm.get("label") or arm.get("id"),
                "lesion_type": _words(arm.get("lesion_type")),
                "patients": _count(arm.get("patients")),
                "vertebrae": _count(arm.get("vertebrae")),
                "cement_volume_ml": _summary(_get(arm, "cement_volume_ml"), "ml"),
                "primary_tumours": _tumours(arm.get("primary_tumours")),
                "follow_up": _summary(follow, unit),
                "assessments": ", ".join(dict.fromkeys(i for i in instruments if i)),
                "leakage": _leakage(arm.get("leakage")),
            })
    cols = ["study", "author", "year", "design", "source_access", "procedure", "arm",
            "lesion_type", "patients", "vertebrae", "cement_volume_ml", "primary_tumours",
            "follow_up", "assessments", "leakage"]
    return pd.DataFrame(rows, columns=cols)


def _values(values: Any) -> str:
    out = []
    for v in values or []:
        if isinstance(v, Mapping):
            where = v.get("source") or ""
            via = f" via {v['via']}" if v.get("via") else ""
            out.append(f"{_g(v.get('value'))} ({where}{via})")
        else:
            out.append(_g(v))
    return "; ".join(out)


def data_quality(records: Sequence[Any], analyses: Mapping[str, Mapping[str, Any]],
                 findings: Iterable[Any] = ()) -> pd.DataFrame:
    """Discrepancies, ambiguities, validation warnings and analysis-time derivations."""
    rows = []
    for rec in records:
        d = _dump(rec)
        key = d.get("key")
        for disc in d.get("discrepancies") or []:
            if not isinstance(disc, Mapping):
                continue
            used = disc.get("used")
            rows.append({"study": key, "kind": "discrepancy", "analysis": "",
                         "about": disc.get("item", ""), "detail": _values(disc.get("values")),
                         "resolution": (f"uses {_g(used)}: " if used is not None else
                                        "none used: ") + str(disc.get("reason", ""))})
        for amb in d.get("ambiguities") or []:
            about = amb.get("about", "") if isinstance(amb, Mapping) else str(amb)
            fields = ", ".join(amb.get("fields") or []) if isinstance(amb, Mapping) else ""
            rows.append({"study": key, "kind": "ambiguity", "analysis": "", "about": about,
                         "detail": fields, "resolution": "decided by the protocol's rules"})
    for f in findings:
        # an accepted warning keeps its reason: the reviewer checked it against the source
        reason = str(getattr(f, "reason", "") or "")
        rows.append({"study": Path(str(getattr(f, "path", ""))).stem, "kind":
                     f"validation {getattr(f, 'severity', '')}".strip(), "analysis": "",
                     "about": str(getattr(f, "field", "")),
                     "detail": str(getattr(f, "message", "")),
                     "resolution": f"accepted: {reason}" if reason else ""})
    for aid, a in analyses.items():
        for fl in a.get("flagged") or []:
            rows.append({"study": fl["study"], "kind": "derived/imputed", "analysis": aid,
                         "about": f"arm {fl['arm']}", "detail": "; ".join(fl["flags"]),
                         "resolution": "used, flagged in every output"})
        for ex in a.get("excluded") or []:
            rows.append({"study": ex["study"], "kind": "excluded", "analysis": aid,
                         "about": f"arm {ex['arm']}", "detail": ex["reason"],
                         "resolution": "listed in the figure footnote, not pooled"})
    cols = ["study", "kind", "analysis", "about", "detail", "resolution"]
    return pd.DataFrame(rows, columns=cols)


def _cell(value: Any) -> str:
    text = _g(value) if not isinstance(value, str) else value
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(frame: pd.DataFrame) -> str:
    """A GitHub/pandoc pipe table (no extra dependency)."""
    head = "| " + " | ".join(_cell(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body]) + "\n"


#: the enum columns of the study-level input tables, in words in their Markdown
INPUT_WORDS: dict[str, Mapping[str, str]] = {"design": {}, "procedure": PROCEDURE_WORDS,
                                             "lesion_type": {}, "group": {}}
#: report table -> its columns of enum values or ids, in words where people read them
TABLE_WORDS: dict[str, dict[str, Mapping[str, str]]] = {"sensitivity": {"scenario": {}}}


def in_words(frame: pd.DataFrame, columns: Mapping[str, Mapping[str, str]]) -> pd.DataFrame:
    """``frame`` with the enum values of ``columns`` (column -> vocabulary) as words
    (``formatting.words``); other columns, and columns it lacks, as they were."""
    out = frame.copy()
    for column, vocabulary in columns.items():
        if column in out.columns:
            out[column] = out[column].map(lambda v, voc=vocabulary: _words(v, voc))
    return out


def write_table(frame: pd.DataFrame, folder: Path, name: str, title: str | None = None,
                notes: Sequence[str] = (),
                words: Mapping[str, Mapping[str, str]] | None = None) -> list[Path]:
    """Write ``name.csv`` and ``name.md``; returns both paths. ``notes``: footnote lines
    under the Markdown table.

    ``words`` (column -> vocabulary): columns whose enum values the Markdown, which people
    read, writes as words; the CSV keeps the ids, which scripts match on."""
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / f"{name}.csv"
    md = folder / f"{name}.md"
    frame.to_csv(csv, index=False, lineterminator="\n")
    text = (f"# {title}\n\n" if title else "") + to_markdown(in_words(frame, words or {}))
    if notes:
        text += "".join(f"\nNote: {line}\n" for line in notes)
    md.write_text(text, encoding="utf-8", newline="\n")
    return [csv, md]
