"""Direction of effect and sign tests (SWiM, Campbell et al. 2020; effect-direction plot,
Thomson & Thomas 2013) on small registries written in the tests.

Checks: the sign test runs from 3 studies with a direction and counts each study once;
unverified studies are left out (and named) unless the rule includes them; a study's several
entries in one domain resolve by one rule that the plot and the sign test share; a between-arm
"no difference" is not a before/after direction; the tables read in words.
"""

from __future__ import annotations

import pandas as pd
import pytest
from scipy import stats

from blastic_meta.registry.load import parse_study
from blastic_meta.review import synthesis
from blastic_meta.review.figure_panels import direction_spec

ARM = """  - id: {arm}
    label: "PVP, synthetic"
    lesion_type: osteolytic
    patients: {{value: 20, source: "Abstract"}}
    vertebrae: {{value: null, unit: vertebrae, reason: "not reported"}}
    age: {{mean: null, reason: "not reported"}}
    sex: {{male: null, female: null, reason: "not reported"}}
    follow_up: {{unit: months, mean: null, reason: "not reported"}}
    outcomes: []
    outcomes_note: "none"
    responders: []
    leakage: []
    leakage_note: "none"
    complications: []
"""


def study(key: str, *entries: tuple[str, str], verified: bool = True,
          arms: tuple[str, ...] = ("all",)) -> object:
    """A synthetic study with one narrative entry per (domain, direction)."""
    lines = [f"key: {key}", "source_access: abstract", "source_urls: []", "design: case_series",
             'setting: {centre: null, country: null, period: null, reason: "not reported"}',
             "procedure: PVP", "guidance: null", 'guidance_reason: "not reported"',
             'approach: {unilateral: null, bilateral: null, unit: vertebrae, reason: "n/r"}',
             "known_overlap: []"]
    if not verified:
        lines.append('identity: {verified: false, reason: "authors and journal not visible"}')
    lines.append("arms:")
    text = "\n".join(lines) + "\n" + "".join(ARM.format(arm=a) for a in arms)
    text += "narrative:\n" + "".join(
        f'  - {{outcome: "VAS", domain: {domain}, finding: "synthetic", direction: {direction},'
        f' source: "Abstract"}}\n' for domain, direction in entries) if entries else \
        "narrative: []\n"
    return parse_study(text + "ambiguities: []\ndiscrepancies: []\n", f"{key}.yaml")


def rows(records, unverified: str = "exclude") -> pd.DataFrame:
    return synthesis.direction_rows(records, {}, {}, lambda t: t, unverified)


def pain(signs: pd.DataFrame) -> pd.Series:
    return signs[signs["domain"] == "pain"].iloc[0]


def test_sign_test_runs_from_three_studies_with_a_direction():
    two = [study(f"s{i}", ("pain", "improvement")) for i in range(2)]
    row = pain(synthesis.sign_tests(rows(two)))
    assert pd.isna(row["pval"])
    assert row["note"] == "not run: 2 studies report a direction (at least 3 needed)"
    row = pain(synthesis.sign_tests(rows([*two, study("s2", ("pain", "improvement"))])))
    assert row["pval"] == pytest.approx(0.25) and row["note"] == ""


def test_counts_leave_no_change_and_unclear_out_of_the_test():
    records = [study("a", ("pain", "improvement")), study("b", ("pain", "improvement")),
               study("c", ("pain", "improvement")), study("d", ("pain", "worse")),
               study("e", ("pain", "no_change")), study("f", ("pain", "unclear"))]
    row = pain(synthesis.sign_tests(rows(records)))
    assert (row["studies"], row["positive"], row["negative"], row["other"]) == (6, 3, 1, 2)
    assert row["pval"] == pytest.approx(stats.binomtest(3, 4, 0.5).pvalue)


def test_one_study_reporting_is_singular():
    row = pain(synthesis.sign_tests(rows([study("a", ("pain", "improvement"))])))
    assert row["note"] == "not run: 1 study reports a direction (at least 3 needed)"


def test_unverified_studies_are_left_out_and_named():
    records = [study("a", ("function", "improvement")), study("b", ("function", "improvement")),
               study("unk", ("function", "improvement"), verified=False)]
    kept = rows(records)
    assert "unk" not in set(kept["study"])
    row = synthesis.sign_tests(kept).iloc[0]
    assert row["studies"] == 2 and pd.isna(row["pval"])
    assert synthesis.unverified_left_out(records) == ["unk"]
    notes = synthesis.direction_notes(synthesis.unverified_left_out(records), {"unk": "Unk"})
    assert any("Unk (unk)" in n and "unverified" in n for n in notes)
    spec = direction_spec(kept, {}, synthesis.sign_tests(kept), ["Unk"])
    assert [r.label for b in spec.blocks for r in b.rows] == ["a", "b"]
    assert "Left out, identity unverified: Unk." in spec.footnote_lines
    # the sensitivity rule puts them back
    back = rows(records, "include")
    assert "unk" in set(back["study"]) and synthesis.unverified_left_out(records, "include") == []
    assert synthesis.sign_tests(back).iloc[0]["pval"] == pytest.approx(0.25)


def test_several_entries_in_one_domain_resolve_by_one_rule():
    records = [
        study("a", ("pain", "improvement"), ("pain", "worse")),          # 50%: conflicting
        study("b", ("pain", "worse"), ("pain", "improvement")),          # order does not matter
        study("c", ("pain", "improvement"), ("pain", "unclear")),        # unclear does not vote
        study("d", *[("pain", "improvement")] * 3, ("pain", "worse")),  # 75%: benefit
        study("e", ("pain", "unclear")),
    ]
    frame = rows(records)
    cells = synthesis.cell_directions(frame).set_index("study")["direction"]
    assert cells.to_dict() == {"a": "mixed", "b": "mixed", "c": "benefit", "d": "benefit",
                               "e": "unclear"}
    assert dict(zip(frame["study"], frame["cell"], strict=True)) == cells.to_dict()
    signs = synthesis.sign_tests(frame)
    row = pain(signs)
    assert (row["studies"], row["positive"], row["negative"], row["other"]) == (5, 2, 0, 3)
    # the plot draws what the sign test counts: up for c and d, sideways for a and b
    spec = direction_spec(frame, {}, signs)
    drawn = {r.label: r.cells[0].direction for b in spec.blocks for r in b.rows}
    assert drawn == {"a": "neutral", "b": "neutral", "c": "up", "d": "up", "e": "unclear"}
    assert drawn["a"] == drawn["b"]


def test_between_arm_no_difference_is_not_a_before_after_direction():
    records = [study("two", ("pain", "improvement"), ("pain", "no_difference"),
                     ("leakage", "no_difference"), arms=("uni", "bi"))]
    frame = rows(records)
    assert list(zip(frame["domain"], frame["direction"], strict=True)) == [("pain", "benefit")]
    assert synthesis.cell_directions(frame)["direction"].tolist() == ["benefit"]


def test_tables_print_words():
    records = [study(k, ("quality_of_life", "improvement")) for k in "abc"]
    frame = rows(records)
    signs = synthesis.sign_tests(frame)
    assert signs["domain"].tolist() == ["quality of life"]
    shown = synthesis.direction_table(frame)
    assert set(shown["domain"]) == {"quality of life"} and frame["domain"].iloc[0] == \
        "quality_of_life"
    assert synthesis.CELL_RULE in synthesis.direction_notes([], {})


def test_within_table_carries_the_appraisal():
    text = """key: wi
source_access: abstract
source_urls: []
design: comparative_cohort
setting: {centre: null, country: null, period: null, reason: "not reported"}
procedure: PKP
guidance: null
guidance_reason: "not reported"
approach: {unilateral: null, bilateral: null, unit: vertebrae, reason: "not reported"}
known_overlap: []
arms:
""" + ARM.format(arm="ob").replace("osteolytic", "osteoblastic") + ARM.format(arm="ol") + """\
narrative: []
within_study:
  - {id: vas, domain: pain, outcome: "VAS", compared: [osteoblastic, osteolytic], arms: [ob, ol],
     favours: osteoblastic, significance: significant, timepoints: ["1 month", "1 year"],
     finding: "synthetic", source: "Abstract"}
ambiguities: []
discrepancies: []
"""
    table = synthesis.within_table([parse_study(text, "wi.yaml")], {}, {"wi": "high"})
    assert table[["appraisal", "time_points"]].values.tolist() == [["high", "1 month; 1 year"]]


@pytest.mark.parametrize("n", range(1, 41))
def test_sign_test_pvalue_is_scipy_binomtest(n):
    for positive in range(n + 1):
        expected = stats.binomtest(positive, n, 0.5).pvalue
        assert synthesis.sign_test_pvalue(positive, n) == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("n", range(1, 13))
def test_sign_test_pvalue_is_exact(n):
    """Against all 2^n sign patterns counted one by one: the p-value is the share of patterns
    at least as far from n/2 as the observed one, rounded once."""
    from fractions import Fraction
    from itertools import product

    counts = [sum(p) for p in product((0, 1), repeat=n)]
    for positive in range(n + 1):
        far = abs(2 * positive - n)
        share = Fraction(sum(1 for c in counts if abs(2 * c - n) >= far), 2 ** n)
        assert synthesis.sign_test_pvalue(positive, n) == float(share)
    assert synthesis.sign_test_pvalue(1, 6) == 0.21875 and synthesis.sign_test_pvalue(3, 7) == 1.0


@pytest.mark.parametrize("positive, n", [(-1, 3), (4, 3), (0, 0)])
def test_sign_test_pvalue_refuses_impossible_counts(positive, n):
    with pytest.raises(ValueError, match="sign test"):
        synthesis.sign_test_pvalue(positive, n)
