"""The strict YAML loader: safe, no YAML 1.1 surprises, duplicate keys and lines, any bytes."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blastic_meta.errors import StudyRecordError
from blastic_meta.registry.yamlio import (
    YamlError,
    dotted,
    dump_yaml,
    line_for,
    load_yaml_with_lines,
    parse_yaml,
)


def _value(text: str):
    return parse_yaml(f"v: {text}\n").data["v"]


@pytest.mark.parametrize("text", ["no", "yes", "on", "off", "No", "YES", "y", "n", "Off"])
def test_yaml11_booleans_stay_text(text):
    assert _value(text) == text


@pytest.mark.parametrize(("text", "expected"), [
    ("true", True), ("false", False), ("True", True), ("FALSE", False),
    ("null", None), ("~", None), ("", None), ("Null", None),
])
def test_core_booleans_and_nulls(text, expected):
    assert _value(text) is expected


@pytest.mark.parametrize(("text", "expected"), [
    ("12", 12), ("-3", -3), ("+4", 4), ("0", 0), ("1.5", 1.5), ("1.10", 1.1), ("-2.5e3", -2500.0),
    (".5", 0.5), ("1e5", 100000.0),
])
def test_numbers(text, expected):
    value = _value(text)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("text", ["012", "0o17", "0x1F", "1_000", "1:30", "2017-08-01",
                                  ".inf", ".nan", "08", "1.2.3"])
def test_ambiguous_numbers_stay_text(text):
    assert _value(text) == text


def test_quoted_text_is_text():
    assert _value('"1.10"') == "1.10"
    assert _value("'no'") == "no"
    assert _value('"true"') == "true"


def test_duplicate_key_is_an_error_with_both_lines():
    with pytest.raises(YamlError) as exc:
        parse_yaml("a: 1\nb:\n  c: 1\n  c: 2\n", "f.yaml")
    err = exc.value
    assert (err.line, err.field, err.code) == (4, "b.c", "yaml-duplicate-key")
    assert str(err) == "f.yaml:4: b.c: duplicate key 'c' (first at line 3)"
    assert isinstance(err, StudyRecordError)


@pytest.mark.parametrize(("text", "code"), [
    ("a: &x 1\nb: *x\n", "yaml-alias"),
    ("a: !!python/object/apply:os.system ['true']\n", "yaml-tag"),
    ("a: !!binary aGVsbG8=\n", "yaml-tag"),
    ("a: !!int '012'\n", "yaml-tag"),
    ("a: !custom x\n", "yaml-tag"),
    ("1: a\n", "yaml-key"),
    ("true: a\n", "yaml-key"),
    ("? [a, b]\n: c\n", "yaml-key"),
    ("a: [1, 2\n", "yaml-syntax"),
    ("a: 1\n---\nb: 2\n", "yaml-syntax"),
    ("a: \x07\n", "yaml-syntax"),
    ("", "yaml-empty"),
    ("# only a comment\n", "yaml-empty"),
    ("[" * 200, "yaml-syntax"),
])
def test_rejected(text, code):
    with pytest.raises(YamlError) as exc:
        parse_yaml(text, "f.yaml")
    assert exc.value.code == code
    assert str(exc.value).startswith("f.yaml:")


def test_not_utf8():
    with pytest.raises(YamlError) as exc:
        parse_yaml(b"a: 1\nb: \xff\n", "f.yaml")
    assert (exc.value.code, exc.value.line) == ("yaml-encoding", 2)


def test_explicit_core_tags_allowed():
    assert parse_yaml("a: !!str 12\nb: !!float 2\n").data == {"a": "12", "b": 2.0}


def test_lines_of_keys_and_items():
    doc = parse_yaml("a: 1\nb:\n  - x\n  - c: 2\n    d: 3\n")
    assert doc.lines[("a",)] == 1
    assert doc.lines[("b", 0)] == 3
    assert doc.lines[("b", 1, "d")] == 5
    assert line_for(("b", 1, "missing"), doc.lines) == 4
    assert line_for(("zzz",), doc.lines) == 1
    assert doc.raw[("b", 1, "c")] == "2"


def test_dotted():
    assert dotted(("arms", 0, "outcomes", 2, "sd")) == "arms[0].outcomes[2].sd"
    assert dotted(()) == "(top)"


def test_load_yaml_with_lines(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("x:\n  y: 1\n", encoding="utf-8")
    data, lines = load_yaml_with_lines(path)
    assert data == {"x": {"y": 1}} and lines[("x", "y")] == 2
    with pytest.raises(YamlError):
        load_yaml_with_lines(tmp_path / "missing.yaml")


@pytest.mark.parametrize("text", ["no", "yes", "1.10", "012", "1e5", "true", "null", "",
                                  "2017-08-01", "a: b", "- x", "#x", "0x1F", " lead", "@x"])
def test_dump_quotes_what_would_not_read_back_as_text(text):
    assert parse_yaml(dump_yaml({"v": text})).data == {"v": text}


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), _json, min_size=1, max_size=5))
def test_dump_then_parse_round_trips(data):
    back = parse_yaml(dump_yaml(data)).data

    def same(a, b):
        if isinstance(a, float) and isinstance(b, float):
            return a == b or (math.isclose(a, b) and a != 0)
        if isinstance(a, dict):
            return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        if isinstance(a, list):
            return isinstance(b, list) and len(a) == len(b) and all(map(same, a, b))
        return a == b and type(a) is type(b)

    assert same(data, back)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_give_data_or_yaml_error(data):
    try:
        parse_yaml(data, "r.yaml")
    except YamlError as exc:
        assert str(exc).startswith("r.yaml:")


_YAML_BITS = st.sampled_from([
    "a", "key", ": ", ":", "-", "- ", "\n", "  ", " ", "[", "]", "{", "}", ",", "&a", "*a", "!!",
    "!!str", "!!python/object:x", "?", "|", ">", "#", "'", '"', "%YAML 1.1", "---", "...", "1",
    "1.10", "no", "~", "\t", "\\", "\x00", "\ufeff", "é",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(_YAML_BITS, max_size=40).map("".join))
def test_random_yaml_text_gives_data_or_yaml_error(text):
    try:
        parse_yaml(text, "r.yaml")
    except YamlError as exc:
        assert str(exc).startswith("r.yaml:")
