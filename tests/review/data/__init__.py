"""Test data for the review wing: synthetic study files and a synthetic long table."""

from __future__ import annotations

import shutil
from pathlib import Path


def copy_registry(repo_root: Path, dest: Path) -> tuple[Path, Path]:
    """Copy the shipped studies/ and evidence/ under ``dest``; return the two copies."""
    shutil.copytree(repo_root / "studies", dest / "studies")
    shutil.copytree(repo_root / "evidence", dest / "evidence")
    return dest / "studies", dest / "evidence"
