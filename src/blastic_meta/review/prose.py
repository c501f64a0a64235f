"""The text a researcher pastes: ``estimates.md`` (pandoc) and ``estimates.tex`` (natbib).

One Methods paragraph written from the protocol; per analysis and lesion type one short
sentence (estimate, CI, PI where k >= 3, k, patients, the citations of exactly the contributing
studies, and a reading against the protocol's clinically important difference); one sentence
on the lesion-type comparison; footnotes for derived values, exclusions and tests that could
not be run; a Limitations paragraph. Every number is formatted from the summary dictionaries
written to ``summary.json``, so the prose cannot disagree with a table or a figure. Citations
name authors once: ``@key`` in running text (pandoc narrative) or ``[@key]`` in parentheses
(``\\citet`` / ``\\citep`` in LaTeX); a study without authors is named in the text beside a
year-only citation (``Acta Radiol [-@key]``, see ``text.cite_narrative``), so that no
sentence reads '(2007) reported' after citeproc.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..formatting import MINUS, fmt_p, fmt_signed
from . import text as _text
from .clinical import reading

__all__ = [
    "ProseStyle",
    "analysis_text",
    "group_phrase",
    "latex_style",
    "markdown_style",
    "number",
]

_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven",
          8: "eight", 9: "nine"}


@dataclass
class ProseStyle:
    """Markup of one output format; collects the footnotes of the document being written.

    ``html`` cites by label ('Tian et al. 2016') linked to the reference list (``labels``);
    Markdown and LaTeX cite a study without authors under its name (``names``, key -> name,
    as ``Bibliography.citation_names`` gives it)."""

    name: str
    notes: list[str] = field(default_factory=list)
    labels: Mapping[str, str] = field(default_factory=dict)
    names: Mapping[str, str] = field(default_factory=dict)

    @property
    def html(self) -> bool:
        return self.name == "html"

    @property
    def latex(self) -> bool:
        return self.name == "latex"

    @property
    def percent(self) -> str:
        return "\\%" if self.latex else "%"

    def cite(self, keys: Sequence[str]) -> str:
        keys = list(dict.fromkeys(keys))
        if self.html:
            return "(" + "; ".join(self._link(k) for k in keys) + ")" if keys else ""
        return _text.cite_parenthetical(keys, latex=self.latex, names=self.names)

    def cite_narrative(self, key: str) -> str:
        if self.html:
            return self._link(key)
        return _text.cite_narrative(key, latex=self.latex, names=self.names)

    def _link(self, key: str) -> str:
        from html import escape

        return f'<a href="#ref-{escape(key)}">{escape(self.labels.get(key, key))}</a>'

    def escape(self, text: str) -> str:
        if self.html:
            from html import escape

            return escape(text, quote=False)
        if not self.latex:
            return text
        out = re.sub(r"([%&#_$])", r"\\\1", text)
        return (out.replace("τ²", "$\\tau^2$").replace("I²", "$I^2$").replace("≥", "$\\geq$")
                .replace("±", "$\\pm$").replace(MINUS, "$-$").replace("…", "\\ldots{}"))

    def footnote(self, text: str) -> str:
        """A footnote marker here; the note itself goes to the end (Markdown, HTML) or
        inline (LaTeX)."""
        body = self.escape(text)
        if self.latex:
            return f"\\footnote{{{body}}}"
        self.notes.append(body)
        n = len(self.notes)
        if self.html:
            return f'<sup><a href="#fn-{n}" id="fnref-{n}">{n}</a></sup>'
        return f"[^{n}]"

    def heading(self, title: str, anchor: str) -> str:
        if self.html:
            return f'<h3 id="{anchor}">{self.escape(title)}</h3>'
        if self.latex:
            return f"\\subsection*{{{self.escape(title)}}}\\label{{{anchor.replace('_', '-')}}}"
        return f"## {title} ({anchor})"


def markdown_style(names: Mapping[str, str] | None = None) -> ProseStyle:
    """A fresh Markdown (pandoc) style: each document collects its own footnotes.

    ``names``: key -> name of each study without authors (``Bibliography.citation_names``)."""
    return ProseStyle("markdown", names=dict(names or {}))


def latex_style(names: Mapping[str, str] | None = None) -> ProseStyle:
    """A fresh LaTeX (natbib) style; ``names`` as for ``markdown_style``."""
    return ProseStyle("latex", names=dict(names or {}))


def html_style(labels: Mapping[str, str]) -> ProseStyle:
    """A fresh HTML style citing by label, for report.html."""
    return ProseStyle("html", labels=dict(labels))


def number(value: Any, digits: int, style: ProseStyle) -> str:
    """A signed number with a true minus sign (``$-$`` in LaTeX), as ``fmt_signed``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NA"
    return fmt_signed(float(value), digits, latex=style.latex)


def _value(value: Any, scale: str, style: ProseStyle) -> str:
    if scale == "proportion":
        return number(None if value is None else 100 * float(value), 1, style) + style.percent
    if scale == "ROMC":
        return number(value, 2, style)
    return number(value, 2, style)


def _interval(low: Any, high: Any, scale: str, style: ProseStyle, word: str = "CI",
              level: float = 0.95) -> str:
    return (f"{100 * level:g}{style.percent} {word} {_value(low, scale, style)} to "
            f"{_value(high, scale, style)}")


def group_phrase(group: str) -> str:
    """'osteoblastic metastases', 'myeloma', 'metastases of unspecified lesion type'."""
    return {"osteoblastic": "osteoblastic metastases", "osteolytic": "osteolytic metastases",
            "mixed": "metastases of mixed lesion type", "myeloma": "myeloma",
            "unspecified": "metastases of unspecified lesion type"}.get(group, group)


def _count(k: int, patients: Any, unit: str = "patients") -> str:
    studies = f"{k} stud{'y' if k == 1 else 'ies'}"
    if patients is None:
        return f"{studies}, patients not reported in every study"
    return f"{studies}, {patients} {unit}"


def _count_text(value: Any) -> str:
    if value is None:
        return "NA"
    return f"{value:g}" if isinstance(value, float) and not float(value).is_integer() \
        else str(int(value))


def _what(analysis: Mapping[str, Any]) -> tuple[str, str]:
    """(phrase of a pooled or side-by-side result, phrase of one study's report), each with
    ``{v}`` where the value goes."""
    outcome, unit = analysis.get("outcome"), analysis.get("unit") or "patient"
    when = _when(analysis)
    if outcome == "vas":
        return f"pain fell{when} by {{v}}", f"a fall in pain of {{v}}{when}"
    if outcome == "qol":
        inst = analysis.get("instrument")
        way = _direction_words(analysis)
        return (f"the {inst} score changed{when} by {{v}} (baseline minus follow-up{way})",
                f"a change in the {inst} score of {{v}}{when} (baseline minus follow-up{way})")
    noun = {"leakage": "cement leakage", "leakage_symptomatic": "symptomatic cement leakage",
            "responder": "the responder rate"}.get(str(outcome), str(outcome))
    return f"{noun} per {unit} was {{v}}", f"{noun} per {unit} of {{v}}"


def _direction_words(analysis: Mapping[str, Any]) -> str:
    """How the sources state the direction of the score; never assumed."""
    entries = analysis.get("scale_direction") or []
    stated = {d.get("lower_is_better") for d in entries}
    where = "; ".join(sorted({str(d["source"]) for d in entries if d.get("source")}))
    at = f" ({where})" if where else ""
    if stated == {True}:
        return f"; lower is better, as the source reads it{at}"
    if stated == {False}:
        return f"; higher is better, as the source reads it{at}"
    return "; the source does not state which direction is better"


def _when(analysis: Mapping[str, Any]) -> str:
    window = analysis.get("window_label")
    return f" at {window}" if window else ""


def _clinical(fit: Mapping[str, Any], analysis: Mapping[str, Any],
              clinical: Mapping[str, Any], style: ProseStyle | None = None) -> str:
    """The estimate and its CI read against the clinically important change of this result
    (``review.clinical``: the larger of 2 points and 30% of its baseline mean)."""
    text = _reading(fit, analysis, clinical, style)
    return f"; {text}" if text else ""


def _reading(fit: Mapping[str, Any], analysis: Mapping[str, Any],
             clinical: Mapping[str, Any], style: ProseStyle | None = None) -> str:
    if analysis.get("outcome") != "vas" or fit.get("scale") != "MC":
        return ""
    return reading(fit, clinical, style.percent if style else "%")


def _side_by_side_clinical(per: Sequence[Mapping[str, Any]], analysis: Mapping[str, Any],
                           clinical: Mapping[str, Any], style: ProseStyle) -> str:
    """One short sentence per unpooled study: its CI against its own clinically important
    change (each study has its own baseline, so its own threshold)."""
    out = []
    for r in per:
        reading = _reading({**r, "scale": "MC"}, analysis, clinical, style)
        if reading:
            out.append(f" In {style.cite_narrative(r['study'])}, {reading}.")
    return "".join(out)


def _bayes_sentence(fit: Mapping[str, Any], scale: str, style: ProseStyle) -> str:
    b = fit.get("bayes")
    if not b:
        return ""
    prior = ("half-normal" if b.get("tau_prior") == "halfnormal" else "half-Cauchy")
    return (f" A Bayesian random-effects fit gives {_value(b['estimate'], scale, style)} "
            f"({_interval(b['ci_low'], b['ci_high'], scale, style, 'CrI')}; {prior} prior "
            f"on τ with scale {b['tau_scale']:g})."
            ).replace("τ", "$\\tau$" if style.latex else "τ")


def subgroup_sentence(group: str, fit: Mapping[str, Any], analysis: Mapping[str, Any],
                      style: ProseStyle, clinical: Mapping[str, Any]) -> str:
    """One sentence for one lesion type."""
    pooled_phrase, single_phrase = _what(analysis)
    scale = fit.get("scale", "MC")
    proportion = scale == "proportion"
    unit = {"vertebra": "vertebrae"}.get(analysis.get("unit") or "", "patients")
    head = f"In {group_phrase(group)} ({_count(fit['k'], fit.get('patients'))})"
    status = fit["status"]
    points = " points" if analysis.get("outcome") == "vas" and not proportion else ""

    def crude(f: Mapping[str, Any]) -> str:
        return (f" ({_count_text(f.get('events'))}/{_count_text(f.get('total'))} {unit})"
                if proportion and f.get("total") is not None else "")

    if status == "pooled":
        parts = [_interval(fit["ci_low"], fit["ci_high"], scale, style)]
        if fit.get("pi_low") is not None and fit.get("pi_high") is not None:
            parts.append(_interval(fit["pi_low"], fit["pi_high"], scale, style, "PI"))
        value = _value(fit["estimate"], scale, style) + points
        return (f"{head}, {pooled_phrase.format(v=value)}{crude(fit)} ({'; '.join(parts)}) "
                f"{style.cite(fit['studies'])}{_clinical(fit, analysis, clinical, style)}.")
    if status in ("no events", "all events"):
        word = "no" if status == "no events" else "every"
        noun = pooled_phrase.split(" per ")[0]
        one = unit[:-1] if unit == "patients" else "vertebra"
        return (f"{head}, {word} {one} had {noun} ({_count_text(fit.get('events'))}/"
                f"{_count_text(fit.get('total'))}; exact "
                f"{_interval(fit['crude_ci_low'], fit['crude_ci_high'], scale, style)}) "
                f"{style.cite(fit['studies'])}; not pooled.")
    per = fit.get("per_study") or []
    if status == "single study" and per:
        r = per[0]
        value = _value(r["estimate"], scale, style) + points
        return (f"{head}, {style.cite_narrative(r['study'])} reported "
                f"{single_phrase.format(v=value)}{crude(fit)} "
                f"({_interval(r['ci_low'], r['ci_high'], scale, style)})"
                f"{_clinical({**fit, **r, 'scale': scale}, analysis, clinical, style)}.")
    items = [f"{_value(r['estimate'], scale, style)}{points} in "
             f"{style.cite_narrative(r['study'])} "
             f"({_interval(r['ci_low'], r['ci_high'], scale, style)})" for r in per]
    joined = " and ".join([", ".join(items[:-1]), items[-1]]) if len(items) > 1 else \
        (items[0] if items else "")
    why = f"not pooled at k = {fit['k']}" if status == "side by side" else "not estimable"
    readings = _side_by_side_clinical(per, analysis, clinical, style) if scale == "MC" else ""
    return (f"{head}, {pooled_phrase.format(v=joined)}; {why}.{readings}"
            + _bayes_sentence(fit, scale, style))


def comparison_sentence(analysis: Mapping[str, Any], style: ProseStyle) -> str | None:
    """The lesion-type comparison in one sentence (within-study evidence first)."""
    c = analysis.get("comparison") or {}
    if not c:
        return None
    first, second = (c.get("groups") or ["osteoblastic", "osteolytic"])[:2]
    parts = []
    within = c.get("within") or []
    if within:
        by_fav: dict[str, list[str]] = {}
        for w in within:
            by_fav.setdefault(str(w.get("favours")), []).append(w["study"])
        better = {"vas": "better pain relief", "qol": "better quality of life",
                  "leakage": "less leakage", "leakage_symptomatic": "less leakage",
                  "responder": "more responders"}.get(str(analysis.get("outcome")),
                                                      "a better outcome")
        for fav, studies in by_fav.items():
            n = len(set(studies))
            count = _WORDS.get(n, str(n)).capitalize()
            who = f"{count} stud{'y' if n == 1 else 'ies'} comparing lesion types " \
                  f"within {'its' if n == 1 else 'their'} own patients"
            if fav in (first, second):
                what = f"found {better} with {fav} lesions"
            elif fav == "neither":
                what = "found no difference between lesion types"
            else:
                what = "reported a difference whose direction is unclear"
            parts.append(f"{who} {what} {style.cite(sorted(set(studies)))}")
    between = c.get("between")
    if between:
        measure = between["measure"]
        est = number(between["estimate"], 2, style)
        ci = f"{number(between['ci_low'], 2, style)} to {number(between['ci_high'], 2, style)}"
        sides = c.get("sides") or {}
        k1, k2 = (sides.get(g, {}).get("k", 0) for g in (first, second))
        conf = (f", confounded by procedure ({_procs(c, first)} vs {_procs(c, second)})"
                if c.get("confounded_by_procedure") else "")
        what = (f"the difference ({first} minus {second}) was MD {est}" if measure == "MD"
                else f"the odds ratio ({first} vs {second}) was {est}")
        parts.append(f"between studies ({k1} {first} vs {k2} {second} "
                     f"stud{'y' if k2 == 1 else 'ies'}), {what} (95{style.percent} CI {ci}; p "
                     f"{fmt_p(between['pval'], 3, equals=True)}){conf}")
    reason = c.get("reason")
    text = "; ".join(parts)
    if text:
        text = text[0].upper() + text[1:] + "."
    if reason:
        text = (text + " " if text else "") + style.escape(reason.strip())
    return text or None


def _procs(c: Mapping[str, Any], group: str) -> str:
    from .comparison import procedures_text

    return procedures_text((c.get("procedures") or {}).get(group) or [])


def _footnotes(analysis: Mapping[str, Any], labels: Mapping[str, str],
               style: ProseStyle) -> str:
    markers = []
    flagged = analysis.get("flagged") or []
    if flagged:
        items = [f"{labels.get(f['study'], f['study'])}: {'; '.join(f['flags'])}"
                 for f in flagged]
        markers.append(style.footnote("Derived, imputed or adjusted values: " + "; ".join(items)
                                      + "."))
    excluded = analysis.get("excluded") or []
    if excluded:
        items = [f"{labels.get(e['study'], e['label'])}"
                 + ("" if e.get("arm") in (None, "all") else f" (arm {e['arm']})")
                 + f": {e['reason']}" for e in excluded]
        markers.append(style.footnote("Not pooled: " + "; ".join(items) + "."))
    small = analysis.get("small_study") or {}
    not_run = [f"{g}: {v}" for g, v in small.items() if v.startswith("not assessable")]
    if not_run:
        markers.append(style.footnote("Small-study effects not assessed (" + "; ".join(not_run)
                                      + ")."))
    return "".join(markers)


def analysis_text(analysis_id: str, analysis: Mapping[str, Any], labels: Mapping[str, str],
                  style: ProseStyle, clinical: Mapping[str, Any]) -> str:
    """Heading, one sentence per lesion type, the comparison, and the footnotes."""
    sentences = []
    for group, fit in (analysis.get("subgroups") or {}).items():
        sentences.append(subgroup_sentence(group, fit, analysis, style, clinical))
    if not sentences:
        sentences.append("No study in the registry reported usable data for this analysis.")
    comp = comparison_sentence(analysis, style)
    if comp:
        sentences.append(comp)
    # one sentence per line: one paragraph when rendered, and each line pastes on its own
    body = "\n".join(sentences) + _footnotes(analysis, labels, style)
    return f"{style.heading(analysis['title'], analysis_id)}\n\n{body}\n"
