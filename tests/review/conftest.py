"""The shipped registry built once per session into a temporary folder (never outputs/)."""

from __future__ import annotations

import pytest

from blastic_meta import build_report
from tests.review.data import copy_registry


@pytest.fixture(scope="session")
def built(repo_root, tmp_path_factory):
    """(studies, evidence, outputs, result) of a report built from copies of the shipped files."""
    base = tmp_path_factory.mktemp("registry")
    studies, evidence = copy_registry(repo_root, base)
    out = base / "outputs"
    result = build_report(studies, evidence, out)
    return studies, evidence, out, result
