"""Fixtures of the command-line tests: a summary.json of the small synthetic long table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REVIEW_DATA = Path(__file__).parents[1] / "review" / "data"


@pytest.fixture(scope="session")
def summary(repo_root) -> dict:
    """The summary.json dictionary of ``tests/review/data/long_table.py`` (synthetic)."""
    from blastic_meta import load_protocol
    from blastic_meta.review.analyses import run_analyses

    sys.path.insert(0, str(REVIEW_DATA))
    import long_table

    protocol = load_protocol(repo_root / "evidence" / "protocol.yaml")
    results = run_analyses([], long_table.table(), protocol)
    data = {"analyses": {k: r.to_dict() for k, r in results.items()},
            "inputs_sha256": "0" * 64, "versions": {}}
    return json.loads(json.dumps(data))


@pytest.fixture
def workspace(tmp_path, summary, repo_root, monkeypatch) -> Path:
    """A folder with outputs/summary.json and evidence/protocol.yaml; the current folder."""
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    (tmp_path / "evidence").mkdir()
    (tmp_path / "evidence" / "protocol.yaml").write_bytes(
        (repo_root / "evidence" / "protocol.yaml").read_bytes())
    monkeypatch.chdir(tmp_path)
    return tmp_path
