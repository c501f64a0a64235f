"""``blastic-meta validate``: check every study file, the bibliography and the screening record
(evidence/screening.yaml), change nothing.

Prints each problem as ``path:line: field: message [code]`` (warnings say so), then a count
line; exit code 1 when there is at least one error, 0 otherwise (warnings alone pass).
Warnings the study files accept (``accept:`` with a reason) are counted, not printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--errors-only", action="store_true",
                        help="print errors only (warnings are still counted)")


def run(args: argparse.Namespace) -> int:
    from ..registry.validation import validate_studies

    studies = Path(args.studies)
    evidence = Path(args.evidence)
    findings = validate_studies(studies, evidence / "references.bib",
                                evidence / "screening.yaml")
    errors = sum(f.severity == "error" for f in findings)
    warnings = sum(f.severity == "warning" for f in findings)
    accepted = len(findings) - errors - warnings
    for finding in findings:
        if finding.severity == "error" or (finding.severity == "warning"
                                           and not args.errors_only):
            sys.stdout.write(f"{finding}\n")
    files = len(list(studies.glob("*.yaml"))) if studies.is_dir() else 0
    sys.stdout.write(f"{files} study file(s) checked: {errors} error(s), "
                     f"{warnings} warning(s)" + (f", {accepted} accepted" if accepted else "")
                     + "\n")
    return 1 if errors else 0
