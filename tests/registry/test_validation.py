"""Every validation check: a fixture edit that triggers it, and the fixture that passes it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blastic_meta.registry.citations import parse_bibliography
from blastic_meta.registry.load import load_studies
from blastic_meta.registry.validation import Finding, validate_studies
from blastic_meta.registry.yamlio import dump_yaml, parse_yaml

DATA = Path(__file__).parent / "data"
BIB = DATA / "references.bib"
BASE = DATA / "valid" / "fixture2020.yaml"
TRIGGERS = parse_yaml((DATA / "triggers.yaml").read_bytes(), "triggers.yaml").data


def _apply(trigger: dict, folder: Path) -> Path:
    text = BASE.read_text(encoding="utf-8")
    for old, new in trigger["replace"]:
        assert text.count(old) == 1, f"trigger text {old!r} must occur once in the fixture"
        text = text.replace(old, new)
    target = folder / trigger.get("file", "fixture2020.yaml")
    if trigger.get("empty"):
        target.write_bytes(b"")
    else:
        target.write_bytes(text.encode("latin-1" if trigger.get("latin1") else "utf-8"))
    for extra in trigger.get("also", []):
        shutil.copy(DATA / extra, folder / Path(extra).name)
    return target


def test_fixture_passes_every_check():
    assert validate_studies(DATA / "valid", BIB) == []


def test_every_documented_code_has_a_trigger():
    doc = (Path(__file__).parents[2] / "docs" / "study-format.md").read_text(encoding="utf-8")
    section = doc.split("## Checks", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([a-z0-9-]+)`", section.split("The duplicate-cohort")[0]))
    triggered = {t["code"] for t in TRIGGERS}
    # codes checked elsewhere: bibliography (test_bibliography_problems_are_findings),
    # file-name/file-unreadable (test_folder_problems)
    untested = documented - triggered - {"bibliography", "file-name", "file-unreadable"}
    assert untested == set()
    assert triggered <= documented


@pytest.mark.parametrize("trigger", TRIGGERS, ids=[
    f"{t['code']}-{i}" for i, t in enumerate(TRIGGERS)])
def test_trigger(trigger, tmp_path):
    _apply(trigger, tmp_path)
    findings = validate_studies(tmp_path, BIB)
    hits = [f for f in findings if f.code == trigger["code"]]
    assert hits, f"{trigger['code']} not reported; got {[str(f) for f in findings]}"
    severity = trigger.get("severity", "error")
    assert {f.severity for f in hits} == {severity}
    assert all(f.path.startswith(str(tmp_path)) for f in hits)
    if "message" in trigger:
        assert any(trigger["message"] in f.message for f in hits), [str(f) for f in hits]
    for f in hits:
        assert f.line >= 1


def test_lines_point_at_the_field(tmp_path):
    _apply({"replace": [["n: 36,", "n: 45,"]]}, tmp_path)
    (finding,) = [f for f in validate_studies(tmp_path, BIB) if f.code == "n-exceeds-patients"]
    line = BASE.read_text(encoding="utf-8").splitlines()[finding.line - 1]
    assert "n: 36," in line
    assert finding.field == "arms[0].outcomes[0].timepoints[2].n"


def test_finding_str_format():
    f = Finding("studies/a.yaml", 12, "arms[0].patients", "error", "bad", "type")
    w = Finding("studies/a.yaml", 3, "key", "warning", "odd", "x")
    assert str(f) == "studies/a.yaml:12: arms[0].patients: bad [type]"
    assert str(w) == "studies/a.yaml:3: key: warning: odd [x]"


def test_all_problems_reported_at_once(tmp_path):
    _apply({"replace": [["design: retrospective_case_series", "design: cohort"],
                        ["lesion_wording:", "lesion_wordng:"],
                        ["sd: 8.0,", "sd: 0,"]]}, tmp_path)
    codes = {f.code for f in validate_studies(tmp_path, BIB)}
    assert {"choice", "unknown-field", "sd-not-positive"} <= codes


def test_declared_problem_becomes_warning(tmp_path):
    declared = ('discrepancies:\n  - item: "leakage percentage"\n    values:\n'
                '      - {value: "27.5%", source: "Discussion"}\n'
                '      - {value: "13/50", source: "Results"}\n'
                '    used: "13/50"\n    reason: "counts are primary"\n'
                '    fields: ["arms[0].leakage[0].percent"]\n')
    _apply({"replace": [["percent: 26.0\n", "percent: 27.5\n"],
                        ["discrepancies: []\n", declared]]}, tmp_path)
    (hit,) = [f for f in validate_studies(tmp_path, BIB) if f.code == "percent-mismatch"]
    assert hit.severity == "warning" and "(declared)" in hit.message


def test_ambiguous_mapping_downgrades(tmp_path):
    _apply({"replace": [["n: 36,", "n: 45, ambiguous: true,"]]}, tmp_path)
    (hit,) = [f for f in validate_studies(tmp_path, BIB) if f.code == "n-exceeds-patients"]
    assert hit.severity == "warning"


def test_percent_truncation_accepted(tmp_path):
    # 13/50 = 26%; 7/27 = 25.925...%: printed truncated 25.9 and rounded 25.9 both pass,
    # 26.1 does not
    for printed, ok in (("25.9", True), ("26", True), ("26.1", False)):
        _apply({"replace": [["events: 13\n", "events: 7\n"], ["total: 50\n", "total: 27\n"],
                            ["percent: 26.0\n", f"percent: {printed}\n"]]}, tmp_path)
        codes = {f.code for f in validate_studies(tmp_path, BIB)}
        assert ("percent-mismatch" not in codes) is ok, printed


def test_grim_uses_printed_decimals(tmp_path):
    # 7.30 (two decimals) with n = 40 is impossible: sums 292/40 = 7.3 exactly -> fine;
    # 7.31 is not reachable: 292/40 = 7.300, 293/40 = 7.325
    _apply({"replace": [["mean: 7.25,", "mean: 7.30,"]]}, tmp_path)
    assert "grim" not in {f.code for f in validate_studies(tmp_path, BIB)}
    _apply({"replace": [["mean: 7.25,", "mean: 7.31,"]]}, tmp_path)
    assert "grim" in {f.code for f in validate_studies(tmp_path, BIB)}


def test_sd_bound_depends_on_n(tmp_path):
    # mean 5 on 0-10: population SD at most 5; a sample of n = 2 can reach 5 * sqrt(2) = 7.07
    old = "days: 0, n: 40, mean: 7.25, sd: 1.5,"
    _apply({"replace": [[old, "days: 0, n: 2, mean: 5.0, sd: 6.5,"]]}, tmp_path)
    assert "sd-impossible" not in {f.code for f in validate_studies(tmp_path, BIB)}
    _apply({"replace": [[old, "days: 0, n: 40, mean: 5.0, sd: 6.5,"]]}, tmp_path)
    assert "sd-impossible" in {f.code for f in validate_studies(tmp_path, BIB)}


def test_known_overlap_silences_duplicate_cohort(tmp_path):
    _apply({"replace": [["known_overlap: []", 'known_overlap: [{study: twin2021, note: "same '
                         'centre", relation: distinct}]']], "also": ["extra/twin2021.yaml"]},
           tmp_path)
    assert validate_studies(tmp_path, BIB) == []


def test_bibliography_problems_are_findings(tmp_path):
    bib = tmp_path / "references.bib"
    bib.write_text(BIB.read_text(encoding="utf-8") + "\n@article{fixture2020, year={1}}\n",
                   encoding="utf-8")
    findings = validate_studies(DATA / "valid", bib)
    assert [f.code for f in findings] == ["bibliography"]
    assert "duplicate key 'fixture2020'" in findings[0].message
    assert findings[0].line > 1


def test_folder_problems(tmp_path):
    missing = validate_studies(tmp_path / "nothing", BIB)
    assert [f.code for f in missing] == ["file-unreadable"]
    (tmp_path / "a.yml").write_text("key: a\n", encoding="utf-8")
    assert [f.code for f in validate_studies(tmp_path, BIB)] == ["file-name"]
    assert [f.code for f in validate_studies(DATA / "valid", tmp_path / "no.bib")] == [
        "bibliography"]


def test_validation_accepts_loaded_bibliography():
    bib = parse_bibliography(BIB.read_text(encoding="utf-8"), str(BIB))
    assert validate_studies(DATA / "valid", bib) == []


def test_null_counts_with_reasons_pass(tmp_path):
    _apply({"replace": [['canal: {events: 2, source: "Results"}',
                         'canal: {events: null, reason: "count not printed"}'],
                        ['symptomatic: {events: 1, unit: vertebra, source: "Results"}',
                         'symptomatic: {events: null, unit: vertebra, reason: "not stated"}']]},
           tmp_path)
    assert validate_studies(tmp_path, BIB) == []


def test_symptomatic_cannot_exceed_all_leakage(tmp_path):
    _apply({"replace": [['symptomatic: {events: 1, unit: vertebra, source: "Results"}',
                         'symptomatic: {events: 14, unit: vertebra, source: "Results"}']]},
           tmp_path)
    (hit,) = [f for f in validate_studies(tmp_path, BIB) if f.code == "events-exceed-total"]
    assert hit.field == "arms[0].leakage[0].symptomatic.events"


def _leaves(node, where=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*where, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _leaves(value, (*where, i))
    yield where


_BASE_DATA = parse_yaml(BASE.read_bytes()).data
_PATHS = [p for p in _leaves(_BASE_DATA) if p]
_VALUES = st.one_of(st.none(), st.integers(-5, 200), st.floats(-5, 200, allow_nan=False),
                    st.sampled_from(["", "x", "ambiguous", "patient", "sd", "<0.001", "no"]),
                    st.just([]), st.just({}))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(_PATHS) - 1), _VALUES, st.booleans()),
                min_size=1, max_size=3))
def test_edited_values_never_crash_the_checks(edits):
    import copy
    import tempfile

    data = copy.deepcopy(_BASE_DATA)
    for index, value, delete in edits:
        *parent_path, last = _PATHS[index]
        parent = data
        try:
            for part in parent_path:
                parent = parent[part]
            if delete and isinstance(parent, dict):
                parent.pop(last, None)
            else:
                parent[last] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced this path
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "fixture2020.yaml").write_text(dump_yaml(data), encoding="utf-8")
        findings = validate_studies(folder, BIB)
        if not any(f.severity == "error" for f in findings):
            records, table = load_studies(folder, BIB)  # the table builds from any valid record
            assert len(records) == 1 and set(table["study"]) <= {"fixture2020"}
    assert all(isinstance(f, Finding) and f.line >= 1 for f in findings)
