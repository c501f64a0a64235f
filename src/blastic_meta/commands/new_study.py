"""``blastic-meta new-study KEY``: write a commented template ``<studies>/KEY.yaml``.

Refuses to overwrite an existing file, and writes the file whole or not at all. Prints a
BibTeX stub for ``references.bib`` (the study file's key must be a key of the bibliography).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from importlib import resources
from pathlib import Path

from .._io import atomic_write_text
from ..errors import BlasticMetaError, StudyRecordError

# the same shape as records.KEY_PATTERN (kept here so that --help needs no pydantic import)
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")

BIBTEX_STUB = """@article{{{key},
  author = {{}},
  title = {{}},
  journal = {{}},
  year = {{}},
  volume = {{}},
  pages = {{}},
  doi = {{}},
}}
"""


class NewStudyError(BlasticMetaError):
    """The template cannot be written (bad key, file exists)."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("key", metavar="KEY",
                        help="BibTeX key of the study (letters, digits, _; e.g. smith2019)")


def template_text(key: str) -> str:
    """The template with its key filled in."""
    text = resources.files("blastic_meta").joinpath("templates/new_study.yaml").read_text(
        encoding="utf-8")
    return text.replace("@KEY@", key)


def run(args: argparse.Namespace) -> int:
    key = args.key
    if not _KEY.fullmatch(key):
        raise NewStudyError(f"key {key!r} must start with a letter and hold only letters, "
                            "digits and _ (at most 64 characters)")
    folder = Path(args.studies)
    path = folder / f"{key}.yaml"
    if os.path.lexists(path):
        raise NewStudyError(f"{path} already exists; not overwritten")
    if os.path.lexists(folder) and not folder.is_dir():
        raise NewStudyError(f"{folder} is not a folder; pass --studies DIR")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # whole or not at all, and never over an existing file (even one made meanwhile)
        atomic_write_text(path, template_text(key), overwrite=False)
    except FileExistsError:
        raise NewStudyError(f"{path} already exists; not overwritten") from None
    except OSError as exc:
        raise StudyRecordError(f"{path}: cannot write: {exc.strerror or exc}") from None
    bib = Path(args.evidence) / "references.bib"
    sys.stderr.write(f"wrote {path}; add this entry to {bib} (only fields the source prints):\n")
    sys.stdout.write(BIBTEX_STUB.format(key=key))
    return 0
