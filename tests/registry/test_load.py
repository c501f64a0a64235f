"""load_studies: records and the long table; round trip; schema; the shipped registry."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import blastic_meta
from blastic_meta.errors import StudyRecordError
from blastic_meta.registry.citations import load_bibliography
from blastic_meta.registry.load import TABLE_COLUMNS, dump_study, load_studies, parse_study
from blastic_meta.registry.schema import schema_text
from blastic_meta.registry.validation import SCHEMA_COMMENT, validate_studies

DATA = Path(__file__).parent / "data"
BIB = DATA / "references.bib"
ROOT = Path(__file__).resolve().parents[2]
CONTRACT_COLUMNS = (
    "study", "arm", "arm_label", "lesion_type", "design", "procedure", "outcome", "instrument",
    "scale_min", "scale_max", "timepoint", "days", "n", "mean", "sd", "sd_kind", "median", "q1",
    "q3", "min", "max", "events", "total", "unit", "symptomatic", "patients", "vertebrae",
    "source", "via", "ambiguous", "note",
)


@pytest.fixture(scope="module")
def loaded():
    return load_studies(DATA / "valid", BIB)


def test_public_name():
    assert blastic_meta.load_studies is load_studies


def test_records_and_table(loaded):
    records, table = loaded
    assert [r.key for r in records] == ["fixture2020"]
    assert set(CONTRACT_COLUMNS) <= set(table.columns)
    assert tuple(table.columns) == TABLE_COLUMNS
    counts = table["outcome"].value_counts().to_dict()
    # 3 VAS + 1 ODI time points, 1 responder, 1 leakage, 1 symptomatic, 2 sites, 1 complication
    assert counts == {"vas": 3, "qol": 1, "responder": 1, "leakage": 1,
                      "leakage_symptomatic": 1, "leakage_site": 2, "complication": 1}


def test_table_values_trace_to_the_file(loaded):
    _, table = loaded
    vas = table[table["outcome"] == "vas"].set_index("days")
    assert vas.loc[0, "mean"] == 7.25 and vas.loc[0, "sd"] == 1.5 and vas.loc[0, "n"] == 40
    assert vas.loc[7, "p_value"] == "<0.001"
    assert vas.loc[90, "max"] == 6.0 and vas.loc[0, "scale_max"] == 10.0
    assert (vas["source"] == "Table 2").all() and (vas["patients"] == 40).all()
    leak = table[table["outcome"] == "leakage"].iloc[0]
    assert (leak["events"], leak["total"], leak["unit"], leak["percent"]) == (13, 50, "vertebra",
                                                                              26.0)
    assert leak["symptomatic"] is None and not leak["ambiguous"]
    sym = table[table["outcome"] == "leakage_symptomatic"].iloc[0]
    assert (sym["events"], sym["symptomatic"], sym["unit"]) == (1, True, "vertebra")
    assert pd.isna(sym["total"])  # not printed for the symptomatic count: never filled in
    sites = table[table["outcome"] == "leakage_site"]
    assert dict(zip(sites["instrument"], sites["events"], strict=True)) == {"canal": 2, "disc": 5}
    odi = table[table["outcome"] == "qol"].iloc[0]
    assert odi["instrument"] == "ODI" and odi["median"] == 60.0 and pd.isna(odi["n"])


def test_ambiguous_and_derived_rows(tmp_path):
    text = (DATA / "valid" / "fixture2020.yaml").read_text(encoding="utf-8")
    text = text.replace("        events: 13\n        total: 50\n        percent: 26.0\n"
                        "        unit: vertebra\n",
                        "        events: 13\n        total: null\n        unit: ambiguous\n"
                        "        candidate_units: [patient, vertebra]\n")
    text = text.replace("events: 0, total: 40, unit: patient",
                        'events: null, total: 40, derived_events: {value: 0, method: "none '
                        'mentioned"}, unit: patient')
    (tmp_path / "fixture2020.yaml").write_text(text, encoding="utf-8")
    _, table = load_studies(tmp_path, BIB)
    leak = table[table["outcome"] == "leakage"].iloc[0]
    assert leak["ambiguous"] and leak["unit"] == "ambiguous"
    assert leak["candidate_units"] == "patient|vertebra" and pd.isna(leak["total"])
    comp = table[table["outcome"] == "complication"].iloc[0]
    assert pd.isna(comp["events"]) and comp["derived_events"] == 0
    assert comp["derived"] == "events: none mentioned"


def test_errors_are_listed_together(tmp_path):
    text = (DATA / "valid" / "fixture2020.yaml").read_text(encoding="utf-8")
    text = text.replace("n: 36,", "n: 45,").replace("male: 22,", "male: 30,")
    (tmp_path / "fixture2020.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "broken.yaml").write_text("key: [\n", encoding="utf-8")
    with pytest.raises(StudyRecordError) as exc:
        load_studies(tmp_path, BIB)
    message = str(exc.value)
    assert "[n-exceeds-patients]" in message and "[sum-exceeds-patients]" in message
    assert "broken.yaml:" in message and "3 error(s)" in message


def test_warnings_do_not_stop_loading(tmp_path):
    shutil.copy(DATA / "valid" / "fixture2020.yaml", tmp_path)
    shutil.copy(DATA / "extra" / "twin2021.yaml", tmp_path)
    records, _ = load_studies(tmp_path, load_bibliography(BIB))
    assert [r.key for r in records] == ["fixture2020", "twin2021"]


def test_round_trip_preserves_values(loaded, tmp_path):
    records, table = loaded
    for rec in records:
        (tmp_path / f"{rec.key}.yaml").write_text(dump_study(rec), encoding="utf-8")
    again, table2 = load_studies(tmp_path, BIB)
    assert again == records
    pd.testing.assert_frame_equal(table, table2)
    assert validate_studies(tmp_path, BIB) == []


def test_parse_study_errors_are_clean():
    with pytest.raises(StudyRecordError) as exc:
        parse_study("key: x\ndesign: nope\n", "s.yaml")
    assert "s.yaml:2: design:" in str(exc.value)
    with pytest.raises(StudyRecordError):
        parse_study("- a\n- b\n", "s.yaml")


_FIXTURE = (DATA / "valid" / "fixture2020.yaml").read_text(encoding="utf-8")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(_FIXTURE)), st.integers(0, 6),
                          st.text(alphabet=" :-[]{},'\"\n#&*!?|>0123456789.abnoyes~", max_size=4)),
                max_size=4))
def test_mutated_fixture_gives_record_or_clean_error(edits):
    text = _FIXTURE
    for at, cut, insert in edits:
        text = text[:at] + insert + text[at + cut:]
    try:
        record = parse_study(text, "m.yaml")
    except StudyRecordError as exc:
        assert str(exc).startswith("m.yaml:")
    else:
        assert record.key


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_random_input_gives_record_or_clean_error(data):
    with pytest.raises(StudyRecordError):
        parse_study(data, "r.yaml")


def test_committed_schema_is_generated():
    committed = (ROOT / "studies" / "schema.json").read_text(encoding="utf-8")
    # regenerate with: python -m blastic_meta.registry.schema > studies/schema.json
    assert committed == schema_text()


def test_schema_is_deterministic_and_strict():
    import json

    schema = json.loads(schema_text())
    assert schema_text() == schema_text()
    assert schema["additionalProperties"] is False
    assert "key" in schema["required"] and "arms" in schema["properties"]
    assert schema["$defs"]["Leakage"]["properties"]["unit"]["enum"] == [
        "vertebra", "patient", "procedure", "leak_site", "ambiguous"]


_SHIPPED = sorted((ROOT / "studies").glob("*.yaml"))


@pytest.mark.skipif(not _SHIPPED, reason="no study files shipped yet")
def test_shipped_registry_validates_without_errors():
    findings = validate_studies(ROOT / "studies", ROOT / "evidence" / "references.bib")
    errors = [str(f) for f in findings if f.severity == "error"]
    assert errors == []


@pytest.mark.skipif(not _SHIPPED, reason="no study files shipped yet")
def test_shipped_files_reference_the_schema():
    missing = [p.name for p in _SHIPPED
               if not p.read_text(encoding="utf-8").startswith(SCHEMA_COMMENT)]
    assert missing == []


@pytest.mark.skipif(not _SHIPPED, reason="no study files shipped yet")
def test_shipped_registry_loads():
    try:
        records, table = load_studies(ROOT / "studies", ROOT / "evidence" / "references.bib")
    except StudyRecordError as exc:
        pytest.fail(str(exc))
    assert len(records) == len(_SHIPPED)
    assert not table.empty and math.isfinite(float(table["patients"].dropna().sum()))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=120))
def test_validate_never_raises_on_any_file_content(data):
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "random.yaml").write_bytes(data)
        findings = validate_studies(folder, BIB)
    assert any(f.severity == "error" for f in findings)


@pytest.mark.skipif(not _SHIPPED, reason="no study files shipped yet")
def test_shipped_records_round_trip():
    for path in _SHIPPED:
        record = parse_study(path.read_bytes(), str(path))
        again = parse_study(dump_study(record), str(path))
        assert again == record, path.name


def test_load_studies_bibliography_problems(tmp_path):
    with pytest.raises(StudyRecordError):
        load_studies(DATA / "valid", tmp_path / "missing.bib")
    other = tmp_path / "other.bib"
    other.write_text("@article{someone1999, year = {1999}}\n", encoding="utf-8")
    with pytest.raises(StudyRecordError, match=r"\[bib-missing\]"):
        load_studies(DATA / "valid", other)
