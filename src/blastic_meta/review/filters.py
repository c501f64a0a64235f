"""The filters of ``blastic-meta render``: one subgroup's result in, one piece of text out.

Defaults give exactly the strings of ``estimates.md`` (``text``'s helpers: 2 decimals for
points, proportions as percentages with 1, tau² with 3, I² with 1). Filters take keyword
arguments only, each checked (an unknown name, a wrong type or a value out of range is a
``RenderError`` naming the filter and what it accepts):

- ``digits``: decimals of the printed numbers (0-6);
- ``level``: ``true`` writes the confidence level ("95% CI"), ``false`` leaves it out ("CI");
  the level itself is the protocol's, never changed by a template;
- ``ci_word``: the word for the interval ("CI" by default, e.g. "confidence interval").

``contrast`` prints an analysis's osteoblastic-vs-osteolytic comparison (``vas_3m.comparison``):
the mean difference or odds ratio with its interval, or an error saying why there is none.

A negative number carries a true minus sign (U+2212 in Markdown, ``$-$`` in LaTeX), from
the same ``formatting.fmt_signed`` that writes estimates.md. ``cite`` names a study without
authors as estimates.md does ('Acta Radiol -@key'; the summary's ``citation_names``).

Bare values (``pi``, ``tau2``, ``i2``) carry no label, so a sentence can give its own; the
``*_labelled`` forms include it. Heterogeneity of a single study (k = 1) is refused rather
than printed as "NA". This module knows nothing of Jinja2 (``render`` wires it in).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping, Sequence, ValuesView
from typing import Any

from ..errors import ReportError
from ..formatting import fmt_num, fmt_signed
from . import text

__all__ = ["FILTER_NAMES", "Contrast", "Fit", "RenderError", "View", "describe", "filters_for",
           "require_fit"]


class RenderError(ReportError):
    """A template could not be rendered (unknown name, bad filter input, limit reached)."""


_FIT_KEYS = {"estimate", "ci_low", "ci_high", "k", "studies"}
_MAX_DIGITS = 6
_MAX_WORD = 60


class Fit(dict):  # type: ignore[type-arg]
    """One subgroup's result in a template; knows where it sits for error messages."""

    def __init__(self, where: str, data: Mapping[str, Any]) -> None:
        super().__init__(data)
        self._where = where  # underscore: invisible to templates (sandbox)


class Contrast(dict):  # type: ignore[type-arg]
    """One analysis's lesion-type comparison in a template; knows where it sits."""

    def __init__(self, where: str, data: Mapping[str, Any]) -> None:
        super().__init__(data)
        self._where = where


class View(dict):  # type: ignore[type-arg]
    """One analysis in a template (its lesion types, comparison, ...); knows its id."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


def describe(value: Any) -> str:
    """A short description of a template value for error messages."""
    if isinstance(value, View):
        group = next((k for k, v in value.items() if isinstance(v, Fit)), "osteoblastic")
        return f"the whole analysis {value.name} (pick a lesion type, e.g. {value.name}.{group})"
    if isinstance(value, Fit):
        return f"the result {value._where}"
    if isinstance(value, Contrast):
        return f"the comparison {value._where}"
    if isinstance(value, Mapping):
        return "an object with " + ", ".join(sorted(map(str, value))[:8])
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)}"
    if isinstance(value, KeysView):
        return "the names of .keys()"
    if isinstance(value, ValuesView):
        return "the values of .values()"
    if isinstance(value, ItemsView):
        return "the pairs of .items()"
    if isinstance(value, Iterator):
        return "a sequence computed on demand (e.g. the result of map, select or reverse)"
    if callable(value) and isinstance(getattr(value, "__name__", None), str):
        return f"the method or function {value.__name__}"  # its repr holds an address
    text_ = repr(value)
    return text_ if len(text_) <= 40 else text_[:37] + "..."


def require_fit(value: Any, filter_name: str) -> Mapping[str, Any]:
    """``value`` if it is one subgroup's result, else a RenderError saying what to pass."""
    if isinstance(value, Mapping) and set(value) >= _FIT_KEYS:
        return value
    raise RenderError(f"filter {filter_name!r} needs one subgroup's result, e.g. "
                      f"vas_3m.osteoblastic; got {describe(value)}")


def require_contrast(value: Any, filter_name: str) -> Mapping[str, Any]:
    """``value`` if it is an analysis's comparison, else a RenderError saying what to pass."""
    if isinstance(value, Contrast):
        return value
    raise RenderError(f"filter {filter_name!r} needs an analysis's comparison, e.g. "
                      f"leak_patient.comparison; got {describe(value)}")


def _where(fit: Mapping[str, Any]) -> str:
    return fit._where if isinstance(fit, Fit) else str(fit.get("name", "this result"))


# --- arguments -----------------------------------------------------------------------------

def _digits(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_DIGITS:
        raise RenderError(f"filter {name!r}: digits must be a whole number from 0 to "
                          f"{_MAX_DIGITS}, got {describe(value)}")
    return value


def _level(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise RenderError(f"filter {name!r}: level is true (write '95% CI') or false (write "
                          f"'CI'), got {describe(value)}; the level itself comes from the "
                          f"protocol (model.level)")
    return value


def _word(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_WORD \
            or "\n" in value:
        raise RenderError(f"filter {name!r}: ci_word must be a short text on one line, e.g. "
                          f"ci_word='confidence interval', got {describe(value)}")
    return value


_CHECKS: dict[str, Callable[[str, Any], Any]] = {"digits": _digits, "level": _level,
                                                 "ci_word": _word}
_DEFAULTS: dict[str, Any] = {"digits": None, "level": True, "ci_word": "CI"}


def _arguments(name: str, accepted: Sequence[str], args: tuple[Any, ...],
               kwargs: Mapping[str, Any]) -> dict[str, Any]:
    shown = ", ".join(accepted) if accepted else "none"
    if args:
        example = f"{name}({accepted[0]}=...)" if accepted else name
        raise RenderError(f"filter {name!r} takes arguments by name only (arguments: {shown}), "
                          f"e.g. {example}")
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise RenderError(f"filter {name!r} has no argument {unknown[0]!r} (arguments: "
                          f"{shown})")
    out = {key: _DEFAULTS[key] for key in accepted}
    for key, value in kwargs.items():
        out[key] = _CHECKS[key](name, value)
    return out


# --- text ----------------------------------------------------------------------------------

def _value(value: Any, scale: str, style: text.Style, digits: int | None) -> str:
    if digits is None:
        return text.value_text(value, scale, style)
    if scale == "proportion":
        return fmt_signed(100.0 * float(value), digits, latex=style.latex) + style.percent
    return fmt_signed(float(value), digits, latex=style.latex)


def _level_word(fit: Mapping[str, Any], style: text.Style, level: bool, word: str) -> str:
    if not level:
        return word
    # summary.json states no level; text.py writes 95% throughout, and so do the filters
    return f"{100 * float(fit.get('level', 0.95)):g}{style.percent} {word}"


def _range(fit: Mapping[str, Any], low: str, high: str, style: text.Style,
           digits: int | None) -> str:
    scale = fit.get("scale", "MC")
    return (f"{_value(fit[low], scale, style, digits)} to "
            f"{_value(fit[high], scale, style, digits)}")


def _not_pooled(fit: Mapping[str, Any], filter_name: str) -> RenderError:
    status = fit.get("status")
    if status == "side by side":
        why = (f"is not pooled (k = {fit.get('k')}: the studies are shown side by side); cite "
               f"them one by one")
    elif status in ("no events", "all events"):
        why = (f"has {status} in every study: give its counts "
               f"({fit.get('events')}/{fit.get('total')})")
    else:
        why = f"is not pooled ({status})"
    return RenderError(f"filter {filter_name!r}: {_where(fit)} {why}")


def _need(fit: Mapping[str, Any], filter_name: str, *keys: str) -> None:
    if fit.get("status") == "single study" or fit.get("k", 2) < 2:
        raise RenderError(f"filter {filter_name!r}: {_where(fit)} is a single study (k = "
                          f"{fit.get('k')}); there is no between-study heterogeneity or "
                          f"prediction interval to print")
    if fit.get("status", "pooled") != "pooled":
        raise _not_pooled(fit, filter_name)
    missing = [k for k in keys if fit.get(k) is None]
    if missing:
        raise RenderError(f"filter {filter_name!r}: {_where(fit)} has no {missing[0]} "
                          f"(not estimable; null in summary.json)")


def _estimate(fit: Mapping[str, Any], style: text.Style, digits: int | None) -> str:
    if fit.get("estimate") is None:
        raise _not_pooled(fit, "estimate")
    return _value(fit["estimate"], fit.get("scale", "MC"), style, digits)


def _ci(fit: Mapping[str, Any], style: text.Style, digits: int | None, level: bool,
        ci_word: str) -> str:
    if fit.get("ci_low") is None or fit.get("ci_high") is None:
        raise _not_pooled(fit, "ci")
    return (f"{_level_word(fit, style, level, ci_word)} "
            f"{_range(fit, 'ci_low', 'ci_high', style, digits)}")


def _estimate_ci(fit: Mapping[str, Any], style: text.Style, digits: int | None, level: bool,
                 ci_word: str) -> str:
    return f"{_estimate(fit, style, digits)} ({_ci(fit, style, digits, level, ci_word)})"


def _pi(fit: Mapping[str, Any], style: text.Style, digits: int | None) -> str:
    _need(fit, "pi", "pi_low", "pi_high")
    return _range(fit, "pi_low", "pi_high", style, digits)


def _pi_labelled(fit: Mapping[str, Any], style: text.Style, digits: int | None,
                 level: bool) -> str:
    _need(fit, "pi_labelled", "pi_low", "pi_high")
    label = _level_word(fit, style, level, "PI")
    return f"{label} {_range(fit, 'pi_low', 'pi_high', style, digits)}"


def _tau2(fit: Mapping[str, Any], style: text.Style, digits: int | None) -> str:
    _need(fit, "tau2", "tau2")
    return fmt_num(float(fit["tau2"]), text.DIGITS + 1 if digits is None else digits)


def _tau2_labelled(fit: Mapping[str, Any], style: text.Style, digits: int | None) -> str:
    _need(fit, "tau2_labelled", "tau2")
    scale = " (logit scale)" if fit.get("scale") == "proportion" else ""
    value = fmt_num(float(fit["tau2"]), text.DIGITS + 1 if digits is None else digits)
    return f"{style.tau2}{scale} = {value}"


def _i2(fit: Mapping[str, Any], style: text.Style, digits: int | None) -> str:
    _need(fit, "i2", "i2")
    return fmt_num(float(fit["i2"]), 1 if digits is None else digits) + style.percent


def _i2_labelled(fit: Mapping[str, Any], style: text.Style, digits: int | None) -> str:
    _need(fit, "i2_labelled", "i2")
    return f"{style.i2} = {_i2(fit, style, digits)}"


def _patients(fit: Mapping[str, Any], style: text.Style) -> str:
    if fit.get("patients") is None:
        raise RenderError(f"filter 'patients': not reported for every study of {_where(fit)} "
                          f"({', '.join(fit['studies'])}); no total to print")
    return str(fit["patients"])


def _contrast(comp: Mapping[str, Any], style: text.Style, digits: int | None, level: bool,
              ci_word: str) -> str:
    """'OR 1.98 (95% CI 1.00 to 3.92)': the between-study contrast of the comparison."""
    where = comp._where if isinstance(comp, Contrast) else "this comparison"
    if comp.get("kind") != "between" or comp.get("estimate") is None:
        why = comp.get("reason") or (
            "it rests on within-study reports, which have no pooled contrast"
            if comp.get("kind") == "within" else "no contrast was estimated")
        raise RenderError(f"filter 'contrast': {where} has no between-study estimate: {why}")
    n = 2 if digits is None else digits
    values = [fmt_signed(float(comp[key]), n, latex=style.latex)
              for key in ("estimate", "ci_low", "ci_high")]
    lvl = f"{100 * float(comp.get('level', 0.95)):g}{style.percent} " if level else ""
    return f"{comp.get('measure')} {values[0]} ({lvl}{ci_word} {values[1]} to {values[2]})"


# name -> (function of (fit, style, **arguments), accepted argument names)
_FILTERS: dict[str, tuple[Callable[..., str], tuple[str, ...]]] = {
    "estimate": (_estimate, ("digits",)),
    "estimate_ci": (_estimate_ci, ("digits", "level", "ci_word")),
    "ci": (_ci, ("digits", "level", "ci_word")),
    "pi": (_pi, ("digits",)),
    "pi_labelled": (_pi_labelled, ("digits", "level")),
    "tau2": (_tau2, ("digits",)),
    "tau2_labelled": (_tau2_labelled, ("digits",)),
    "i2": (_i2, ("digits",)),
    "i2_labelled": (_i2_labelled, ("digits",)),
    "k": (lambda fit, style: str(fit["k"]), ()),
    "patients": (_patients, ()),
    # cite follows the template's flavour; citep and pandoc force one
    "cite": (lambda fit, style: style.cite(fit["studies"]), ()),
    "citep": (lambda fit, style: text.cite_parenthetical(fit["studies"], latex=True,
                                                        names=style.names), ()),
    "pandoc": (lambda fit, style: text.cite_parenthetical(fit["studies"], names=style.names),
               ()),
    "contrast": (_contrast, ("digits", "level", "ci_word")),
}
_ON_COMPARISON = {"contrast"}

#: every filter name, in the order of the README's table
FILTER_NAMES: tuple[str, ...] = tuple(_FILTERS)


def filters_for(style: text.Style, defined: Callable[[Any], Any] = lambda v: v,
                names: Mapping[str, str] | None = None) -> dict[str, Callable[..., str]]:
    """The filter functions for one template flavour (Markdown or LaTeX markup).

    ``defined`` is applied to each filter's input first (``render`` passes a check that
    raises the template engine's own error for an undefined name). ``names``: key -> name
    of each study without authors (summary.json's ``citation_names``).
    """
    if names:
        style = dataclasses.replace(style, names=dict(names))
    def make(name: str, fn: Callable[..., str], accepted: tuple[str, ...]) -> Callable[..., str]:
        def apply(value: Any, *args: Any, **kwargs: Any) -> str:
            value = defined(value)  # an unknown name is reported before a bad argument
            options = _arguments(name, accepted, args, kwargs)
            check = require_contrast if name in _ON_COMPARISON else require_fit
            return fn(check(value, name), style, **options)

        apply.__name__ = name
        return apply

    return {name: make(name, fn, accepted) for name, (fn, accepted) in _FILTERS.items()}
