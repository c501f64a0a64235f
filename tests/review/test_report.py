"""build_report end to end on temporary copies of the shipped registry.

Checks: numbers in summary.json equal direct library calls on the same records; citations
resolve and are contributing studies; reruns are byte-identical; failures leave old outputs
untouched; a new study appears exactly where it qualifies; figures carry the study labels.
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from blastic_meta import (
    BlasticMetaWarning,
    ReportError,
    StudyRecordError,
    build_report,
    effect_sizes,
    load_bibliography,
    load_protocol,
    load_studies,
    pool,
    pool_glmm,
)
from blastic_meta.cli import main

DATA = Path(__file__).parent / "data"


def copy_registry(repo_root: Path, dest: Path) -> tuple[Path, Path]:
    shutil.copytree(repo_root / "studies", dest / "studies")
    shutil.copytree(repo_root / "evidence", dest / "evidence")
    return dest / "studies", dest / "evidence"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(repo_root, tmp_path_factory):
    base = tmp_path_factory.mktemp("registry")
    studies, evidence = copy_registry(repo_root, base)
    out = base / "outputs"
    result = build_report(studies, evidence, out)
    return studies, evidence, out, result


def test_layout_and_summary_keys(built):
    _, _, out, result = built
    for name in ("estimates.md", "estimates.tex", "references.bib", "summary.json",
                 "MANIFEST.txt", "tables/study_characteristics.csv",
                 "tables/study_characteristics.md", "tables/pooled_estimates.csv",
                 "tables/pooled_estimates.md", "tables/data_quality.csv",
                 "figures/leakage_summary.svg", "figures/leakage_summary.png"):
        assert (out / name).is_file(), name
    text = (out / "summary.json").read_text(encoding="utf-8")
    summary = json.loads(text)
    assert text == json.dumps(summary, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert re.fullmatch(r"[0-9a-f]{64}", summary["inputs_sha256"])
    assert set(summary["versions"]) == {"blastic_meta", "numpy", "scipy", "pandas", "pymare",
                                        "matplotlib"}
    assert summary["versions"]["numpy"] == np.__version__
    protocol_ids = [a.id for a in load_protocol(built[1] / "protocol.yaml").analyses]
    assert sorted(summary["analyses"]) == sorted(protocol_ids)
    for a in summary["analyses"].values():
        assert {"subgroups", "overall", "subgroup_test"} <= set(a)
        for fit in a["subgroups"].values():
            assert {"k", "patients", "estimate", "ci_low", "ci_high", "pi_low", "pi_high",
                    "tau2", "i2", "studies"} <= set(fit)
    assert sorted(result.files) == sorted(
        (out / "MANIFEST.txt").read_text(encoding="utf-8").splitlines())
    records, _ = load_studies(built[0], built[1] / "references.bib")
    chars = pd.read_csv(out / "tables" / "study_characteristics.csv")
    assert len(chars) == sum(len(r.arms) for r in records)
    assert set(chars["study"]) == {r.key for r in records}
    pooled = pd.read_csv(out / "tables" / "pooled_estimates.csv")
    n_fits = sum(len(a["subgroups"]) + (a["overall"] is not None) or 1
                 for a in summary["analyses"].values())
    assert len(pooled) == n_fits


def _vas_inputs(table, studies, lesion, lo, hi, target):
    """Independent selection of pre/post VAS values (shipped data are 0-10, SD or unlabelled)."""
    m1, m2, s1, s2, n = [], [], [], [], []
    for key in studies:
        rows = table[(table["study"] == key) & (table["outcome"] == "vas")
                     & (table["lesion_type"] == lesion)]
        pre = rows[rows["days"] <= 0].sort_values("days").iloc[-1]
        post = rows[(rows["days"] >= lo) & (rows["days"] <= hi)].copy()
        post["dist"] = (post["days"] - target).abs()
        post = post.sort_values(["dist", "days"]).iloc[0]
        assert pre["scale_max"] == 10 and pre["sd_kind"] in ("sd", "unlabelled")
        m1.append(pre["mean"])
        s1.append(pre["sd"])
        m2.append(post["mean"])
        s2.append(post["sd"])
        n.append(post["patients"] if pd.isna(post["n"]) else post["n"])
    return m1, m2, s1, s2, n


def test_numbers_equal_direct_library_calls(built):
    studies_dir, evidence, out, _ = built
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    bib = load_bibliography(evidence / "references.bib")
    _, table = load_studies(studies_dir, bib)
    checked = 0
    for aid, (lo, hi, target) in {"vas_1m": (14, 60, 30), "vas_3m": (61, 135, 90)}.items():
        fit = summary["analyses"][aid]["subgroups"].get("osteoblastic")
        if fit is None or fit["status"] != "pooled":
            continue
        m1, m2, s1, s2, n = _vas_inputs(table, fit["studies"], "osteoblastic", lo, hi, target)
        es = effect_sizes("MC", m1i=m1, m2i=m2, sd1i=s1, sd2i=s2, ni=n, ri=[0.5] * len(n))
        with warnings.catch_warnings():
            # k = 2 under Hartung-Knapp is announced by a warning; the numbers are what count
            warnings.simplefilter("ignore", BlasticMetaWarning)
            ref = pool(es["yi"].to_numpy(), es["vi"].to_numpy(), method="REML", test="knha")
        for name in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "i2"):
            assert fit[name] == pytest.approx(getattr(ref, name), rel=1e-12, abs=1e-12), name
        assert fit["k"] == ref.k
        checked += 1
    for aid, unit in (("leak_vertebra", "vertebra"), ("leak_patient", "patient")):
        for fit in summary["analyses"][aid]["subgroups"].values():
            if fit["status"] != "pooled":
                continue
            rows = table[(table["outcome"] == "leakage") & (table["unit"] == unit)].copy()
            arms = {tuple(a.split("/")) for a in fit["arms"]}
            pairs = zip(rows["study"], rows["arm"], strict=True)
            rows = rows[[(s, a) in arms for s, a in pairs]]
            rows = rows.drop_duplicates(["study", "arm"])
            # protocol rules: a derived count is used (flagged); a missing denominator is the
            # arm's patient (or vertebra) count (flagged)
            rows["events"] = rows["events"].fillna(rows["derived_events"])
            count = rows["patients"] if unit == "patient" else rows["vertebrae"]
            rows["total"] = rows["total"].fillna(rows["derived_total"]).fillna(count)
            assert len(rows) == fit["k"]
            ref = pool_glmm(rows["events"].to_numpy(int), rows["total"].to_numpy(int))
            assert fit["estimate"] == pytest.approx(ref.proportion, rel=1e-12)
            assert fit["ci_low"] == pytest.approx(ref.proportion_ci_low, rel=1e-12)
            assert fit["pi_high"] == pytest.approx(ref.pi_high, rel=1e-12)
            assert fit["tau2"] == pytest.approx(ref.tau2, rel=1e-12, abs=1e-15)
            assert fit["events"] == rows["events"].sum()
            checked += 1
    assert checked >= 2


def _sections(text: str, pattern: str) -> dict[str, str]:
    parts = re.split(pattern, text)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def test_citations_resolve_and_are_contributing(built):
    _, _, out, _ = built
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    bib_keys = set(load_bibliography(out / "references.bib").keys())
    md = _sections((out / "estimates.md").read_text(encoding="utf-8"),
                   r"\n## .*? \(([a-z0-9_]+)\)\n")
    tex = _sections((out / "estimates.tex").read_text(encoding="utf-8"),
                    r"\\label\{([a-z0-9-]+)\}")
    assert set(md) == set(summary["analyses"])
    cited_anywhere = set()
    for aid, analysis in summary["analyses"].items():
        contributing = set(analysis["studies"])
        md_keys = set(re.findall(r"@([A-Za-z0-9_:-]+)", md[aid]))
        tex_keys = {k for group in re.findall(r"\\citep\{([^}]*)\}", tex[aid.replace("_", "-")])
                    for k in group.split(",")}
        assert md_keys == tex_keys
        assert md_keys <= contributing, aid
        assert md_keys <= bib_keys
        for fit in analysis["subgroups"].values():
            assert set(fit["studies"]) <= md_keys  # every pooled statement cites its studies
        cited_anywhere |= md_keys
    assert cited_anywhere == bib_keys  # references.bib holds exactly the cited entries


def test_figures_exist_with_labels(built):
    _, evidence, out, _ = built
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    bib = load_bibliography(evidence / "references.bib")
    drawn = 0
    for aid, analysis in summary["analyses"].items():
        svg = out / "figures" / f"forest_{aid}.svg"
        if not analysis["studies"]:
            assert not svg.exists()
            continue
        assert (out / "figures" / f"forest_{aid}.png").is_file()
        text = svg.read_text(encoding="utf-8")
        for key in analysis["studies"]:
            label = bib.author_year(key)
            label = key if label.startswith(key) else label
            assert label in text, (aid, label)
        for excluded in analysis["excluded"]:
            assert "Excluded" in text and excluded["label"] in text
        drawn += 1
    assert drawn >= 3


def test_rerun_is_byte_identical(built, tmp_path):
    studies, evidence, out, _ = built
    before = snapshot(out)
    again = tmp_path / "outputs"
    build_report(studies, evidence, again)  # from scratch: every figure drawn
    assert snapshot(again) == before
    build_report(studies, evidence, out)  # in place: unchanged figures reused
    assert snapshot(out) == before


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
    # an unexpected failure while drawing: same guarantee
    import blastic_meta.review.figure_specs as rf

    def explode(*args, **kwargs):
        raise OSError("disk full")

    original = rf.draw_all
    rf.draw_all = explode
    try:
        with pytest.raises(ReportError, match="disk full"):
            build_report(studies, evidence, out)
    finally:
        rf.draw_all = original
    assert snapshot(out) == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".outputs-")]


def test_refuses_to_replace_foreign_files(built, tmp_path):
    studies, evidence, _, _ = built
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("my notes", encoding="utf-8")
    with pytest.raises(ReportError, match="did not write"):
        build_report(studies, evidence, target)
    assert (target / "notes.txt").read_text(encoding="utf-8") == "my notes"


def test_added_study_appears_exactly_where_it_qualifies(repo_root, tmp_path):
    studies, evidence = copy_registry(repo_root, tmp_path)
    shutil.copy(DATA / "added" / "synthetic2099.yaml", studies)
    with (evidence / "references.bib").open("a", encoding="utf-8") as fh:
        fh.write("\n" + (DATA / "added" / "synthetic2099.bib").read_text(encoding="utf-8"))
    out = tmp_path / "outputs"
    build_report(studies, evidence, out)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    appears = set()
    for aid, analysis in summary["analyses"].items():
        listed = set(analysis["studies"]) | {e["study"] for e in analysis["excluded"]}
        if "synthetic2099" in listed:
            appears.add(aid)
    assert appears == {"vas_1m", "leak_vertebra"}
    vas = summary["analyses"]["vas_1m"]["subgroups"]["osteolytic"]
    assert "synthetic2099" in vas["studies"]
    assert "Synthetic et al. 2099" in (out / "figures" / "forest_vas_1m.svg").read_text(
        encoding="utf-8")
    assert "@synthetic2099" in (out / "estimates.md").read_text(encoding="utf-8")
    assert "synthetic2099" in (out / "references.bib").read_text(encoding="utf-8")


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


def test_figures_from_a_small_table_include_within_study_plots(repo_root, tmp_path):
    import sys

    from blastic_meta.review.analyses import run_analyses
    from blastic_meta.review.figure_specs import draw_all

    sys.path.insert(0, str(DATA))
    import long_table

    protocol = load_protocol(repo_root / "evidence" / "protocol.yaml")
    results = run_analyses([], long_table.table(), protocol)
    names = {p.name for p in draw_all(results, protocol, tmp_path)}
    assert {"within_vas_1m.svg", "within_leak_vertebra.png", "forest_vas_1m.svg",
            "sensitivity_vas_1m.svg", "leave_one_out_vas_1m_osteoblastic.svg",
            "leakage_summary.svg"} <= names
    assert not any(n.startswith("funnel_") for n in names)  # k < 10 everywhere
    within = (tmp_path / "within_leak_vertebra.svg").read_text(encoding="utf-8")
    assert "gamma2015" in within and "Odds ratio" in within
    forest = (tmp_path / "forest_vas_1m.svg").read_text(encoding="utf-8")
    for label in ("alpha2010", "beta2012", "delta2018", "eta2021", "Excluded: zeta2020",
                  "no SD reported at baseline", "Test for subgroup differences"):
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
    assert "printed identically in three places" in row["resolution"]
    assert all(r.split(": ", 1)[1].strip() for r in rows["resolution"])  # every row has a why
