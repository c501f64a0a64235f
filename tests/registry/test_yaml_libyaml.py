"""The libyaml reader of ``yamlio`` gives what the pure-Python reader gives.

``parse_yaml`` reads a document with libyaml's events where PyYAML has them and falls back to
the pure-Python loader on any failure. So a document libyaml reads must give the same data,
lines and raw scalar texts as the pure-Python loader, and a document either refuses must give
the pure-Python loader's error. Checked on every shipped file and on generated documents.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blastic_meta.registry import yamlio

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted([*(ROOT / "studies").glob("*.yaml"), *(ROOT / "evidence").glob("*.yaml")])

pytestmark = pytest.mark.skipif(yamlio._CParser is None, reason="PyYAML without libyaml")


def _exact(doc: yamlio.YamlDocument) -> tuple:
    """A document compared strictly: repr tells 1, 1.0 and True apart, which == does not."""
    return repr(doc.data), doc.lines, doc.raw


def pure(text: str) -> tuple | str:
    try:
        return _exact(yamlio._parse(yamlio._Loader, text, "f.yaml"))
    except yamlio.YamlError as exc:
        return str(exc)


def fast(text: str) -> tuple | None:
    """libyaml's reading, or None where it refuses (parse_yaml then asks the pure loader)."""
    try:
        return _exact(yamlio._parse(yamlio._FastLoader, text, "f.yaml"))
    except yamlio.YamlError:
        return None


def public(text: str) -> tuple | str:
    try:
        return _exact(yamlio.parse_yaml(text, "f.yaml"))
    except yamlio.YamlError as exc:
        return str(exc)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_files_read_the_same(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert fast(text) == pure(text)


FRAGMENTS = ["a: 1", "b: no", "c: 012", "d: 1.10", "e: ~", "f: 'x: y'", 'g: "t\\u00e9"',
             "- 1", "- {v: 2, w: [1, 2]}", "h: &x 1", "i: *x", "j: !!str 3", "k: !!int x",
             "a: 2", "  l: 3", "    - m", "n:", "  - o: p", "q: [1, 2", "r: }", "s: |",
             "  text", "t: >-", "\tu: 1", "v: 1 # c", "? w", ": x", "---", "...", "y: 1e3",
             "z: .inf", "aa: 2017-08-01", "bb: true", "cc: True", "dd: 'it''s'", "- - 1",
             "ee: {ff: {gg: {hh: 1}}}", "ii: [a, b, {c: d}]", "%YAML 1.2", "jj: @x", "kk: `",
             "ll:\t1", "mm: 'a\tb'", "- \tnn", "oo: [1,\t2]", "pp: {q: 1,}", "rr: [1, ]",
             "ss: a: b", "tt: 'x", "%TAG ! x", 'uu: "\\q"', "vv:  # c", "ww: - x", "xx:: 1",
             "yy: |2", "   zz", "ab: !", "? !", "ac: [!, x]", "ad: |# note", "ae: >#c",
             "af: |-#", "\ufeffag: 1", "\ufeff", "ah: 'x!'", "ai: >1#"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(FRAGMENTS), st.sampled_from(["", "  ", "    "])),
                max_size=12),
       st.sampled_from(["\n", "\r\n", "\r"]), st.sampled_from(["", "\n", "\n\n"]))
def test_generated_documents_read_the_same_or_fall_back(lines: list[tuple[str, str]],
                                                        newline: str, end: str) -> None:
    text = newline.join(indent + fragment for fragment, indent in lines) + end
    expected = pure(text)
    got = fast(text) if yamlio._libyaml_reads(text) else None
    if got is not None:  # libyaml read it: it must be what the pure loader reads
        assert got == expected
    assert public(text) == expected


@pytest.mark.parametrize("text", ["a: !\n", "a: ! \nb: 1\n", "? !\n: 1\n", "a: [!, x]\n",
                                  "a: |# note\n  x\nb: 1\n", "a: >#c\n  x\n",
                                  "a: |-#\n  x\n", "---\n\ufeffa: 1\n",
                                  "a:\n\ufeff  b: 1\n", "-\n\ufeff\n"])
def test_documents_libyaml_reads_otherwise_go_to_the_pure_loader(text: str) -> None:
    assert not yamlio._libyaml_reads(text)
    assert public(text) == pure(text)


def test_tabs_go_to_the_pure_loader_which_refuses_them_where_libyaml_would_not() -> None:
    assert fast("a:\n  b: 1\n") is not None
    with pytest.raises(yamlio.YamlError, match="separate values with spaces, not tabs"):
        yamlio.parse_yaml("a:\n  b:\t1\n", "f.yaml")


def test_control_characters_go_to_the_pure_loader_for_its_message() -> None:
    text = "a: 1\nb: \x07\n"
    with pytest.raises(yamlio.YamlError, match="control character U\\+0007"):
        yamlio.parse_yaml(text, "f.yaml")


SCALARS = ["1", "-0.5", "1e-3", "no", "012", "1.10", "~", "null", "", "'quoted: yes'",
           '"t\\u00e9 \\n x"', "Smith et al.", "true", "FALSE", "0x1F", "1_000", "2017-08-01",
           "[1, 2.5, x]", "{a: 1, b: [c, d]}", "text with # hash", "'it''s'", "é ü ²", ".5",
           "+3", "- not a list", "a: b"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(SCALARS), st.integers(0, 2)), min_size=1,
                max_size=15))
def test_generated_records_read_the_same(values: list[tuple[str, int]]) -> None:
    """Mostly valid documents: nested mappings and lists of the scalars a study file holds."""
    lines = []
    for i, (value, shape) in enumerate(values):
        if shape == 0:
            lines.append(f"k{i}: {value}")
        elif shape == 1:
            lines += [f"k{i}:", f"  inner: {value}", f"  other{i}: {value}"]
        else:
            lines += [f"k{i}:", f"  - {value}", f"  - {{v: {i}, s: 'x'}}"]
    text = "\n".join(lines) + "\n"
    assert public(text) == pure(text)
    if yamlio._libyaml_reads(text) and fast(text) is not None:
        assert fast(text) == pure(text)
