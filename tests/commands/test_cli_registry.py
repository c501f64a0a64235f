"""blastic-meta validate and new-study: output format, exit codes, files left alone."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from blastic_meta import cli
from blastic_meta.commands.new_study import template_text
from blastic_meta.registry.load import parse_study

DATA = Path(__file__).parents[1] / "registry" / "data"
PROTOCOL = Path(__file__).parents[2] / "evidence" / "protocol.yaml"
LINE = re.compile(r"^[^:]+\.(yaml|bib):\d+: [^:]+: (warning: )?.+ \[[a-z0-9-]+\]$")


def _setup(tmp_path: Path, *files: str) -> tuple[Path, Path]:
    studies, evidence = tmp_path / "studies", tmp_path / "evidence"
    studies.mkdir()
    evidence.mkdir()
    shutil.copy(DATA / "references.bib", evidence / "references.bib")
    shutil.copy(DATA / "screening.yaml", evidence / "screening.yaml")
    shutil.copy(PROTOCOL, evidence / "protocol.yaml")  # validate checks it as report does
    for name in files:
        shutil.copy(DATA / name, studies / Path(name).name)
    return studies, evidence


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_validate_clean_exits_zero(tmp_path, capsys):
    studies, evidence = _setup(tmp_path, "valid/fixture2020.yaml")
    code = cli.main(["validate", "--studies", str(studies), "--evidence", str(evidence)])
    out = capsys.readouterr().out
    assert code == 0
    assert out == "1 study file(s) checked: 0 error(s), 0 warning(s)\n"


def test_validate_reports_every_problem_and_exits_one(tmp_path, capsys):
    studies, evidence = _setup(tmp_path, "valid/fixture2020.yaml", "extra/twin2021.yaml")
    path = studies / "fixture2020.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("n: 36,", "n: 45,"),
                    encoding="utf-8")
    before = _hashes(studies)
    code = cli.main(["validate", "--studies", str(studies), "--evidence", str(evidence)])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert all(LINE.match(line) for line in out[:-1]), out
    assert any(line.endswith("[n-exceeds-patients]") and ":32: " in line for line in out)
    assert out[-1] == "2 study file(s) checked: 1 error(s), 1 warning(s)"
    assert _hashes(studies) == before


def test_validate_warnings_alone_pass(tmp_path, capsys):
    studies, evidence = _setup(tmp_path, "valid/fixture2020.yaml", "extra/twin2021.yaml")
    assert cli.main(["validate", "--studies", str(studies), "--evidence", str(evidence)]) == 0
    out = capsys.readouterr().out
    assert "warning: possible duplicate cohort" in out
    assert cli.main(["validate", "--studies", str(studies), "--evidence", str(evidence),
                     "--errors-only"]) == 0
    assert capsys.readouterr().out == "2 study file(s) checked: 0 error(s), 1 warning(s)\n"


@pytest.mark.parametrize("damage", ["bogus_field: 1\n", "model:\n  level: 7\n",
                                    "# " + "x" * 3_000_000 + "\n", None])
def test_validate_checks_the_protocol_as_report_does(tmp_path, capsys, damage):
    """A 3 MB protocol or one with an unknown field once passed validate ("0 error(s)")."""
    studies, evidence = _setup(tmp_path, "valid/fixture2020.yaml")
    protocol = evidence / "protocol.yaml"
    if damage is None:
        protocol.unlink()
    elif damage.startswith("model:"):  # a second 'model:' block would be a YAML error
        text = protocol.read_text(encoding="utf-8")
        protocol.write_text(re.sub(r"(?m)^  level: .*$", "  level: 7", text, count=1),
                            encoding="utf-8")
    else:
        protocol.write_text(protocol.read_text(encoding="utf-8") + damage, encoding="utf-8")
    argv = ["--studies", str(studies), "--evidence", str(evidence)]
    assert cli.main(["validate", *argv]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "1 study file(s) checked: 1 error(s), 0 warning(s)"
    (problem,) = out[:-1]
    assert LINE.match(problem) and problem.endswith(" [protocol]"), problem
    assert cli.main(["report", "--quiet", *argv, "--out", str(tmp_path / "outputs")]) == 1
    from_report = capsys.readouterr().err.strip().removeprefix("blastic-meta report: error: ")
    where, message = from_report.split(": ", 1)  # the same loader, the same words
    assert problem.startswith(where) and problem.endswith(f"{message} [protocol]"), problem


def test_validate_console_script_has_no_traceback(tmp_path):
    studies, evidence = _setup(tmp_path)
    (studies / "bad.yaml").write_bytes(b"\xff\xfe garbage: [")
    proc = subprocess.run([sys.executable, "-m", "blastic_meta", "validate", "--studies",
                           str(studies), "--evidence", str(evidence)],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "bad.yaml:1: (file): not UTF-8 text [yaml-encoding]" in proc.stdout


def test_new_study_writes_template_and_bibtex_stub(tmp_path, capsys):
    studies = tmp_path / "studies"
    code = cli.main(["new-study", "smith2019", "--studies", str(studies),
                     "--evidence", str(tmp_path / "evidence")])
    captured = capsys.readouterr()
    assert code == 0
    written = (studies / "smith2019.yaml").read_text(encoding="utf-8")
    assert written.startswith("# yaml-language-server: $schema=schema.json\n")
    assert "key: smith2019\n" in written
    assert captured.out.startswith("@article{smith2019,\n")
    assert "smith2019.yaml" in captured.err


def test_new_study_refuses_to_overwrite(tmp_path, capsys):
    studies = tmp_path / "studies"
    studies.mkdir()
    existing = studies / "smith2019.yaml"
    existing.write_text("precious\n", encoding="utf-8")
    code = cli.main(["new-study", "smith2019", "--studies", str(studies)])
    err = capsys.readouterr().err
    assert code == 1
    assert "already exists" in err and len(err.strip().splitlines()) == 1
    assert existing.read_text(encoding="utf-8") == "precious\n"


@pytest.mark.parametrize("key", ["9abc", "a-b", "a b", "", "x" * 65, "../evil"])
def test_new_study_rejects_bad_keys(tmp_path, key, capsys):
    assert cli.main(["new-study", key, "--studies", str(tmp_path)]) == 1
    assert list(tmp_path.iterdir()) == []


FILLED = {
    "TODO_ACCESS": "abstract", "TODO_DESIGN": "case_series", "TODO_PROCEDURE": "PVP",
    "TODO_LESION": "osteoblastic", "TODO_PATIENTS": "12", '"TODO_LABEL"': '"PVP"',
    '"TODO_WORDING"': '"blastic"', '"TODO_SOURCE"': '"Abstract"',
    '"TODO_REASON"': '"not reported in the abstract"',
}


def test_template_fails_unfilled_and_loads_once_filled():
    text = template_text("smith2019")
    with pytest.raises(Exception, match="TODO_"):
        parse_study(text, "t.yaml")
    for marker, value in FILLED.items():
        assert marker in text
        text = text.replace(marker, value)
    assert "TODO" not in "".join(ln for ln in text.splitlines() if not ln.startswith("#"))
    record = parse_study(text, "t.yaml")
    assert record.key == "smith2019" and record.arms[0].patients.value == 12
