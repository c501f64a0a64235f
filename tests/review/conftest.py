"""Fixtures of the review tests: the shipped registry built once per session into a
temporary folder (never outputs/), and the summary of the synthetic long table that the
template tests render."""

from __future__ import annotations

import json

import pytest

from blastic_meta import build_report, load_protocol
from blastic_meta.review.analyses import run_analyses
from tests.review.data import copy_registry, long_table


@pytest.fixture(scope="session")
def built(repo_root, tmp_path_factory):
    """(studies, evidence, outputs, result) of a report built from copies of the shipped files."""
    base = tmp_path_factory.mktemp("registry")
    studies, evidence = copy_registry(repo_root, base)
    out = base / "outputs"
    result = build_report(studies, evidence, out)
    return studies, evidence, out, result


@pytest.fixture(scope="module")
def summary(repo_root):
    """summary.json's layout for the synthetic long table (no study data), as plain JSON
    values; a test module that changes it gets its own copy."""
    protocol = load_protocol(repo_root / "evidence" / "protocol.yaml")
    results = run_analyses([], long_table.table(), protocol)
    data = {"analyses": {k: r.to_dict() for k, r in results.items()},
            "inputs_sha256": "0" * 64, "versions": {}}
    return json.loads(json.dumps(data))
