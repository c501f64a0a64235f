"""``blastic-meta new-study KEY``: write a commented template ``<studies>/KEY.yaml``.

Refuses to overwrite an existing file. Prints a BibTeX stub for ``references.bib`` (the study
file's key must be a key of the bibliography).
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import resources
from pathlib import Path

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
    if not _KEY.match(key):
        raise NewStudyError(f"key {key!r} must start with a letter and hold only letters, "
                            "digits and _ (at most 64 characters)")
    folder = Path(args.studies)
    path = folder / f"{key}.yaml"
    if path.exists():
        raise NewStudyError(f"{path} already exists; not overwritten")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as handle:  # "x": never replace a file
            handle.write(template_text(key))
    except FileExistsError:
        raise NewStudyError(f"{path} already exists; not overwritten") from None
    except OSError as exc:
        raise StudyRecordError(f"{path}: cannot write: {exc.strerror}") from None
    bib = Path(args.evidence) / "references.bib"
    sys.stderr.write(f"wrote {path}; add this entry to {bib} (only fields the source prints):\n")
    sys.stdout.write(BIBTEX_STUB.format(key=key))
    return 0
