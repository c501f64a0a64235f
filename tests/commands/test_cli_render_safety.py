"""blastic-meta render never destroys the researcher's files and stops within its limits."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from blastic_meta.cli import main

TEMPLATE = "Pain fell by {{ vas_1m.osteoblastic | estimate_ci }}.\n"
MARKER = ("<!-- written by blastic-meta render from draft.md; edit the template, "
          "not this file -->")


def run(capsys, *argv):
    code = main(["render", *argv])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured


def one_line_error(capsys, *argv):
    code, captured = run(capsys, *argv)
    assert code == 1
    assert len(captured.err.strip().splitlines()) == 1, captured.err
    return captured.err


@pytest.fixture
def draft(workspace):
    path = workspace / "draft.md"
    path.write_text(TEMPLATE, encoding="utf-8")
    return path


@pytest.mark.parametrize("spelling", ["draft.md", "./draft.md", "sub/../draft.md", "ABS",
                                      "link.md", "hard.md"])
def test_render_never_writes_over_its_template(draft, capsys, spelling):
    (draft.parent / "sub").mkdir()
    os.symlink("draft.md", draft.parent / "link.md")
    os.link(draft, draft.parent / "hard.md")
    out = str(draft) if spelling == "ABS" else spelling
    for extra in ([], ["--force"]):
        err = one_line_error(capsys, "draft.md", "-o", out, *extra)
        assert "its own template" in err
        assert draft.read_text(encoding="utf-8") == TEMPLATE
    assert os.path.islink(draft.parent / "link.md")


def test_a_hand_written_file_survives_without_force(draft, capsys):
    paper = draft.parent / "paper.md"
    paper.write_text("My own words.\n", encoding="utf-8")
    err = one_line_error(capsys, "draft.md", "-o", "paper.md")
    assert "paper.md" in err and "not written by blastic-meta render" in err and "--force" in err
    assert paper.read_text(encoding="utf-8") == "My own words.\n"
    code, _ = run(capsys, "draft.md", "-o", "paper.md", "--force")
    assert code == 0
    assert paper.read_text(encoding="utf-8").splitlines()[0] == MARKER


def test_a_file_render_wrote_is_replaced_on_the_next_run(draft, capsys, summary):
    out = draft.parent / "paper.md"
    assert run(capsys, "draft.md", "-o", "paper.md")[0] == 0
    first = out.read_text(encoding="utf-8")
    overall = summary["analyses"]["vas_1m"]["subgroups"]["osteoblastic"]
    assert first == f"{MARKER}\nPain fell by {overall['estimate']:.2f} (95% CI " \
                    f"{overall['ci_low']:.2f} to {overall['ci_high']:.2f}).\n"
    draft.write_text("Now {{ vas_1m.osteoblastic | k }} studies.\n", encoding="utf-8")
    assert run(capsys, "draft.md", "-o", "paper.md")[0] == 0
    assert out.read_text(encoding="utf-8") == f"{MARKER}\nNow {overall['k']} studies.\n"
    out.write_text("edited by hand: marker removed\n" + first, encoding="utf-8")
    one_line_error(capsys, "draft.md", "-o", "paper.md")


def test_latex_marker_and_yaml_front_matter(draft, capsys):
    tex = draft.parent / "paper.tex"
    assert run(capsys, "draft.md", "-o", "paper.tex")[0] == 0
    assert tex.read_text(encoding="utf-8").startswith(
        "% written by blastic-meta render from draft.md; edit the template, not this file\n")
    draft.write_text("---\ntitle: A review\n---\n" + TEMPLATE, encoding="utf-8")
    assert run(capsys, "draft.md", "-o", "paper.md")[0] == 0
    lines = (draft.parent / "paper.md").read_text(encoding="utf-8").splitlines()
    assert lines[:4] == [MARKER, "", "---", "title: A review"]


def test_the_summary_read_and_non_files_are_never_written(draft, capsys):
    summary = draft.parent / "outputs" / "summary.json"
    before = summary.read_bytes()
    err = one_line_error(capsys, "draft.md", "-o", "outputs/summary.json", "--force")
    assert "summary it reads" in err
    assert summary.read_bytes() == before
    assert "not a regular file" in one_line_error(capsys, "draft.md", "-o", "outputs")
    assert "does not exist" in one_line_error(capsys, "draft.md", "-o", "nowhere/paper.md")


def test_a_failed_render_writes_nothing(draft, capsys):
    draft.write_text("{{ vas_1m.nothing | k }}\n", encoding="utf-8")
    one_line_error(capsys, "draft.md", "-o", "paper.md")
    assert not (draft.parent / "paper.md").exists()
    assert sorted(p.name for p in draft.parent.iterdir()) == ["draft.md", "evidence", "outputs"]


SLOW = "{% for x in range(10000) %}{% for y in range(10000) %}{% endfor %}{% endfor %}"
BIG = "{% for x in range(10000) %}{{ 'x' * 1000 }}{% endfor %}"


def test_time_limit_from_option_or_protocol(draft, capsys):
    draft.write_text(SLOW, encoding="utf-8")
    start = time.monotonic()
    err = one_line_error(capsys, "draft.md", "--timeout", "0.3")
    assert "0.3 s" in err and "time limit" in err
    protocol = draft.parent / "evidence" / "protocol.yaml"
    protocol.write_text(protocol.read_text(encoding="utf-8")
                        + "\nrender:\n  timeout: 0.2\n  max_bytes: 5000\n", encoding="utf-8")
    err = one_line_error(capsys, "draft.md")
    assert "0.2 s" in err
    assert time.monotonic() - start < 10
    # the size limit is checked with a generous time limit, so a busy machine cannot turn
    # this into a time-limit error
    protocol.write_text(protocol.read_text(encoding="utf-8").replace("timeout: 0.2",
                                                                     "timeout: 30"),
                        encoding="utf-8")
    draft.write_text(BIG, encoding="utf-8")
    assert "5,000 bytes" in one_line_error(capsys, "draft.md")
    assert "20,000 bytes" in one_line_error(capsys, "draft.md", "--max-bytes", "20000")
    assert run(capsys, "draft.md", "--max-bytes", "10000000")[0] == 0  # option wins


@pytest.mark.parametrize("block", ["render:\n  timeout: 0\n", "render:\n  timeout: 3600\n",
                                   "render:\n  max_bytes: 1.5\n", "render:\n  limit: 3\n"])
def test_protocol_limits_are_validated(draft, capsys, block):
    protocol = draft.parent / "evidence" / "protocol.yaml"
    protocol.write_text(protocol.read_text(encoding="utf-8") + "\n" + block, encoding="utf-8")
    code, captured = run(capsys, "draft.md")
    assert code == 1 and "render" in captured.err and "protocol.yaml:" in captured.err


@pytest.mark.parametrize(("option", "value"), [
    *[("--timeout", v) for v in ("0", "-1", "abc", "600.5", "nan", "inf")],
    *[("--max-bytes", v) for v in ("0", "-1", "abc", "1.5", "100000001")],
])
def test_bad_limit_options_are_usage_errors(draft, capsys, option, value):
    with pytest.raises(SystemExit) as exc:
        main(["render", "draft.md", option, value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and option in err


def test_the_filters_of_the_issue_through_the_command_line(draft, capsys, summary):
    fit = summary["analyses"]["vas_1m"]["subgroups"]["osteoblastic"]
    draft.write_text("{{ vas_1m.osteoblastic | estimate_ci(digits=1) }}", encoding="utf-8")
    code, captured = run(capsys, "draft.md")
    assert code == 0
    assert captured.out == (f"{fit['estimate']:.1f} (95% CI {fit['ci_low']:.1f} to "
                            f"{fit['ci_high']:.1f})")
    draft.write_text("x\n{{ vas_1m.osteoblastic }}", encoding="utf-8")
    err = one_line_error(capsys, "draft.md")
    assert "draft.md:2:" in err and "estimate_ci" in err


@pytest.mark.parametrize(("out", "which"), [
    ("evidence/references.bib", "the bibliography"),
    ("evidence/protocol.yaml", "the protocol"),
    ("evidence/screening.yaml", "the screening record"),
    ("studies/alpha2010.yaml", "a study file"),
])
def test_no_input_is_ever_written_over_even_with_force(draft, capsys, out, which):
    """`render --fresh --force -o evidence/references.bib` once replaced what it had read."""
    (draft.parent / "studies").mkdir()
    target = draft.parent / out
    if not target.exists():
        target.write_text("% the researcher's own file\n", encoding="utf-8")
    before = target.read_bytes()
    for extra in ([], ["--force"], ["--force", "--fresh"]):
        err = one_line_error(capsys, "draft.md", "-o", out, *extra)
        assert which in err and "even with --force" in err, err
        assert target.read_bytes() == before


def test_inputs_of_other_folders_are_protected_too(draft, capsys):
    evidence = draft.parent / "elsewhere"
    evidence.mkdir()
    (evidence / "protocol.yaml").write_bytes(
        (draft.parent / "evidence" / "protocol.yaml").read_bytes())
    bib = evidence / "references.bib"
    bib.write_text("@article{x, title={X}}\n", encoding="utf-8")
    err = one_line_error(capsys, "draft.md", "--evidence", "elsewhere", "-o", str(bib),
                         "--force")
    assert "the bibliography" in err
    assert bib.read_text(encoding="utf-8") == "@article{x, title={X}}\n"


@pytest.mark.parametrize("closing", ["none", "closed file"])
def test_a_closed_standard_output_is_a_one_line_user_error(draft, capsys, monkeypatch, closing):
    if closing == "none":  # how Python starts with `>&-`
        monkeypatch.setattr(sys, "stdout", None)
    else:
        gone = io.StringIO()
        gone.close()
        monkeypatch.setattr(sys, "stdout", gone)
    code = main(["render", "draft.md"])
    err = capsys.readouterr().err
    assert code == 1 and "internal error" not in err and "Traceback" not in err
    assert err.strip() == ("blastic-meta render: error: standard output is closed; nothing "
                           "printed; write to a file with -o OUT")


def test_a_closed_standard_output_through_the_shell(draft):
    src = Path(__file__).parents[2] / "src"
    done = subprocess.run(f"'{sys.executable}' -m blastic_meta render draft.md >&-", shell=True,
                          cwd=draft.parent, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(src)})
    assert done.returncode == 1 and "standard output is closed" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
