"""The values a study file did not use, put in for the sensitivity scenario
``index_alternative_values``.

A discrepancy may carry ``alternative: {record path: {field: value}}``, the numbers of the
value the analysis does not use (each printed in the discrepancy's ``values``). Here they
replace the used values in a copy of the records, and the long table is rebuilt from it; the
registry on disk is never touched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

__all__ = ["apply_alternatives", "set_path"]

_PART = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$")


def _parts(path: str) -> list[tuple[str, int | None]]:
    out = []
    for token in path.split("."):
        match = _PART.match(token)
        if match is None:
            raise ValueError(f"record path {path!r}: cannot read {token!r}")
        out.append((match.group(1), None if match.group(2) is None else int(match.group(2))))
    return out


def set_path(model: Any, path: str, values: dict[str, Any]) -> Any:
    """A copy of the pydantic ``model`` with ``values`` set on the mapping at ``path``
    (e.g. ``arms[0].outcomes[0].timepoints[0]``)."""
    parts = _parts(path)

    def walk(node: Any, rest: list[tuple[str, int | None]]) -> Any:
        if not rest:
            unknown = sorted(set(values) - set(type(node).model_fields))
            if unknown:
                raise ValueError(f"record path {path!r}: no field {', '.join(unknown)}")
            return node.model_copy(update=values)
        (name, index), tail = rest[0], rest[1:]
        if isinstance(node, dict):  # a mapping of named entries (e.g. leakage sites)
            if name not in node:
                raise ValueError(f"record path {path!r}: no entry {name!r}")
            return {**node, name: walk(node[name], tail)}
        child = getattr(node, name)
        if index is None:
            return node.model_copy(update={name: walk(child, tail)})
        items = list(child)
        items[index] = walk(items[index], tail)
        return node.model_copy(update={name: tuple(items)})

    return walk(model, parts)


def apply_alternatives(records: Sequence[Any]) -> tuple[list[Any], pd.DataFrame,
                                                        tuple[dict[str, Any], ...]]:
    """Records with every discrepancy's alternative values in place, their long table, and
    what was changed (study, item, path, values)."""
    from ..registry.load import study_table

    out, changes = [], []
    for rec in records:
        for disc in getattr(rec, "discrepancies", ()) or ():
            for path, values in (getattr(disc, "alternative", None) or {}).items():
                rec = set_path(rec, path, dict(values))
                changes.append({"study": rec.key, "item": disc.item, "path": path,
                                "values": dict(values)})
        out.append(rec)
    return out, study_table(out), tuple(changes)
