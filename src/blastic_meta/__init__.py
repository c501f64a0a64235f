"""blastic_meta: evidence synthesis for vertebroplasty in osteoblastic spinal metastases.

The public API is re-exported here and loaded on first use, so that ``import blastic_meta``
stays light (no matplotlib, forestplot or pymare at import time).

Data flow: YAML study files -> records -> effect sizes -> fits -> outputs.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ._version import __version__
from .errors import (
    BlasticMetaError,
    BlasticMetaWarning,
    ConvergenceError,
    InputError,
    ReportError,
    StudyRecordError,
)

# public name -> module that defines it
_LAZY = {
    "effect_sizes": "effects",
    "pool": "models",
    "PooledResult": "models",
    "pool_many": "batch",
    "pool_glmm": "glmm",
    "GlmmResult": "glmm",
    "compare_subgroups": "subgroups",
    "SubgroupResult": "subgroups",
    "back_transform": "proportions",
    "transform": "proportions",
    "proportion_ci": "proportions",
    "load_studies": "registry",
    "validate_studies": "validation",
    "load_bibliography": "citations",
    "load_protocol": "protocol",
    "build_report": "report",
}

__all__ = [
    "BlasticMetaError",
    "BlasticMetaWarning",
    "ConvergenceError",
    "InputError",
    "ReportError",
    "StudyRecordError",
    "__version__",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'blastic_meta' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
