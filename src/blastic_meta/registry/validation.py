"""Check every study file and the bibliography; report all problems at once.

Each problem is a ``Finding`` printed as ``path:line: field: message [code]`` with a stable
code (listed in docs/study-format.md): structural problems from ``findings`` (YAML, unknown
fields, types, provenance), consistency checks from ``checks``, possible duplicate cohorts
from ``cohorts``. A warning that a mapping's ``accept`` names is kept as ``accepted`` (with the
reason), so it is counted but no longer printed by ``validate``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from .checks import RecordChecker, downgrade_declared, via_keys
from .citations import Bibliography, BibliographyError, load_bibliography
from .cohorts import cohort_findings
from .findings import Finding, accept_checked, structural_findings
from .records import StudyRecord
from .review_checks import review_findings
from .screening import check_screening
from .yamlio import YamlDocument, YamlError, dotted, line_for, load_document

__all__ = [
    "SCHEMA_COMMENT",
    "Finding",
    "check_studies",
    "structural_findings",
    "validate_studies",
]

SCHEMA_COMMENT = "# yaml-language-server: $schema=schema.json"


def check_studies(studies_dir: str | Path, bibliography: Bibliography | None,
                  bib_findings: list[Finding] | None = None,
                  ) -> tuple[list[tuple[StudyRecord, YamlDocument]], list[Finding]]:
    """Load and check every ``*.yaml`` in ``studies_dir``: valid records and all findings."""
    studies = Path(studies_dir)
    findings = list(bib_findings or [])
    if not studies.is_dir():
        findings.append(Finding(str(studies), 1, "(folder)", "error",
                                "study folder not found", "file-unreadable"))
        return [], findings
    loaded: list[tuple[StudyRecord, YamlDocument]] = []
    for stray in sorted(studies.glob("*.yml")):
        findings.append(Finding(str(stray), 1, "(file)", "warning",
                                "study files end in .yaml; this file is not read", "file-name"))
    for path in sorted(studies.glob("*.yaml")):
        try:
            doc = load_document(path)
        except YamlError as exc:
            findings.append(Finding(exc.path, exc.line, exc.field, "error", exc.message,
                                    exc.code))
            continue
        if not isinstance(doc.data, dict):
            findings.append(Finding(doc.path, 1, "(top)", "error",
                                    "a study file is a mapping of fields (key: value)", "type"))
            continue
        text = path.read_text(encoding="utf-8-sig")
        if not text.startswith(SCHEMA_COMMENT):
            findings.append(Finding(doc.path, 1, "(file)", "warning",
                                    f"first line should be '{SCHEMA_COMMENT}'",
                                    "schema-comment"))
        try:
            record = StudyRecord.model_validate(doc.data)
        except ValidationError as exc:
            findings.extend(structural_findings(exc, doc))
            continue
        file_findings = RecordChecker(record, doc).run() + review_findings(record, doc)
        if record.key != path.stem:
            file_findings.append(Finding(doc.path, line_for(("key",), doc.lines), "key",
                                         "error", f"key {record.key!r} differs from the file "
                                         f"name {path.name!r}", "key-filename"))
        if bibliography is not None:
            if record.key not in bibliography:
                file_findings.append(Finding(doc.path, line_for(("key",), doc.lines), "key",
                                             "error", f"{record.key!r} is not a key of "
                                             f"{bibliography.path}", "bib-missing"))
            for where, value in via_keys(doc.data, ()):
                if value not in bibliography:
                    file_findings.append(Finding(doc.path, line_for(where, doc.lines),
                                                 dotted(where), "error",
                                                 f"via {value!r} is not a key of "
                                                 f"{bibliography.path}", "via-missing"))
        findings.extend(accept_checked(downgrade_declared(file_findings, record, doc), record,
                                       doc))
        loaded.append((record, doc))
    by_key: dict[str, list[YamlDocument]] = {}
    for record, doc in loaded:
        by_key.setdefault(record.key, []).append(doc)
    for key, docs in by_key.items():
        if len(docs) > 1:
            others = ", ".join(d.path for d in docs)
            for doc in docs:
                findings.append(Finding(doc.path, line_for(("key",), doc.lines), "key", "error",
                                        f"key {key!r} is used by several files ({others})",
                                        "key-duplicate"))
    findings.extend(cohort_findings(loaded, bibliography))
    return loaded, sorted(set(findings))


def _bibliography_findings(path: Path) -> tuple[Bibliography | None, list[Finding]]:
    if not path.is_file():
        return None, [Finding(str(path), 1, "(file)", "error", "bibliography not found",
                              "bibliography")]
    try:
        return load_bibliography(path), []
    except BibliographyError as exc:
        return None, [Finding(exc.path, line, "(bibtex)", "error", msg, "bibliography")
                      for line, msg in exc.problems]


def validate_studies(studies_dir: str | Path,
                     bibliography_path: str | Path | Bibliography,
                     screening_path: str | Path | None = None) -> list[Finding]:
    """Every problem of the study files and the bibliography, sorted by file and line.

    With ``screening_path``, the PRISMA screening record is checked against the studies too
    (``registry.screening``; an absent file is a warning). Never raises for a problem in the
    files (each becomes a Finding) and never writes.
    """
    if isinstance(bibliography_path, Bibliography):
        bib, bib_findings = bibliography_path, []
    else:
        bib, bib_findings = _bibliography_findings(Path(bibliography_path))
    loaded, findings = check_studies(studies_dir, bib, bib_findings)
    if screening_path is not None:
        files = len(list(Path(studies_dir).glob("*.yaml"))) if Path(studies_dir).is_dir() else 0
        _, more = check_screening(screening_path, [rec for rec, _ in loaded],
                                  complete=len(loaded) == files)
        findings = sorted(set(findings) | set(more))
    return findings
