"""The command line's skeleton: help, version, unknown input, a light package import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from blastic_meta import cli

SUBCOMMANDS = ["validate", "report", "new-study", "pool", "render"]


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("blastic-meta ")


@pytest.mark.parametrize("argv", [["frobnicate"], ["--no-such-option"], ["pool", "--bogus"]])
def test_unknown_input_is_one_line_nonzero(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_console_script_unknown_subcommand_has_no_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "blastic_meta", "frobnicate"], capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0


def test_import_is_light():
    code = (
        "import sys, blastic_meta; "
        "heavy = [m for m in ('matplotlib', 'forestplot', 'pymare') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""


def test_common_options_have_defaults():
    args = cli.build_parser().parse_args(["validate"])
    assert (args.studies, args.evidence, args.out) == ("studies", "evidence", "outputs")
