"""``report.html``: one self-contained document a reader opens (inline SVG, inline CSS, no
script, no network), laid out in the order a review reports: methods, summary of findings,
the comparison, forest plots, appraisal, PRISMA flow, sensitivity analyses, data quality,
references."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["Section", "format_reference", "report_html", "table_html"]

_CSS = """
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#1a1a1a;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
h3{font-size:1.05em;margin-top:1.4em}
table{border-collapse:collapse;font-size:.82em;margin:.8em 0;display:block;overflow-x:auto}
th,td{border:1px solid #d0d0d0;padding:.25em .45em;text-align:left;vertical-align:top}
th{background:#f2f2f2}
figure{margin:1.2em 0}figure svg{max-width:100%;height:auto}
figcaption{font-size:.85em;color:#444}
nav ol{columns:2}
.note{font-size:.85em;color:#444}
ol.refs li{margin-bottom:.3em}
"""


@dataclass(frozen=True)
class Section:
    """One part of the report: paragraphs (already HTML), tables, figures (SVG files)."""

    id: str
    title: str
    paragraphs: Sequence[str] = ()
    tables: Sequence[tuple[str, pd.DataFrame]] = ()
    figures: Sequence[tuple[str, Path]] = ()
    children: Sequence[Section] = field(default_factory=tuple)


def table_html(frame: pd.DataFrame) -> str:
    """A DataFrame as a plain HTML table (every cell escaped)."""
    head = "".join(f"<th>{escape(str(c)).replace('_', ' ')}</th>" for c in frame.columns)
    rows = []
    for row in frame.itertuples(index=False):
        cells = "".join(f"<td>{escape(_cell(v))}</td>" for v in row)
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _svg(path: Path) -> str:
    """The figure's SVG without its XML prolog and DOCTYPE, so it can sit in the page."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"<\?xml[^>]*\?>\s*", "", text)
    text = re.sub(r"<!DOCTYPE[^>]*>\s*", "", text)
    return text.strip()


def _section(sec: Section, level: int) -> str:
    tag = f"h{min(level, 4)}"
    out = [f'<section id="{escape(sec.id)}"><{tag}>{escape(sec.title)}</{tag}>']
    block = ("<details", "<ul", "<ol", "<div", "<table", "<figure")
    out += [p if p.lstrip().startswith(block) else f"<p>{p}</p>" for p in sec.paragraphs]
    for caption, frame in sec.tables:
        out.append(f'<p class="note"><strong>{escape(caption)}</strong></p>')
        out.append(table_html(frame))
    for caption, path in sec.figures:
        if path.is_file():
            out.append(f"<figure>{_svg(path)}<figcaption>{escape(caption)}</figcaption>"
                       "</figure>")
    out += [_section(child, level + 1) for child in sec.children]
    out.append("</section>")
    return "\n".join(out)


def format_reference(entry: Mapping[str, str], label: str) -> str:
    """One reference, Vancouver-like, from what the bibliography holds (nothing added)."""
    parts = []
    authors = entry.get("author", "")
    if authors:
        names = [n.strip() for n in re.split(r"\s+and\s+", authors) if n.strip()]
        shown = ", ".join(n.replace("{", "").replace("}", "") for n in names[:6])
        parts.append(shown + (", et al." if len(names) > 6 else "."))
    for name in ("title", "journal"):
        if entry.get(name):
            parts.append(entry[name].replace("{", "").replace("}", "").rstrip(".") + ".")
    year = entry.get("year", "")
    detail = year
    if entry.get("volume"):
        detail += f";{entry['volume']}"
        if entry.get("number"):
            detail += f"({entry['number']})"
    if entry.get("pages"):
        detail += f":{entry['pages'].replace('--', '–')}"
    if detail:
        parts.append(detail + ".")
    if entry.get("doi"):
        parts.append(f"doi:{entry['doi']}")
    if not parts:
        parts.append("No bibliographic details in the sources read.")
    return f"{label}: " + " ".join(parts)


def report_html(title: str, intro: str, sections: Sequence[Section],
                references: Sequence[tuple[str, str]], footnotes: Sequence[str] = ()) -> str:
    """The whole page. ``references``: (key, formatted text); ``footnotes``: HTML texts."""
    nav = "".join(f'<li><a href="#{escape(s.id)}">{escape(s.title)}</a></li>' for s in sections)
    body = "\n".join(_section(s, 2) for s in sections)
    refs = "".join(f'<li id="ref-{escape(key)}">{escape(text)}</li>' for key, text in references)
    notes = "".join(f'<li id="fn-{i}">{text} <a href="#fnref-{i}">↩</a></li>'
                    for i, text in enumerate(footnotes, 1))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>\n"
        f"<h1>{escape(title)}</h1><p class=\"note\">{intro}</p>"
        f"<nav><ol>{nav}</ol></nav>\n{body}\n"
        f'<section id="references"><h2>References</h2><ol class="refs">{refs}</ol></section>'
        + (f'<section id="notes"><h2>Notes</h2><ol>{notes}</ol></section>' if notes else "")
        + "\n</body></html>\n")
