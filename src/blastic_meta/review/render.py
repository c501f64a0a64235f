"""Fill a researcher's own Markdown/LaTeX template (Jinja2) with live numbers of the report.

Each analysis id of the protocol is a template variable; its subgroups (``osteoblastic``,
``osteolytic``, ...) and ``comparison`` are attributes::

    Pain fell by {{ vas_3m.osteoblastic | estimate_ci }} {{ vas_3m.osteoblastic | cite }}.

The filters are those of ``filters``. Undefined names and missing values (null) are errors
(StrictUndefined) naming the template line and the name, never an empty string; so is a bare
``{{ vas_3m.osteoblastic }}`` (a whole result, which would print a Python dict). A ``.tex``
template gets LaTeX markup (``\\%``, ``$\\tau^2$``).

A template may come from someone else, so it runs in Jinja2's immutable sandbox with less
still: no attribute starting with ``_``, no method that changes data, only the filters listed
in ``SAFE_FILTERS``, no ``{% include %}``/``{% import %}`` of other files, ``range`` of at most
``MAX_RANGE`` items, and bounded sizes for every string, list and integer a template builds
(so that ``'x' * 10**12`` or ``10**10**10`` is refused before it is computed). The filters that
build a list (``list``, ``sort``, ``map``, ``unique``, ``select``, ...) are held to the same
``MAX_ITEMS`` on what they read and what they give, and one rendering builds at most
``MAX_BUILT_ITEMS`` list items and ``MAX_BUILT_CHARS`` characters in all, so that memory stays
bounded however often a template repeats them. These are counts, not an address-space limit
(``RLIMIT_AS``): rendering may share its process with numpy and matplotlib (``--fresh``), whose
own allocations such a limit would break. Rendering stops past a time limit
(``signal.setitimer`` in the main thread; the clock is also checked between output chunks) and
past a size limit of its output.

Only text and numbers are printed: a bare result, list, ``range``, ``dict.keys()``, generator
or method is an error saying what to write instead (``_finalize``).
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .filters import Contrast, Fit, RenderError, View
from .sandbox import (  # noqa: F401  (the limits, re-exported for callers and tests)
    BUILDING_FILTERS,
    MAX_BUILT_CHARS,
    MAX_BUILT_ITEMS,
    MAX_INT_BITS,
    MAX_ITEMS,
    MAX_RANGE,
    SAFE_FILTERS,
    _environment,
    _Timeout,
)

__all__ = ["RenderError", "RenderLimits", "fresh_summary", "load_summary", "render_template",
           "template_context"]

MAX_SUMMARY_BYTES = 50_000_000

@dataclass(frozen=True)
class RenderLimits:
    """How long rendering may take (seconds) and how much text it may produce (bytes)."""

    timeout: float = 10.0
    max_bytes: int = 10_000_000


def template_context(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Template variables: one per analysis id (its subgroups, comparison, ...)."""
    out: dict[str, Any] = {}
    for aid, a in summary["analyses"].items():
        view = View(aid)
        for group, fit in (a.get("subgroups") or {}).items():
            view[group] = Fit(f"{aid}.{group}", fit)
        if a.get("comparison") is not None:
            view.setdefault("comparison", Contrast(f"{aid}.comparison", a["comparison"]))
        for key in ("title", "method", "studies", "excluded", "small_study"):
            view.setdefault(key, a.get(key))
        out[aid] = view
    out["inputs_sha256"] = summary.get("inputs_sha256")
    out["versions"] = summary.get("versions")
    return out


def citation_names(summary: Mapping[str, Any]) -> dict[str, str]:
    """summary.json's ``citation_names`` (key -> name of a study without authors); a summary
    written before they were recorded, or a malformed entry, gives none."""
    names = summary.get("citation_names")
    if not isinstance(names, Mapping):
        return {}
    return {k: v for k, v in names.items() if isinstance(k, str) and isinstance(v, str)
            and v.strip()}


# --- rendering -----------------------------------------------------------------------------

def _line_of(exc: BaseException, name: str) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == name:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class _Alarm:
    """A wall-clock limit: SIGALRM when in the main thread (interrupts a busy loop), and a
    deadline that the output loop checks in any thread."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.active = False
        self._old: Any = None

    def _fire(self, signum: int, frame: Any) -> None:
        if self.active:
            raise _Timeout

    def __enter__(self) -> _Alarm:
        usable = (hasattr(signal, "setitimer") and threading.current_thread()
                  is threading.main_thread() and signal.getitimer(signal.ITIMER_REAL)[0] == 0)
        if usable:
            self._old = signal.signal(signal.SIGALRM, self._fire)
            self.active = True
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise _Timeout

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:
            self.active = False  # first: a late signal is ignored from here on
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old)


def _run(env: Any, source: str, name: str, context: dict[str, Any], limits: RenderLimits,
         alarm: _Alarm) -> str:
    from jinja2 import TemplateSyntaxError

    try:
        code = env.compile(source, name=name, filename=name)
    except TemplateSyntaxError as exc:
        raise RenderError(f"{name}:{exc.lineno}: template syntax: {exc.message}") from None
    except (RecursionError, MemoryError, SyntaxError) as exc:
        raise RenderError(f"{name}: template too deeply nested ({type(exc).__name__})") from None
    template = env.template_class.from_code(env, code, env.make_globals(None))
    chunks: list[str] = []
    size = 0
    for chunk in template.generate(context):
        size += len(chunk.encode("utf-8"))
        if size > limits.max_bytes:
            raise RenderError(f"{name}: output over {limits.max_bytes:,} bytes (the size "
                              f"limit; raise it with --max-bytes or render.max_bytes in "
                              f"protocol.yaml)")
        alarm.check()
        chunks.append(chunk)
    return "".join(chunks)


def render_template(source: str, summary: Mapping[str, Any], *, name: str = "<template>",
                    latex: bool = False, limits: RenderLimits | None = None) -> str:
    """Render template text with the numbers of ``summary`` (the summary.json layout).

    Raises RenderError, one line naming ``name`` and the template line, for every problem of
    the template: unknown names, bad filter input, syntax, sandbox refusals, limits.
    """
    import jinja2

    limits = limits or RenderLimits()
    env = _environment(latex, limits.max_bytes, citation_names(summary))
    context = template_context(summary)
    try:
        with _Alarm(limits.timeout) as alarm:
            return _run(env, source, name, context, limits, alarm)
    except _Timeout:
        raise RenderError(f"{name}: rendering stopped after {limits.timeout:g} s (the time "
                          f"limit; raise it with --timeout or render.timeout in "
                          f"protocol.yaml)") from None
    except RenderError as exc:
        if str(exc).startswith(f"{name}:"):
            raise
        raise RenderError(_where(exc, name) + str(exc)) from None
    except jinja2.UndefinedError as exc:
        raise RenderError(f"{_where(exc, name)}unknown name: {exc.message} (known analyses: "
                          f"{', '.join(summary['analyses'])})") from None
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"{_where(exc, name)}cannot include {exc.name!r}: a template is "
                          f"rendered on its own (no include, import or extends)") from None
    except jinja2.TemplateError as exc:
        raise RenderError(f"{_where(exc, name)}not allowed in a template: "
                          f"{_one_line(exc.message or type(exc).__name__)}") from None
    except RecursionError:
        raise RenderError(f"{name}: recursion too deep (a macro or loop that calls itself "
                          f"without end)") from None
    except MemoryError:
        raise RenderError(f"{name}: out of memory while rendering") from None
    except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as exc:
        raise RenderError(f"{_where(exc, name)}{type(exc).__name__}: "
                          f"{_one_line(str(exc))}") from None


def _where(exc: BaseException, name: str) -> str:
    line = _line_of(exc, name)
    return f"{name}:{line}: " if line else f"{name}: "


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


# --- inputs --------------------------------------------------------------------------------

def load_summary(path: str | Path) -> dict[str, Any]:
    """Read summary.json written by ``blastic-meta report``."""
    from .._io import read_limited

    path = Path(path)
    try:
        data = json.loads(read_limited(path, MAX_SUMMARY_BYTES, "summary").decode("utf-8"))
    except FileNotFoundError:
        raise RenderError(f"{path}: not found; run `blastic-meta report` first or pass "
                          f"--fresh") from None
    except OSError as exc:
        raise RenderError(f"{path}: cannot read summary ({exc.strerror})") from None
    except (ValueError, RecursionError) as exc:  # JSON and UTF-8 errors are ValueErrors
        raise RenderError(f"{path}: cannot read summary ({_one_line(str(exc))})") from None
    if not isinstance(data, dict) or not isinstance(data.get("analyses"), dict) or not all(
            isinstance(a, dict) for a in data["analyses"].values()):
        raise RenderError(f"{path}: not a blastic-meta summary (no 'analyses')")
    return _finite(data)


def _finite(value: Any) -> Any:
    # json reads NaN and Infinity; a summary written by the report has null instead
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def fresh_summary(studies_dir: str | Path, evidence_dir: str | Path) -> dict[str, Any]:
    """The summary dictionary computed from the registry now, without writing outputs."""
    from .analyses import run_analyses
    from .report import _json_safe, _load, _summary_json, inputs_sha256

    studies_dir, evidence_dir = Path(studies_dir), Path(evidence_dir)
    bibliography, protocol, records, table, _ = _load(studies_dir, evidence_dir)
    results = run_analyses(records, table, protocol, bibliography)
    summary = _summary_json(results, inputs_sha256(studies_dir, evidence_dir), bibliography)
    return json.loads(json.dumps(_json_safe(summary)))
