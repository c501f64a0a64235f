"""blastic_meta: evidence synthesis for vertebroplasty in osteoblastic spinal metastases.

The public API is re-exported here and loaded on first use, so that ``import blastic_meta``
stays light (no matplotlib or pymare at import time).

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
    "effect_sizes": "stats.effects",
    "pool": "stats.models",
    "PooledResult": "stats.models",
    "pool_many": "stats.batch",
    "pool_glmm": "stats.glmm",
    "pool_bayes": "stats.bayes",
    "BayesResult": "stats.bayes",
    "GlmmResult": "stats.glmm",
    "compare_subgroups": "stats.subgroups",
    "SubgroupResult": "stats.subgroups",
    "back_transform": "stats.proportions",
    "transform": "stats.proportions",
    "proportion_ci": "stats.proportions",
    "estimate_mean_sd": "stats.conversions",
    "MeanSdEstimate": "stats.conversions",
    "load_studies": "registry.load",
    "validate_studies": "registry.validation",
    "load_bibliography": "registry.citations",
    "load_protocol": "review.protocol",
    "build_report": "review.report",
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
