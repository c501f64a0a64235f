"""The headline comparison figure follows the tables: a lesion type below the protocol's
min_k is not pooled, so the figure shows "not pooled, k = 2" and each study on its own line,
never a summary marker (not the frequentist fit, not the Bayesian one)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from blastic_meta import load_protocol
from blastic_meta.review import figure_panels
from blastic_meta.review.analyses import run_analyses
from tests.review.data import long_table


@pytest.fixture(scope="module")
def analyses(repo_root):
    protocol = load_protocol(repo_root / "evidence" / "protocol.yaml")
    results = run_analyses([], long_table.table(), protocol, scenarios=False)
    return {aid: r.to_dict() for aid, r in results.items()}


def _row(spec, title):
    return next(r for p in spec.panels for r in p.rows if r.label == title)


def test_two_studies_are_drawn_side_by_side_not_as_the_bayesian_fit(analyses):
    fit = analyses["vas_1m"]["subgroups"]["osteolytic"]
    assert fit["k"] == 2 and fit["status"] == "side by side" and fit["bayes"]
    spec = figure_panels.comparison_spec(analyses, ["osteoblastic", "osteolytic"], {})
    pooled, side = _row(spec, analyses["vas_1m"]["title"]).sides
    assert pooled.has_data and pooled.k == 3 and not pooled.studies
    assert math.isnan(side.estimate) and side.missing_text == "not pooled, k = 2"
    assert side.k == 2 and side.patients == fit["patients"]
    assert [(s.label, s.estimate, s.ci_low, s.ci_high) for s in side.studies] == [
        (r["label"], r["estimate"], r["ci_low"], r["ci_high"]) for r in fit["per_study"]]
    assert side.intervals == [(r["ci_low"], r["ci_high"]) for r in fit["per_study"]]


def test_proportions_side_by_side_are_drawn_as_percent_studies(analyses):
    fit = analyses["leak_vertebra"]["subgroups"]["osteoblastic"]
    assert fit["k"] == 2 and fit["status"] == "side by side"
    spec = figure_panels.comparison_spec(analyses, ["osteoblastic", "osteolytic"], {})
    side, pooled = _row(spec, "Cement leakage per vertebra, adjusted").sides
    assert pooled.has_data and pooled.k == 3
    assert not side.has_data and side.missing_text == "not pooled, k = 2"
    assert [(s.estimate, s.ci_low, s.ci_high) for s in side.studies] == [
        (100 * r["estimate"], 100 * r["ci_low"], 100 * r["ci_high"]) for r in fit["per_study"]]


def test_every_side_below_min_k_is_its_studies_and_the_footnote_says_so(analyses):
    spec = figure_panels.comparison_spec(analyses, ["osteoblastic", "osteolytic"], {})
    checked = 0
    for row in (r for p in spec.panels for r in p.rows):
        for side in row.sides:
            if side.k == 2:
                assert not side.has_data and len(side.studies) == 2, row.label
                checked += 1
    assert checked >= 1
    assert spec.footnote_lines[0].startswith("Pooled where k >= 3 ")
    assert ("k = 2 or no events (or only events): not pooled, each study on its own line "
            "(open markers)") in spec.footnote_lines[0]
    assert "Bayesian" not in spec.footnote_lines[0]
    four = figure_panels.comparison_spec(analyses, ["osteoblastic", "osteolytic"], {}, 4)
    assert "k = 2 to 3 or no events (or only events): not pooled" in four.footnote_lines[0]


def test_a_group_without_events_is_its_studies_not_a_crude_marker(repo_root):
    """0/N over two studies is not pooled (the text says so), so the figure shows both
    studies and the counts, not the crude 0% as a summary marker."""
    protocol = load_protocol(repo_root / "evidence" / "protocol.yaml")
    table = pd.DataFrame([
        long_table.leak("nu2001", "all", "osteoblastic", 0, 20, "patient", 20, 25),
        long_table.leak("xi2002", "all", "osteoblastic", 0, 35, "patient", 35, 41),
        long_table.leak("pi2003", "all", "osteolytic", 4, 30, "patient", 30, 33)],
        columns=long_table.COLUMNS)
    results = run_analyses([], table, protocol, scenarios=False)
    analyses = {aid: r.to_dict() for aid, r in results.items()}
    fit = analyses["leak_patient"]["subgroups"]["osteoblastic"]
    assert fit["status"] == "no events" and fit["k"] == 2
    spec = figure_panels.comparison_spec(analyses, ["osteoblastic", "osteolytic"], {})
    side = _row(spec, analyses["leak_patient"]["title"]).sides[0]
    assert not side.has_data and side.missing_text == "no events (0/55), not pooled"
    assert [(s.estimate, s.ci_high) for s in side.studies] == [
        (0.0, 100 * r["ci_high"]) for r in fit["per_study"]]
