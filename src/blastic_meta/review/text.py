"""Citable sentences built from the analysis results (Markdown with pandoc keys, LaTeX).

Every number in the text is formatted from the result dictionaries (``AnalysisResult.to_dict``,
the same objects written to ``summary.json``) with ``formatting``'s helpers, so a sentence can
never disagree with a table, a figure or the JSON. Each pooled statement cites exactly the
studies that contributed to it: ``[@key1; @key2]`` for pandoc, ``\\citep{key1,key2}`` for
LaTeX. Studies that were excluded are named by their label only and never cited there.
The same helpers back the ``render`` filters.

A study whose bibliography entry has no authors is cited under its name (``names``: the
label without its year, 'Acta Radiol'): ``Acta Radiol [-@key]`` in running text and
``[@a; Acta Radiol -@key]`` in parentheses, so that citeproc prints 'Acta Radiol (2007)'
and '(Tian et al. 2016; Acta Radiol 2007)' instead of a bare '(2007)' or the whole title
(the Chicago author-date style substitutes the title for a missing author). In LaTeX,
``Acta Radiol \\citeyearpar{key}``; natbib's parenthetical ``\\citep`` reads the ``key``
field that ``Bibliography.to_bibtex`` writes for such an entry.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..formatting import fmt_num, fmt_p, fmt_signed

__all__ = [
    "LATEX",
    "MARKDOWN",
    "Style",
    "ci_text",
    "cite",
    "cite_narrative",
    "cite_parenthetical",
    "describe_analysis",
    "estimate_ci",
    "estimates_document",
    "i2_text",
    "pi_text",
    "tau2_text",
    "value_text",
]

DIGITS = 2  # VAS points and logit tau2 in prose; proportions as percent with 1 decimal


@dataclass(frozen=True)
class Style:
    """Markup differences between the Markdown and the LaTeX text."""

    name: str
    tau2: str
    i2: str
    percent: str
    heading: str
    #: key -> name of each study without authors (see the module docstring)
    names: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def latex(self) -> bool:
        return self.name == "latex"

    def cite(self, keys: Sequence[str]) -> str:
        return cite_parenthetical(keys, latex=self.latex, names=self.names)

    def cite_narrative(self, key: str) -> str:
        return cite_narrative(key, latex=self.latex, names=self.names)

    def escape(self, text: str) -> str:
        if self.name != "latex":
            return text
        return re.sub(r"([%&#_$])", r"\\\1", text).replace("τ²", "$\\tau^2$").replace(
            "I²", "$I^2$").replace("≥", "$\\geq$")


MARKDOWN = Style("markdown", tau2="τ²", i2="I²", percent="%", heading="## ")
LATEX = Style("latex", tau2="$\\tau^2$", i2="$I^2$", percent="\\%", heading="\\subsection*")


def _name(name: str, latex: bool) -> str:
    """A study's name as text beside a citation: no character that ends a pandoc citation
    or starts a key, LaTeX specials escaped."""
    text = " ".join(re.sub(r"[\[\]@;]", " ", name).split())
    return LATEX.escape(text).replace("…", "\\ldots{}") if latex else text


def cite_parenthetical(keys: Sequence[str], *, latex: bool = False,
                       names: Mapping[str, str] | None = None) -> str:
    """``[@a; @b]`` or ``\\citep{a,b}``; a study without authors as ``Name -@key`` (pandoc
    prints 'Name 2007')."""
    keys = list(dict.fromkeys(keys))
    if not keys:
        return ""
    if latex:
        return "\\citep{" + ",".join(keys) + "}"
    names = names or {}
    return "[" + "; ".join(f"{_name(names[k], False)} -@{k}" if names.get(k) else f"@{k}"
                           for k in keys) + "]"


def cite_narrative(key: str, *, latex: bool = False,
                   names: Mapping[str, str] | None = None) -> str:
    """A study as the subject of a sentence: ``@key`` / ``\\citet{key}`` ('Tian et al.
    (2016)'), or for a study without authors its name and the year in brackets,
    ``Acta Radiol [-@key]`` / ``Acta Radiol \\citeyearpar{key}`` ('Acta Radiol (2007)')."""
    name = (names or {}).get(key)
    if name:
        year = f"\\citeyearpar{{{key}}}" if latex else f"[-@{key}]"
        return f"{_name(name, latex)} {year}"
    return f"\\citet{{{key}}}" if latex else f"@{key}"


def _nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def value_text(value: Any, scale: str, style: Style = MARKDOWN) -> str:
    """One estimate: VAS points with 2 decimals, a proportion as a percentage."""
    if _nan(value):
        return "NA"
    if scale == "proportion":
        return fmt_signed(100.0 * float(value), 1, latex=style.latex) + style.percent
    return fmt_signed(float(value), DIGITS, latex=style.latex)


def estimate_ci(fit: Mapping[str, Any], style: Style = MARKDOWN, level: float = 0.95) -> str:
    """'4.41 (95% CI 2.33 to 6.49)' on the fit's reporting scale."""
    scale = fit.get("scale", "MC")
    lvl = f"{100 * level:g}{style.percent}"
    return (f"{value_text(fit['estimate'], scale, style)} ({lvl} CI "
            f"{value_text(fit['ci_low'], scale, style)} to "
            f"{value_text(fit['ci_high'], scale, style)})")


def pi_text(fit: Mapping[str, Any], style: Style = MARKDOWN, level: float = 0.95) -> str:
    """'95% PI 1.20 to 7.61', or 'PI not estimable' when k is too small."""
    if _nan(fit.get("pi_low")) or _nan(fit.get("pi_high")):
        return "prediction interval not estimable"
    scale = fit.get("scale", "MC")
    return (f"{100 * level:g}{style.percent} PI {value_text(fit['pi_low'], scale, style)} to "
            f"{value_text(fit['pi_high'], scale, style)}")


def tau2_text(fit: Mapping[str, Any], style: Style = MARKDOWN) -> str:
    scale = " (logit scale)" if fit.get("scale") == "proportion" else ""
    return f"{style.tau2}{scale} = {fmt_num(fit.get('tau2'), DIGITS + 1)}"


def i2_text(fit: Mapping[str, Any], style: Style = MARKDOWN) -> str:
    return f"{style.i2} = {fmt_num(fit.get('i2'), 1)}{style.percent}"


def cite(keys: Iterable[str], style: Style = MARKDOWN) -> str:
    return style.cite(list(keys))


def _patients(fit: Mapping[str, Any]) -> str:
    p = fit.get("patients")
    return f"{p} patients" if p is not None else "patient numbers not reported for every study"


def _studies(k: int, n_studies: int | None = None) -> str:
    if n_studies is not None and n_studies != k:
        return f"k = {k} study arms from {n_studies} studies"
    return f"k = {k} stud{'y' if k == 1 else 'ies'}"


def _group_name(name: str) -> str:
    return {"overall": "all compared lesion types together"}.get(name, f"{name} reports")


def _plural(unit: str, count: Any) -> str:
    if count == 1:
        return unit
    return {"vertebra": "vertebrae"}.get(unit, unit + "s")


def ci_text(fit: Mapping[str, Any], style: Style, level: float = 0.95) -> str:
    scale = fit.get("scale", "MC")
    return (f"{100 * level:g}{style.percent} CI {value_text(fit['ci_low'], scale, style)} to "
            f"{value_text(fit['ci_high'], scale, style)}")


def _fit_sentence(name: str, fit: Mapping[str, Any], analysis: Mapping[str, Any],
                  labels: Mapping[str, str], style: Style) -> str:
    what = _what(analysis)
    citation = style.cite(fit["studies"])
    scale = fit.get("scale", "MC")
    value = value_text(fit["estimate"], scale, style) + (
        " points" if scale == "MC" and analysis.get("outcome") == "vas" else "")
    if fit["status"] != "pooled":
        study = labels.get(fit["studies"][0], fit["studies"][0])
        return (f"In {_group_name(name)}, one study reported the {what} ({study} "
                f"{citation}): {value} ({ci_text(fit, style)}); not pooled.")
    count = _studies(fit["k"], len(fit["studies"]))
    if scale == "proportion" and fit.get("total") is not None:
        unit = analysis.get("unit") or "patient"
        count += f", {fit.get('events')}/{fit['total']} {_plural(unit, fit['total'])}"
    details = "; ".join([ci_text(fit, style), pi_text(fit, style), tau2_text(fit, style),
                         i2_text(fit, style), f"{count}, {_patients(fit)}"])
    return f"In {_group_name(name)}, the pooled {what} was {value} ({details}) {citation}."


def _what(analysis: Mapping[str, Any]) -> str:
    outcome = analysis.get("outcome")
    if outcome == "vas":
        return "reduction in VAS pain (points on 0-10, baseline minus follow-up)"
    if outcome == "qol":
        return (f"change in {analysis.get('instrument') or 'the quality-of-life'} score "
                f"(baseline minus follow-up)")
    unit = analysis.get("unit") or "patient"
    return {"leakage": f"cement leakage rate per {unit}",
            "leakage_symptomatic": f"symptomatic cement leakage rate per {unit}",
            "responder": "responder proportion"}.get(outcome, str(outcome))


def _test_sentence(analysis: Mapping[str, Any], style: Style) -> str | None:
    tests = analysis.get("subgroup_test") or {}
    if not tests:
        return None
    parts = []
    for conv in ("separate", "common"):
        t = tests.get(conv)
        if t is None:
            continue
        if t.get("note"):
            parts.append(f"with {conv} {style.tau2}: {t['note']}")
        else:
            stat = t.get("statistic") or "Q"
            df = fmt_num(t["df"], 0)
            if stat == "F" and t.get("df2") is not None:
                df += f", {fmt_num(t['df2'], 0)}"
            parts.append(f"with {conv} {style.tau2}: {stat} = {fmt_num(t['q_between'], DIGITS)}"
                         f", df = {df}, p {fmt_p(t['pval'], 3, equals=True)}")
    groups = next(iter(tests.values())).get("groups") or []
    if len(groups) < 2:
        return None  # one lesion type only: nothing to compare
    notes = {t.get("note") for t in tests.values()}
    if len(notes) == 1 and None not in notes:
        return f"Test for subgroup differences ({' vs '.join(groups)}): {notes.pop()}."
    return f"Test for subgroup differences ({' vs '.join(groups)}): " + "; ".join(parts) + "."


def describe_analysis(analysis_id: str, analysis: Mapping[str, Any],
                      labels: Mapping[str, str], style: Style = MARKDOWN) -> str:
    """One paragraph for one analysis (heading included)."""
    title = style.escape(analysis["title"])
    head = (f"{style.heading}{title} ({analysis_id})" if style.name != "latex"
            else f"\\subsection*{{{title}}}\\label{{{analysis_id.replace('_', '-')}}}")
    sentences: list[str] = []
    fits = dict(analysis.get("subgroups") or {})
    if analysis.get("overall"):
        fits["overall"] = analysis["overall"]
    if not fits:
        sentences.append(f"No study in the registry reported usable data for this analysis "
                         f"({style.escape(_what(analysis))}).")
    for name, fit in fits.items():
        sentences.append(_fit_sentence(name, fit, analysis, labels, style))
    for note in analysis.get("notes") or []:
        sentences.append(style.escape(f"Note: {note}."))
    test = _test_sentence(analysis, style)
    if test and fits:
        sentences.append(test)
    within = analysis.get("within_study") or []
    for w in within:
        sentences.append(
            f"Within-study comparison ({' minus '.join(w['groups'])}, {w['measure']}) in "
            f"{labels.get(w['study'], w['study'])} {style.cite([w['study']])}: "
            f"{_signed(w['yi'], style)} (95{style.percent} CI {_signed(w['ci_low'], style)} "
            f"to {_signed(w['ci_high'], style)}); kept apart from the between-study comparison.")
    flagged = analysis.get("flagged") or []
    if flagged:
        items = [f"{_arm_label(f, labels)} ({'; '.join(f['flags'])})" for f in flagged]
        sentences.append("Derived or imputed values: " + style.escape("; ".join(items)) + ".")
    excluded = analysis.get("excluded") or []
    if excluded:
        items = [f"{_arm_label(e, labels)} ({e['reason']})" for e in excluded]
        sentences.append("Not pooled: " + style.escape("; ".join(items)) + ".")
    small = analysis.get("small_study") or {}
    if small and fits:
        sentences.append("Small-study effects: " + style.escape("; ".join(
            f"{k}: {v}" for k, v in small.items())) + ".")
    sentences.append(f"Method: {style.escape(analysis['method'])}.")
    body = " ".join(sentences)
    return f"{head}\n\n{body}\n"


def _signed(value: Any, style: Style) -> str:
    return fmt_signed(value, DIGITS, latex=style.latex)


def _arm_label(item: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    label = labels.get(item["study"], item.get("label") or item["study"])
    return label if item.get("arm") in (None, "all") else f"{label}, arm {item['arm']}"


def estimates_document(summary: Mapping[str, Any], labels: Mapping[str, str],
                       style: Style = MARKDOWN) -> str:
    """The whole estimates.md / estimates.tex text from the summary dictionary."""
    if style.name == "latex":
        head = ("% Pooled estimates generated by blastic-meta from the study registry.\n"
                "% Do not edit: rerun `blastic-meta report`. Needs natbib (\\citep).\n\n")
    else:
        head = ("# Pooled estimates\n\nGenerated by `blastic-meta report` from the study "
                "registry; do not edit by hand. Citations are pandoc keys resolved by "
                "`references.bib`.\n\n")
    parts = [describe_analysis(aid, a, labels, style)
             for aid, a in summary["analyses"].items()]
    return head + "\n".join(parts)
