"""``build_report``: the whole pipeline from the registry to ``outputs/``.

studies/*.yaml + evidence/references.bib + evidence/protocol.yaml
  -> records and long table (registry) -> analyses (protocol) -> figures, tables, citable
  text, ``summary.json``.

Outputs are written whole or not at all: everything is built in a staging folder next to the
output folder and swapped in by two renames once complete (the previous folder is kept until
the new one is in place and restored on any failure). A folder holding files the report did
not write (no manifest, or files not in it) is never replaced. Reruns on the same inputs give
byte-identical files: sorted JSON, no dates, figures saved with a fixed SVG hash salt.

The staging and backup folders are named ``.<out>-staging-<pid>@<host>-<random>`` and
``.<out>-previous-<pid>@<host>-<random>``. A run killed outright (SIGKILL, power loss) leaves
them behind; the next run removes those whose process is gone (``clean_stale``), and puts a
backup back in place when the kill came between the two renames. Nothing else is touched: not
a folder of another name, not one of a process that still runs or of another machine.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import math
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import ReportError

__all__ = ["MANIFEST", "ReportSummary", "build_report", "clean_stale", "inputs_sha256"]

MANIFEST = "MANIFEST.txt"
_VERSION_OF = ("blastic-meta", "numpy", "scipy", "pandas", "pymare", "matplotlib", "pypng")


@dataclass(frozen=True)
class ReportSummary:
    """What ``build_report`` produced: the summary dictionary and the files written."""

    out_dir: Path
    files: tuple[str, ...]
    summary: Mapping[str, Any] = field(repr=False)

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(analysis, subgroup, k, 'estimate [CI]') for the printed summary table."""
        from .result_tables import value_text  # the tables' ASCII digits, for a terminal

        out = []
        for aid, a in self.summary["analyses"].items():
            fits = dict(a.get("subgroups") or {})
            if not fits:
                out.append((aid, "-", "0", "no usable data"))
            for name, f in fits.items():
                sc = f.get("scale", "MC")
                if f["status"] == "side by side" or f.get("estimate") is None:
                    est = f"{f['status']}"
                else:
                    est = (f"{value_text(f['estimate'], sc)} [{value_text(f['ci_low'], sc)}, "
                           f"{value_text(f['ci_high'], sc)}]")
                    if f["status"] != "pooled":
                        est += f" ({f['status']})"
                out.append((aid, name, str(f["k"]), est))
        return out

    def table(self) -> str:
        head = ("analysis", "subgroup", "k", "estimate [95% CI]")
        rows = [head, *self.rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        return "\n".join(
            "  ".join([r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].rjust(widths[2]),
                       r[3]]).rstrip()
            for r in rows)


def inputs_sha256(studies_dir: Path, evidence_dir: Path) -> str:
    """SHA-256 over every file of studies/ and evidence/ (relative path and bytes), sorted."""
    h = hashlib.sha256()
    items = []
    for base in (Path(studies_dir), Path(evidence_dir)):
        for path in base.rglob("*"):
            if path.is_file() and not any(p.startswith(".") for p in path.relative_to(base).parts):
                items.append((f"{base.name}/{path.relative_to(base).as_posix()}", path))
    for name, path in sorted(items):
        data = path.read_bytes()
        h.update(name.encode("utf-8") + b"\0" + str(len(data)).encode() + b"\0" + data)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    out = {}
    for dist in _VERSION_OF:
        try:
            out[dist.replace("-", "_")] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist.replace("-", "_")] = "not installed"
    return out


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _summary_json(analyses: Mapping[str, Any], sha: str,
                  bibliography: Any = None) -> dict[str, Any]:
    """The analyses, their sensitivity scenarios (``sensitivity[analysis][scenario]``), the
    inputs' hash, the versions of the code that made them and, with a ``bibliography``,
    ``citation_names``: what the text prints for each study without authors (see
    ``Bibliography.citation_name``), so that ``render`` cites them as estimates.md does."""
    out = {"analyses": {aid: r.to_dict() for aid, r in analyses.items()},
           "sensitivity": {aid: dict(r.sensitivity) for aid, r in analyses.items()},
           "inputs_sha256": sha, "versions": _versions()}
    if bibliography is not None:
        out["citation_names"] = bibliography.citation_names()
    return out


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def _load(studies_dir: Path, evidence_dir: Path, table: bool = True,
          ) -> tuple[Any, Any, Any, Any, list[Any]]:
    """Bibliography, protocol, records, long table (None unless ``table``; pandas is then
    not imported yet) and validation warnings.

    Validation runs once: its warnings feed the data-quality table, its errors stop the
    report (as ``load_studies`` would).
    """
    from ..registry.citations import load_bibliography
    from ..registry.load import load_records, study_table
    from .protocol import load_protocol

    bib_path = evidence_dir / "references.bib"
    if not bib_path.is_file():
        raise ReportError(f"{bib_path}: bibliography not found")
    bibliography = load_bibliography(bib_path)
    protocol = load_protocol(evidence_dir / "protocol.yaml")
    records, findings = load_records(studies_dir, bibliography,
                                     on_error="; outputs left as they were")
    return (bibliography, protocol, records, study_table(records) if table else None,
            findings)


def _prepare_drawing() -> None:
    from .. import figures  # here, not in the caller: its import is work to share too

    figures.preload()


def _build_into(staging: Path, studies_dir: Path, evidence_dir: Path,
                previous: Path | None = None) -> dict[str, Any]:
    # both processes need numpy and pandas: imported once, before the fork, they are shared
    import pandas  # noqa: F401

    from .workers import Server

    with Server(_prepare_drawing) as drawer:  # imports matplotlib while the registry loads
        from .contents import write_contents

        loaded = _load(studies_dir, evidence_dir, table=False)  # made once figures are sent
        return write_contents(staging, loaded, inputs_sha256(studies_dir, evidence_dir),
                              previous, screening_path=evidence_dir / "screening.yaml",
                              drawer=drawer)


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Python's cyclic garbage collector run less often inside this block (the thresholds
    are restored on exit; the forked server and workers inherit them).

    The report allocates millions of short-lived objects (pandas frames, matplotlib
    artists and transforms): at the default thresholds the collector took about 0.7 of the
    report's 15 CPU seconds, re-scanning the same long-lived ones, and at these about 0.15.
    Reference counting still frees everything outside a cycle at once, and the report's
    peak memory stays as it was.
    """
    old = gc.get_threshold()
    gc.set_threshold(*_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*old)


#: a young collection every 10,000 allocations (default 700), an older one every 50 of them
_GC_THRESHOLDS = (10_000, 50, 100)


def _manifest(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _check_replaceable(out_dir: Path) -> None:
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise ReportError(f"{out_dir} exists and is not a folder; not replaced")
    present = _manifest(out_dir)
    if not present:
        return
    manifest = out_dir / MANIFEST
    if not manifest.is_file():
        raise ReportError(f"{out_dir} holds files the report did not write (no {MANIFEST}); "
                          f"move them or choose another --out")
    listed = set(manifest.read_text(encoding="utf-8").splitlines()) | {MANIFEST}
    foreign = [p for p in present if p not in listed]
    if foreign:
        raise ReportError(f"{out_dir} holds files the report did not write: "
                          f"{', '.join(foreign[:5])}; move them or choose another --out")


# --- staging folders -----------------------------------------------------------------------

def _host() -> str:
    return hashlib.sha256(socket.gethostname().encode("utf-8")).hexdigest()[:8]


def _work_folder(out_dir: Path, kind: str) -> Path:
    """A new empty folder next to ``out_dir`` named after this process (see the module)."""
    prefix = f".{out_dir.name}-{kind}-{os.getpid()}@{_host()}-"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=out_dir.parent))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, under another user
        return True
    return True


def clean_stale(out_dir: str | Path) -> list[Path]:
    """Remove the staging and backup folders of ``out_dir`` left by killed runs; returns them.

    Only folders named by this module (``.<out>-staging-<pid>@<host>-...``) on this machine
    whose process no longer runs. A backup is the previous output folder: it is put back
    when ``out_dir`` is missing (the run died between the two renames), else removed.
    """
    out_dir = Path(out_dir).absolute()
    if os.name != "posix" or not out_dir.parent.is_dir():
        return []  # os.kill(pid, 0) asks nothing elsewhere (on Windows it ends the process)
    pattern = re.compile(rf"\.{re.escape(out_dir.name)}-(staging|previous)-(\d+)@"
                         rf"{_host()}-[A-Za-z0-9_]+")
    removed = []
    for entry in sorted(out_dir.parent.iterdir()):
        match = pattern.fullmatch(entry.name)
        if match is None or entry.is_symlink() or not entry.is_dir() \
                or _running(int(match.group(2))):
            continue
        if match.group(1) == "previous" and not os.path.lexists(out_dir):
            os.replace(entry, out_dir)
        else:
            shutil.rmtree(entry)
        removed.append(entry)
    return removed


def _swap(staging: Path, out_dir: Path) -> None:
    backup = None
    if out_dir.exists():
        backup = _work_folder(out_dir, "previous")
        backup.rmdir()
        os.replace(out_dir, backup)
    try:
        os.replace(staging, out_dir)
    except OSError:
        if backup is not None:
            os.replace(backup, out_dir)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def build_report(studies_dir: str | Path, evidence_dir: str | Path,
                 out_dir: str | Path) -> ReportSummary:
    """Regenerate ``out_dir`` from the registry; returns what was written.

    Raises ReportError (or another BlasticMetaError naming the input at fault) and leaves
    ``out_dir`` as it was when anything fails.
    """
    studies_dir, evidence_dir, out_dir = Path(studies_dir), Path(evidence_dir), Path(out_dir)
    for name, folder in (("studies", studies_dir), ("evidence", evidence_dir)):
        if not folder.is_dir():
            raise ReportError(f"{folder}: {name} folder not found")
    out_dir = out_dir.absolute()
    clean_stale(out_dir)  # first: it may put back the outputs a killed run moved away
    _check_replaceable(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = _work_folder(out_dir, "staging")
    try:
        previous = out_dir if (out_dir / MANIFEST).is_file() else None
        with _fewer_collections():
            summary = _build_into(staging, studies_dir, evidence_dir, previous)
        files = _manifest(staging)
        _write_text(staging / MANIFEST, "\n".join([*files, MANIFEST]) + "\n")
        staging.chmod(0o755)
        _swap(staging, out_dir)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ReportError(f"report not written ({exc}); {out_dir.name}/ left as it was") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ReportSummary(out_dir=out_dir, files=tuple(sorted([*files, MANIFEST])),
                         summary=summary)
