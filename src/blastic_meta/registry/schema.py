"""JSON Schema of a study file, generated from the record model (``studies/schema.json``).

Editors that understand ``# yaml-language-server: $schema=schema.json`` then complete field
names and flag errors while a researcher types. The text is deterministic (sorted keys, fixed
indentation), and a test checks that the committed file equals the generated one.
Regenerate with ``python -m blastic_meta.registry.schema > studies/schema.json``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from .records import StudyRecord

__all__ = ["schema_text", "study_schema"]

_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def study_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one study file."""
    schema = StudyRecord.model_json_schema(mode="validation")
    schema["$schema"] = _DIALECT
    schema["title"] = "blastic-meta study record"
    schema["description"] = (
        "One study of the review: studies/<key>.yaml, key = BibTeX key in "
        "evidence/references.bib. Generated from blastic_meta.registry.records; do not edit."
    )
    return schema


def schema_text() -> str:
    """The schema as JSON text, sorted and indented, ending in a newline."""
    return json.dumps(study_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:  # pragma: no cover - thin wrapper
    sys.stdout.write(schema_text())
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
