"""Every subcommand, driven through main() with generated arguments, files and templates.

Whatever it is given, a run exits 0, 1 or 2, prints no traceback and no internal error, says
what went wrong in one line per problem, and leaves ``studies/``, ``evidence/``, a
pre-existing ``outputs/`` and the researcher's own files byte-identical unless the command is
meant to write them (``new-study`` a new study file, ``report`` outputs/, ``render -o`` its
output).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from blastic_meta.cli import main

REGISTRY = Path(__file__).parents[1] / "registry" / "data"
MESSAGE = re.compile(r"^(blastic-meta[ :]|wrote )")

# --- generated files -----------------------------------------------------------------------

_YAML_PIECES = ["key: fixture2020\n", "version: 1\n", "arms:\n  - id: all\n", "- x\n",
                "a: [1, 2\n", "a: &x 1\nb: *x\n", "a: !!python/object:os.system 1\n",
                "a: 1\na: 2\n", "\t- tab\n", "? [a]\n: 1\n", "x: " + "[" * 80 + "\n",
                "design: case_series\n", "render:\n  timeout: 0.5\n", "---\n", "...\n",
                "\x00\n", "\ufeffkey: x\n", "null\n", "'unterminated\n"]
yaml_bodies = st.one_of(
    st.lists(st.sampled_from(_YAML_PIECES), max_size=6).map("".join),
    st.text(max_size=200),
    st.binary(max_size=100).map(lambda b: b.decode("latin-1")),
)

_TEMPLATE_PIECES = [
    "Pain {{ vas_1m.osteoblastic | estimate_ci }}. ", "{{ vas_1m.osteoblastic | cite }}",
    "{{ vas_1m.osteoblastic }}", "{{ vas_1m.nothing | k }}", "{{ nope }}", "{{ vas_1m ",
    "{% for x in range(10**12) %}{% endfor %}", "{% for x in range(3) %}{{ x }}{% endfor %}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}", "{{ ''.__class__ }}",
    "{{ vas_1m.osteoblastic | estimate_ci(digits=1) }}", "{{ vas_1m.osteoblastic | pi(1) }}",
    "{{ vas_1m.osteoblastic | tau2(digits=9) }}", "{{ 'x' * 10**9 }}", "{% include 'a' %}",
    "{{ vas_1m.osteoblastic | i2_labelled }}", "{% if %}", "{{ 1/0 }}", "\n", "{#", "}}",
    "{{ leak_vertebra.osteoblastic | tau2 }}", "{{ vas_1m.osteoblastic.studies | join }}",
]
_GOOD_PIECES = ["Pain {{ vas_1m.osteoblastic | estimate_ci }}. ",
                "{{ vas_1m.osteoblastic | cite }}",
                "{% for x in range(3) %}{{ x }}{% endfor %}", "\n", "text ", "---\n",
                "{{ vas_1m.osteoblastic | estimate_ci(digits=1) }}",
                "{{ vas_1m.osteoblastic | pi_labelled }}"]
_GOOD = st.lists(st.sampled_from(_GOOD_PIECES), max_size=4).map("".join)
templates = st.one_of(_GOOD, _GOOD,
                      st.lists(st.sampled_from(_TEMPLATE_PIECES), max_size=5).map("".join),
                      st.text(max_size=80))

_CSV_HEADERS = st.sampled_from(["yi,vi", "yi,vi,x", "xi,ni", "a,b", "", "yi;vi", "yi,yi"])
_CELL = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                  st.integers(-5, 50).map(str), st.sampled_from(["", "NA", "x", '"1,2"', " 3"]))
_GOOD_ROWS = st.lists(st.tuples(st.floats(-5, 5), st.floats(0.01, 2)), min_size=2, max_size=6)
csv_bodies = st.one_of(
    _GOOD_ROWS.map(lambda rows: "yi,vi\n" + "".join(f"{y!r},{v!r}\n" for y, v in rows)),
    st.builds(lambda head, rows: head + "\n" + "\n".join(",".join(r) for r in rows),
              _CSV_HEADERS, st.lists(st.lists(_CELL, min_size=1, max_size=3), max_size=6)),
    st.text(max_size=100))

# --- generated arguments -------------------------------------------------------------------

paths = st.sampled_from(["studies", "evidence", "outputs", "data.csv", "draft.md", "draft.tex",
                         "paper.md", "missing", "missing/deeper", "", "-", ".",
                         "studies/s0.yaml", "évidence", "x" * 300])
columns = st.sampled_from(["yi", "vi", "x", "xi", "ni", "a", "missing", ""])
text_args = st.text(min_size=0, max_size=12).filter(lambda s: "\x00" not in s)


def option(name, values):
    return st.one_of(st.just([]), values.map(lambda v: [name, v]))


def common():
    return st.tuples(option("--studies", st.sampled_from(["studies", "missing", "data.csv"])),
                     option("--evidence", st.sampled_from(["evidence", "missing", "studies"])),
                     option("--out", paths)).map(lambda t: [*t[0], *t[1], *t[2]])


FLAGS = {"validate": ["--errors-only"], "report": ["--quiet"], "new-study": [],
         "pool": ["--json", "--adhoc"], "render": ["--fresh", "--latex", "--force"]}
flags = st.lists(st.sampled_from(sorted({f for v in FLAGS.values() for f in v})), max_size=2,
                 unique=True)


def flags_of(command):
    own = st.lists(st.sampled_from(FLAGS[command]), max_size=2, unique=True) \
        if FLAGS[command] else st.just([])
    return st.one_of(own, own, flags)  # now and then a flag of another command


@st.composite
def command_lines(draw):
    command = draw(st.sampled_from(["validate", "report", "new-study", "pool", "render",
                                    "junk"]))
    args = [command]
    if command == "new-study":
        args.append(draw(st.one_of(st.sampled_from(["smith2019", "s0", "fixture2020", "9x",
                                                    "../evil", "a" * 70]), text_args)))
    elif command == "pool" and draw(st.booleans()):  # a usual call: the numbers decide
        args += ["data.csv", "--yi", "yi", "--vi", "vi"]
        args += draw(option("--method", st.sampled_from(["REML", "DL", "PM", "EB"])))
        args += draw(option("--test", st.sampled_from(["z", "knha"])))
        args += draw(option("--level", st.sampled_from(["0.95", "0.9"])))
        return [*args, *draw(st.lists(st.sampled_from(FLAGS["pool"]), unique=True))]
    elif command == "render" and draw(st.booleans()):  # a usual call: the template decides
        args.append(draw(st.sampled_from(["draft.md", "draft.tex"])))
        args += draw(option("-o", st.sampled_from(
            ["rendered.md", "paper.md", "draft.md", "outputs/new.md", "out.tex"])))
        return [*args, *draw(st.lists(st.sampled_from(["--latex", "--force"]), unique=True))]
    elif command == "pool":
        args.append(draw(paths))
        args += draw(option("--yi", columns)) + draw(option("--vi", columns))
        args += draw(option("--measure", st.sampled_from(["PLO", "MC", "SMD", "XYZ", ""])))
        args += draw(option("--xi", columns)) + draw(option("--ni", columns))
        args += draw(option("--mods", columns))
        args += draw(option("--method", st.sampled_from(["REML", "DL", "PM", "XX"])))
        args += draw(option("--test", st.sampled_from(["z", "knha"])))
        args += draw(option("--level", st.sampled_from(["0.95", "0", "1.5", "nan", "x"])))
    elif command == "render":
        args.append(draw(paths))
        args += draw(option("-o", st.sampled_from(
            ["rendered.md", "paper.md", "draft.md", "draft.tex", "studies/s0.yaml",
             "evidence/protocol.yaml", "outputs/summary.json", "outputs/new.md",
             "missing/x.md", "studies", "out.tex"])))
        args += draw(option("--summary", st.sampled_from(["outputs/summary.json", "data.csv",
                                                          "missing.json", "studies"])))
        args += draw(option("--timeout", st.sampled_from(["0.5", "0", "x"])))
        args += draw(option("--max-bytes", st.sampled_from(["100", "1000000", "-3"])))
    elif command == "junk":
        return draw(st.lists(st.one_of(text_args, flags.map(" ".join)), max_size=4))
    return [*args, *draw(common()), *draw(flags_of(command))]


@st.composite
def scenarios(draw):
    return {
        "studies": draw(st.lists(yaml_bodies, min_size=1, max_size=2)),
        "valid_study": draw(st.booleans()),
        "protocol": draw(st.one_of(st.just(None), st.just(None), yaml_bodies)),
        "render_block": draw(st.sampled_from(["", "\nrender:\n  timeout: 0.5\n",
                                              "\nrender:\n  max_bytes: 0\n"])),
        "bibliography": draw(st.one_of(st.just(None), st.text(max_size=100))),
        "csv": draw(csv_bodies),
        "template": draw(templates),
        "argv": draw(command_lines()),
    }


# --- the property --------------------------------------------------------------------------

def build(root: Path, case, repo_root: Path, summary) -> None:
    studies, evidence, outputs = root / "studies", root / "evidence", root / "outputs"
    for folder in (studies, evidence, outputs):
        folder.mkdir()
    for i, body in enumerate(case["studies"]):
        (studies / f"s{i}.yaml").write_text(body, encoding="utf-8", errors="surrogatepass")
    if case["valid_study"]:
        (studies / "fixture2020.yaml").write_bytes(
            (REGISTRY / "valid" / "fixture2020.yaml").read_bytes())
    protocol = case["protocol"]
    if protocol is None:
        protocol = (repo_root / "evidence" / "protocol.yaml").read_text(encoding="utf-8")
        protocol += case["render_block"]
    (evidence / "protocol.yaml").write_text(protocol, encoding="utf-8")
    bib = case["bibliography"]
    (evidence / "references.bib").write_text(
        (REGISTRY / "references.bib").read_text(encoding="utf-8") if bib is None else bib,
        encoding="utf-8")
    (outputs / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    (outputs / "MANIFEST.txt").write_text("summary.json\nMANIFEST.txt\n", encoding="utf-8")
    (root / "data.csv").write_text(case["csv"], encoding="utf-8")
    for name in ("draft.md", "draft.tex"):
        (root / name).write_text(case["template"], encoding="utf-8")
    (root / "paper.md").write_text("My own words.\n", encoding="utf-8")


def tree(root: Path) -> dict[str, bytes | None]:
    return {p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


def allowed_changes(argv: list[str], code: int) -> list[str]:
    """Path prefixes the command may change when it succeeds."""
    if code != 0 or not argv:
        return []

    def value(name, default):
        return argv[argv.index(name) + 1] if name in argv[:-1] else default

    command = argv[0]
    if command == "new-study":
        return [value("--studies", "studies") + "/"]
    if command == "report":
        return [value("--out", "outputs") + "/", value("--out", "outputs")]
    if command == "render" and "-o" in argv[:-1]:
        return [value("-o", None)]
    return []


def created_folders(argv: list[str]) -> list[str]:
    """Folders a failing command may leave behind: the report creates the parent of --out
    before it reads its inputs (an empty folder, never a file)."""
    if argv and argv[0] == "report" and "--out" in argv[:-1]:
        parent = Path(argv[argv.index("--out") + 1]).parent
        return [p.as_posix() for p in (parent, *parent.parents) if p != Path(".")]
    return []


class Summary(dict):
    """The summary.json fixture, with a short repr in hypothesis' reports."""

    def __repr__(self) -> str:
        return "<summary.json of the synthetic long table>"


@pytest.fixture(scope="module")
def summary_json(summary):
    return Summary(summary)


# 200 examples take about 15 s; FUZZ_EXAMPLES=2000 explores further
@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=scenarios())
def test_every_command_fails_cleanly_and_writes_only_what_it_should(case, repo_root,
                                                                   summary_json):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root, case, repo_root, summary_json)
        before = tree(root)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.chdir(root), contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err):
            try:
                code = main(case["argv"])
            except SystemExit as exc:  # argparse: --help, usage errors
                code = exc.code if isinstance(exc.code, int) else 2
        stderr = err.getvalue()
        command = case["argv"][0] if case["argv"] and case["argv"][0] in FLAGS else "(other)"
        event(f"{command}{' -o' if '-o' in case['argv'] else ''} -> {code}")
        assert code in (0, 1, 2), (code, stderr)
        assert "Traceback" not in stderr and "internal error:" not in stderr, stderr
        if code != 0 and not stderr.startswith("usage:"):  # no command: the help
            assert stderr.strip() or out.getvalue().strip(), "a failure says why"
        if not stderr.startswith("usage:"):
            assert all(MESSAGE.match(ln) for ln in stderr.splitlines() if ln.strip()), stderr
        after = tree(root)
        allowed = allowed_changes(case["argv"], code)
        changed = {p for p in set(before) | set(after) if before.get(p, 0) != after.get(p, 0)}
        unexpected = {p for p in changed if not any(
            p == a.rstrip("/") or p.startswith(a) for a in allowed if a)
            and not (after.get(p, 0) is None and p in created_folders(case["argv"]))}
        assert not unexpected, (case["argv"], code, stderr, sorted(unexpected))
