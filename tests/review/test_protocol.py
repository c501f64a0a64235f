"""The analysis plan file: the shipped one loads, bad ones fail with path:line: field."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from blastic_meta import StudyRecordError, load_protocol
from blastic_meta.review.protocol import Protocol

GOOD = """\
version: 1
windows:
  - {id: "early", label: "1-7 days", min_days: 1, max_days: 7, target_days: 3}
  - {id: "3m", label: "3 months", min_days: 61, max_days: 135, target_days: 90}
analyses:
  - {id: "vas_3m", title: "VAS at 3 months", outcome: "vas", window: "3m"}
  - {id: "leak_patient", title: "Leakage per patient", outcome: "leakage", unit: "patient"}
"""


def write(tmp_path, text):
    path = tmp_path / "protocol.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_protocol_loads(repo_root):
    p = load_protocol(repo_root / "evidence" / "protocol.yaml")
    ids = [a.id for a in p.analyses]
    for wanted in ("vas_early", "vas_1m", "vas_3m", "vas_6m", "leak_vertebra", "leak_patient",
                   "leak_symptomatic"):
        assert wanted in ids
    assert p.model.method == "REML" and p.model.test == "knha"
    assert p.vas.correlation == 0.5 and min(p.vas.correlation_grid) == 0.2
    assert max(p.vas.correlation_grid) == 0.8
    assert p.proportions.model == "glmm"
    assert p.model.adhoc and p.model.min_k == 3 and p.model.pi_min_k == 3
    assert p.subgroup_test.primary == "common_tau2"
    assert p.subgroup_test.sensitivity == "separate_tau2"
    assert p.unit_of_analysis.primary_leakage_unit == "patient"
    assert p.analysis("leak_vertebra").design_effect
    assert p.rules.unverified_studies == "exclude"
    assert p.rules.excluded_designs == ("case_report",)
    scenarios = {sc.id for sc in p.sensitivity}
    assert {"pvp_only", "exclude_unverified", "exclude_abstract_only", "exclude_derived",
            "myeloma_as_osteolytic", "mixed_as_osteoblastic", "index_alternative_values",
            "exclude_possible_duplicates", "inverse_variance_logit"} <= scenarios
    assert p.window("6m").max_days is None and p.window("6m").contains(400)
    assert p.window("1m").contains(30) and not p.window("1m").contains(61)


def test_defaults_and_frozen(tmp_path):
    p = load_protocol(write(tmp_path, GOOD))
    assert isinstance(p, Protocol)
    assert p.model.min_k == 3 and p.subgroups.compared == ("osteoblastic", "osteolytic")
    assert p.bayes.tau_prior == "halfnormal" and p.bayes.tau_scale["MC"] == 1.0
    with pytest.raises(pydantic.ValidationError):
        p.model.method = "DL"  # type: ignore[misc]


def test_myeloma_switch(tmp_path):
    p = load_protocol(write(tmp_path, GOOD))
    assert p.subgroups.group_of("myeloma") == "myeloma"
    on = load_protocol(write(tmp_path, GOOD + "subgroups: {myeloma_as_osteolytic: true, "
                             "kept_apart: [\"mixed\", \"unspecified\"]}\n"))
    assert on.subgroups.group_of("myeloma") == "osteolytic"
    assert on.subgroups.group_of("mixed") == "mixed"


@pytest.mark.parametrize(
    ("extra", "line", "field", "words"),
    [
        ("model: {method: \"REMLL\"}\n", 8, "model.method", "'REML'"),
        ("model: {tset: \"z\"}\n", 8, "model.tset", "Extra inputs"),
        ("vas: {correlation: 1.5}\n", 8, "vas.correlation", "less than or equal"),
        ("vas: {correlation_grid: [0.5, 0.2]}\n", 8, "vas", "increasing"),
        ("subgroups: {myeloma_as_osteolytic: no}\n", 8, "subgroups.myeloma_as_osteolytic",
         "boolean"),
    ],
)
def test_bad_values_name_line_and_field(tmp_path, extra, line, field, words):
    path = write(tmp_path, GOOD + extra)
    with pytest.raises(StudyRecordError) as exc:
        load_protocol(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}:{line}: {field}")
    assert words in msg


def test_every_problem_reported_at_once(tmp_path):
    text = GOOD.replace('outcome: "leakage", unit: "patient"', 'outcome: "leakage"')
    text += "model: {test: \"t\"}\n"
    with pytest.raises(StudyRecordError) as exc:
        load_protocol(write(tmp_path, text))
    lines = str(exc.value).splitlines()
    assert len(lines) == 2
    assert any(":7: analyses[1]: " in ln and "needs a unit" in ln for ln in lines)
    assert any(":8: model.test: " in ln for ln in lines)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (('window: "3m"', 'window: "9m"'), "unknown window '9m'"),
        (('id: "leak_patient"', 'id: "vas_3m"'), "analysis ids repeat"),
        (("max_days: 7,", "max_days: 70,"), "overlap"),
        (("target_days: 3", "target_days: 30"), "outside the window"),
    ],
)
def test_cross_field_rules(tmp_path, change, words):
    with pytest.raises(StudyRecordError, match=words):
        load_protocol(write(tmp_path, GOOD.replace(*change)))


def test_duplicate_keys_and_missing_file(tmp_path):
    with pytest.raises(StudyRecordError, match="duplicate"):
        load_protocol(write(tmp_path, GOOD + "version: 1\n"))
    with pytest.raises(StudyRecordError, match="not found"):
        load_protocol(tmp_path / "nope.yaml")


def test_ambiguous_values_rule_excludes_or_flags():
    """A value marked ambiguous is excluded by default and used with a flag on request."""
    from blastic_meta import load_bibliography, load_studies
    from blastic_meta.review.analysis_input import build_input

    root = Path(__file__).resolve().parents[2]
    protocol = load_protocol(root / "evidence" / "protocol.yaml")
    bib = load_bibliography(root / "evidence" / "references.bib")
    records, table = load_studies(root / "studies", bib)
    spec = next(a for a in protocol.analyses if a.id == "vas_1m")
    rows = build_input(records, table, protocol, spec, bib)
    chen = rows[rows["study"] == "chen2011"].iloc[0]
    assert not chen["included"]
    assert "ambiguous" in chen["reason"]

    lenient = protocol.model_copy(
        update={"rules": protocol.rules.model_copy(update={"ambiguous_values": "use_flagged"})}
    )
    rows = build_input(records, table, lenient, spec, bib)
    chen = rows[rows["study"] == "chen2011"].iloc[0]
    assert chen["included"]
    assert any("ambiguous" in f for f in chen["flags"])


def test_scenarios_are_checked_when_the_protocol_loads(tmp_path):
    bad = GOOD + ('sensitivity:\n  - {id: "oops", description: "x", '
                  'change: {model: {method: "REMLL"}}}\n')
    with pytest.raises(StudyRecordError, match=r"scenario 'oops': model\.method"):
        load_protocol(write(tmp_path, bad))
    forbidden = GOOD + ('sensitivity:\n  - {id: "oops", description: "x", '
                        'change: {analyses: {x: 1}}}\n')
    with pytest.raises(StudyRecordError, match="cannot change"):
        load_protocol(write(tmp_path, forbidden))


def test_with_changes_merges_one_section_and_revalidates(tmp_path):
    p = load_protocol(write(tmp_path, GOOD))
    q = p.with_changes({"rules": {"procedures": ["PVP"]}, "subgroups": {
        "mixed_as_osteoblastic": True}})
    assert q.rules.procedures == ("PVP",) and q.rules.ambiguous_values == "exclude"
    assert q.subgroups.group_of("mixed") == "osteoblastic"
    assert p.rules.procedures == ()  # the original is unchanged
    with pytest.raises(pydantic.ValidationError):
        p.with_changes({"model": {"adhoc": True, "test": "z"}})


def test_certainty_overrides_need_a_known_analysis_and_a_reason(tmp_path):
    ok = GOOD + ('certainty:\n  overrides:\n    - {analysis: "vas_3m", subgroup: "*", '
                 'domain: "imprecision", levels: 1, reason: "the team judged the CI adequate"}\n')
    assert load_protocol(write(tmp_path, ok)).certainty.overrides[0].levels == 1
    unknown = ok.replace('analysis: "vas_3m"', 'analysis: "vas_9m"')
    with pytest.raises(StudyRecordError, match="unknown analysis"):
        load_protocol(write(tmp_path, unknown))
    short = ok.replace("the team judged the CI adequate", "ok")
    with pytest.raises(StudyRecordError, match="reason"):
        load_protocol(write(tmp_path, short))


def test_window_bounds_are_inclusive_at_both_ends(repo_root):
    """Real studies report day 7 and day 60: each belongs to the window whose bound it is."""
    p = load_protocol(repo_root / "evidence" / "protocol.yaml")
    for w in p.windows:
        assert w.contains(w.min_days) and not w.contains(w.min_days - 1)
        if w.max_days is not None:
            assert w.contains(w.max_days) and not w.contains(w.max_days + 1)
    assert p.window("early").contains(7) and p.window("1m").contains(60)
    assert not p.window("1m").contains(61) and p.window("3m").contains(61)

