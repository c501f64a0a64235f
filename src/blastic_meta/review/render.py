"""Fill a researcher's own Markdown/LaTeX template (Jinja2) with live numbers of the report.

Each analysis id of the protocol is a template variable; its subgroups (``osteoblastic``,
``osteolytic``, ...), ``overall`` and ``subgroup_test`` are attributes::

    Pain fell by {{ vas_3m.osteoblastic | estimate_ci }} {{ vas_3m.osteoblastic | cite }}.

Filters (all formatted by ``text`` exactly as in ``estimates.md``): ``estimate``,
``estimate_ci``, ``ci`` ('95% CI a to b'), ``pi``, ``tau2``, ``i2``, ``k``, ``patients``,
``cite`` (pandoc ``[@a; @b]`` in Markdown, ``\\citep{a,b}`` in LaTeX), ``citep`` (always
LaTeX), ``pandoc`` (always pandoc). Undefined names and missing values (null) are
errors (StrictUndefined) naming the template line and the name, never an empty string.
A ``.tex`` template gets LaTeX markup (``\\%``, ``$\\tau^2$``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..errors import ReportError

__all__ = ["RenderError", "load_summary", "render_template", "template_context"]


class RenderError(ReportError):
    """A template could not be rendered (unknown name, bad filter input, syntax error)."""


_FIT_KEYS = {"estimate", "ci_low", "ci_high", "k", "studies"}


def _fit(value: Any, filter_name: str) -> Mapping[str, Any]:
    import jinja2

    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()  # raises UndefinedError naming the missing name
    if isinstance(value, Mapping) and set(value) >= _FIT_KEYS:
        return value
    raise RenderError(f"filter {filter_name!r} needs one subgroup's result, e.g. "
                      f"vas_3m.osteoblastic or vas_3m.overall; got {_describe(value)}")


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object with " + ", ".join(sorted(map(str, value))[:8])
    return repr(value)


def _filters(style: Any) -> dict[str, Callable[..., str]]:
    from . import text

    def wrap(name: str, fn: Callable[[Mapping[str, Any]], str]) -> Callable[[Any], str]:
        return lambda value: fn(_fit(value, name))

    return {
        "estimate": wrap("estimate", lambda f: text.value_text(f["estimate"],
                                                               f.get("scale", "MC"), style)),
        "estimate_ci": wrap("estimate_ci", lambda f: text.estimate_ci(f, style)),
        "ci": wrap("ci", lambda f: text.ci_text(f, style)),
        "pi": wrap("pi", lambda f: text.pi_text(f, style)),
        "tau2": wrap("tau2", lambda f: text.tau2_text(f, style)),
        "i2": wrap("i2", lambda f: text.i2_text(f, style)),
        "k": wrap("k", lambda f: str(f["k"])),
        "patients": wrap("patients", _patients),
        # cite follows the template's flavour; citep and pandoc force one
        "cite": wrap("cite", lambda f: style.cite(f["studies"])),
        "citep": wrap("citep", lambda f: text.LATEX.cite(f["studies"])),
        "pandoc": wrap("pandoc", lambda f: text.MARKDOWN.cite(f["studies"])),
    }


def _patients(fit: Mapping[str, Any]) -> str:
    if fit.get("patients") is None:
        raise RenderError(f"patients: not reported for every study of {fit.get('name', 'this')} "
                          f"({', '.join(fit['studies'])}); no total to print")
    return str(fit["patients"])


def _finalize(value: Any) -> Any:
    """Refuse to print a missing number: a pasted 'None' or 'nan' is as wrong as a blank."""
    if value is None or (isinstance(value, float) and value != value):
        raise RenderError("a value used in the template is not available (null in "
                          "summary.json, e.g. a prediction interval of a single study)")
    return value


class _View(dict):  # type: ignore[type-arg]
    """One analysis in a template; knows its name for error messages."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


def _undefined_class() -> type:
    import jinja2

    class Undefined(jinja2.StrictUndefined):
        @property
        def _undefined_message(self) -> str:
            obj = self._undefined_obj
            if isinstance(obj, _View):
                return (f"{obj.name} has no {self._undefined_name!r} (it has: "
                        f"{', '.join(sorted(obj))})")
            return str(super()._undefined_message)

    return Undefined


def template_context(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Template variables: one per analysis id (subgroups, overall, subgroup_test, ...)."""
    out: dict[str, Any] = {}
    for aid, a in summary["analyses"].items():
        view = _View(aid)
        view.update(a.get("subgroups") or {})
        if a.get("overall"):
            view["overall"] = a["overall"]
        for key in ("title", "method", "subgroup_test", "studies", "excluded", "within_study",
                    "small_study"):
            view.setdefault(key, a.get(key))
        out[aid] = view
    out["inputs_sha256"] = summary.get("inputs_sha256")
    out["versions"] = summary.get("versions")
    return out


def _line_of(exc: BaseException, name: str) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == name:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render_template(source: str, summary: Mapping[str, Any], *, name: str = "<template>",
                    latex: bool = False) -> str:
    """Render template text with the numbers of ``summary`` (the summary.json layout)."""
    import jinja2

    from . import text

    style = text.LATEX if latex else text.MARKDOWN
    def load(template_name: str) -> tuple[str, str, Callable[[], bool]]:
        return source, name, lambda: True

    env = jinja2.Environment(undefined=_undefined_class(), autoescape=False,
                             keep_trailing_newline=True, loader=jinja2.FunctionLoader(load),
                             finalize=_finalize)
    env.filters.update(_filters(style))
    try:
        template = env.get_template(name)
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(f"{name}:{exc.lineno}: template syntax: {exc.message}") from None
    try:
        return template.render(template_context(summary))
    except jinja2.UndefinedError as exc:
        line = _line_of(exc, name)
        where = f"{name}:{line}" if line else name
        raise RenderError(f"{where}: unknown name: {exc.message} (known analyses: "
                          f"{', '.join(summary['analyses'])})") from None
    except RenderError as exc:
        line = _line_of(exc, name)
        raise RenderError(f"{name}:{line}: {exc}" if line else f"{name}: {exc}") from None


def load_summary(path: str | Path) -> dict[str, Any]:
    """Read summary.json written by ``blastic-meta report``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RenderError(f"{path}: not found; run `blastic-meta report` first or pass "
                          f"--fresh") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise RenderError(f"{path}: cannot read summary ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("analyses"), dict):
        raise RenderError(f"{path}: not a blastic-meta summary (no 'analyses')")
    return data


def fresh_summary(studies_dir: str | Path, evidence_dir: str | Path) -> dict[str, Any]:
    """The summary dictionary computed from the registry now, without writing outputs."""
    from .analyses import run_analyses
    from .report import _json_safe, _load, _summary_json, inputs_sha256

    studies_dir, evidence_dir = Path(studies_dir), Path(evidence_dir)
    bibliography, protocol, records, table, _ = _load(studies_dir, evidence_dir)
    results = run_analyses(records, table, protocol, bibliography)
    summary = _summary_json(results, inputs_sha256(studies_dir, evidence_dir))
    return json.loads(json.dumps(_json_safe(summary)))


def write_output(text_out: str, out: str | Path | None) -> None:
    """Write the rendered text to ``out`` (whole or not at all) or to stdout."""
    if out is None:
        sys.stdout.write(text_out)
        return
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_text(text_out, encoding="utf-8", newline="\n")
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RenderError(f"{out}: cannot write ({exc.strerror})") from None
