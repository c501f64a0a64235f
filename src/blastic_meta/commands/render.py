"""``blastic-meta render TEMPLATE [-o OUT]``: fill a template with live numbers.

The template runs in a sandbox with a time and a size limit (``--timeout``, ``--max-bytes``,
else ``render:`` in protocol.yaml, else 10 s and 10 MB). ``-o OUT`` never overwrites the
template nor an input (the summary, the bibliography, the protocol, the screening record, a
study file), even with ``--force``, and replaces any other existing file only if render wrote
it (its first line says so) or with ``--force``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

MAX_TIMEOUT = 600.0
MAX_BYTES = 100_000_000


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"{text!r}: expected seconds in (0, {MAX_TIMEOUT:g}]")
    return value


def _bytes(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = 0
    if not 0 < value <= MAX_BYTES:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number of bytes in "
                                         f"[1, {MAX_BYTES:_}]")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("template", metavar="TEMPLATE",
                        help="Markdown or LaTeX file with Jinja2 fields, e.g. "
                             "{{ vas_3m.osteoblastic | estimate_ci }}")
    parser.add_argument("-o", "--output", metavar="OUT", default=None,
                        help="write the result here (default: standard output); an existing "
                             "file is replaced only if render wrote it")
    parser.add_argument("--force", action="store_true",
                        help="replace OUT even if render did not write it (never the template "
                             "or an input such as references.bib)")
    parser.add_argument("--summary", metavar="JSON", default=None,
                        help="summary.json to read (default: <out>/summary.json)")
    parser.add_argument("--fresh", action="store_true",
                        help="compute the numbers from studies/ and evidence/ now instead of "
                             "reading summary.json")
    parser.add_argument("--latex", action="store_true",
                        help="LaTeX markup (default for .tex templates)")
    parser.add_argument("--timeout", type=_seconds, default=None, metavar="S",
                        help="stop rendering after S seconds (default: render.timeout in "
                             "protocol.yaml, else 10)")
    parser.add_argument("--max-bytes", type=_bytes, default=None, metavar="N",
                        help="stop when the output passes N bytes (default: render.max_bytes "
                             "in protocol.yaml, else 10000000)")


def _limits(args: argparse.Namespace):
    from ..review.render import RenderLimits

    timeout, max_bytes = RenderLimits.timeout, RenderLimits.max_bytes
    protocol_path = Path(args.evidence) / "protocol.yaml"
    if (args.timeout is None or args.max_bytes is None) and protocol_path.is_file():
        from ..review.protocol import load_protocol

        settings = load_protocol(protocol_path).render
        timeout, max_bytes = float(settings.timeout), settings.max_bytes
    return RenderLimits(timeout=args.timeout if args.timeout is not None else timeout,
                        max_bytes=args.max_bytes if args.max_bytes is not None else max_bytes)


def _inputs(args: argparse.Namespace, summary_path: Path | None) -> list[tuple[Path, str]]:
    """The files render or the report reads, each with what it is: never written over."""
    evidence, studies = Path(args.evidence), Path(args.studies)
    out = [(evidence / "references.bib", "the bibliography"),
           (evidence / "protocol.yaml", "the protocol"),
           (evidence / "screening.yaml", "the screening record")]
    if summary_path is not None:
        out.insert(0, (summary_path, "the summary it reads"))
    if studies.is_dir():
        out += [(path, "a study file") for path in sorted(studies.glob("*.yaml"))]
    return out


def run(args: argparse.Namespace) -> int:
    from ..review.render import fresh_summary, load_summary, render_template
    from ..review.render_files import check_output, read_template, write_output

    template = Path(args.template)
    summary_path = None if args.fresh else Path(args.summary or Path(args.out) / "summary.json")
    inputs = _inputs(args, summary_path)
    source = read_template(template)
    if args.output is not None:  # refuse early, before any work
        check_output(args.output, template, force=args.force, inputs=inputs)
    limits = _limits(args)
    summary = fresh_summary(args.studies, args.evidence) if summary_path is None \
        else load_summary(summary_path)
    latex = args.latex or template.suffix.lower() == ".tex"
    text = render_template(source, summary, name=str(template), latex=latex, limits=limits)
    write_output(text, args.output, template, force=args.force, inputs=inputs)
    return 0
