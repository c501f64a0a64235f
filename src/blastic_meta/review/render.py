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
import types
from collections.abc import Callable, ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from dataclasses import dataclass
from functools import cache, wraps
from pathlib import Path
from typing import Any

from .filters import FILTER_NAMES, Contrast, Fit, RenderError, View, describe, filters_for

__all__ = ["RenderError", "RenderLimits", "fresh_summary", "load_summary", "render_template",
           "template_context"]

MAX_RANGE = 10_000  # items of one range(); a loop over more is refused
MAX_ITEMS = 100_000  # items of one list a template builds
MAX_INT_BITS = 100_000  # about 30,000 digits
MAX_BUILT_ITEMS = 2_000_000  # list items built in one rendering, all lists together
MAX_BUILT_CHARS = 100_000_000  # characters built in one rendering (at least 2 x the output)
MAX_SUMMARY_BYTES = 50_000_000
#: Jinja2 filters a template may use besides ours (pure, and bounded in what they build)
SAFE_FILTERS = ("abs", "capitalize", "count", "d", "default", "first", "float", "int", "items",
                "last", "length", "list", "lower", "map", "max", "min", "reject",
                "rejectattr", "reverse", "round", "select", "selectattr", "sort", "title",
                "trim", "unique", "upper")
#: filters that build a collection from their input: it may hold at most MAX_ITEMS items
#: (batch, slice, groupby and dictsort are not in SAFE_FILTERS; listed should they be added)
BUILDING_FILTERS = frozenset({"batch", "dictsort", "groupby", "items", "join", "list", "map",
                              "reject", "rejectattr", "reverse", "select", "selectattr",
                              "slice", "sort", "sum", "unique"})
# the only methods of built-in values a template may call: none builds much more than its
# input (replace is checked first); str.ljust(10**9), int.to_bytes(10**9), ... are refused
_SAFE_METHODS: dict[type, frozenset[str]] = {
    str: frozenset({"capitalize", "casefold", "count", "endswith", "find", "index", "isalnum",
                    "isalpha", "isdigit", "islower", "isnumeric", "isspace", "istitle",
                    "isupper", "lower", "lstrip", "partition", "removeprefix", "removesuffix",
                    "replace", "rfind", "rindex", "rpartition", "rsplit", "rstrip", "split",
                    "splitlines", "startswith", "strip", "swapcase", "title", "upper"}),
    bool: frozenset(),
    int: frozenset({"bit_length"}),
    float: frozenset({"is_integer"}),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
    range: frozenset({"count", "index"}),
    dict: frozenset({"get", "items", "keys", "values"}),
    bytes: frozenset(),
    set: frozenset(),
    frozenset: frozenset(),
}


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


# --- what a template may print -------------------------------------------------------------

_FILTER_LIST = ", ".join(FILTER_NAMES)


def _finalize(value: Any) -> Any:
    """Print text and numbers only: refuse a missing number ('None', 'nan') and any raw
    Python object (a result, list, range, dict view, generator, method), saying what to
    write instead."""
    from jinja2 import Undefined

    if isinstance(value, Undefined):
        return value  # StrictUndefined raises its own error (naming the name) when printed
    if value is None or (isinstance(value, float) and value != value):
        raise RenderError("a value used in the template is not available (null in "
                          "summary.json, e.g. a prediction interval of a single study)")
    if isinstance(value, (str, int, float)):  # bool is an int, Markup a str
        return value
    if isinstance(value, View):
        raise RenderError(f"{value.name} is a whole analysis; print one subgroup through a "
                          f"filter, e.g. {{{{ {_hint(value)} }}}}")
    if isinstance(value, Mapping):
        raise RenderError(f"{describe(value)} would print as a raw Python dict; write e.g. "
                          f"{{{{ {_hint(value)} }}}} (filters: {_FILTER_LIST})")
    if isinstance(value, (list, tuple, set, frozenset)):
        raise RenderError(f"{describe(value)} would print as a raw Python list; use "
                          f"| join(', ') or a filter such as cite")
    raise RenderError(f"{describe(value)} is not text or a number and would print as raw "
                      f"Python; {_instead(value)}")


def _instead(value: Any) -> str:
    """What to write instead of printing ``value`` (a non-printable object)."""
    if isinstance(value, KeysView):
        return "print the names with | join(', '), e.g. {{ vas_3m.keys() | join(', ') }}"
    if isinstance(value, ValuesView):
        return "pick one by name (e.g. vas_3m.osteoblastic) and print it through a filter"
    if isinstance(value, (range, Iterator, ItemsView)):
        return ("loop over it ({% for x in ... %}) or print it with | join(', '); count it "
                "with | list | length")
    if callable(value):
        return "call it with (), e.g. x.get('k') or f(), or use a filter"
    return f"print one of its values through a filter ({_FILTER_LIST})"


@cache
def _probe_filters() -> dict[str, Callable[..., str]]:
    from . import text

    return filters_for(text.MARKDOWN)


def _works(value: Any, filter_name: str) -> bool:
    try:
        _probe_filters()[filter_name](value)
    except (RenderError, LookupError, TypeError, ValueError):
        return False
    return True


def _hint(value: Mapping[str, Any]) -> str:
    """A template expression that prints something of ``value`` without an error: the
    estimate with its interval of a pooled result, else its number of studies, ..."""
    if isinstance(value, Fit):
        return f"{value._where} | " + ("estimate_ci" if _works(value, "estimate_ci") else "k")
    if isinstance(value, Contrast):
        if _works(value, "contrast"):
            return f"{value._where} | contrast"
        return f"{value._where}.reason" if isinstance(value.get("reason"), str) \
            else f"{value._where}.kind"
    if isinstance(value, View):
        fits = [v for v in value.values() if isinstance(v, Fit)]
        best = next((f for f in fits if _works(f, "estimate_ci")), fits[0] if fits else None)
        return _hint(best) if best is not None else f"{value.name}.title"
    keys = sorted(map(str, value))
    return f"x.{keys[0]} (one of its fields)" if keys else "x | length"


# --- the sandbox ---------------------------------------------------------------------------

class _Timeout(BaseException):
    """Raised from the alarm handler; a BaseException so that no template code catches it."""


def _bounded_range(*args: Any) -> range:
    for a in args:
        if isinstance(a, bool) or not isinstance(a, int):
            raise RenderError(f"range() takes whole numbers, got {describe(a)}")
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise RenderError(f"range() of {len(rng):,} items; a template may loop over at most "
                          f"{MAX_RANGE:,}")
    return rng


def _size(value: Any) -> int:
    return len(value) if isinstance(value, (str, list, tuple)) else 0


def _bounded_join(max_chars: int) -> Callable[..., str]:
    def join(value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
        items = [str(_finalize(v if attribute is None else v[attribute])) for v in value]
        total = sum(map(len, items)) + len(str(d)) * max(len(items) - 1, 0)
        if total > max_chars:
            raise RenderError(f"join would build {total:,} characters (limit {max_chars:,})")
        return str(d).join(items)

    return join


def _numbers_sum(value: Iterable[Any], attribute: Any = None, start: Any = 0) -> Any:
    items = list(value) if attribute is None else [v[attribute] for v in value]
    if not all(isinstance(v, (int, float)) for v in [*items, start]):
        raise RenderError("sum adds numbers only")
    return sum(items, start)


@cache
def _sandbox_class() -> type:
    from jinja2 import StrictUndefined
    from jinja2.compiler import CodeGenerator, optimizeconst
    from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

    class Codegen(CodeGenerator):
        """Joins of ``~`` go through the environment, so that their size is checked."""

        @optimizeconst
        def visit_Concat(self, node: Any, frame: Any) -> None:
            self.write("environment.bounded_concat((")
            for arg in node.nodes:
                self.visit(arg, frame)
                self.write(", ")
            self.write("))")

    class Undefined(StrictUndefined):
        @property
        def _undefined_message(self) -> str:
            obj = self._undefined_obj
            if self._undefined_hint is None and isinstance(obj, (View, Fit)):
                where = obj.name if isinstance(obj, View) else obj._where
                return (f"{where} has no {self._undefined_name!r} (it has: "
                        f"{', '.join(sorted(obj))})")
            return str(super()._undefined_message)

    class Sandbox(ImmutableSandboxedEnvironment):
        code_generator_class = Codegen
        intercepted_binops = frozenset({"*", "**", "+", "%"})

        def __init__(self, max_chars: int, **kwargs: Any) -> None:
            super().__init__(undefined=Undefined, **kwargs)
            self.max_chars = max_chars
            self.built_items = 0  # what this rendering has built so far (one env per render)
            self.built_chars = 0
            self.max_built_chars = max(MAX_BUILT_CHARS, 2 * max_chars)

        def _check(self, value: Any) -> Any:
            if isinstance(value, str):
                if len(value) > self.max_chars:
                    raise RenderError(f"the template builds a text of {len(value):,} "
                                      f"characters (limit {self.max_chars:,})")
                self._charge(0, len(value))
            if isinstance(value, (list, tuple)):
                if len(value) > MAX_ITEMS:
                    raise RenderError(f"the template builds a list of {len(value):,} items "
                                      f"(limit {MAX_ITEMS:,})")
                self._charge(len(value), 0)
            if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
                raise RenderError("the template builds a number of more than 30,000 digits")
            return value

        def _charge(self, items: int, chars: int) -> None:
            """Count what the template builds; refuse past the totals of one rendering."""
            self.built_items += items
            self.built_chars += chars
            if self.built_items > MAX_BUILT_ITEMS:
                raise RenderError(f"the template builds more than {MAX_BUILT_ITEMS:,} list "
                                  f"items in all (the memory limit of one rendering)")
            if self.built_chars > self.max_built_chars:
                raise RenderError(f"the template builds more than {self.max_built_chars:,} "
                                  f"characters of text in all (the memory limit of one "
                                  f"rendering)")

        def _bounded_items(self, items: Iterable[Any], what: str) -> Iterator[Any]:
            """``items`` one by one, counted; refused past MAX_ITEMS (never all in memory)."""
            for n, item in enumerate(items, 1):
                if n > MAX_ITEMS:
                    raise RenderError(f"{what} gives more than {MAX_ITEMS:,} items (limit "
                                      f"{MAX_ITEMS:,})")
                self._charge(1, 0)
                yield item

        def bounded_filter(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
            """``fn`` with its input (if it builds a collection) and its result bounded."""
            offset = 1 if hasattr(fn, "jinja_pass_arg") else 0  # context/environment first

            @wraps(fn)  # keeps jinja_pass_arg
            def bounded(*args: Any, **kwargs: Any) -> Any:
                if name in BUILDING_FILTERS and len(args) > offset:
                    value = self._bounded_input(name, args[offset])
                    args = (*args[:offset], value, *args[offset + 1:])
                result = fn(*args, **kwargs)
                if isinstance(result, Iterator):  # map, select, items, reverse, ...
                    return self._bounded_items(result, f"filter {name!r}")
                return self._check(result)

            return bounded

        def _bounded_input(self, name: str, value: Any) -> Any:
            from jinja2 import Undefined

            if isinstance(value, Undefined) or (name == "reverse" and isinstance(value, str)):
                return value  # the filter raises the undefined name; a reversed text is text
            try:
                size = len(value)
            except TypeError:  # an iterator (e.g. the result of map): count as it goes
                return self._bounded_items(value, f"the input of filter {name!r}") \
                    if isinstance(value, Iterable) else value
            if size > MAX_ITEMS:
                raise RenderError(f"filter {name!r} would build a list of {size:,} items "
                                  f"(limit {MAX_ITEMS:,})")
            return value

        def getitem(self, obj: Any, argument: Any) -> Any:
            value = super().getitem(obj, argument)
            return self._check(value) if isinstance(argument, slice) else value

        def bounded_concat(self, parts: tuple[Any, ...]) -> str:
            strings = [str(_finalize(p)) for p in parts]  # '~' pastes no dict or None
            total = sum(map(len, strings))
            if total > self.max_chars:
                raise RenderError(f"~ would build a text of {total:,} characters (limit "
                                  f"{self.max_chars:,})")
            return self._check("".join(strings))

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (left, right))
            if operator == "**" and ints and right > 0 and abs(left) > 1 \
                    and left.bit_length() * right > MAX_INT_BITS:
                raise RenderError(f"{left} ** {right} is too large to compute in a template")
            if operator == "*":
                if ints and left.bit_length() + right.bit_length() > MAX_INT_BITS:
                    raise RenderError("the template builds a number of more than 30,000 digits")
                seq, times = (left, right) if _size(left) else (right, left)
                if isinstance(times, int) and _size(seq) * max(times, 0) > self.max_chars:
                    raise RenderError(f"* would build {_size(seq) * times:,} items or "
                                      f"characters (limit {self.max_chars:,})")
            if operator == "+" and _size(left) + _size(right) > self.max_chars:
                raise RenderError(f"+ would build {_size(left) + _size(right):,} items or "
                                  f"characters (limit {self.max_chars:,})")
            if operator == "%" and isinstance(left, str):
                raise RenderError("'%' formatting of text is not available in templates; "
                                  "use the filters (e.g. estimate(digits=1))")
            return self._check(super().call_binop(context, operator, left, right))

        def wrap_str_format(self, value: Any) -> Any:
            if isinstance(value, types.BuiltinMethodType) and isinstance(
                    value.__self__, str) and value.__name__ in ("format", "format_map"):
                def refused(*args: Any, **kwargs: Any) -> str:
                    raise SecurityError(f"str.{value.__name__}() is not available in "
                                        f"templates; use the filters (e.g. digits=1)")
                return refused
            return None

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            kind = None
            if isinstance(__obj, types.BuiltinMethodType):
                owner, name = __obj.__self__, __obj.__name__
                kind = next((t for t in _SAFE_METHODS if isinstance(owner, t)), None)
            if kind is not None and name not in _SAFE_METHODS[kind]:
                raise SecurityError(f"{kind.__name__}.{name}() is not available in templates")
            if kind is str and name == "replace":
                __self._check_replace(owner, args, kwargs)
            return __self._check(super().call(__context, __obj, *args, **kwargs))

        def _check_replace(self, text: str, args: tuple[Any, ...],
                           kwargs: Mapping[str, Any]) -> None:
            if len(args) < 2 or not all(isinstance(a, str) for a in args[:2]):
                return  # str.replace raises its own TypeError
            old, new = args[0], args[1]
            count = text.count(old) if old else len(text) + 1
            if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
                count = min(count, args[2])
            total = len(text) + count * (len(new) - len(old))
            if total > self.max_chars:
                raise RenderError(f"replace would build a text of {total:,} characters "
                                  f"(limit {self.max_chars:,})")

    return Sandbox


def _environment(latex: bool, max_chars: int, names: Mapping[str, str] | None = None) -> Any:
    import jinja2

    from . import text

    env = _sandbox_class()(max_chars, autoescape=False, keep_trailing_newline=True,
                           finalize=_finalize,
                           loader=jinja2.FunctionLoader(lambda name: None))
    builtin = {**env.filters, "join": _bounded_join(max_chars), "sum": _numbers_sum}
    env.filters = {name: env.bounded_filter(name, builtin[name])
                   for name in (*SAFE_FILTERS, "join", "sum")}

    def defined(value: Any) -> Any:
        if isinstance(value, jinja2.Undefined):
            value._fail_with_undefined_error()  # raises naming the missing name
        return value

    env.filters.update(filters_for(text.LATEX if latex else text.MARKDOWN, defined, names))
    env.globals.clear()
    env.globals["range"] = _bounded_range
    return env


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
