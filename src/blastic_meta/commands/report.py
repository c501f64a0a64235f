"""``blastic-meta report``: regenerate outputs/ and print a short summary table."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="print only where the files are")


def run(args: argparse.Namespace) -> int:
    from ..review.report import build_report

    result = build_report(args.studies, args.evidence, args.out)
    if not args.quiet:
        print(result.table())
        print()
    figures = sum(1 for f in result.files if f.startswith("figures/"))
    tables = sum(1 for f in result.files if f.startswith("tables/"))
    print(f"Wrote {len(result.files)} files to {args.out}/: {figures} figure files in "
          f"figures/, {tables} table files in tables/, estimates.md, estimates.tex, "
          f"references.bib, summary.json")
    return 0
