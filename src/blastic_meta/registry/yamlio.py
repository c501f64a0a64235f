"""Strict, safe YAML for study and protocol files (the only module that imports ``yaml``).

PyYAML's ``safe_load`` keeps the last of two duplicate keys silently and applies YAML 1.1
coercions (``no`` -> False, ``012`` -> 10, ``2017-08-01`` -> a date). Here:

- plain scalars resolve by the YAML 1.2 core schema, narrowed: ``true``/``false`` (any case
  form of the core schema) are booleans, ``null``/``~``/empty are null, decimal integers
  without a leading zero are ints, decimal floats are floats; everything else is text.
  So ``no``, ``yes``, ``on``, ``off``, ``012``, ``0x1F``, ``1_000``, ``1:30``, ``.inf`` and
  dates stay strings, and a typed field that receives them reports an error;
- ``1.10`` is the float 1.1 in YAML 1.1 and 1.2 alike. A number written unquoted where text
  is expected (a version string, a label) is therefore an error, never silently turned into
  text: the record models do not coerce numbers to strings, and the error says to quote it;
- duplicate keys, non-text keys, anchors/aliases and explicit tags other than the core ones
  are errors; nothing is ever constructed but dicts, lists, str, int, float, bool and None;
- every mapping key and sequence item keeps its line number, so errors read
  ``path:line: field: message``; any byte string gives either data or a ``YamlError``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .._io import MAX_INPUT_BYTES, FileLimitError, read_limited
from ..errors import StudyRecordError

__all__ = [
    "YamlDocument",
    "YamlError",
    "dotted",
    "dump_yaml",
    "line_for",
    "load_yaml_with_lines",
    "parse_yaml",
]

Path_ = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_MAX_DEPTH = 64
#: study and protocol files larger than this are refused before reading (2 MB)
MAX_FILE_BYTES = MAX_INPUT_BYTES

_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_INT = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|(?:0|[1-9][0-9]*)(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")


class YamlError(StudyRecordError):
    """A YAML file that cannot be read as data; ``str()`` is ``path:line: field: message``."""

    def __init__(self, path: str, line: int, field: str, message: str, code: str) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.message = message
        self.code = code
        super().__init__(f"{path}:{line}: {field}: {message}")


class _Problem(Exception):
    """Internal: raised inside the composer, turned into YamlError with the file name."""

    def __init__(self, line: int, where: Path_, message: str, code: str) -> None:
        super().__init__(message)
        self.line = line
        self.where = where
        self.message = message
        self.code = code


class _Strict:
    """The composer's checks: no anchors or aliases, at most ``_MAX_DEPTH`` levels."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[attr-defined]
        if isinstance(event, yaml.AliasEvent):
            raise _Problem(event.start_mark.line + 1, (), "aliases (*name) are not allowed",
                           "yaml-alias")
        if getattr(event, "anchor", None) is not None:
            raise _Problem(event.start_mark.line + 1, (), "anchors (&name) are not allowed",
                           "yaml-alias")
        self._depth += 1
        if self._depth > _MAX_DEPTH:
            raise _Problem(event.start_mark.line + 1, (),
                           f"nested more than {_MAX_DEPTH} levels deep", "yaml-syntax")
        try:
            return super().compose_node(parent, index)  # type: ignore[misc]
        finally:
            self._depth -= 1


class _Loader(_Strict, yaml.SafeLoader):
    """SafeLoader with YAML 1.2-core-style resolution and no anchors or aliases."""

    yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012 (PyYAML's class registry)


try:
    from yaml.cyaml import CParser as _CParser
except ImportError:  # PyYAML built without libyaml
    _CParser = None

if _CParser is not None:
    class _FastLoader(_Strict, yaml.composer.Composer, _CParser,  # type: ignore[misc,valid-type]
                      yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        """``_Loader`` with its events from libyaml, PyYAML's C parser: scanning and
        parsing, nine tenths of a pure-Python load, run in C; composing, the checks and the
        resolution of scalars stay ``_Loader``'s Python code. A document it cannot read is
        read again by ``_Loader``, so every error message is ``_Loader``'s."""

        yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)


class _Dumper(yaml.SafeDumper):
    """Quotes every string that either YAML 1.1 or our 1.2 reading would take for non-text."""


# Texts libyaml reads otherwise than PyYAML go straight to _Loader: those with a character
# PyYAML's reader refuses (its own pattern) or a tab, which libyaml accepts in places PyYAML
# does not; without a final line break (libyaml places an empty value a line further down);
# with a "!" (libyaml reads an empty value tagged "!" as text, PyYAML as null); with a
# byte-order mark after the first character (libyaml skips one at the start of any line);
# and with a block scalar's indicator directly followed by "#" (libyaml reads it as a
# comment, PyYAML refuses it).
_LIBYAML_DIFFERS = re.compile(r"[|>][-+0-9]*#")
_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE
_LINE_BREAKS = re.compile("[\x85\u2028\u2029\r]")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # YAML 1.1 emitters treat NEL and the Unicode separators as line breaks; double quotes
    # escape them, so the text reads back unchanged.
    style = '"' if _LINE_BREAKS.search(value) else None
    return dumper.represent_scalar(_TAG + "str", value, style=style)


_Dumper.add_representer(str, _represent_str)

for _cls in (_Loader, _Dumper, *([_FastLoader] if _CParser is not None else [])):
    _cls.add_implicit_resolver(_TAG + "bool", _BOOL, list("tTfF"))
    _cls.add_implicit_resolver(_TAG + "null", _NULL, ["~", "n", "N", ""])
    _cls.add_implicit_resolver(_TAG + "int", _INT, list("-+0123456789"))
    _cls.add_implicit_resolver(_TAG + "float", _FLOAT, list("-+.0123456789"))


@dataclass(frozen=True)
class YamlDocument:
    """Parsed data, the line of every key/item, and the source text of non-text scalars."""

    path: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    raw: dict[Path_, str] = field(default_factory=dict)


def dotted(where: tuple[Any, ...]) -> str:
    """('arms', 0, 'patients') -> 'arms[0].patients'; the empty path is '(top)'."""
    out = ""
    for part in where:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top)"


def line_for(where: tuple[Any, ...], lines: dict[Path_, int]) -> int:
    """Line of the deepest known prefix of ``where`` (1 when nothing is known)."""
    for end in range(len(where), -1, -1):
        line = lines.get(tuple(where[:end]))
        if line is not None:
            return line
    return 1


def _scalar(node: yaml.ScalarNode, where: Path_) -> Any:
    tag, text = node.tag, node.value
    line = node.start_mark.line + 1
    if tag == _TAG + "str":
        return text
    if tag == _TAG + "null" and _NULL.match(text):
        return None
    if tag == _TAG + "bool" and _BOOL.match(text):
        return text.lower() == "true"
    if tag == _TAG + "int" and _INT.match(text):
        return int(text)
    if tag == _TAG + "float" and (_FLOAT.match(text) or _INT.match(text)):
        return float(text)
    if tag.startswith(_TAG) and tag[len(_TAG):] in ("null", "bool", "int", "float"):
        raise _Problem(line, where, f"{text!r} is not a valid {tag[len(_TAG):]}", "yaml-tag")
    raise _Problem(line, where, f"tag {tag!r} is not allowed (plain values only)", "yaml-tag")


def _build(node: Any, where: Path_, doc_lines: dict[Path_, int], raw: dict[Path_, str]) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value = _scalar(node, where)
        if not isinstance(value, str):
            raw[where] = node.value
        return value
    if isinstance(node, yaml.SequenceNode):
        if node.tag != _TAG + "seq":
            raise _Problem(node.start_mark.line + 1, where,
                           f"tag {node.tag!r} is not allowed", "yaml-tag")
        items = []
        for i, item in enumerate(node.value):
            doc_lines[(*where, i)] = item.start_mark.line + 1
            items.append(_build(item, (*where, i), doc_lines, raw))
        return items
    if isinstance(node, yaml.MappingNode):
        if node.tag != _TAG + "map":
            raise _Problem(node.start_mark.line + 1, where,
                           f"tag {node.tag!r} is not allowed", "yaml-tag")
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not (isinstance(key_node, yaml.ScalarNode) and key_node.tag == _TAG + "str"):
                shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "(complex)"
                raise _Problem(line, where, f"key {shown!r} must be text (a plain name)",
                               "yaml-key")
            key = key_node.value
            if key in out:
                raise _Problem(line, (*where, key),
                               f"duplicate key {key!r} (first at line "
                               f"{doc_lines[(*where, key)]})", "yaml-duplicate-key")
            doc_lines[(*where, key)] = line
            out[key] = _build(value_node, (*where, key), doc_lines, raw)
        return out
    raise _Problem(1, where, "unsupported YAML node", "yaml-syntax")  # pragma: no cover


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise YamlError(name, line, "(file)", "not UTF-8 text", "yaml-encoding") from None


def parse_yaml(text: str | bytes, name: str = "<string>") -> YamlDocument:
    """Parse one YAML document strictly; raises YamlError (a StudyRecordError)."""
    if isinstance(text, bytes):
        text = _decode(text, name)
    if _libyaml_reads(text):
        try:
            return _parse(_FastLoader, text, name)
        except Exception:  # read again below, for _Loader's error
            pass
    return _parse(_Loader, text, name)


def _libyaml_reads(text: str) -> bool:
    """Whether ``text`` is first read with libyaml: not where libyaml is known to read a
    document otherwise than PyYAML (see ``_NON_PRINTABLE`` and ``_LIBYAML_DIFFERS``)."""
    return (_CParser is not None and text.endswith("\n") and "\t" not in text
            and "!" not in text and "\ufeff" not in text
            and not _NON_PRINTABLE.search(text) and not _LIBYAML_DIFFERS.search(text))


def _parse(loader_class: Any, text: str, name: str) -> YamlDocument:
    lines: dict[Path_, int] = {}
    raw: dict[Path_, str] = {}
    try:
        loader = loader_class(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
        if root is None:
            raise YamlError(name, 1, "(file)", "the file is empty", "yaml-empty")
        lines[()] = root.start_mark.line + 1
        data = _build(root, (), lines, raw)
    except _Problem as exc:
        raise YamlError(name, exc.line, dotted(exc.where), exc.message, exc.code) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        message = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        if mark is not None and ("'\\t'" in message or "tab character" in message):
            message = _tab_message(text, mark.line, mark.column)
        raise YamlError(name, line, "(yaml)", message, "yaml-syntax") from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or "\0")
        raise YamlError(name, line, "(yaml)", f"control character U+{char:04X} is not allowed",
                        "yaml-syntax") from None
    except yaml.YAMLError as exc:
        raise YamlError(name, 1, "(yaml)", str(exc).splitlines()[0] if str(exc) else
                        "invalid YAML", "yaml-syntax") from None
    except RecursionError:
        raise YamlError(name, 1, "(yaml)", "nested too deeply", "yaml-syntax") from None
    return YamlDocument(path=name, data=data, lines=lines, raw=raw)


def _tab_message(text: str, line: int, column: int) -> str:
    """PyYAML's "found character '\\t'" in words that say what to do."""
    rows = text.splitlines()
    row = rows[line] if line < len(rows) else ""
    tab = column if row[column:column + 1] == "\t" else row.find("\t")
    where = f" (a tab at column {tab + 1})" if tab >= 0 else ""
    if tab < 0 or not row[:tab].strip():
        return f"indent with spaces, not tabs{where}"
    return f"separate values with spaces, not tabs{where}"


def load_document(path: str | Path) -> YamlDocument:
    """Read and parse a YAML file; unreadable files raise YamlError too.

    A file over ``MAX_FILE_BYTES`` (or not a regular file) is refused before it is read.
    """
    path = Path(path)
    try:
        data = read_limited(path, MAX_FILE_BYTES, "study or protocol file")
    except FileLimitError as exc:
        raise YamlError(str(path), 1, "(file)", str(exc.strerror), "file-unreadable") from None
    except OSError as exc:
        raise YamlError(str(path), 1, "(file)", f"cannot read: {exc.strerror}",
                        "file-unreadable") from None
    return parse_yaml(data, str(path))


def load_yaml_with_lines(path: str | Path) -> tuple[Any, dict[Path_, int]]:
    """Data and the path -> line map of a YAML file (used by the protocol loader too)."""
    doc = load_document(path)
    return doc.data, doc.lines


def dump_yaml(data: Any) -> str:
    """YAML text that ``parse_yaml`` reads back to equal data (strings quoted as needed)."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=100)
