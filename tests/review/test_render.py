"""render: Jinja2 templates filled with live numbers; unknown names are errors."""

from __future__ import annotations

import json

import pytest

from blastic_meta.cli import main
from blastic_meta.review.render import RenderError, render_template


def test_known_names_render(summary):
    ob = summary["analyses"]["vas_1m"]["subgroups"]["osteoblastic"]
    out = render_template(
        "{{ vas_1m.osteoblastic | estimate_ci }} {{ vas_1m.osteoblastic | cite }}\n"
        "{{ vas_1m.osteoblastic | pi_labelled }}; {{ vas_1m.osteoblastic | tau2_labelled }}; "
        "{{ vas_1m.osteoblastic | i2_labelled }}; k = {{ vas_1m.osteoblastic | k }}; "
        "{{ vas_1m.osteoblastic | patients }} patients {{ vas_1m.osteoblastic | citep }}\n",
        summary)
    first, second = out.splitlines()
    assert first == (f"{ob['estimate']:.2f} (95% CI {ob['ci_low']:.2f} to {ob['ci_high']:.2f}) "
                     "[@alpha2010; @beta2012; @gamma2015]")
    assert second == (f"95% PI {ob['pi_low']:.2f} to {ob['pi_high']:.2f}; "
                      f"τ² = {ob['tau2']:.3f}; I² = {ob['i2']:.1f}%; k = 3; 64 patients "
                      "\\citep{alpha2010,beta2012,gamma2015}")


def test_proportions_and_latex_markup(summary):
    fit = summary["analyses"]["leak_vertebra"]["subgroups"]["osteolytic"]
    md = render_template("{{ leak_vertebra.osteolytic | estimate }}", summary)
    assert md == f"{100 * fit['estimate']:.1f}%"
    tex = render_template("{{ leak_vertebra.osteolytic | estimate_ci }}", summary, latex=True)
    assert tex.startswith(f"{100 * fit['estimate']:.1f}\\% (95\\% CI ")


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("ok\n{{ vas_9m.osteoblastic | estimate_ci }}", ["t.md:2", "vas_9m"]),
        ("{{ vas_1m.osteoblasti | estimate_ci }}", ["t.md:1", "osteoblasti"]),
        ("{{ vas_1m.osteoblasti }}", ["osteoblasti"]),
        ("{{ vas_3m.osteolytic | cite }}", ["vas_3m has no 'osteolytic'", "osteoblastic"]),
        ("{{ vas_1m | estimate_ci }}", ["one subgroup", "vas_3m.osteoblastic"]),
        ("{{ vas_1m.osteoblastic | nofilter }}", ["nofilter"]),
        ("{{ vas_1m.osteoblastic ", ["t.md:1", "syntax"]),
    ],
)
def test_unknown_names_fail_and_name_the_problem(summary, template, words):
    with pytest.raises(RenderError) as exc:
        render_template(template, summary, name="t.md")
    for word in words:
        assert word in str(exc.value)


def test_cli_render_from_summary_json(summary, tmp_path, capsys):
    out_dir = tmp_path / "outputs"
    out_dir.mkdir()
    (out_dir / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    template = tmp_path / "draft.md"
    template.write_text("Pain fell by {{ vas_1m.osteoblastic | estimate_ci }}.\n",
                        encoding="utf-8")
    result = tmp_path / "draft.out.md"
    assert main(["render", str(template), "-o", str(result), "--out", str(out_dir)]) == 0
    overall = summary["analyses"]["vas_1m"]["subgroups"]["osteoblastic"]
    marker, body = result.read_text(encoding="utf-8").split("\n", 1)
    assert marker == ("<!-- written by blastic-meta render from draft.md; edit the template, "
                      "not this file -->")
    assert body.startswith(f"Pain fell by {overall['estimate']:.2f}")
    bad = tmp_path / "bad.md"
    bad.write_text("{{ vas_1m.nothing | k }}\n", encoding="utf-8")
    target = tmp_path / "bad.out.md"
    assert main(["render", str(bad), "-o", str(target), "--out", str(out_dir)]) == 1
    err = capsys.readouterr().err
    assert "nothing" in err and len(err.strip().splitlines()) == 1
    assert not target.exists()
    assert main(["render", str(template), "--out", str(tmp_path / "none")]) == 1
    assert "run `blastic-meta report` first" in capsys.readouterr().err


def test_tex_template_gets_latex_markup(summary, tmp_path, capsys):
    out_dir = tmp_path / "o"
    out_dir.mkdir()
    (out_dir / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    template = tmp_path / "paper.tex"
    template.write_text("{{ vas_1m.osteoblastic | i2_labelled }} {{ vas_1m.osteoblastic | citep }}",
                        encoding="utf-8")
    assert main(["render", str(template), "--out", str(out_dir)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("$I^2$ = ") and "\\%" in printed
    assert printed.endswith("\\citep{alpha2010,beta2012,gamma2015}")


def test_cite_follows_the_template_flavour(summary):
    template = ("{{ vas_1m.osteoblastic | cite }} {{ vas_1m.osteoblastic | pandoc }} "
                "{{ vas_1m.osteoblastic | citep }}")
    assert render_template(template, summary, latex=True) == (
        "\\citep{alpha2010,beta2012,gamma2015} [@alpha2010; @beta2012; @gamma2015] "
        "\\citep{alpha2010,beta2012,gamma2015}")
    assert render_template(template, summary).startswith(
        "[@alpha2010; @beta2012; @gamma2015] [@alpha2010; @beta2012; @gamma2015] \\citep{")


def test_missing_values_are_errors_not_none(summary):
    fit = dict(summary["analyses"]["vas_1m"]["subgroups"]["osteoblastic"])
    fit["patients"] = None
    broken = json.loads(json.dumps(summary))
    broken["analyses"]["vas_1m"]["subgroups"]["osteoblastic"] = fit
    for template in ("{{ vas_1m.osteoblastic.patients }}",
                     "x\n{{ vas_1m.osteoblastic | patients }}"):
        with pytest.raises(RenderError) as exc:
            render_template(template, broken, name="t.md")
        assert "t.md:" in str(exc.value)
        assert "None" not in render_template("{{ vas_1m.osteoblastic.k }}", broken)
