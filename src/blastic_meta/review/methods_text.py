"""The review-wide paragraphs of the pasted text: Methods (written from the protocol),
Limitations (from the registry and the results), and the whole ``estimates.md`` /
``estimates.tex`` document around the per-analysis sentences of ``prose``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..formatting import words
from .clinical import methods_sentence
from .prose import ProseStyle, analysis_text

__all__ = ["bayes_methods_sentence", "estimates_document", "limitations_paragraph",
           "methods_paragraph"]


_MEASURE_WORDS = {"ROMC": "the ratio of the follow-up to the baseline mean",
                  "MN": "the follow-up mean"}


def bayes_methods_sentence(protocol: Any) -> str:
    """Which analyses get the Bayesian random-effects fit, at which k, and what of it is
    given, from the protocol: only the scores (mean change of pain and quality of life, and
    the pain's secondary measures whose prior scale the protocol sets), never proportions,
    whose binomial-normal GLMM needs no normal approximation (Friede et al. 2017; Röver et
    al. 2021)."""
    m, b = protocol.model, protocol.bayes
    secondary = [_MEASURE_WORDS.get(x, x) for x in protocol.vas.secondary_measures
                 if x in b.tau_scale]
    if "MC" in b.tau_scale:
        what = "the pain and quality-of-life scores (mean change" + (
            f"; pain also as {' and as '.join(secondary)}" if secondary else "") + ")"
    elif secondary:
        what = f"pain as {' and as '.join(secondary)}"
    else:
        return "No Bayesian fit was made."
    low = max(2, b.min_k)
    ks = f"from k = {low}" + (f" to k = {b.max_k}" if b.max_k is not None else "")
    where = ("beside the frequentist fit" + (f" and, below k = {m.min_k}, beside the studies "
                                              f"shown side by side" if low < m.min_k else ""))
    scales = ", ".join(f"{k} {v:g}" for k, v in b.tau_scale.items())
    return (f"For {what}, a Bayesian random-effects model with a flat prior on the mean and "
            f"a {b.tau_prior.replace('half', 'half-')} prior on τ (scales: {scales}) is "
            f"reported {where} ({ks}; Friede et al. 2017; Röver et al. 2021), with a credible "
            f"interval for the mean; like the frequentist one, its prediction interval is not "
            f"given below k = {m.pi_min_k}.")


def methods_paragraph(protocol: Any, style: ProseStyle) -> str:
    """The analysis methods of the whole review, from the protocol (one paragraph)."""
    m, u, c = protocol.model, protocol.unit_of_analysis, protocol.clinical
    windows = "; ".join(
        w.label if "day" in w.label else
        f"{w.label} ({w.min_days}–{w.max_days} days)" if w.max_days else
        f"{w.label} (from day {w.min_days})" for w in protocol.windows)
    test = ("Hartung-Knapp confidence intervals" + (" with the ad hoc floor, so that no "
            "interval is narrower than the Wald interval (Knapp & Hartung 2003)" if m.adhoc
            else "")) if m.test == "knha" else "Wald-type confidence intervals"
    scenarios = ", ".join(words(s.id) for s in protocol.sensitivity)
    text = (
        f"Reported time points were mapped onto analysis windows ({windows}). Pain was "
        f"analysed as the mean change from baseline on a 0–10 scale (baseline minus follow-up) "
        f"with an assumed pre/post correlation of {protocol.vas.correlation:g} (sensitivity "
        f"range {min(protocol.vas.correlation_grid):g} to {max(protocol.vas.correlation_grid):g}),"
        f" and, to show how much heterogeneity the baseline explains, as the ratio of the "
        f"follow-up to the baseline mean and as the follow-up mean. Scores were pooled with "
        f"random-effects models ({m.method} τ², {test}); studies were pooled from k = "
        f"{m.min_k}, with two studies shown side by side; prediction intervals are given from "
        f"k = {m.pi_min_k}. {bayes_methods_sentence(protocol)} "
        f"Proportions, which get no Bayesian fit, were pooled with a binomial-normal "
        f"generalised linear mixed model "
        f"(maximum likelihood, logit link), whose own τ², I² and heterogeneity tests are "
        f"reported, without inverse-variance weights. Per-patient leakage is the primary "
        f"leakage outcome; per-vertebra counts were deflated by a design effect of 1 + (m − 1) "
        f"× ICC with each study's vertebrae per patient m and an assumed ICC of {u.icc:g} "
        f"(range {min(u.icc_grid):g} to {max(u.icc_grid):g}), and arms of one study in one "
        f"lesion type were combined so that each study counts once. Osteoblastic and "
        f"osteolytic lesions were compared with one pre-specified test per analysis: lesion "
        f"type as a moderator with a common τ² (meta-regression; for proportions the GLMM with "
        f"lesion type as moderator), with separate τ² as a sensitivity analysis; "
        f"within-study comparisons rank above between-study contrasts, which are "
        f"observational and confounded by procedure. Reported directions of effect were "
        f"tabulated and tested with a sign test where at least three studies reported one "
        f"(Campbell et al. 2020). Sensitivity analyses: {scenarios}. {methods_sentence(c)}")
    return style.escape(text)


def limitations_paragraph(summary: Mapping[str, Any], context: Mapping[str, Any],
                          style: ProseStyle) -> str:
    """What limits the evidence, each stated plainly, from the registry and the results."""
    n = context.get("n_studies", 0)
    abstract = context.get("n_abstract_only", 0)
    unverified = context.get("unverified") or []
    analyses = summary.get("analyses", {})
    flagged = {f["study"] for a in analyses.values() for f in a.get("flagged") or []}
    confounded = [a["title"] for a in analyses.values()
                  if (a.get("comparison") or {}).get("confounded_by_procedure")]
    missing = []
    for a in analyses.values():
        reason = (a.get("comparison") or {}).get("reason")
        first = (reason or "").split(". ")[0].rstrip(".") + "."
        if reason and reason.startswith("No ") and first not in missing:
            missing.append(first)
    parts = [f"Of the {n} studies, {abstract} could be read only as an abstract (or through "
             f"another paper), so most appraisal answers are 'unclear': those items could not "
             f"be appraised, which is no evidence that the studies are at low risk of bias."]
    if flagged:
        parts.append(f"{len(flagged)} studies entered an analysis with a derived, imputed or "
                     f"adjusted value (an SD from an unlabelled dispersion, an n taken from "
                     f"the arm, a design effect); each is named in the footnotes and left out "
                     f"in the sensitivity analysis without derived values.")
    if confounded:
        parts.append("Every lesion-type contrast between studies is confounded by procedure ("
                     + "; ".join(t[0].lower() + t[1:] for t in confounded) + ").")
    if unverified:
        parts.append(f"The bibliographic identity of {len(unverified)} "
                     f"stud{'y' if len(unverified) == 1 else 'ies'} could not be verified; "
                     f"they are left out of the main analyses.")
    parts += missing
    return style.escape(" ".join(parts))


def estimates_document(summary: Mapping[str, Any], labels: Mapping[str, str],
                       protocol: Any, context: Mapping[str, Any], style: ProseStyle) -> str:
    """The whole estimates.md / estimates.tex text."""
    clinical = protocol.clinical.model_dump()
    windows = {w.id: w.label for w in protocol.windows}
    if style.latex:
        head = ("% Pooled estimates generated by blastic-meta from the study registry.\n"
                "% Do not edit: rerun `blastic-meta report`. Needs natbib (\\citet, \\citep).\n\n"
                "\\subsection*{Methods}\n\n")
    else:
        head = ("# Pooled estimates\n\nGenerated by `blastic-meta report` from the study "
                "registry; do not edit by hand. Citations are pandoc keys resolved by "
                "`references.bib`.\n\n## Methods\n\n")
    parts = [head + methods_paragraph(protocol, style) + "\n"]
    for aid, a in summary["analyses"].items():
        a = {**a, "window_label": windows.get(a.get("window") or "")}
        parts.append(analysis_text(aid, a, labels, style, clinical))
    lim = limitations_paragraph(summary, context, style)
    parts.append(("\\subsection*{Limitations}" if style.latex else "## Limitations")
                 + f"\n\n{lim}\n")
    if style.notes:
        parts.append("\n".join(f"[^{i}]: {note}" for i, note in enumerate(style.notes, 1))
                     + "\n")
    return "\n".join(parts)
