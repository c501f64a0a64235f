"""Parity of ``blastic_meta.pool_glmm`` with metafor 3.8 ``rma.glmm(measure="PLO")``.

metafor fits the binomial-normal model by ML through lme4 with 7-point adaptive Gauss-Hermite
quadrature; the pinned values are in ``tests/stats/reference/metafor_reference.json``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import blastic_meta as bm
from tests.stats._parity import GLMM_REL, PVAL_ABS, Mismatches, cases, expected

GLMM_CASES = cases("glmm")

#: (python attribute, reference key, natural scale for values near 0)
_LOGIT = (("estimate", 1.0), ("se", 1.0), ("ci_low", 1.0), ("ci_high", 1.0))
_PROPORTION = (("proportion", 0.01), ("proportion_ci_low", 0.01),
               ("proportion_ci_high", 0.01), ("pi_low", 0.01), ("pi_high", 0.01))


@pytest.mark.parametrize("case", GLMM_CASES, ids=[c["id"] for c in GLMM_CASES])
def test_pool_glmm_matches_rma_glmm(case: dict[str, Any]) -> None:
    xi = np.array(case["inputs"]["xi"], dtype=float)
    ni = np.array(case["inputs"]["ni"], dtype=float)
    res = bm.pool_glmm(xi, ni, level=case["level"])
    out = case["out"]
    m = Mismatches(case["id"])
    m.equal("k", res.k, out["k"])
    for name, scale in (*_LOGIT, *_PROPORTION):
        m.check(name, getattr(res, name), expected(out, name), rel=GLMM_REL, scale=scale)
    # tau2 on the logit scale; 1e-3 of 0.01 (tau = 0.1) absolute for estimates at the boundary
    m.check("tau2", res.tau2, expected(out, "tau2"), rel=GLMM_REL, scale=0.01)
    m.check("zval", res.zval, expected(out, "zval"), rel=GLMM_REL, scale=1.0)
    m.check("pval", res.pval, expected(out, "pval"), rel=GLMM_REL, abs_floor=PVAL_ABS)
    m.finish()


def test_glmm_reference_has_zero_and_all_event_studies() -> None:
    xs = [(c["inputs"]["xi"], c["inputs"]["ni"]) for c in GLMM_CASES]
    assert any(0 in x for x, _ in xs)
    assert any(any(a == b for a, b in zip(x, n, strict=True)) for x, n in xs)
