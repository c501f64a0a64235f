"""The sandbox a researcher's template runs in (see ``render`` for what it allows and why).

Jinja2's immutable sandbox with less still: only the filters of ``SAFE_FILTERS`` and ours, no
attribute starting with ``_``, only the methods of ``_SAFE_METHODS``, ``range`` of at most
``MAX_RANGE`` items, bounded sizes for every string, list and integer a template builds, and
counted totals per rendering (``MAX_BUILT_ITEMS``, ``MAX_BUILT_CHARS``); ``_finalize`` lets
only text and numbers print, saying what to write instead of anything else.
"""

from __future__ import annotations

import types
from collections.abc import Callable, ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from functools import cache, wraps
from typing import Any

from .filters import FILTER_NAMES, Contrast, Fit, RenderError, View, describe, filters_for

MAX_RANGE = 10_000  # items of one range(); a loop over more is refused
MAX_ITEMS = 100_000  # items of one list a template builds
MAX_INT_BITS = 100_000  # about 30,000 digits
MAX_BUILT_ITEMS = 2_000_000  # list items built in one rendering, all lists together
MAX_BUILT_CHARS = 100_000_000  # characters built in one rendering (at least 2 x the output)
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
