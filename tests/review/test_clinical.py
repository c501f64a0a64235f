"""The clinically important change in pain: the larger of 2 points and 30% of the baseline,
read in GRADE imprecision, in each result's sentence and for each study shown side by side."""

from __future__ import annotations

import pandas as pd
import pytest

from blastic_meta import load_protocol
from blastic_meta.review import certainty, methods_text, prose
from blastic_meta.review.analyses import run_analyses
from blastic_meta.review.clinical import vas_mcid
from tests.review.data import long_table

CLINICAL = {"vas_mcid_points": 2.0, "vas_mcid_percent": 30.0, "vas_mcid_rule": "larger"}
VAS = {"outcome": "vas", "title": "VAS"}


@pytest.fixture(scope="module")
def protocol(repo_root):
    return load_protocol(repo_root / "evidence" / "protocol.yaml").with_changes(
        {"vas": {"secondary_measures": ()}})


def test_the_threshold_is_the_larger_of_2_points_and_30_percent_of_the_baseline():
    assert vas_mcid(CLINICAL, 4.3).value == 2.0            # 30% of 4.3 = 1.29 < 2
    assert vas_mcid(CLINICAL, 7.4).value == pytest.approx(2.22)
    assert vas_mcid(CLINICAL, None).value == 2.0
    assert vas_mcid(CLINICAL, float("nan")).value == 2.0
    smaller = {**CLINICAL, "vas_mcid_rule": "smaller"}
    assert vas_mcid(smaller, 4.3).value == pytest.approx(1.29)
    assert vas_mcid(CLINICAL, 7.4).describe() == (
        "2.22 points (the larger of 2 points and 30% of the baseline 7.4)")
    assert vas_mcid(CLINICAL, 4.3).describe("\\%") == (
        "2 points (the larger of 2 points and 30\\% of the baseline 4.3)")


def test_shipped_protocol_states_the_rule(protocol):
    assert protocol.clinical.vas_mcid_rule == "larger"
    text = methods_text.methods_paragraph(protocol, prose.markdown_style())
    assert "clinically important when it reached the larger of 2 points and 30% of the " \
           "baseline mean" in text


def _single(lo, est, hi, baseline, patients=150, k=1, status="single study"):
    return {"status": status, "k": k, "patients": patients, "scale": "MC", "estimate": est,
            "ci_low": lo, "ci_high": hi, "baseline": baseline}


def test_imprecision_reads_the_ci_against_30_percent_of_a_high_baseline():
    # 2.1 to 2.5 lies above 2 points, but a baseline of 8 needs 2.4: the CI crosses it
    high = certainty._imprecision(_single(2.1, 2.3, 2.5, 8.0), VAS, CLINICAL)
    assert high["levels"] == 1 and "crosses the clinically important change of 2.4 points" \
        in high["reason"]
    low = certainty._imprecision(_single(2.1, 2.3, 2.5, 5.0), VAS, CLINICAL)
    assert low["levels"] == 0 and "above the clinically important change of 2 points" \
        in low["reason"]
    pooled = certainty._imprecision(_single(2.1, 2.3, 2.5, 8.0, k=3, status="pooled"), VAS,
                                    CLINICAL)
    assert pooled["levels"] == 1


def test_imprecision_of_studies_side_by_side_names_each_reading():
    fit = {"status": "side by side", "k": 2, "scale": "MC", "per_study": [
        {"study": "a", "label": "A 2016", "ci_low": 4.58, "ci_high": 5.22, "baseline": 7.4},
        {"study": "b", "label": "B 2021", "ci_low": 0.63, "ci_high": 1.97, "baseline": 4.3}]}
    out = certainty._imprecision(fit, VAS, CLINICAL)
    assert out["levels"] == 2
    assert "A 2016: CI 4.58 to 5.22 lies above 2.22 points" in out["reason"]
    assert "B 2021: CI 0.63 to 1.97 lies below 2 points" in out["reason"]


def test_the_sentence_reads_the_result_against_its_own_threshold():
    md = prose.markdown_style()
    below = prose._clinical(_single(0.63, 1.3, 1.97, 4.3), VAS, CLINICAL, md)
    assert below == ("; the whole CI lies below the clinically important change of 2 points "
                     "(the larger of 2 points and 30% of the baseline 4.3)")
    crosses = prose._clinical(_single(2.1, 2.3, 2.5, 8.0), VAS, CLINICAL, md)
    assert crosses.startswith("; the estimate is below the clinically important change of "
                              "2.4 points")


def test_each_study_shown_side_by_side_gets_its_clinical_reading():
    fit = {"status": "side by side", "k": 2, "patients": 78, "scale": "MC",
           "studies": ["tian2016", "xu2021"], "per_study": [
               {"study": "tian2016", "estimate": 4.9, "ci_low": 4.58, "ci_high": 5.22,
                "baseline": 7.4},
               {"study": "xu2021", "estimate": 1.3, "ci_low": 0.63, "ci_high": 1.97,
                "baseline": 4.3}]}
    text = prose.subgroup_sentence("osteoblastic", fit, VAS, prose.markdown_style(), CLINICAL)
    assert "; not pooled at k = 2. In @tian2016, the whole CI lies above the clinically " \
           "important change of 2.22 points (the larger of 2 points and 30% of the baseline " \
           "7.4)." in text
    assert " In @xu2021, the whole CI lies below the clinically important change of 2 " \
           "points (the larger of 2 points and 30% of the baseline 4.3)." in text
    tex = prose.subgroup_sentence("osteoblastic", fit, VAS, prose.latex_style(), CLINICAL)
    assert "In \\citet{xu2021}, the whole CI lies below" in tex and "30\\% of" in tex


def _table(studies):
    rows = []
    for key, patients, pre, post, scale in studies:
        for r in long_table.vas(key, "all", "osteoblastic", patients,
                                [(0, pre, scale * 0.15), (30, post, scale * 0.15)]):
            rows.append({**r, "scale_max": scale})
    return pd.DataFrame(rows, columns=long_table.COLUMNS)


def test_fits_carry_the_baseline_on_the_0_to_10_scale(protocol):
    vas = tuple(a for a in protocol.analyses if a.id == "vas_1m")
    narrow = protocol.model_copy(update={"analyses": vas})
    one = run_analyses([], _table([("s1", 40, 80.0, 30.0, 100)]), narrow, scenarios=False)
    fit = one["vas_1m"].subgroups["osteoblastic"]
    assert fit.status == "single study" and fit.baseline == pytest.approx(8.0)
    assert fit.per_study[0]["baseline"] == pytest.approx(8.0)
    three = run_analyses([], _table([("s1", 40, 8.0, 3.0, 10), ("s2", 20, 6.0, 3.5, 10),
                                     ("s3", 60, 7.0, 2.0, 10)]), narrow, scenarios=False)
    fit = three["vas_1m"].subgroups["osteoblastic"]
    assert fit.status == "pooled"
    w = pd.Series(fit.weights)
    expected = float((w * pd.Series([8.0, 6.0, 7.0])).sum() / w.sum())
    assert fit.baseline == pytest.approx(expected)
    assert [r["baseline"] for r in fit.per_study] == [8.0, 6.0, 7.0]
