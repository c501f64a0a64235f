"""Mutation testing of part of the package with mutmut (``make mutation PATHS=...``).

    make mutation PATHS=src/blastic_meta/review/prose.py
    make mutation PATHS="src/blastic_meta/registry/checks.py" TESTS=tests/registry

mutmut changes the code one small step at a time (``<`` to ``<=``, a constant, a dropped
call) and runs the tests that reach the changed function; a mutant the tests do not notice
"survives". The run happens in ``.mutation/`` (a copy of the tracked files, never the working
tree), so nothing here is edited; each set of paths has its own folder there. Tests default
to the mirror folder of each path (``src/blastic_meta/review/x.py`` -> ``tests/review``).
mutmut keeps its results in that folder's ``mutants/``: a second run retests only what
changed, and ``mutmut browse`` run there shows each survivor. Not part of CI.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutation"
PACKAGE = Path("src") / "blastic_meta"
DATA = ("studies/", "evidence/", "docs/", "outputs/", "README.md")


def _tracked() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                             capture_output=True).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        return [str(p.relative_to(ROOT)) for d in ("src", "tests", *DATA)
                for p in (ROOT / d).rglob("*") if p.is_file()] + ["pyproject.toml"]
    return [name for name in out.split("\0") if name]


def _mirror(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    wing = parts[0] if len(parts) > 1 else None
    return f"tests/{wing}" if wing and (ROOT / "tests" / wing).is_dir() else "tests"


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def _workdir(paths: list[Path]) -> Path:
    slug = "+".join(sorted(p.relative_to(PACKAGE).as_posix().replace("/", ".")
                           for p in paths)) or "all"
    return WORK / slug[:120]


def _prepare(work: Path, paths: list[Path], tests: list[str]) -> None:
    """Copy the tracked files into ``work`` and configure mutmut there."""
    work.mkdir(parents=True, exist_ok=True)
    for name in _tracked():
        src, dst = ROOT / name, work / name
        if src.is_file() and (not dst.exists() or dst.read_bytes() != src.read_bytes()):
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    globs = [f"{p.as_posix()}/*" if (ROOT / p).is_dir() else p.as_posix() for p in paths]
    config = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    config += ("\n[tool.mutmut]\n"
               'source_paths = ["src/"]\n'
               f"only_mutate = {_toml_list(globs)}\n"
               f"pytest_add_cli_args_test_selection = {_toml_list(tests)}\n"
               'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]\n'
               f"also_copy = {_toml_list(list(DATA))}\n")
    (work / "pyproject.toml").write_text(config, encoding="utf-8")


def _score(stats: dict[str, int]) -> str:
    killed = stats.get("killed", 0) + stats.get("timeout", 0) + stats.get("segfault", 0)
    survived = stats.get("survived", 0) + stats.get("no_tests", 0)
    checked = killed + survived + stats.get("suspicious", 0)
    share = f"{100 * killed / checked:.1f}%" if checked else "n/a"
    return (f"{killed} of {checked} mutants killed ({share}); {survived} survived "
            f"({stats.get('no_tests', 0)} reached by no test)")


def _survivors(mutmut: str, work: Path, env: dict[str, str]) -> list[str]:
    """Names of the mutants the last run in ``work`` left alive (mutmut 3 retests a mutant
    only when its function changed, so new tests alone need the names)."""
    if not (work / "mutants").is_dir():
        return []
    listed = subprocess.run([mutmut, "results"], cwd=work, env=env, check=True,
                            capture_output=True, text=True).stdout
    return [line.split(":")[0].strip() for line in listed.splitlines()
            if line.rstrip().endswith(("survived", "no tests"))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="files or folders under src/blastic_meta")
    parser.add_argument("--tests", nargs="*", default=None,
                        help="test files or folders (default: the mirror folder of each path)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--survivors", action="store_true",
                        help="retest only the survivors of the last run, with the tests as "
                             "they are now (after writing tests that should kill them)")
    args = parser.parse_args(argv)
    paths = []
    for raw in args.paths:
        path = Path(raw)
        if not (ROOT / path).exists() or PACKAGE not in (path, *path.parents):
            parser.error(f"{raw}: not a file or folder under {PACKAGE}")
        paths.append(path)
    tests = args.tests or sorted({_mirror(p) for p in paths})
    work = _workdir(paths)
    _prepare(work, paths, tests)
    mutmut = shutil.which("mutmut", path=str(Path(sys.executable).parent)) or "mutmut"
    env = {**os.environ, "HYPOTHESIS_PROFILE": "ci"}  # the same examples for every mutant
    print(f"mutating {', '.join(map(str, paths))}; tests: {' '.join(tests)}", flush=True)
    names = _survivors(mutmut, work, env) if args.survivors else []
    if args.survivors and not names:
        print("no survivors of an earlier run to retest")
        return 0
    run = subprocess.run([mutmut, "run", "--max-children", str(args.workers), *names],
                         cwd=work, env=env, check=False)
    if run.returncode:
        return run.returncode
    subprocess.run([mutmut, "export-cicd-stats"], cwd=work, env=env, check=True,
                   capture_output=True)
    stats = json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text())
    print(("retested survivors: " if names else "") + _score(stats))
    print(f"survivors: cd {work.relative_to(ROOT)} && mutmut results (or mutmut browse; "
          "mutmut show NAME prints one)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
