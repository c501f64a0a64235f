"""The text a researcher pastes, parsed back into its parts and checked against the numbers.

Each sentence of estimates.md and estimates.tex (one per line) is read back into lesion type,
k, patients, estimate, CI, PI and citations, and compared with the summary dictionary the
same run wrote to summary.json; the footnotes must name every excluded or flagged study. A
property test runs this over generated registries, so a swapped subgroup name, a dropped
sentence or footnote, or a mis-rounded number fails.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blastic_meta import load_protocol
from blastic_meta.review import methods_text, prose
from blastic_meta.review.analyses import run_analyses
from tests.review.data import long_table

GROUP_OF_PHRASE = {
    "osteoblastic metastases": "osteoblastic", "osteolytic metastases": "osteolytic",
    "myeloma": "myeloma", "metastases of unspecified lesion type": "unspecified",
    "metastases of mixed lesion type": "mixed",
}
NUM = r"(?:−|\$-\$)?\d+(?:\.\d+)?"
HEAD = (r"^In (?P<phrase>[a-z ]+?) \((?P<k>\d+) stud(?:y|ies), "
        r"(?:(?P<patients>\d+) patients|patients not reported in every study)\), ")
POOLED = re.compile(HEAD + r"pain fell(?: at [^b]+?)? by (?P<est>" + NUM + r") points "
                    r"\(95(?:%|\\%) CI (?P<lo>" + NUM + r") to (?P<hi>" + NUM + r")"
                    r"(?:; 95(?:%|\\%) PI (?P<plo>" + NUM + r") to (?P<phi>" + NUM + r"))?\) "
                    r"(?P<cite>\[[^\]]+\]|\\citep\{[^}]+\})")
# a study is named by its citation, or (without authors) by its name beside a year citation
WHO = (r"(?P<who>@\w+|\\citet\{\w+\}|[^()\[\]]+? \[-@\w+\]"
       r"|[^()\\]+? \\citeyearpar\{\w+\})")
SINGLE = re.compile(HEAD + WHO + r" reported a fall in pain of "
                    r"(?P<est>" + NUM + r") points(?: at [^(]+?)? \(95(?:%|\\%) CI "
                    r"(?P<lo>" + NUM + r") to (?P<hi>" + NUM + r")\)")
SIDE = re.compile(HEAD + r"pain fell(?: at [^b]+?)? by (?P<items>.+); not pooled at k = "
                  r"(?P<kk>\d+)\.")
ITEM = re.compile(r"(?P<est>" + NUM + r") points in " + WHO + r" "
                  r"\(95(?:%|\\%) CI (?P<lo>" + NUM + r") to (?P<hi>" + NUM + r")\)")


def _num(text: str) -> float:
    return float(text.replace("−", "-").replace("$-$", "-"))


def _keys(cite: str) -> list[str]:
    if cite.startswith("\\citep{"):
        return cite[len("\\citep{"):-1].split(",")
    return [re.findall(r"-?@(\w+)", k)[0] for k in cite.strip("[]").split(";")]


def _who(text: str) -> str:
    return re.findall(r"@(\w+)|\{(\w+)\}", text)[-1][0] or \
        re.findall(r"@(\w+)|\{(\w+)\}", text)[-1][1]


def _r2(x: float) -> float:
    return float(f"{x:.2f}")


def check_document(text: str, summary: dict, labels: dict) -> int:
    """Every sentence against the numbers; returns how many sentences were checked."""
    checked = 0
    sections = re.split(r"(?m)^(?:## |\\subsection\*\{)", text)
    for aid, a in summary["analyses"].items():
        section = next(s for s in sections if s.startswith(a["title"]))
        seen = set()
        for line in section.splitlines():
            for pattern in (POOLED, SINGLE, SIDE):
                m = pattern.match(line)
                if m:
                    break
            else:
                continue
            group = GROUP_OF_PHRASE[m["phrase"]]
            assert group not in seen, f"{aid}: {group} described twice"
            seen.add(group)
            assert group in a["subgroups"], f"{aid}: a sentence for {group}, which has no fit"
            fit = a["subgroups"][group]
            assert int(m["k"]) == fit["k"], (aid, group)
            assert (int(m["patients"]) if m["patients"] else None) == fit["patients"]
            if pattern is POOLED:
                assert fit["status"] == "pooled", (aid, group)
                for key, name in (("est", "estimate"), ("lo", "ci_low"), ("hi", "ci_high")):
                    assert _num(m[key]) == _r2(fit[name]), (aid, group, name)
                if fit["pi_low"] is None:
                    assert m["plo"] is None
                else:
                    assert _num(m["plo"]) == _r2(fit["pi_low"])
                    assert _num(m["phi"]) == _r2(fit["pi_high"])
                assert _keys(m["cite"]) == fit["studies"]
            elif pattern is SINGLE:
                assert fit["status"] == "single study"
                (r,) = fit["per_study"]
                assert _who(m["who"]) == r["study"] == fit["studies"][0]
                assert _num(m["est"]) == _r2(r["estimate"])
                assert _num(m["lo"]) == _r2(r["ci_low"])
            else:
                assert fit["status"] == "side by side" and int(m["kk"]) == fit["k"]
                items = ITEM.findall(m["items"])
                assert len(items) == fit["k"]
                by_study = {r["study"]: r for r in fit["per_study"]}
                for est, who, lo, hi in items:
                    r = by_study[_who(who)]
                    assert (_num(est), _num(lo), _num(hi)) == (
                        _r2(r["estimate"]), _r2(r["ci_low"]), _r2(r["ci_high"]))
            checked += 1
        assert seen == set(a["subgroups"]), f"{aid}: sentences for {seen}, fits for " \
                                            f"{set(a['subgroups'])}"
        for e in a["excluded"]:
            assert labels.get(e["study"], e["label"]) in text, f"{aid}: {e['study']} unnamed"
    return checked


@pytest.fixture(scope="module")
def protocol(repo_root):
    return load_protocol(repo_root / "evidence" / "protocol.yaml").with_changes(
        {"vas": {"secondary_measures": ()}})


def _document(table, protocol, style, named=0):
    vas = tuple(a for a in protocol.analyses if a.outcome == "vas")
    narrow = protocol.model_copy(update={"analyses": vas})
    results = run_analyses([], table, narrow, scenarios=False)
    summary = {"analyses": {aid: r.to_dict() for aid, r in results.items()}}
    labels = {s: s for r in results.values() for s in r.data["study"]}
    # the first ``named`` studies have no authors: the text names them (Acta Radiol ...)
    style.names = {s: f"Journal {i}" for i, s in enumerate(sorted(labels)[:named])}
    context = {"n_studies": len(labels), "n_abstract_only": 0, "unverified": []}
    return methods_text.estimates_document(summary, labels, narrow, context, style), summary, labels


@pytest.mark.parametrize("named", [0, 99])
@pytest.mark.parametrize("style", [prose.markdown_style, prose.latex_style])
def test_shipped_style_sentences_match_the_numbers(protocol, style, named):
    text, summary, labels = _document(long_table.table(), protocol, style(), named)
    n = sum(len(a["subgroups"]) for a in summary["analyses"].values())
    assert n >= 5 and check_document(text, summary, labels) == n
    if named:  # every study without authors: never a bare citation as a sentence's subject
        assert not re.search(r"(?:in|\), ) (?:@\w|\\citet)", text)
        assert re.search(r"Journal \d+ (?:\[-@\w+\]|\\citeyearpar\{\w+\})", text)


def test_a_study_without_authors_is_named_beside_a_year_citation():
    """citeproc prints '(2019)' or the whole title for an entry without authors; the text
    names it and cites the year only, in both formats (Acta Radiol (2007))."""
    names = {"acta": "Acta Radiol", "odd": "A [b]; c@d", "cl": "Clinical evaluation …"}
    md, tex = prose.markdown_style(names), prose.latex_style(names)
    assert md.cite_narrative("acta") == "Acta Radiol [-@acta]"
    assert md.cite_narrative("tian") == "@tian"
    assert md.cite(["tian", "acta"]) == "[@tian; Acta Radiol -@acta]"
    assert md.cite_narrative("odd") == "A b c d [-@odd]"  # nothing that ends a citation
    assert tex.cite_narrative("acta") == "Acta Radiol \\citeyearpar{acta}"
    assert tex.cite_narrative("cl") == "Clinical evaluation \\ldots{} \\citeyearpar{cl}"
    assert tex.cite(["tian", "acta"]) == "\\citep{tian,acta}"  # natbib reads the bib's key
    fit = {"k": 1, "patients": 106, "status": "single study", "scale": "proportion",
           "studies": ["acta"], "events": 0, "total": 106,
           "per_study": [{"study": "acta", "estimate": 0.0, "ci_low": 0.0, "ci_high": 0.034}]}
    analysis = {"outcome": "leakage_symptomatic", "unit": "patient"}
    sentence = prose.subgroup_sentence("unspecified", fit, analysis, md, {})
    assert ", Acta Radiol [-@acta] reported symptomatic cement leakage" in sentence


def test_a_swapped_subgroup_name_is_caught(protocol):
    text, summary, labels = _document(long_table.table(), protocol, prose.markdown_style())
    swapped = text.replace("In osteoblastic metastases", "In TMP").replace(
        "In osteolytic metastases", "In osteoblastic metastases").replace(
        "In TMP", "In osteolytic metastases")
    with pytest.raises(AssertionError):
        check_document(swapped, summary, labels)


def test_a_dropped_exclusion_note_is_caught(protocol):
    text, summary, labels = _document(long_table.table(), protocol, prose.markdown_style())
    dropped = "\n".join(line for line in text.splitlines() if "Not pooled:" not in line)
    with pytest.raises(AssertionError):
        check_document(dropped, summary, labels)


def test_a_mis_rounded_estimate_is_caught(protocol):
    text, summary, labels = _document(long_table.table(), protocol, prose.markdown_style())
    fit = summary["analyses"]["vas_1m"]["subgroups"]["osteoblastic"]
    value = f"{fit['estimate']:.2f}"
    wrong = text.replace(f"by {value} points", f"by {float(value) + 0.01:.2f} points", 1)
    assert wrong != text
    with pytest.raises(AssertionError):
        check_document(wrong, summary, labels)


def test_latex_uses_a_true_minus_and_natbib():
    style = prose.latex_style()
    assert prose.number(-1.234, 2, style) == "$-$1.23"
    assert style.cite(["a", "b"]) == "\\citep{a,b}" and style.cite_narrative("a") == "\\citet{a}"
    md = prose.markdown_style()
    assert prose.number(-1.234, 2, md) == "−1.23" and md.cite(["a", "b"]) == "[@a; @b]"


STUDY = st.tuples(st.floats(5.0, 9.0), st.floats(0.5, 3.0), st.floats(1.0, 6.0),
                  st.floats(0.5, 3.0), st.integers(8, 120))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ob=st.lists(STUDY, min_size=0, max_size=4), ol=st.lists(STUDY, min_size=0, max_size=4),
       latex=st.booleans())
def test_generated_registries_read_back_exactly(protocol, ob, ol, latex):
    rows = []
    for group, studies in (("osteoblastic", ob), ("osteolytic", ol)):
        for i, (pre, sd_pre, post, sd_post, n) in enumerate(studies):
            rows += long_table.vas(f"{group[:4]}{i}2000", "all", group, n,
                                   [(0, pre, sd_pre, "sd", n), (30, post, sd_post, "sd", n)])
    if not rows:
        return
    table = pd.DataFrame(rows, columns=long_table.COLUMNS)
    style = prose.latex_style() if latex else prose.markdown_style()
    text, summary, labels = _document(table, protocol, style)
    checked = check_document(text, summary, labels)
    assert checked == sum(len(a["subgroups"]) for a in summary["analyses"].values())


def test_methods_name_exactly_the_analyses_with_a_bayesian_fit(repo_root):
    """The Bayesian fit is made for scores only (fitting: a prior scale per score measure,
    none for proportions), so Methods names the scores and says proportions get none; it is
    written from the protocol, so a measure without a prior scale drops out of the sentence."""
    shipped = load_protocol(repo_root / "evidence" / "protocol.yaml")
    text = methods_text.methods_paragraph(shipped, prose.markdown_style())
    assert "Beside each frequentist fit" not in text
    assert ("For the pain and quality-of-life scores (mean change; pain also as the ratio of "
            "the follow-up to the baseline mean and as the follow-up mean), a Bayesian "
            "random-effects model") in text
    assert ("is reported beside the frequentist fit and, below k = 3, beside the studies shown "
            "side by side (from k = 2;") in text
    assert "its prediction interval is not given below k = 3." in text
    assert "Proportions, which get no Bayesian fit, were pooled with a binomial-normal" in text
    mc_only = shipped.model_copy(update={"bayes": shipped.bayes.model_copy(
        update={"tau_scale": {"MC": 1.0}, "max_k": 5})})
    sentence = methods_text.bayes_methods_sentence(mc_only)
    assert sentence.startswith("For the pain and quality-of-life scores (mean change), ")
    assert "(from k = 2 to k = 5;" in sentence and "ratio" not in sentence
    none = shipped.model_copy(update={"bayes": shipped.bayes.model_copy(
        update={"tau_scale": {}})})
    assert methods_text.bayes_methods_sentence(none) == "No Bayesian fit was made."
