"""Appraisal: the level-of-concern rule at its boundaries, its parameters, the per-item table,
and the shipped appraisals (every study appraised with the tool the review's rule gives)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from blastic_meta.errors import InputError
from blastic_meta.registry.appraisal import (
    ANSWERS,
    TOOLS,
    Appraisal,
    AppraisalItem,
    ConcernRule,
    expected_tool,
    summarise_appraisal,
)
from blastic_meta.registry.load import (
    APPRAISAL_COLUMNS,
    STUDY_LEVEL_COLUMNS,
    appraisal_table,
    load_studies,
    parse_study,
    study_level_table,
)
from blastic_meta.registry.validation import validate_studies

DATA = Path(__file__).parent / "data"
BIB = DATA / "references.bib"
ROOT = Path(__file__).parents[2]
SERIES = TOOLS["jbi_case_series"]


def _record(answers: list[str], tool: str = "jbi_case_series", key: str = "s1",
            read: str = "full_text"):
    items = {}
    for name, answer in zip(TOOLS[tool], answers, strict=True):
        items[name] = ({"answer": answer, "source": "Methods"} if answer in ("yes", "no")
                       else {"answer": answer, "reason": "not stated"})
    appraisal = Appraisal.model_validate({"tool": tool, "appraised_from": read,
                                          "items": items})
    return SimpleNamespace(key=key, appraisal=appraisal)


def _concern(yes: int, no: int, unclear: int, na: int = 0, rule: ConcernRule | None = None,
             read: str = "full_text"):
    answers = ["yes"] * yes + ["no"] * no + ["unclear"] * unclear + ["not_applicable"] * na
    assert len(answers) == len(SERIES)
    return summarise_appraisal(_record(answers, read=read), rule).concern


def test_every_applicable_yes_is_low_and_one_unclear_is_not():
    assert _concern(10, 0, 0) == "low"
    assert _concern(9, 0, 1) == "some"
    assert _concern(7, 0, 0, na=3) == "low"


def test_any_no_is_high_by_default():
    assert _concern(9, 1, 0) == "high"
    assert _concern(10, 0, 0) == "low"


def test_unclear_share_boundary_is_strictly_more_than_half():
    assert _concern(5, 0, 5) == "some"          # exactly half: not high
    assert _concern(4, 0, 6) == "high"          # first value above half
    # not_applicable items leave the denominator: 3 of 6 applicable is half, 4 of 7 is more
    assert _concern(3, 0, 3, na=4) == "some"
    assert _concern(3, 0, 4, na=3) == "high"


def test_rule_thresholds_are_parameters():
    two_no = ConcernRule(high_no=2)
    assert _concern(9, 1, 0, rule=two_no) == "some"
    assert _concern(8, 2, 0, rule=two_no) == "high"
    lenient = ConcernRule(low_unclear=1)
    assert _concern(9, 0, 1, rule=lenient) == "low"
    assert _concern(8, 0, 2, rule=lenient) == "some"
    strict = ConcernRule(high_unclear_share=0.0)
    assert _concern(9, 0, 1, rule=strict) == "high"
    assert _concern(10, 0, 0, rule=strict) == "low"


@pytest.mark.parametrize("kwargs", [
    {"high_no": 0}, {"high_no": 1.5}, {"high_no": True}, {"high_unclear_share": -0.1},
    {"high_unclear_share": 1.01}, {"high_unclear_share": "half"}, {"low_unclear": -1},
])
def test_invalid_thresholds_are_refused(kwargs):
    with pytest.raises(InputError):
        ConcernRule(**kwargs)


def test_not_appraised():
    summary = summarise_appraisal(SimpleNamespace(key="x", appraisal=None))
    assert summary.concern == "not appraised" and summary.tool is None
    assert summarise_appraisal(_record(["not_applicable"] * 10)).concern == "not appraised"


@pytest.mark.parametrize("read", ["abstract", "abstract_truncated", "secondary_only"])
def test_an_unclear_item_of_an_abstract_counts_as_a_concern(read):
    # the only full text, with two explicit "no" answers, is of high concern; an abstract
    # that leaves items unclear must not come out better (no information, ROBINS-I)
    assert _concern(6, 2, 2) == "high"
    assert _concern(9, 0, 1, read=read) == "high"
    assert _concern(0, 0, 10, read=read) == "high"
    assert _concern(9, 0, 1) == "some"                 # the same answers from a full text
    assert _concern(10, 0, 0, read=read) == "low"      # an abstract that answers every item
    assert _concern(7, 0, 0, na=3, read=read) == "low"


def test_no_information_follows_the_rule_thresholds():
    two = ConcernRule(high_no=2)
    assert _concern(9, 0, 1, rule=two, read="abstract") == "some"
    assert _concern(8, 0, 2, rule=two, read="abstract") == "high"
    assert _concern(8, 1, 1, rule=two, read="abstract") == "high"
    # low_unclear never lets a no-information item through as low
    assert _concern(9, 0, 1, rule=ConcernRule(high_no=2, low_unclear=1),
                    read="abstract") == "some"
    # the protocol can switch the rule off: abstracts' unclear answers as in a full text
    off = ConcernRule(high_unclear_share=1.0, no_information_from=())
    assert _concern(0, 0, 10, rule=off, read="abstract") == "some"


def test_summary_says_what_the_level_rests_on():
    s = summarise_appraisal(_record(["yes"] * 3 + ["no"] + ["unclear"] * 6, read="abstract"))
    assert (s.concern, s.no_information) == ("high", 6)
    assert s.basis == "1 item answered no; 6 items unclear from the abstract alone (no information)"
    full = summarise_appraisal(_record(["yes"] * 6 + ["no"] * 2 + ["unclear"] * 2))
    assert (full.no_information, full.basis) == (0, "2 items answered no; 2 items unclear")
    low = summarise_appraisal(_record(["yes"] * 10, read="secondary_only"))
    assert (low.concern, low.basis) == ("low", "every applicable item yes")


@given(st.lists(st.sampled_from(ANSWERS), min_size=10, max_size=10),
       st.sampled_from(["abstract", "abstract_truncated", "secondary_only"]))
def test_an_abstract_is_rated_as_its_unclear_answers_turned_into_no(answers, read):
    order = {"not appraised": -1, "low": 0, "some": 1, "high": 2}
    rule = ConcernRule(high_unclear_share=1.0)
    abstract = summarise_appraisal(_record(answers, read=read), rule).concern
    as_no = [("no" if a == "unclear" else a) for a in answers]
    assert abstract == summarise_appraisal(_record(as_no), rule).concern
    assert order[abstract] >= order[summarise_appraisal(_record(answers), rule).concern]


@pytest.mark.parametrize("bad", [("abstract", "pdf"), "abstract"])
def test_no_information_from_takes_known_access_values(bad):
    with pytest.raises(InputError):
        ConcernRule(no_information_from=bad)


def test_summary_counts_and_dict():
    s = summarise_appraisal(_record(["yes"] * 3 + ["no"] + ["unclear"] * 5 + ["not_applicable"]))
    assert (s.yes, s.no, s.unclear, s.not_applicable, s.applicable) == (3, 1, 5, 1, 9)
    d = s.to_dict()
    assert d["applicable"] == 9 and d["concern"] == "high" and d["study"] == "s1"


_ORDER = {"not appraised": -1, "low": 0, "some": 1, "high": 2}


@given(st.lists(st.sampled_from(ANSWERS), min_size=10, max_size=10), st.integers(0, 9))
def test_turning_an_answer_into_no_never_lowers_concern(answers, index):
    before = summarise_appraisal(_record(answers)).concern
    changed = list(answers)
    changed[index] = "no"
    after = summarise_appraisal(_record(changed)).concern
    assert after == "high"
    assert _ORDER[after] >= _ORDER[before]
    s = summarise_appraisal(_record(answers))
    assert s.yes + s.no + s.unclear + s.not_applicable == 10


@pytest.mark.parametrize(("item", "code"), [
    ({"answer": "yes"}, "source-missing"),
    ({"answer": "no", "reason": "r"}, "source-missing"),
    ({"answer": "unclear"}, "reason-missing"),
    ({"answer": "not_applicable", "source": "Abstract"}, "reason-missing"),
    ({"answer": "unclear", "reason": "r", "via": "xu2021"}, "source-missing"),
])
def test_answers_need_their_grounds(item, code):
    with pytest.raises(pydantic.ValidationError) as exc:
        AppraisalItem.model_validate(item)
    assert exc.value.errors()[0]["type"] == code


def test_expected_tool():
    assert expected_tool("case_report", False) == "jbi_case_report"
    assert expected_tool("rct", False) == "jbi_case_series"
    assert expected_tool("comparative_cohort", False) == "jbi_case_series"
    assert expected_tool("comparative_cohort", True) == "nos_cohort"


def _fixture_with(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fixture2020.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_item_points_at_its_line(tmp_path):
    text = (DATA / "valid" / "fixture2020.yaml").read_text(encoding="utf-8")
    old = '    outcomes: {answer: "yes", source: "Table 2"}\n'
    _fixture_with(tmp_path, text.replace(old, old + '    outcome: {answer: "no", source: "T"}\n'))
    (f,) = [f for f in validate_studies(tmp_path, BIB) if f.code == "appraisal-item-unknown"]
    line = (tmp_path / "fixture2020.yaml").read_text(encoding="utf-8").splitlines()[f.line - 1]
    assert line.startswith("    outcome: ") and f.field == "appraisal.items.outcome"
    assert "did you mean 'outcomes'" in f.message


def test_every_missing_item_is_listed(tmp_path):
    text = (DATA / "valid" / "fixture2020.yaml").read_text(encoding="utf-8")
    for name in ("demographics", "statistics"):
        start = text.index(f"    {name}: ")
        text = text[:start] + text[text.index("\n", start) + 1:]
    _fixture_with(tmp_path, text)
    fields = {f.field for f in validate_studies(tmp_path, BIB)
              if f.code == "appraisal-item-missing"}
    assert fields == {"appraisal.items.demographics", "appraisal.items.statistics"}


def test_fixture_tables():
    records, _ = load_studies(DATA / "valid", BIB)
    table = appraisal_table(records)
    assert tuple(table.columns) == APPRAISAL_COLUMNS
    assert list(table["item"]) == list(SERIES)  # checklist order, not file order
    level = study_level_table(records)
    assert tuple(level.columns) == STUDY_LEVEL_COLUMNS
    row = level.iloc[0]
    assert (row["yes"], row["unclear"], row["concern"]) == (9, 1, "some")
    assert study_level_table(records, ConcernRule(low_unclear=1)).iloc[0]["concern"] == "low"


_SHIPPED = sorted((ROOT / "studies").glob("*.yaml"))


@pytest.mark.skipif(not _SHIPPED, reason="no study files shipped")
def test_shipped_studies_are_all_appraised_with_the_rules_tool():
    records, _ = load_studies(ROOT / "studies", ROOT / "evidence" / "references.bib")
    for rec in records:
        assert rec.appraisal is not None, rec.key
        assert rec.appraisal.tool == expected_tool(rec.design, bool(rec.within_study)), rec.key
        assert set(rec.appraisal.items) == set(TOOLS[rec.appraisal.tool]), rec.key
    level = study_level_table(records)
    assert "not appraised" not in set(level["concern"])
    assert len(level) == len(_SHIPPED)


def test_appraisal_round_trips_through_dump():
    from blastic_meta.registry.load import dump_study

    text = (DATA / "valid" / "fixture2020.yaml").read_text(encoding="utf-8")
    record = parse_study(text, "f.yaml")
    assert parse_study(dump_study(record), "f.yaml") == record


@pytest.mark.skipif(not _SHIPPED, reason="no study files shipped")
def test_no_shipped_abstract_is_rated_better_than_the_full_text():
    from blastic_meta.review.appraisal_view import concern_rule
    from blastic_meta.review.protocol import load_protocol

    records, _ = load_studies(ROOT / "studies", ROOT / "evidence" / "references.bib")
    rule = concern_rule(load_protocol(ROOT / "evidence" / "protocol.yaml"))
    level = study_level_table(records, rule).set_index("study")
    full = level[level["appraised_from"] == "full_text"]
    partial = level[level["appraised_from"] != "full_text"]
    worst_full = max(_ORDER[c] for c in full["concern"])
    assert all(_ORDER[c] >= worst_full for c in partial["concern"])
    assert level.loc["xu2021", "concern_basis"] == "2 items answered no; 2 items unclear"
