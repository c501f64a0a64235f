"""Shared fixtures: headless matplotlib, paths of the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


def _hypothesis_profiles() -> None:
    """In CI (and under mutation testing: HYPOTHESIS_PROFILE=ci), property tests draw the same
    examples on every run (no flaky landings); locally they explore new examples each run."""
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, database=None, deadline=None)
    if os.environ.get("CI") or os.environ.get("HYPOTHESIS_PROFILE") == "ci":
        settings.load_profile("ci")


_hypothesis_profiles()
