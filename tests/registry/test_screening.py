"""The PRISMA screening record: loading, every check, the counts derived from the registry, and
the shipped evidence/screening.yaml against the shipped studies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from blastic_meta import cli
from blastic_meta.errors import StudyRecordError
from blastic_meta.registry.load import load_studies
from blastic_meta.registry.screening import (
    EXCLUSION_REASONS,
    check_screening,
    load_screening,
    prisma_flow,
)
from blastic_meta.registry.validation import validate_studies
from blastic_meta.registry.yamlio import dump_yaml, parse_yaml

DATA = Path(__file__).parent / "data"
BIB = DATA / "references.bib"
ROOT = Path(__file__).parents[2]
FIXTURE = parse_yaml((DATA / "screening.yaml").read_bytes(), "screening.yaml").data


def _registry(tmp_path: Path, *files: str) -> Path:
    studies = tmp_path / "studies"
    studies.mkdir()
    for name in files or ("valid/fixture2020.yaml",):
        shutil.copy(DATA / name, studies / Path(name).name)
    return studies


def _screening(tmp_path: Path, **changes) -> Path:
    data = json.loads(json.dumps(FIXTURE))
    data.update(changes)
    path = tmp_path / "screening.yaml"
    path.write_text(dump_yaml(data), encoding="utf-8")
    return path


def _findings(tmp_path: Path, studies: Path, screening: Path):
    return validate_studies(studies, BIB, screening)


def _codes(findings) -> set[str]:
    return {f.code for f in findings}


def test_fixture_record_fits_the_fixture_registry(tmp_path):
    studies = _registry(tmp_path)
    assert _findings(tmp_path, studies, DATA / "screening.yaml") == []


def test_absent_record_is_a_warning(tmp_path):
    studies = _registry(tmp_path)
    (f,) = _findings(tmp_path, studies, tmp_path / "screening.yaml")
    assert (f.code, f.severity) == ("screening-missing", "warning")
    assert validate_studies(studies, BIB) == []  # without the argument: not checked


def test_derived_counts_follow_the_registry(tmp_path):
    records, _ = load_studies(_registry(tmp_path), BIB)
    extra = [{"id": "conf", "study": "fixture2020", "citation": "a conference abstract"}]
    screening = load_screening(_screening(tmp_path, additional_reports=extra), records)
    flow = prisma_flow(screening, records)
    assert flow.studies_included.count == 1 and flow.studies_included.derived
    assert flow.reports_of_included_studies.count == 2          # 1 study file + 1 report
    assert flow.reports_excluded.count == 3
    assert flow.reports_assessed.count == 2 + 3
    assert flow.reports_not_retrieved.count == 1
    assert flow.reports_sought.count == 5 + 1
    assert flow.excluded_by_reason == {"not_primary_study": 1, "wrong_population": 2}
    assert flow.identified_by_kind["database"].count == 120
    assert flow.identified_by_kind["other"].count is None
    assert flow.identified_by_kind["register"].count == 0
    assert flow.records_screened.count is None and flow.records_screened.reason
    d = flow.to_dict()
    assert json.loads(json.dumps(d)) == d and d["reports_sought"]["count"] == 6


def test_records_screened_is_derived_when_every_count_is_known(tmp_path):
    records, _ = load_studies(_registry(tmp_path), BIB)
    ident = [{"id": "db", "kind": "database", "label": "db", "records": 120}]
    screening = load_screening(_screening(tmp_path, identification=ident), records)
    flow = prisma_flow(screening, records)
    assert (flow.records_screened.count, flow.records_screened.derived) == (100, True)
    assert flow.records_excluded.count == 100 - flow.reports_sought.count


def test_typed_count_fails_when_a_study_is_added(tmp_path):
    studies = _registry(tmp_path)
    path = _screening(tmp_path, counts={"studies_included": 1, "reports_assessed": 4})
    assert _findings(tmp_path, studies, path) == []
    shutil.copy(DATA / "extra" / "twin2021.yaml", studies / "twin2021.yaml")
    errors = [f for f in _findings(tmp_path, studies, path) if f.code == "screening-count"]
    assert {f.field for f in errors} == {"counts.studies_included", "counts.reports_assessed"}
    assert all(f.severity == "error" for f in errors)
    assert "typed as 1 but the registry gives 2" in errors[1].message + errors[0].message
    line = path.read_text(encoding="utf-8").splitlines()[errors[0].line - 1]
    assert errors[0].field.split(".")[-1] in line


def test_broken_study_file_skips_count_comparisons(tmp_path):
    studies = _registry(tmp_path)
    (studies / "broken2022.yaml").write_text("key: [\n", encoding="utf-8")
    path = _screening(tmp_path, counts={"studies_included": 2})
    assert "screening-count" not in _codes(_findings(tmp_path, studies, path))


@pytest.mark.parametrize(("changes", "code", "field"), [
    ({"excluded": [{"id": "fixture2020", "citation": "c", "reason": "other", "detail": "d"}]},
     "screening-excluded-included", "excluded[0].id"),
    ({"not_retrieved": [{"id": "x", "citation": "c", "reason": "r", "study": "fixture2020"}]},
     "screening-not-retrieved", "not_retrieved[0].study"),
    ({"not_retrieved": [{"id": "x", "citation": "c", "reason": "r", "study": "ghost1999"}]},
     "screening-study-unknown", "not_retrieved[0].study"),
    ({"additional_reports": [{"id": "x", "study": "ghost1999", "citation": "c"}]},
     "screening-study-unknown", "additional_reports[0].study"),
    ({"additional_reports": [{"id": "lost2001", "study": "fixture2020", "citation": "c"}]},
     "duplicate-id", "additional_reports[0].id"),
    ({"records_screened": {"count": 3}}, "screening-count", "records_screened.count"),
    ({"records_screened": {"count": 100}, "records_excluded": {"count": 10}},
     "screening-count", "records_excluded.count"),
    ({"identification": [{"id": "db", "kind": "database", "label": "db", "records": 120}],
      "records_screened": {"count": 90}}, "screening-count", "records_screened.count"),
    ({"records_screened": {"count": None}}, "reason-missing", "records_screened"),
    ({"identification": [{"id": "db", "kind": "database", "label": "db"}]},
     "reason-missing", "identification[0]"),
    ({"identification": [{"id": "db", "kind": "website", "label": "db", "records": 1}]},
     "choice", "identification[0].kind"),
    ({"excluded": [{"id": "e", "citation": "c", "reason": "boring", "detail": "d"}]},
     "choice", "excluded[0].reason"),
    ({"identification": []}, "required", "identification"),
    ({"records_screnned": {"count": 1}}, "unknown-field", "records_screnned"),
])
def test_each_screening_check(tmp_path, changes, code, field):
    studies = _registry(tmp_path)
    hits = [f for f in _findings(tmp_path, studies, _screening(tmp_path, **changes))
            if f.code == code]
    assert hits and {f.severity for f in hits} == {"error"}
    assert field in {f.field for f in hits}, [str(f) for f in hits]


def test_unknown_field_suggests_a_screening_field(tmp_path):
    studies = _registry(tmp_path)
    path = _screening(tmp_path, records_screnned={"count": 1})
    (f,) = [f for f in _findings(tmp_path, studies, path) if f.code == "unknown-field"]
    assert "did you mean 'records_screened'" in f.message


def test_secondary_only_study_must_be_listed_as_not_retrieved(tmp_path):
    studies = _registry(tmp_path)
    path = studies / "fixture2020.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "source_access: full_text", "source_access: secondary_only").replace(
        "appraised_from: full_text", "appraised_from: secondary_only"), encoding="utf-8")
    screening = _screening(tmp_path)
    assert "screening-not-retrieved" in _codes(_findings(tmp_path, studies, screening))
    listed = [*FIXTURE["not_retrieved"], {"id": "f2020", "citation": "c", "reason": "not found",
                                          "study": "fixture2020"}]
    screening = _screening(tmp_path, not_retrieved=listed)
    found = _findings(tmp_path, studies, screening)
    assert not [f for f in found if f.code.startswith("screening")]
    records, _ = load_studies(studies, BIB)
    flow = prisma_flow(load_screening(screening, records), records)
    assert flow.included_through_other_reports == ("fixture2020",)
    assert flow.reports_of_included_studies.count == 0
    assert flow.studies_included.count == 1


def test_yaml_problems_are_findings(tmp_path):
    path = tmp_path / "screening.yaml"
    path.write_text("version: 1\nversion: 1\n", encoding="utf-8")
    (f,) = check_screening(path, [])[1]
    assert f.code == "yaml-duplicate-key" and f.line == 2
    path.write_text("- a list\n", encoding="utf-8")
    assert check_screening(path, [])[1][0].code == "type"
    with pytest.raises(StudyRecordError, match="type"):
        load_screening(path, [])


# --- the shipped record ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def shipped():
    path = ROOT / "evidence" / "screening.yaml"
    if not path.is_file():
        pytest.skip("no screening record shipped")
    records, _ = load_studies(ROOT / "studies", ROOT / "evidence" / "references.bib")
    return records, load_screening(path, records)


def test_shipped_record_validates(shipped):
    findings = validate_studies(ROOT / "studies", ROOT / "evidence" / "references.bib",
                                ROOT / "evidence" / "screening.yaml")
    assert [str(f) for f in findings if f.severity == "error"] == []
    assert not [f for f in findings if f.path.endswith("screening.yaml")]


def test_shipped_flow(shipped):
    records, screening = shipped
    flow = prisma_flow(screening, records)
    assert flow.studies_included.count == len(records)
    assert set(flow.included_through_other_reports) == {"murphy2007", "chen2013"}
    assert {"murphy2007", "chen2013"} <= {n["study"] for n in flow.not_retrieved}
    excluded = {e["id"]: e["reason"] for e in flow.excluded}
    assert excluded["qi2018"] == excluded["bouza2009"] == "not_primary_study"
    assert set(excluded.values()) <= set(EXCLUSION_REASONS)
    assert not set(excluded) & {r.key for r in records}
    assert flow.records_screened.count is None and "not recorded" in flow.records_screened.reason
    assert flow.reports_assessed.count == (flow.reports_of_included_studies.count
                                           + flow.reports_excluded.count)
    assert sum(flow.excluded_by_reason.values()) == flow.reports_excluded.count


def test_cli_validate_reads_the_screening_record(tmp_path, capsys):
    studies = _registry(tmp_path)
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    shutil.copy(BIB, evidence / "references.bib")
    shutil.copy(ROOT / "evidence" / "protocol.yaml", evidence / "protocol.yaml")
    assert cli.main(["validate", "--studies", str(studies), "--evidence", str(evidence)]) == 0
    out = capsys.readouterr().out
    assert "[screening-missing]" in out and out.endswith("0 error(s), 1 warning(s)\n")
    _screening(evidence, counts={"studies_included": 2})
    assert cli.main(["validate", "--studies", str(studies), "--evidence", str(evidence)]) == 1
    assert "counts.studies_included" in capsys.readouterr().out
