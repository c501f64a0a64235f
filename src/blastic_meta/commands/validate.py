"""``blastic-meta validate``: check every study file, the bibliography, the screening record
(evidence/screening.yaml) and the protocol (evidence/protocol.yaml), change nothing.

Prints each problem as ``path:line: field: message [code]`` (warnings say so), then a count
line; exit code 1 when there is at least one error, 0 otherwise (warnings alone pass).
Warnings the study files accept (``accept:`` with a reason) are counted, not printed. The
protocol is read by the report's own loader (``load_protocol``), so that validate passes
exactly the protocols the report accepts; its problems carry the code ``protocol``.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..registry.findings import Finding

_LOCATED = re.compile(r"(?P<path>.+?):(?P<line>\d+): (?P<field>[^:]+): (?P<message>.+)")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--errors-only", action="store_true",
                        help="print errors only (warnings are still counted)")


def protocol_findings(path: Path) -> list[Finding]:
    """The problems ``report`` would stop at in ``protocol.yaml``, one Finding per line."""
    from ..errors import BlasticMetaError
    from ..review.protocol import load_protocol

    try:
        load_protocol(path)
    except BlasticMetaError as exc:
        lines = [ln for ln in str(exc).splitlines() if ln.strip()] or [f"{path}: invalid"]
        return [_finding(ln, path) for ln in lines]
    return []


def _finding(line: str, path: Path) -> Finding:
    from ..registry.findings import Finding

    match = _LOCATED.fullmatch(line)
    if match is None:  # e.g. "protocol file not found": no line, no field
        return Finding(str(path), 1, "(file)", "error", line.removeprefix(f"{path}: "),
                       "protocol")
    return Finding(match["path"], int(match["line"]), match["field"], "error",
                   match["message"], "protocol")


def run(args: argparse.Namespace) -> int:
    from ..registry.validation import validate_studies

    studies = Path(args.studies)
    evidence = Path(args.evidence)
    findings = validate_studies(studies, evidence / "references.bib",
                                evidence / "screening.yaml")
    findings = sorted(set(findings) | set(protocol_findings(evidence / "protocol.yaml")))
    errors = sum(f.severity == "error" for f in findings)
    warnings = sum(f.severity == "warning" for f in findings)
    accepted = len(findings) - errors - warnings
    # print, not sys.stdout.write: silent (the exit code still tells) when stdout is closed
    for finding in findings:
        if finding.severity == "error" or (finding.severity == "warning"
                                           and not args.errors_only):
            print(finding)
    files = len(list(studies.glob("*.yaml"))) if studies.is_dir() else 0
    print(f"{files} study file(s) checked: {errors} error(s), {warnings} warning(s)"
          + (f", {accepted} accepted" if accepted else ""))
    return 1 if errors else 0
