"""Text sizes measured once per process inside the house style (``io.style_context``).

matplotlib measures every text again for each renderer, that is for each file it saves;
``shared_text_metrics`` keeps each measure for the process, with exactly the numbers
matplotlib computes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["shared_text_metrics"]

#: the renderers whose text sizes depend only on the text, its font, the dpi and the rcParams
#: below (Agg and SVG; a save wraps the SVG one, whose texts then share only the outline
#: sizes; PDF's, say, also depend on its own settings, and are left alone)
_SHARED_RENDERERS = frozenset({("matplotlib.backends.backend_agg", "RendererAgg"),
                               ("matplotlib.backends.backend_svg", "RendererSVG")})
_TEXT_RC = ("font.family", "font.sans-serif", "font.serif", "font.monospace", "font.cursive",
            "font.fantasy", "font.stretch", "text.hinting", "text.hinting_factor",
            "text.kerning_factor")
_METRICS: dict[tuple[Any, ...], Any] = {}
_METRICS_MAX = 20_000


@contextlib.contextmanager
def shared_text_metrics() -> Iterator[None]:
    """Text sizes measured once per process, not once per renderer or per size, inside this
    block only.

    matplotlib keeps the size of each laid-out text per renderer, and every save makes a new
    renderer: each figure is measured afresh, once for the SVG and once for the PNG, and most
    of its texts (tick labels, study names, column heads) were already measured for the
    previous figure, or by ``text_width`` to lay it out. Two measures are kept here, each
    giving the same numbers as measuring again:

    - a text's size for an Agg renderer, under its dpi, the text, its font and the
      rcParams a size depends on;
    - the outline size ``TextToPath`` measures (for ``text_width`` and the SVG renderer,
      which a save hands to the texts wrapped in a ``MixedModeRenderer``) at its fixed 100
      points and scales to the font size: kept unscaled, under the text, the font without
      its size and the same rcParams, so every size shares one measure.

    Math texts and other renderers are measured by matplotlib as before. As with
    ``io._fonts_from_memory``, private functions are swapped for the block's duration and left
    alone if they have changed shape.
    """
    from matplotlib import text as mtext
    from matplotlib.textpath import TextToPath

    original = getattr(mtext, "_get_text_metrics_with_cache", None)
    outline = getattr(TextToPath, "get_text_width_height_descent", None)
    if original is None or outline is None \
            or getattr(original, "__name__", "") == "_shared_metrics":
        yield
        return

    import matplotlib as mpl

    last: list[Any] = [None, ""]  # the rcParams' values last seen, and their text

    def rc_key() -> str:
        # read without RcParams' own lookup (it checks deprecations), and compared with a
        # copy of the values last seen, so that a list changed in place is seen as changed
        values = [dict.__getitem__(mpl.rcParams, name) for name in _TEXT_RC]
        if values != last[0]:
            last[:] = [[list(v) if isinstance(v, list) else v for v in values], repr(values)]
        return last[1]

    def remember(key: tuple[Any, ...], measure: Callable[[], Any]) -> Any:
        if len(_METRICS) >= _METRICS_MAX:
            _METRICS.clear()
        _METRICS[key] = value = measure()
        return value

    def _shared_metrics(renderer: Any, text: str, fontprop: Any, ismath: Any,
                        dpi: float) -> Any:
        kind = type(renderer)
        if ismath is not False or (kind.__module__, kind.__qualname__) not in _SHARED_RENDERERS:
            return original(renderer, text, fontprop, ismath, dpi)
        where = (kind, getattr(renderer, "dpi", None), text)
        rc = rc_key()
        found = _METRICS.get((*where, fontprop, dpi, rc))
        if found is None:  # kept under a copy: the font may be changed later
            def measure() -> Any:
                return renderer.get_text_width_height_descent(text, fontprop, ismath)

            found = remember((*where, fontprop.copy(), dpi, rc), measure)
        return found

    def _outline_size(self: Any, s: str, prop: Any, ismath: Any) -> Any:
        scale_size = getattr(self, "FONT_SCALE", None)
        if ismath is not False or type(self) is not TextToPath or not scale_size:
            return outline(self, s, prop, ismath)
        # the font without its size: what FontProperties compares, but the size
        key = ("outline", s, tuple(prop.get_family()), prop.get_style(), prop.get_variant(),
               prop.get_weight(), prop.get_stretch(), prop.get_file(),
               prop.get_math_fontfamily(), rc_key())
        found = _METRICS.get(key)
        if found is None:
            face = prop.copy()
            face.set_size(scale_size)
            # at FONT_SCALE the scale is 1.0: the unscaled size, as matplotlib computes it
            found = remember(key, lambda: outline(self, s, face, ismath))
        scale = prop.get_size_in_points() / scale_size
        return found[0] * scale, found[1] * scale, found[2] * scale

    mtext._get_text_metrics_with_cache = _shared_metrics
    TextToPath.get_text_width_height_descent = _outline_size
    try:
        yield
    finally:
        mtext._get_text_metrics_with_cache = original
        TextToPath.get_text_width_height_descent = outline
