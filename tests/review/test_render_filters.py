"""render's filters: the strings of estimates.md by default, keyword arguments, refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blastic_meta.formatting import fmt_signed
from blastic_meta.review import prose, text
from blastic_meta.review.filters import FILTER_NAMES
from blastic_meta.review.render import RenderError, render_template

ROOT = Path(__file__).resolve().parents[2]


def fits(summary, pooled=True):
    out = []
    for aid, a in summary["analyses"].items():
        groups = dict(a.get("subgroups") or {})
        for name, fit in groups.items():
            if (fit["status"] == "pooled") == pooled:
                out.append((aid, name, fit))
    return out


def one(summary, expr, latex=False):
    return render_template("{{ " + expr + " }}", summary, name="t.md", latex=latex)


def error(summary, expr):
    with pytest.raises(RenderError) as exc:
        one(summary, expr)
    message = str(exc.value)
    assert "\n" not in message and message.startswith("t.md:1:")
    return message


def test_defaults_are_the_strings_of_estimates_md(summary):
    assert fits(summary) and fits(summary, pooled=False)
    for latex, style in ((False, text.MARKDOWN), (True, text.LATEX)):
        for aid, name, fit in fits(summary):
            ref = f"{aid}.{name}"
            assert one(summary, f"{ref} | estimate_ci", latex) == text.estimate_ci(fit, style)
            assert one(summary, f"{ref} | ci", latex) == text.ci_text(fit, style)
            assert one(summary, f"{ref} | pi_labelled", latex) == text.pi_text(fit, style)
            assert one(summary, f"{ref} | tau2_labelled", latex) == text.tau2_text(fit, style)
            assert one(summary, f"{ref} | i2_labelled", latex) == text.i2_text(fit, style)
            scale = fit.get("scale", "MC")
            assert one(summary, f"{ref} | estimate", latex) == text.value_text(
                fit["estimate"], scale, style)


def test_bare_forms_carry_no_label(summary):
    fit = summary["analyses"]["vas_1m"]["subgroups"]["osteoblastic"]
    ref = "vas_1m.osteoblastic"
    assert one(summary, f"{ref} | pi") == f"{fit['pi_low']:.2f} to {fit['pi_high']:.2f}"
    assert one(summary, f"{ref} | tau2") == f"{fit['tau2']:.3f}"
    assert one(summary, f"{ref} | i2") == f"{fit['i2']:.1f}%"
    assert one(summary, f"{ref} | i2", latex=True) == f"{fit['i2']:.1f}\\%"
    # the sentence of the issue: the label is written once
    out = render_template("PI {{ vas_1m.osteoblastic | pi }}", summary)
    assert out.count("PI") == 1
    prop = summary["analyses"]["leak_vertebra"]["subgroups"]["osteolytic"]
    assert one(summary, "leak_vertebra.osteolytic | tau2_labelled") == \
        f"τ² (logit scale) = {prop['tau2']:.3f}"
    assert one(summary, "leak_vertebra.osteolytic | pi") == \
        f"{100 * prop['pi_low']:.1f}% to {100 * prop['pi_high']:.1f}%"


def test_keyword_arguments(summary):
    fit = summary["analyses"]["vas_1m"]["subgroups"]["osteoblastic"]
    ref = "vas_1m.osteoblastic"
    assert one(summary, f"{ref} | estimate_ci(digits=1)") == (
        f"{fit['estimate']:.1f} (95% CI {fit['ci_low']:.1f} to {fit['ci_high']:.1f})")
    assert one(summary, f"{ref} | estimate_ci(level=false, ci_word='confidence interval')") == (
        f"{fit['estimate']:.2f} (confidence interval {fit['ci_low']:.2f} to "
        f"{fit['ci_high']:.2f})")
    assert one(summary, f"{ref} | ci(digits=0, ci_word='CrI')") == (
        f"95% CrI {fit['ci_low']:.0f} to {fit['ci_high']:.0f}")
    assert one(summary, f"{ref} | pi_labelled(level=false, digits=3)") == (
        f"PI {fit['pi_low']:.3f} to {fit['pi_high']:.3f}")
    assert one(summary, f"{ref} | tau2(digits=5)") == f"{fit['tau2']:.5f}"
    assert one(summary, f"{ref} | i2_labelled(digits=0)") == f"I² = {fit['i2']:.0f}%"
    prop = summary["analyses"]["leak_vertebra"]["subgroups"]["osteolytic"]
    assert one(summary, "leak_vertebra.osteolytic | estimate(digits=3)") == \
        f"{100 * prop['estimate']:.3f}%"


@pytest.mark.parametrize(("expr", "words"), [
    ("vas_1m.osteoblastic | estimate_ci(digits='1')", ["digits", "0 to 6"]),
    ("vas_1m.osteoblastic | estimate_ci(digits=7)", ["digits"]),
    ("vas_1m.osteoblastic | estimate_ci(digits=true)", ["digits"]),
    ("vas_1m.osteoblastic | estimate_ci(1)", ["by name", "digits, level, ci_word"]),
    ("vas_1m.osteoblastic | estimate_ci(digit=1)", ["no argument 'digit'", "digits"]),
    ("vas_1m.osteoblastic | estimate_ci(level=0.9)", ["level", "protocol"]),
    ("vas_1m.osteoblastic | ci(ci_word='')", ["ci_word"]),
    ("vas_1m.osteoblastic | k(digits=1)", ["no argument 'digits'", "none"]),
    ("vas_1m.osteoblastic | pi(level=false)", ["no argument 'level'"]),
    ("vas_1m | estimate_ci", ["one subgroup", "vas_1m.osteoblastic"]),
    ("3 | cite", ["one subgroup"]),
])
def test_bad_filter_arguments_are_one_line_errors(summary, expr, words):
    message = error(summary, expr)
    for word in words:
        assert word in message


@pytest.mark.parametrize("name", ["pi", "pi_labelled", "tau2", "tau2_labelled", "i2",
                                  "i2_labelled"])
def test_heterogeneity_of_a_single_study_is_refused_not_na(summary, name):
    aid, group, fit = next(f for f in fits(summary, pooled=False)
                           if f[2]["status"] == "single study")
    assert fit["k"] == 1
    message = error(summary, f"{aid}.{group} | {name}")
    assert f"{aid}.{group}" in message and "single study" in message and "NA" not in message
    assert one(summary, f"{aid}.{group} | estimate_ci")  # the study's own value still prints


@pytest.mark.parametrize(("expr", "words"), [
    ("vas_1m.osteoblastic", ["raw Python dict", "vas_1m.osteoblastic | estimate_ci",
                             *FILTER_NAMES]),
    ("vas_1m", ["whole analysis", "vas_1m.osteoblastic | estimate_ci"]),
    ("vas_1m.osteoblastic.studies", ["list", "join"]),
    ("'pain ' ~ vas_1m.osteoblastic", ["raw Python dict"]),
    ("versions", ["raw Python dict"]),
    ("none", ["not available"]),
])
def test_raw_objects_are_never_pasted(summary, expr, words):
    message = error(summary, expr)
    for word in words:
        assert word in message


@settings(max_examples=60)
@given(data=st.data(), digits=st.integers(0, 6), level=st.booleans(),
       word=st.sampled_from(["CI", "confidence interval", "KI"]))
def test_every_pooled_fit_prints_its_own_numbers(summary, data, digits, level, word):
    aid, name, fit = data.draw(st.sampled_from(fits(summary)))
    out = one(summary, f"{aid}.{name} | estimate_ci(digits={digits}, level={str(level).lower()}"
                       f", ci_word='{word}')")
    factor, unit = (100.0, "%") if fit.get("scale") == "proportion" else (1.0, "")
    nums = [fmt_signed(factor * fit[k], digits) + unit
            for k in ("estimate", "ci_low", "ci_high")]
    label = f"95% {word}" if level else word
    assert out == f"{nums[0]} ({label} {nums[1]} to {nums[2]})"
    numbers = re.findall(r"−?\d+(?:\.\d+)?", out.replace(f"({label} ", "("))
    assert len(numbers) == 3
    assert all(len(n.split(".")[1]) == digits if "." in n else digits == 0 for n in numbers)


def test_the_readme_documents_every_filter():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in FILTER_NAMES:
        assert re.search(rf"^\| `{name}[(`]", readme, re.MULTILINE), name


def _with_contrast(summary, **comparison):
    data = json.loads(json.dumps(summary))
    data["analyses"]["leak_patient"]["comparison"] = {
        "kind": "between", "measure": "OR", "estimate": 0.72697, "ci_low": 0.31727,
        "ci_high": 1.66576, "pval": 0.451, "reason": None, **comparison}
    return data


def test_contrast_prints_the_between_study_estimate(summary):
    data = _with_contrast(summary)
    assert one(data, "leak_patient.comparison | contrast") == "OR 0.73 (95% CI 0.32 to 1.67)"
    assert (one(data, "leak_patient.comparison | contrast(digits=3, level=false, "
                      "ci_word='confidence interval')")
            == "OR 0.727 (confidence interval 0.317 to 1.666)")


@pytest.mark.parametrize(("kind", "reason", "words"), [
    ("none", "No osteolytic series reported cement leakage per patient.",
     ["no between-study estimate", "No osteolytic series"]),
    ("within", None, ["within-study reports"]),
])
def test_contrast_without_an_estimate_says_why(summary, kind, reason, words):
    data = _with_contrast(summary, kind=kind, estimate=None, ci_low=None, ci_high=None,
                          reason=reason)
    message = error(data, "leak_patient.comparison | contrast")
    assert "leak_patient.comparison" in message
    for word in words:
        assert word in message


def test_contrast_and_subgroup_filters_refuse_each_other(summary):
    data = _with_contrast(summary)
    assert "needs an analysis's comparison" in error(data, "vas_1m.osteoblastic | contrast")
    assert "got the comparison leak_patient.comparison" in error(
        data, "leak_patient.comparison | estimate")


README_EXAMPLES = [
    "leak_vertebra.unspecified | estimate", "vas_6m.osteoblastic | estimate",
    "leak_vertebra.unspecified | estimate_ci",
    "leak_vertebra.unspecified | estimate_ci(digits=1, level=false, "
    "ci_word='confidence interval')",
    "leak_vertebra.unspecified | ci", "leak_vertebra.unspecified | pi",
    "leak_vertebra.unspecified | pi_labelled", "leak_vertebra.unspecified | tau2",
    "leak_vertebra.unspecified | tau2_labelled", "leak_vertebra.unspecified | i2",
    "leak_vertebra.unspecified | i2_labelled", "vas_6m.osteoblastic | patients",
    "leak_vertebra.unspecified | cite", "leak_vertebra.unspecified | citep",
    "leak_vertebra.unspecified | pandoc",
    "leak_patient.comparison | contrast",
]


def test_the_readme_examples_are_what_the_shipped_registry_prints(built):
    """The filter table of the README quotes the shipped report, so it cannot go stale."""
    shipped = json.loads((built[2] / "summary.json").read_text(encoding="utf-8"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("| filter | arguments | output |"):]
    table = table[:table.index("\n\n")]
    for expr in README_EXAMPLES:
        assert f"`{one(shipped, expr)}`" in table, expr


def _negative(summary):
    """A copy of the summary whose vas_1m osteoblastic fit lies below zero."""
    data = json.loads(json.dumps(summary))
    fit = data["analyses"]["vas_1m"]["subgroups"]["osteoblastic"]
    fit.update(estimate=-1.5, ci_low=-2.5, ci_high=-0.5, pi_low=-3.25, pi_high=0.25)
    return data, fit


@pytest.mark.parametrize(("latex", "minus", "percent"), [(False, "−", "%"),
                                                         (True, "$-$", "\\%")])
def test_a_negative_number_has_a_true_minus_sign(summary, latex, minus, percent):
    """The filters print negatives as estimates.md does (prose.number): U+2212 in Markdown,
    $-$ in LaTeX, never a hyphen-minus."""
    data, fit = _negative(summary)
    ref = "vas_1m.osteoblastic"
    assert one(data, f"{ref} | estimate_ci", latex) == (
        f"{minus}1.50 (95{percent} CI {minus}2.50 to {minus}0.50)")
    assert one(data, f"{ref} | estimate(digits=1)", latex) == f"{minus}1.5"
    assert one(data, f"{ref} | pi", latex) == f"{minus}3.25 to 0.25"
    style = prose.latex_style() if latex else prose.markdown_style()
    assert one(data, f"{ref} | estimate", latex) == prose.number(fit["estimate"], 2, style)
    contrast = _with_contrast(data, measure="MD", estimate=-0.8, ci_low=-1.6, ci_high=0.04)
    assert one(contrast, "leak_patient.comparison | contrast", latex) == (
        f"MD {minus}0.80 (95{percent} CI {minus}1.60 to 0.04)")
    for expr in (f"{ref} | estimate_ci", f"{ref} | ci", f"{ref} | pi_labelled",
                 "leak_patient.comparison | contrast"):
        source = contrast if "comparison" in expr else data
        assert not re.search(r"(?<![$\w])-\d", one(source, expr, latex)), expr


def test_cite_names_a_study_without_authors_as_estimates_md_does(summary):
    """summary.json's citation_names reach the cite filters; without them, plain keys."""
    data = json.loads(json.dumps(summary))
    fit = data["analyses"]["vas_1m"]["subgroups"]["osteoblastic"]
    first = fit["studies"][0]
    plain = one(data, "vas_1m.osteoblastic | cite")
    assert plain == "[" + "; ".join(f"@{k}" for k in fit["studies"]) + "]"
    data["citation_names"] = {first: "Acta Radiol"}
    named = one(data, "vas_1m.osteoblastic | cite")
    assert named == prose.markdown_style({first: "Acta Radiol"}).cite(fit["studies"])
    assert f"Acta Radiol -@{first}" in named
    assert one(data, "vas_1m.osteoblastic | pandoc", latex=True) == named
    assert one(data, "vas_1m.osteoblastic | citep") == "\\citep{" + ",".join(fit["studies"]) + "}"
    data["citation_names"] = {first: 3, 4: "x"}  # malformed: ignored, not an error
    assert one(data, "vas_1m.osteoblastic | cite") == plain
