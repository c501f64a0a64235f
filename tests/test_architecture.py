"""The package layout's rules, checked on the source so that they stay true.

Every import in ``src/blastic_meta`` (including those inside functions) is resolved to the
module it names; the wing of the importing module decides which wings it may reach. The rules
are those of ``docs/architecture.md``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "blastic_meta"
WINGS = ("stats", "registry", "review", "figures", "commands")

# wing -> wings (and top-level modules) it must not import
FORBIDDEN = {
    "stats": {"registry", "review", "figures", "commands", "cli"},
    "registry": {"stats", "review", "figures", "commands", "cli"},
    "figures": {"stats", "registry", "review", "commands", "cli"},
    "review": {"commands", "cli"},
    "commands": set(),  # the command line may call any wing (it stays thin: see README)
    "top": {"stats", "registry", "review", "figures", "commands"},
}
# third-party packages that one place only may import (swapping one touches one file)
OWNERS = {
    "pymare": ("stats/_pymare.py",),
    "matplotlib": ("figures/",),
    "bibtexparser": ("registry/citations.py",),
    "yaml": ("registry/yamlio.py",),
    "jinja2": ("review/render.py", "review/sandbox.py"),
    "forestplot": (),
}
# the top-level modules every wing may use
SHARED_TOP = {"errors", "formatting", "_checks", "_version"}
MAX_LINES = 500


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _wing(path: Path) -> str:
    parts = path.relative_to(SRC).parts
    return parts[0] if len(parts) > 1 and parts[0] in WINGS else "top"


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute dotted name) of every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ["blastic_meta", *path.relative_to(SRC).parts[:-1]]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            if name:
                out.append((node.lineno, name))
            # "from pkg import x": x may be a module of pkg
            out += [(node.lineno, f"{name}.{a.name}") for a in node.names if a.name != "*"]
    return out


def _target_wing(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] != "blastic_meta" or len(parts) < 2:
        return None
    return parts[1]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_follow_the_wing_rules(path: Path) -> None:
    wing = _wing(path)
    bad = []
    for line, name in _imports(path):
        target = _target_wing(name)
        if target is not None and target in FORBIDDEN[wing]:
            bad.append(f"line {line}: {wing} imports {name}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("package", sorted(OWNERS))
def test_third_party_packages_have_one_owner(package: str) -> None:
    owners = OWNERS[package]
    bad = []
    for path in _modules():
        rel = path.relative_to(SRC).as_posix()
        for line, name in _imports(path):
            if name.split(".")[0] == package and not rel.startswith(owners or ("\0",)):
                bad.append(f"{rel}:{line} imports {name}")
    assert not bad, f"{package} may be imported only in {owners or 'no module'}:\n" + \
        "\n".join(bad)


def test_top_level_modules_use_no_wing() -> None:
    allowed = {"__init__.py", "__main__.py", "cli.py"}  # the public face and the entry point
    for path in SRC.glob("*.py"):
        if path.name in allowed:
            continue
        for line, name in _imports(path):
            assert _target_wing(name) not in WINGS, f"{path.name}:{line} imports {name}"


def test_command_line_reaches_the_library_only_through_commands() -> None:
    for line, name in _imports(SRC / "cli.py"):
        target = _target_wing(name)
        assert target in (None, *SHARED_TOP, "commands"), f"cli.py:{line} imports {name}"


def test_no_module_is_over_the_size_limit() -> None:
    sizes = {p.relative_to(SRC).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
             for p in _modules()}
    too_long = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not too_long, f"split these modules (> {MAX_LINES} lines): {too_long}"


def test_every_wing_is_a_package_with_a_docstring() -> None:
    for wing in WINGS:
        init = SRC / wing / "__init__.py"
        assert init.is_file(), wing
        assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), wing


def test_the_rule_checker_sees_a_violation(tmp_path: Path) -> None:
    """The resolver must turn relative imports into the wing they reach, or the rules above
    could pass by never matching anything."""
    fake = SRC / "stats" / "effects.py"
    names = [n for _, n in _imports(fake)]
    assert "blastic_meta._checks" in names
    assert all(_target_wing(n) not in FORBIDDEN["stats"] for n in names)
    assert _target_wing("blastic_meta.registry.records") == "registry"
    review = [n for _, n in _imports(SRC / "review" / "arm_selection.py")]
    assert "blastic_meta.stats.conversions" in review
