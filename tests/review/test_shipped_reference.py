"""The lesion-type comparison of the shipped registry against R metafor on the same data.

``tests/stats/reference/shipped_reference.json`` (written by make_reference_shipped.R from the
report's own input tables) pins rma.glmm with lesion type as moderator for per-patient leakage
and metafor's Baujat coordinates. The test first checks that the shipped inputs are still
those: a change of the registry then asks for the reference to be regenerated, rather than
passing silently.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from blastic_meta import load_bibliography, load_protocol, load_studies
from blastic_meta.review.analyses import run_analysis
from blastic_meta.stats.diagnostics import baujat

REFERENCE = Path(__file__).resolve().parents[1] / "stats" / "reference" / "shipped_reference.json"
GLMM_REL = 1e-3  # lme4 stops at ~1e-6 in the deviance (tests/stats/reference/README.md)


@pytest.fixture(scope="module")
def reference():
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def shipped(repo_root):
    bib = load_bibliography(repo_root / "evidence" / "references.bib")
    records, table = load_studies(repo_root / "studies", bib)
    protocol = load_protocol(repo_root / "evidence" / "protocol.yaml")
    return records, table, protocol, bib


def _compared(res):
    inc = res.included
    inc = inc[inc["group"].isin(["osteoblastic", "osteolytic"])]
    return inc.sort_values(["study", "arm"])


def test_glmm_lesion_type_test_on_shipped_data_equals_rma_glmm(reference, shipped):
    records, table, protocol, bib = shipped
    (case,) = reference["glmm_comparison"]
    res = run_analysis(records, table, protocol, protocol.analysis(case["id"]), bib)
    rows = _compared(res)
    msg = "shipped data changed: rerun tests/stats/reference/make_reference_shipped.R"
    assert list(rows["study"]) == case["studies"], msg
    assert rows["events"].astype(float).tolist() == case["events"], msg
    assert rows["total"].astype(float).tolist() == case["totals"], msg
    b = res.comparison.between
    assert b["measure"] == "OR"
    assert math.log(b["estimate"]) == pytest.approx(case["coefficient"][0], rel=GLMM_REL)
    assert math.log(b["ci_low"]) == pytest.approx(case["ci_low"][0], rel=GLMM_REL)
    assert math.log(b["ci_high"]) == pytest.approx(case["ci_high"][0], rel=GLMM_REL)
    assert b["pval"] == pytest.approx(case["pval"][0], rel=GLMM_REL)
    test = b["primary_test"]
    assert test["value"] == pytest.approx(case["qm"][0], rel=GLMM_REL)
    assert test["pval"] == pytest.approx(case["qm_pval"][0], rel=GLMM_REL)
    assert test["tau2_residual"] == pytest.approx(case["tau2"][0], rel=1e-2, abs=1e-4)
    # the exactly integrated LRT against lme4's adaptive-quadrature one
    assert test["lrt"] == pytest.approx(case["lrt"][0], rel=1e-2)


def test_baujat_coordinates_equal_metafor(reference):
    (case,) = reference["baujat"]
    x, y = baujat(np.array(case["yi"]), np.array(case["vi"]))
    assert x == pytest.approx(case["x"], rel=1e-10)
    assert y == pytest.approx(case["y"], rel=1e-10)
