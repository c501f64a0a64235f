"""What validate says and counts: accepted warnings (console, table), messages that say what to
do (tabs, a spread pasted as text), the template and the documented code list."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from blastic_meta import cli
from blastic_meta.commands.new_study import template_text
from blastic_meta.registry.findings import CODES
from blastic_meta.registry.load import load_checked
from blastic_meta.registry.validation import validate_studies
from blastic_meta.registry.yamlio import YamlError, parse_yaml
from blastic_meta.review.tables import data_quality

DATA = Path(__file__).parent / "data"
BIB = DATA / "references.bib"
BASE = (DATA / "valid" / "fixture2020.yaml").read_text(encoding="utf-8")
ROOT = Path(__file__).resolve().parents[2]
BASELINE = "mean: 7.25, sd: 1.5, sd_kind: sd, source: \"Table 2\"}"
ACCEPTED = ("mean: 5.0, sd: 0.5, sd_kind: sd, source: \"Table 2\", accept: [{check: "
            "sd-looks-like-se, reason: \"Table 2 labels it SD; kept as printed\"}]}")


def _write(folder: Path, *edits: tuple[str, str]) -> Path:
    text = BASE
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fixture2020.yaml").write_text(text, encoding="utf-8")
    return folder


def test_accepted_warning_leaves_the_console_and_is_counted(tmp_path, capsys):
    studies = _write(tmp_path / "studies", (BASELINE, ACCEPTED))
    (tmp_path / "evidence").mkdir()
    shutil.copy(BIB, tmp_path / "evidence" / "references.bib")
    shutil.copy(BIB.parent / "screening.yaml", tmp_path / "evidence" / "screening.yaml")
    shutil.copy(ROOT / "evidence" / "protocol.yaml", tmp_path / "evidence" / "protocol.yaml")
    code = cli.main(["validate", "--studies", str(studies), "--evidence",
                     str(tmp_path / "evidence")])
    assert code == 0
    assert capsys.readouterr().out == (
        "1 study file(s) checked: 0 error(s), 0 warning(s), 1 accepted\n")


def test_without_the_acceptance_the_warning_is_printed(tmp_path, capsys):
    studies = _write(tmp_path / "studies", (BASELINE, ACCEPTED.split(", accept:")[0] + "}"))
    (tmp_path / "evidence").mkdir()
    shutil.copy(BIB, tmp_path / "evidence" / "references.bib")
    shutil.copy(BIB.parent / "screening.yaml", tmp_path / "evidence" / "screening.yaml")
    shutil.copy(ROOT / "evidence" / "protocol.yaml", tmp_path / "evidence" / "protocol.yaml")
    cli.main(["validate", "--studies", str(studies), "--evidence", str(tmp_path / "evidence")])
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "1 study file(s) checked: 0 error(s), 1 warning(s)"
    assert out[0].endswith("[sd-looks-like-se]") and "warning: " in out[0]


@pytest.mark.parametrize("written", ["accept: [sd-looks-like-se]", "accept: sd-looks-like-se",
                                     "accept: [{check: sd-looks-like-se}]"])
def test_a_wrong_accept_shows_the_required_form(tmp_path, written):
    entry = ACCEPTED.replace('accept: [{check: sd-looks-like-se, reason: "Table 2 labels it SD; '
                             'kept as printed"}]', written)
    folder = _write(tmp_path, (BASELINE, entry))
    (problem,) = [f for f in validate_studies(folder, BIB) if f.severity == "error"]
    assert ".accept" in problem.field
    assert problem.message.endswith(
        'accept: [{check: sd-looks-like-se, reason: "..."}]'), problem.message


def test_accepted_warning_is_in_the_data_quality_table_with_its_reason(tmp_path):
    folder = _write(tmp_path, (BASELINE, ACCEPTED))
    records, _, found = load_checked(folder, BIB)
    table = data_quality(records, {}, [f for f in found if f.severity != "error"])
    (row,) = table[table["kind"] == "validation accepted"].to_dict("records")
    assert row["study"] == "fixture2020"
    assert row["about"] == "arms[0].outcomes[0].timepoints[0].sd"
    assert row["resolution"] == "accepted: Table 2 labels it SD; kept as printed"
    assert "largest SD possible" in row["detail"]


def test_shipped_warnings_are_all_accepted_with_reasons():
    found = validate_studies(ROOT / "studies", ROOT / "evidence" / "references.bib")
    assert [f for f in found if f.severity != "accepted"] == []
    assert all(f.reason.strip() for f in found)


@pytest.mark.parametrize(("text", "line", "words"), [
    ("a:\n\tb: 1\n", 2, "indent with spaces, not tabs (a tab at column 1)"),
    ("a:\n  b: 1\n  \tc: 2\n", 3, "indent with spaces, not tabs (a tab at column 3)"),
    ("a:\n  b:\t1\n", 2, "separate values with spaces, not tabs (a tab at column 5)"),
])
def test_tab_says_to_use_spaces(text, line, words):
    with pytest.raises(YamlError) as info:
        parse_yaml(text, "study.yaml")
    assert str(info.value) == f"study.yaml:{line}: (yaml): {words}"
    assert info.value.code == "yaml-syntax"


def test_tab_in_a_study_file_names_file_and_line(tmp_path):
    folder = _write(tmp_path, ("    label: \"PVP, osteoblastic\"\n",
                               "\tlabel: \"PVP, osteoblastic\"\n"))
    (finding,) = validate_studies(folder, BIB)
    line = BASE.splitlines().index("    label: \"PVP, osteoblastic\"") + 1
    assert (finding.line, finding.message) == (line, "indent with spaces, not tabs "
                                                     "(a tab at column 1)")


@pytest.mark.parametrize(("written", "hint"), [
    ('"1.5 (SE)"', "write sd: 1.5 with sd_kind: se"),
    ('"1.5 SEM"', "write sd: 1.5 with sd_kind: se"),
    ('"1.5 (SD)"', "write sd: 1.5 with sd_kind: sd"),
    ('"± 1.5"', "write sd: 1.5 with sd_kind: unlabelled (a bare ± says neither SD nor SE)"),
    ('"+/-1.5"', "write sd: 1.5 with sd_kind: unlabelled"),
    ('"7.25 ± 1.5"', "write mean: 7.25, sd: 1.5, sd_kind: unlabelled"),
])
def test_spread_pasted_as_text_says_how_to_write_it(tmp_path, written, hint):
    folder = _write(tmp_path, ("sd: 1.5, sd_kind: sd,", f"sd: {written}, sd_kind: sd,"))
    (finding,) = validate_studies(folder, BIB)
    assert finding.code == "type" and finding.field.endswith("timepoints[0].sd")
    assert finding.message.startswith("expected a number, got ")
    assert hint in finding.message


def test_text_without_a_spread_label_gets_no_hint(tmp_path):
    folder = _write(tmp_path, ("sd: 1.5, sd_kind: sd,", 'sd: "about 1.5", sd_kind: sd,'))
    (finding,) = validate_studies(folder, BIB)
    assert finding.message == "expected a number, got 'about 1.5'"


FILLED = {
    "TODO_ACCESS": "abstract", "TODO_DESIGN": "case_series", "TODO_PROCEDURE": "PVP",
    "TODO_LESION": "osteoblastic", "TODO_PATIENTS": "12", '"TODO_LABEL"': '"PVP"',
    '"TODO_WORDING"': '"blastic"', '"TODO_SOURCE"': '"Abstract"',
    '"TODO_REASON"': '"not reported in the abstract"',
}


def test_filled_template_validates_and_carries_follow_up(tmp_path):
    text = template_text("fixture2020")
    for marker, value in FILLED.items():
        text = text.replace(marker, value)
    assert "    follow_up: {unit: months, mean: null," in text
    (tmp_path / "fixture2020.yaml").write_text(text, encoding="utf-8")
    # a new study is not appraised yet: a warning, never an error
    assert [(f.code, f.severity) for f in validate_studies(tmp_path, BIB)] == [
        ("not-appraised", "warning")]
    (tmp_path / "fixture2020.yaml").write_text(
        re.sub(r"(?m)^    follow_up:.*\n(?:\s+#.*\n)*", "", text), encoding="utf-8")
    assert sorted(f.code for f in validate_studies(tmp_path, BIB)) == ["not-appraised",
                                                                       "required"]


def test_documented_codes_are_the_codes():
    doc = (ROOT / "docs" / "study-format.md").read_text(encoding="utf-8")
    section = doc.split("## Checks", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([a-z0-9-]+)`", section.split("The duplicate-cohort")[0]))
    assert documented == CODES
