"""``wrap_text``: the wrap from a guess gives the lines of a word-by-word greedy wrap."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from blastic_meta.figures.io import text_width, wrap_text


def word_by_word(text: str, width: float, size: float) -> list[str]:
    """The plain greedy wrap: add words while the line fits, one width measured per word."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split(" "):
            trial = f"{current} {word}" if current else word
            if current and text_width(trial, size) > width:
                lines.append(current)
                current = word
            else:
                current = trial
        lines.append(current)
    return lines


WORDS = st.sampled_from(["a", "I²", "Smith", "2019", "(PVP)", "−4.1", "[−4.9,", "−3.3]",
                         "osteoblastic", "vertebroplasty", "WWWWWWWWWWWWWWWWWW", "", "\n",
                         "τ²", "p = 0.03;", "kyphoplasty,"])


@settings(max_examples=600, deadline=None)
@given(words=st.lists(WORDS, max_size=40), width=st.floats(0.05, 6.0),
       size=st.sampled_from([7.0, 8.0, 9.0]))
def test_guessing_wrap_equals_word_by_word(words: list[str], width: float, size: float) -> None:
    text = " ".join(words)
    assert wrap_text(text, width, size) == word_by_word(text, width, size)


def test_wrap_keeps_newlines_and_never_splits_a_word() -> None:
    lines = wrap_text("osteoblastic lesions\nvertebroplasty", 0.1, 9.0)
    assert lines == ["osteoblastic", "lesions", "vertebroplasty"]
    assert wrap_text("", 1.0, 9.0) == [""]
    long = "a " * 30
    assert all(text_width(line, 9.0) <= 1.0 for line in wrap_text(long.strip(), 1.0, 9.0))


@settings(max_examples=200, deadline=None)
@given(words=st.lists(WORDS, max_size=40), width=st.floats(0.05, 6.0),
       gap=st.sampled_from([-0.5, 0.0, 0.2, 5.0]))
def test_lines_do_not_depend_on_the_guess(words: list[str], width: float, gap: float) -> None:
    """The guess only says where to start measuring: far too many words (a space taken as
    nothing or less) or far too few (as five inches), the lines are the same."""
    import blastic_meta.figures.io as figure_io

    text = " ".join(words)
    expected = word_by_word(text, width, 8.0)
    original = figure_io._space_width
    figure_io._space_width = lambda *_: gap
    try:
        assert wrap_text(text, width, 8.0) == expected
    finally:
        figure_io._space_width = original
