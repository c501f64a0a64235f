"""build_report end to end on temporary copies of the shipped registry.

Checks: the layout and summary.json's keys; numbers equal direct library calls on the report's
own study-level input; the GLMM's printed I² is its own; no prediction interval below k = 3
and no k counting an arm; citations resolve and are contributing; reruns are byte-identical;
failures leave old outputs untouched; new studies (median only, abstract only, every value
null) appear exactly where they qualify.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from blastic_meta import (
    ReportError,
    StudyRecordError,
    build_report,
    effect_sizes,
    load_bibliography,
    load_protocol,
    pool,
    pool_glmm,
    validate_studies,
)
from blastic_meta.cli import main
from tests.review.data import copy_registry

DATA = Path(__file__).parent / "data"
OUTPUTS = ("estimates.md", "estimates.tex", "references.bib", "summary.json", "report.html",
           "MANIFEST.txt")
TABLES = ("study_characteristics", "pooled_estimates", "comparison", "within_study",
          "effect_direction", "sign_tests", "baseline_robust", "sensitivity", "data_quality",
          "summary_of_findings", "appraisal")
FIGURES = ("comparison", "effect_direction", "appraisal", "appraisal_summary", "prisma",
           "leakage_summary")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def summary(built):
    return json.loads((built[2] / "summary.json").read_text(encoding="utf-8"))


def test_layout_and_summary_keys(built, summary):
    _, evidence, out, result = built
    for name in OUTPUTS:
        assert (out / name).is_file(), name
    for name in TABLES:
        assert (out / "tables" / f"{name}.csv").is_file() and (
            out / "tables" / f"{name}.md").is_file(), name
    for name in FIGURES:
        assert (out / "figures" / f"{name}.svg").is_file(), name
        assert (out / "figures" / f"{name}.png").is_file(), name
    text = (out / "summary.json").read_text(encoding="utf-8")
    assert text == json.dumps(summary, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert re.fullmatch(r"[0-9a-f]{64}", summary["inputs_sha256"])
    assert summary["versions"]["numpy"] == np.__version__
    protocol = load_protocol(evidence / "protocol.yaml")
    assert set(summary["analyses"]) == {a.id for a in protocol.analyses}
    assert {"analyses", "sensitivity", "certainty", "synthesis", "prisma"} <= set(summary)
    scenarios = {sc.id for sc in protocol.sensitivity}
    for aid, a in summary["analyses"].items():
        assert "overall" not in a and "overall" not in a["subgroups"]
        c = a["comparison"]
        assert {"kind", "measure", "estimate", "ci_low", "ci_high", "pval", "model",
                "procedures", "reason"} <= set(c)
        assert c["kind"] in ("within", "between", "none")
        if c["kind"] == "none":
            assert c["reason"]
        kind = protocol.analysis(aid).kind
        applies = {sc.id for sc in protocol.sensitivity if sc.applies_to in ("all", kind)}
        assert set(summary["sensitivity"][aid]) == applies and applies <= scenarios
        for group in a["subgroups"]:
            assert set(summary["certainty"][aid][group]) == {"rating", "start", "downgrades"}
    assert sorted(result.files) == sorted(
        (out / "MANIFEST.txt").read_text(encoding="utf-8").splitlines())
    pooled = pd.read_csv(out / "tables" / "pooled_estimates.csv")
    assert len(pooled) == sum(len(a["subgroups"]) or 1 for a in summary["analyses"].values())


def _inputs(out: Path, aid: str, group: str) -> pd.DataFrame:
    data = pd.read_csv(out / "tables" / "inputs" / f"{aid}.csv")
    return data[data["included"] & (data["group"] == group)]


def test_numbers_equal_direct_library_calls(built, summary):
    _, _, out, _ = built
    checked = 0
    for aid, a in summary["analyses"].items():
        for group, fit in a["subgroups"].items():
            if fit["status"] != "pooled":
                continue
            rows = _inputs(out, aid, group)
            assert len(rows) == fit["k"] == len(set(rows["study"]))  # k counts studies
            if a["outcome"] in ("vas", "qol"):
                es = effect_sizes("MC", m1i=rows["mean_pre"], m2i=rows["mean_post"],
                                  sd1i=rows["sd_pre"], sd2i=rows["sd_post"], ni=rows["n"],
                                  ri=[0.5] * len(rows))
                ref = pool(es["yi"].to_numpy(), es["vi"].to_numpy(), method="REML",
                           test="knha", adhoc=True)
                pairs = (("estimate", ref.estimate), ("ci_low", ref.ci_low),
                         ("tau2", ref.tau2), ("i2", ref.i2), ("pi_high", ref.pi_high))
            else:
                g = pool_glmm(rows["events"].astype(float), rows["total"].astype(float))
                pairs = (("estimate", g.proportion), ("ci_low", g.proportion_ci_low),
                         ("tau2", g.tau2), ("i2", g.i2), ("q", g.qe_wald),
                         ("pi_high", g.pi_high))
            for name, value in pairs:
                assert fit[name] == pytest.approx(value, rel=1e-12, abs=1e-14), (aid, name)
            checked += 1
    assert checked >= 1


def test_glmm_i2_is_its_own(built, summary):
    """I² of every pooled proportion = 100 tau² / (tau² + typical within-study variance of
    the logits), as rma.glmm computes it (never the inverse-variance logit model's I²)."""
    _, _, out, _ = built
    checked = 0
    for aid, a in summary["analyses"].items():
        for group, fit in a["subgroups"].items():
            if fit["status"] != "pooled" or fit["scale"] != "proportion":
                continue
            rows = _inputs(out, aid, group)
            x, n = rows["events"].astype(float).to_numpy(), rows["total"].astype(float).to_numpy()
            edge = (x == 0) | (x == n)
            vi = 1 / (x + 0.5 * edge) + 1 / (n - x + 0.5 * edge)
            w = 1 / vi
            k = len(w)
            vt = (k - 1) * w.sum() / (w.sum() ** 2 - (w**2).sum())
            assert fit["i2"] == pytest.approx(100 * fit["tau2"] / (fit["tau2"] + vt), rel=1e-9)
            assert fit["weights"] == []
            checked += 1
    assert checked >= 1


def _intervals(node, path=()):
    """Every result in ``node`` that carries a prediction interval (a frequentist fit or the
    Bayesian fit beside it), with its path: main, secondary-measure and scenario fits."""
    if isinstance(node, dict):
        if "pi_low" in node or "pi_high" in node:
            yield path, node
        for key, value in node.items():
            yield from _intervals(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _intervals(value, (*path, i))


def test_small_k_rules_hold_in_the_shipped_report(summary):
    for aid, a in summary["analyses"].items():
        for group, fit in a["subgroups"].items():
            if fit["k"] < 3:
                assert fit["status"] != "pooled", (aid, group)
            assert fit["k"] == len(fit["studies"]), (aid, group)  # k counts studies
    # no prediction interval below k = 3 anywhere in summary.json (protocol pi_min_k): main,
    # secondary and sensitivity results, frequentist and Bayesian
    found = list(_intervals({"analyses": summary["analyses"],
                             "sensitivity": summary["sensitivity"]}))
    small = [(path, r) for path, r in found if r["k"] < 3]
    bayes = [path for path, _ in small if path[-1] == "bayes"]
    assert {p[0] for p in bayes} == {"analyses", "sensitivity"}
    assert any("secondary_measures" in p for p in bayes)
    for path, result in small:
        assert result["pi_low"] is None and result["pi_high"] is None, path
        if path[-1] == "bayes":
            assert result["pi_reason"] == "no prediction interval below k = 3 (protocol " \
                                          "pi_min_k)", path
            assert result["ci_low"] < result["estimate"] < result["ci_high"], path
    pooled = [r for _, r in found if r.get("status") == "pooled"]
    assert pooled and all(r["pi_low"] is not None for r in pooled)  # k >= 3 keeps its PI


STUDIES_OF = re.compile(r"\((\d+) stud(?:y|ies)")


def test_no_table_or_text_prints_a_prediction_interval_below_k3(built, summary):
    """Every printed PI belongs to a result of k >= 3: the pooled-estimates table (its pi
    column; the Bayesian column prints the credible interval only), the summary of findings,
    and every sentence of estimates.md, estimates.tex and report.html."""
    _, _, out, _ = built
    pooled = pd.read_csv(out / "tables" / "pooled_estimates.csv", keep_default_na=False)
    printed = pooled[pooled["pi"] != ""]
    assert len(printed) >= 1 and (printed["k"] >= 3).all()
    assert pooled["bayes"].str.fullmatch(r"|\S+ \[\S+, \S+\]").all()  # estimate [CrI]
    sof = pd.read_csv(out / "tables" / "summary_of_findings.csv", keep_default_na=False)
    assert (sof[sof["reasons"].str.contains("prediction interval")]["studies"] >= 3).all()
    sentences = 0
    for name in ("estimates.md", "estimates.tex", "report.html"):
        text = (out / name).read_text(encoding="utf-8")
        for line in re.split(r"\n|</p>|</li>", text):
            if re.search(r"95(?:%|\\%) PI ", line):
                ks = [int(k) for k in STUDIES_OF.findall(line)]
                assert ks and min(ks) >= 3, (name, line)
                sentences += 1
    assert sentences >= 3


def _sections(text: str, pattern: str) -> dict[str, str]:
    parts = re.split(pattern, text)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def test_citations_resolve_and_are_contributing(built, summary):
    _, _, out, _ = built
    bib_keys = set(load_bibliography(out / "references.bib").keys())
    md = _sections((out / "estimates.md").read_text(encoding="utf-8"),
                   r"\n## .*? \(([a-z0-9_]+)\)\n")
    tex = _sections((out / "estimates.tex").read_text(encoding="utf-8"),
                    r"\\label\{([a-z0-9-]+)\}")
    assert set(md) == set(summary["analyses"])
    cited_anywhere = set()
    for aid, analysis in summary["analyses"].items():
        within = {w["study"] for w in analysis["comparison"]["within"]}
        allowed = set(analysis["studies"]) | within
        body = md[aid].split("\n[^")[0]
        md_keys = set(re.findall(r"@([A-Za-z0-9_:-]+)", body))
        tex_keys = {k for group in re.findall(r"\\cite(?:[pt]|yearpar)\{([^}]*)\}",
                                                   tex[aid.replace("_", "-")])
                    for k in group.split(",")}
        assert md_keys == tex_keys, aid
        assert md_keys <= allowed, aid
        assert md_keys <= bib_keys
        for fit in analysis["subgroups"].values():
            assert set(fit["studies"]) <= md_keys  # every statement cites its studies
        cited_anywhere |= md_keys
    assert cited_anywhere == bib_keys  # references.bib holds exactly the cited entries
    text = (out / "estimates.md").read_text(encoding="utf-8")
    assert "## Methods" in text and "## Limitations" in text
    assert " et al. 20" not in text.split("## Limitations")[0].split("## Methods")[1].split(
        "\n## ", 1)[1].split("[^1]:")[0]  # authors are named once, by the citation


def test_no_bibtex_key_or_nd_is_ever_a_label(built, summary):
    _, evidence, out, _ = built
    bib = load_bibliography(evidence / "references.bib")
    odd = [k for k in bib if not re.fullmatch(r"[a-z]+\d{4}", k)]  # keys that are not names
    texts = [(out / "figures" / p).read_text(encoding="utf-8")
             for p in sorted(p.name for p in (out / "figures").glob("*.svg"))]
    texts += [p.read_text(encoding="utf-8") for p in sorted((out / "tables").glob("*.md"))
              if p.parent.name == "tables" and p.stem not in ("study_characteristics",
                                                             "data_quality", "appraisal",
                                                             "within_study", "effect_direction")]
    for text in texts:
        assert "n.d." not in text
        for key in odd:
            assert key not in text, key


def test_figures_exist_with_labels_and_footnotes(built, summary):
    _, evidence, out, _ = built
    bib = load_bibliography(evidence / "references.bib")
    drawn = 0
    for aid, analysis in summary["analyses"].items():
        svg = out / "figures" / f"forest_{aid}.svg"
        if not analysis["studies"]:
            assert not svg.exists()
            continue
        text = svg.read_text(encoding="utf-8").replace("&amp;", "&")
        for key in analysis["studies"]:
            assert bib.label(key).replace("…", "") [:20] in text.replace("…", ""), (aid, key)
        if analysis["excluded"]:
            assert "Not pooled:" in text
        drawn += 1
    assert drawn >= 3


def test_report_html_is_self_contained_and_in_order(built):
    html = (built[2] / "report.html").read_text(encoding="utf-8")
    order = ["id=\"methods\"", "id=\"summary-of-findings\"", "id=\"comparison\"",
             "id=\"results\"", "id=\"appraisal\"", "id=\"prisma\"", "id=\"sensitivity\"",
             "id=\"data-quality\"", "id=\"references\""]
    positions = [html.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert "<svg" in html and "<script" not in html
    assert not re.search(r"(src|href)=\"https?://", html)


def test_rerun_is_byte_identical(built, tmp_path):
    studies, evidence, out, _ = built
    before = snapshot(out)
    again = tmp_path / "outputs"
    build_report(studies, evidence, again)  # from scratch: every figure drawn
    assert snapshot(again) == before
    build_report(studies, evidence, out)  # in place: unchanged figures reused
    assert snapshot(out) == before


def explode(*args, **kwargs):
    """A figure function that fails (module level: figures travel pickled to the drawer)."""
    raise OSError("disk full")


def test_failures_leave_old_outputs_untouched(built, tmp_path):
    studies, evidence, out, _ = built
    before = snapshot(out)
    broken = tmp_path / "broken"
    shutil.copytree(studies, broken)
    first = sorted(broken.glob("*.yaml"))[0]
    first.write_text(first.read_text(encoding="utf-8") + "\nbogus_field: 1\n", encoding="utf-8")
    with pytest.raises(StudyRecordError, match="bogus_field"):
        build_report(broken, evidence, out)
    assert snapshot(out) == before
    assert not list(out.parent.glob(".outputs-staging-*"))
    import blastic_meta.figures as figures
    import blastic_meta.review.painter as painter

    # every figure is drawn again (a new drawing code) and fails, in the drawing server
    # (the appraisal figures, beside the analyses) and in its pool (the others, beside the
    # scenarios); then only the appraisal figure fails: the server's error ends the report
    for failing in ("save_figure", "traffic_light_plot"):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(figures, failing, explode)
            patch.setattr(painter, "_code_version", lambda: "new drawing code")
            with pytest.raises(ReportError, match="disk full"):
                build_report(studies, evidence, out)
        assert snapshot(out) == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".outputs-")]


def test_summary_json_is_the_summary_the_report_returns(built):
    """summary.json is written before the page: nothing after it may change the summary."""
    from blastic_meta.review.report import _json_safe

    _, _, out, result = built
    on_disk = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(_json_safe(result.summary)))


def test_report_collects_garbage_less_often_and_restores_the_collector(built, monkeypatch):
    import gc

    import blastic_meta.review.report as report

    studies, evidence, out, _ = built
    before, seen = gc.get_threshold(), []

    def build(*args, **kwargs):
        seen.append(gc.get_threshold())
        raise ReportError("stopped here")

    monkeypatch.setattr(report, "_build_into", build)
    with pytest.raises(ReportError, match="stopped here"):
        build_report(studies, evidence, out)
    assert seen == [report._GC_THRESHOLDS] and seen[0] != before
    assert gc.get_threshold() == before


def test_refuses_to_replace_foreign_files(built, tmp_path):
    studies, evidence, _, _ = built
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("my notes", encoding="utf-8")
    with pytest.raises(ReportError, match="did not write"):
        build_report(studies, evidence, target)
    assert (target / "notes.txt").read_text(encoding="utf-8") == "my notes"


def _add(studies: Path, evidence: Path, *names: str, bib: str) -> None:
    for name in names:
        shutil.copy(DATA / "added" / name, studies)
    with (evidence / "references.bib").open("a", encoding="utf-8") as fh:
        fh.write("\n" + (DATA / "added" / bib).read_text(encoding="utf-8"))


def test_added_study_appears_exactly_where_it_qualifies(repo_root, tmp_path):
    studies, evidence = copy_registry(repo_root, tmp_path)
    _add(studies, evidence, "synthetic2099.yaml", bib="synthetic2099.bib")
    out = tmp_path / "outputs"
    build_report(studies, evidence, out)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    used = {aid for aid, a in summary["analyses"].items() if "synthetic2099" in a["studies"]}
    assert used == {"vas_1m", "leak_vertebra"}
    listed = {aid for aid, a in summary["analyses"].items()
              if "synthetic2099" in {e["study"] for e in a["excluded"]}}
    assert listed == {"leak_patient"}  # counted per vertebra only: named, not lost
    assert "synthetic2099" in summary["analyses"]["vas_1m"]["subgroups"]["osteolytic"]["studies"]
    assert "Synthetic et al. 2099" in (out / "figures" / "forest_vas_1m.svg").read_text(
        encoding="utf-8")
    assert "@synthetic2099" in (out / "estimates.md").read_text(encoding="utf-8")
    assert "synthetic2099" in (out / "references.bib").read_text(encoding="utf-8")


def test_median_only_abstract_only_and_all_null_studies_are_welcome(repo_root, tmp_path):
    studies, evidence = copy_registry(repo_root, tmp_path)
    _add(studies, evidence, "synmedian2098.yaml", "synnull2097.yaml", bib="synthetic_more.bib")
    findings = validate_studies(studies, evidence / "references.bib")
    assert not [f for f in findings if f.severity == "error"], findings
    new = {Path(f.path).stem: f.code for f in findings if f.severity == "warning"}
    assert new == {"synnull2097": "not-appraised"}  # a new study is a warning, not an error
    out = tmp_path / "outputs"
    build_report(studies, evidence, out)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    vas = summary["analyses"]["vas_1m"]
    assert "synmedian2098" in vas["subgroups"]["osteolytic"]["studies"]
    flags = next(f["flags"] for f in vas["flagged"] if f["study"] == "synmedian2098")
    assert any("Luo et al. 2018" in f for f in flags)
    assert "synnull2097" not in {s for a in summary["analyses"].values() for s in a["studies"]}
    appraisal = pd.read_csv(out / "tables" / "appraisal.csv")
    assert (appraisal.loc[appraisal["study"] == "synnull2097", "answer"] == "not appraised").all()
    strict = json.loads((out / "summary.json").read_text(encoding="utf-8"))["sensitivity"]
    assert "synmedian2098" not in strict["vas_1m"]["exclude_derived"]["studies"]


def test_cli_prints_summary_table(built, tmp_path, capsys):
    studies, evidence, _, _ = built
    out = tmp_path / "cli-out"
    code = main(["report", "--studies", str(studies), "--evidence", str(evidence),
                 "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].split() == ["analysis", "subgroup", "k", "estimate", "[95%",
                                               "CI]"]
    assert "vas_1m" in printed and f"to {out}/" in printed
    code = main(["report", "--studies", str(tmp_path / "nope"), "--evidence", str(evidence),
                 "--out", str(out)])
    assert code == 1


def test_figures_from_a_small_table(repo_root, tmp_path):
    from blastic_meta.review.analyses import run_analyses
    from blastic_meta.review.figure_specs import draw_all
    from tests.review.data import long_table

    protocol = load_protocol(repo_root / "evidence" / "protocol.yaml")
    results = run_analyses([], long_table.table(), protocol)
    names = {p.name for p in draw_all(results, protocol, tmp_path)}
    assert {"forest_vas_1m.svg", "sensitivity_vas_1m.svg", "baujat_vas_1m_osteoblastic.svg",
            "cumulative_vas_1m_osteoblastic.svg", "sensitivity_icc_leak_vertebra.svg",
            "leakage_summary.svg"} <= names
    assert not any(n.startswith("funnel_") for n in names)  # k < 10 everywhere
    forest = (tmp_path / "forest_vas_1m.svg").read_text(encoding="utf-8")
    for label in ("alpha2010", "beta2012", "delta2018", "eta2021", "Not pooled: zeta2020",
                  "no SD reported at baseline", "Osteoblastic vs osteolytic"):
        assert label in forest, label


def test_data_quality_table_says_what_conflicts_and_why_one_value_is_used(built):
    """Each discrepancy row names the quantity, the values with their places, the value used
    and the reason, read from the study file (xu2021's baseline VAS as the example)."""
    _, _, out, _ = built
    table = pd.read_csv(out / "tables" / "data_quality.csv", dtype=str).fillna("")
    rows = table[(table["study"] == "xu2021") & (table["kind"] == "discrepancy")]
    baseline = rows[rows["about"] == "baseline VAS"]
    assert len(baseline) == 1
    row = baseline.iloc[0]
    assert "5.0 ± 2.8" in row["detail"] and "Discussion para 6" in row["detail"]
    assert row["resolution"].startswith("uses 4.3 ± 2.4: ")
    assert all(r.split(": ", 1)[1].strip() for r in rows["resolution"])  # every row has a why


def test_alternative_values_enter_only_their_scenario(summary):
    main_fit = summary["analyses"]["leak_symptomatic"]["subgroups"]["osteoblastic"]
    alt = summary["sensitivity"]["leak_symptomatic"]["index_alternative_values"]
    alt_fit = alt["subgroups"]["osteoblastic"]
    assert main_fit["events"] == 0 and alt_fit["events"] == 2
    assert {c["study"] for c in alt["values_changed"]} == {"xu2021"}


def test_direction_tables_of_the_shipped_registry(built):
    """Unverified studies are named, not counted; the within-study table carries each study's
    appraisal; a source's later worsening against 12 months is no harm; sign tests read in
    words (SWiM, Campbell et al. 2020)."""
    out = built[2] / "tables"
    directions = pd.read_csv(out / "effect_direction.csv")
    assert not {"obPKP31_unk", "dudeney_myeloma"} & set(directions["study"])
    text = (out / "effect_direction.md").read_text(encoding="utf-8")
    assert "Note: Left out, identity unverified" in text and "(obPKP31_unk)" in text
    assert "Note: One direction per study, domain and kind of evidence" in text
    esj = directions[directions["study"] == "esj2009_mmkp"]
    assert set(esj["cell"]) == {"benefit"} and "harm" not in set(esj["direction"])
    pain = directions[(directions["domain"] == "pain") & (directions["evidence"] ==
                                                          "before/after")]
    assert {"farrokhi2012", "nas2016", "papanastassiou2014"} <= set(
        pain.loc[pain["cell"] == "benefit", "study"])
    within = pd.read_csv(out / "within_study.csv", keep_default_na=False)
    assert len(within) and (within["appraisal"] != "").all()
    signs = (out / "sign_tests.md").read_text(encoding="utf-8")
    assert " 1 studies " not in signs and "quality_of_life" not in signs
    assert "| osteoblastic | function | 2 |" in signs  # 3 with the unverified obPKP31_unk


def test_people_read_words_where_the_csv_keeps_ids(built):
    """Enum values and scenario ids are words in the Markdown tables, the text and the
    figures; the CSV keeps them for scripts."""
    _, evidence, out, _ = built
    protocol = load_protocol(evidence / "protocol.yaml")
    ids = [s.id for s in protocol.sensitivity]
    sens_md = (out / "tables" / "sensitivity.md").read_text(encoding="utf-8")
    sens_csv = (out / "tables" / "sensitivity.csv").read_text(encoding="utf-8")
    assert not any(f"| {i} |" in sens_md for i in ids)
    assert all(i in sens_csv for i in ids) and "| mixed as osteoblastic |" in sens_md
    designs = ("retrospective_case_series", "prospective_case_series", "comparative_cohort")
    inputs = sorted((out / "tables" / "inputs").glob("*.md"))
    assert inputs
    for path in inputs:
        text = path.read_text(encoding="utf-8")
        assert not any(d in text for d in designs), path.name
        assert "mesh_container" not in text and "cement_augmentation" not in text, path.name
    assert any("retrospective_case_series" in p.read_text(encoding="utf-8")
               for p in (out / "tables" / "inputs").glob("*.csv"))
    prose_texts = [out / "estimates.md", out / "estimates.tex", out / "report.html",
                   *sorted((out / "figures").glob("*.svg"))]
    for path in prose_texts:
        text = path.read_text(encoding="utf-8")
        assert not any(f"sensitivity analysis {i}" in text for i in ids), path.name
        assert not any(i in text or i.replace("_", "\\_") in text for i in ids), path.name


def test_one_process_writes_the_bytes_of_the_parallel_report(built, tmp_path, monkeypatch):
    """Without fork (or on one CPU) every piece runs in this process, in another order than
    in the workers: every file must still be byte-identical to the parallel report's."""
    import blastic_meta.review.workers as workers

    studies, evidence, out, _ = built
    calls = []
    monkeypatch.setattr(workers.multiprocessing, "get_all_start_methods",
                        lambda: calls.append(1) or ["spawn"])
    alone = tmp_path / "outputs"
    build_report(studies, evidence, alone)
    assert calls  # the report did ask for workers, and got none
    assert snapshot(alone) == snapshot(out)
