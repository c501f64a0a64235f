"""``blastic-meta render TEMPLATE [-o OUT]``: fill a template with live numbers."""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("template", metavar="TEMPLATE",
                        help="Markdown or LaTeX file with Jinja2 fields, e.g. "
                             "{{ vas_3m.osteoblastic | estimate_ci }}")
    parser.add_argument("-o", "--output", metavar="OUT", default=None,
                        help="write the result here (default: standard output)")
    parser.add_argument("--summary", metavar="JSON", default=None,
                        help="summary.json to read (default: <out>/summary.json)")
    parser.add_argument("--fresh", action="store_true",
                        help="compute the numbers from studies/ and evidence/ now instead of "
                             "reading summary.json")
    parser.add_argument("--latex", action="store_true",
                        help="LaTeX markup (default for .tex templates)")


def run(args: argparse.Namespace) -> int:
    from ..review.render import (
        RenderError,
        fresh_summary,
        load_summary,
        render_template,
        write_output,
    )

    template = Path(args.template)
    try:
        source = template.read_text(encoding="utf-8")
    except OSError as exc:
        raise RenderError(f"{template}: cannot read template ({exc.strerror})") from None
    if args.fresh:
        summary = fresh_summary(args.studies, args.evidence)
    else:
        summary = load_summary(args.summary or Path(args.out) / "summary.json")
    latex = args.latex or template.suffix.lower() == ".tex"
    write_output(render_template(source, summary, name=str(template), latex=latex), args.output)
    return 0
