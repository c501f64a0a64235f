"""Command line: a thin layer over the library.

Each subcommand lives in ``blastic_meta.commands.<name>`` with two functions,
``configure(parser)`` (its options) and ``run(args) -> int`` (its exit code). Errors raised on
purpose (``BlasticMetaError``) become one line on stderr and exit code 1; usage errors exit 2.
No command shows a traceback: any other exception is reported as one "internal error" line
(exit 1), and ``--debug`` prints the full trace as well. An error listing several problems
gives one prefixed line per problem; warnings are one line each.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Sequence
from importlib import import_module

from ._version import __version__
from .errors import BlasticMetaError

PROG = "blastic-meta"

# name -> (module under blastic_meta.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("validate", "check every study file and the bibliography; report all problems"),
    "report": ("report", "regenerate outputs/ (figures, tables, citable text) from the registry"),
    "new-study": ("new_study", "write a commented template for a new study file"),
    "pool": ("pool", "pool effect sizes from a CSV file with a random-effects model"),
    "render": ("render", "fill a Markdown/LaTeX template with live numbers from the report"),
}


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message (no usage dump) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(2)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--studies", default="studies", metavar="DIR",
                        help="folder of study YAML files (default: studies)")
    parser.add_argument("--evidence", default="evidence", metavar="DIR",
                        help="folder with references.bib and protocol.yaml (default: evidence)")
    parser.add_argument("--out", default="outputs", metavar="DIR",
                        help="folder the report writes to (default: outputs)")
    # also accepted after the subcommand; SUPPRESS keeps a --debug given before it
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="also print the Python trace of an error")


def _not_available(name: str):
    def run(args: argparse.Namespace) -> int:
        sys.stderr.write(f"{PROG} {name}: not yet available in this version\n")
        return 2

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="also print the Python trace of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (module_name, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        _add_common(sp)
        try:
            module = import_module(f".commands.{module_name}", __package__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.commands.{module_name}":
                raise
            sp.set_defaults(_run=_not_available(name))
            continue
        module.configure(sp)
        sp.set_defaults(_run=module.run)
    return parser


class _Terminated(BaseException):
    """SIGTERM (``timeout``, a CI cancel, ``docker stop``), raised where the program is, so
    that it cleans up as after Ctrl-C: a report leaves its outputs as they were."""


def _on_sigterm(*_: object) -> None:
    raise _Terminated


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    in_main = threading.current_thread() is threading.main_thread()  # signals only there
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    try:
        return _run_command(args)
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _run_command(args: argparse.Namespace) -> int:
    where = f"{PROG} {args.command}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # the program's own policy, as Python's defaults:
        for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning,
                         ResourceWarning):
            warnings.simplefilter("ignore", category)
        try:
            code = int(args._run(args) or 0)
        except BlasticMetaError as exc:
            _debug_trace(args)
            # one line per problem (an error may list several), each saying where it is from
            lines = [ln for ln in str(exc).splitlines() if ln.strip()] or [type(exc).__name__]
            sys.stderr.writelines(f"{where}: error: {ln}\n" for ln in lines)
            code = 1
        except KeyboardInterrupt:
            sys.stderr.write(f"{PROG}: interrupted\n")
            code = 130
        except _Terminated:
            sys.stderr.write(f"{PROG}: terminated\n")
            code = 143
        except BrokenPipeError:  # e.g. `blastic-meta render t.md | head`
            code = 1
        except OSError as exc:  # the file system said no (name too long, no permission, ...)
            _debug_trace(args)
            name = f"{exc.filename}: " if exc.filename is not None else ""
            sys.stderr.write(f"{where}: error: {name}{exc.strerror or exc}\n")
            code = 1
        except Exception as exc:
            _debug_trace(args)
            message = " ".join(str(exc).split())[:500]
            sys.stderr.write(f"{where}: internal error: {type(exc).__name__}: {message} "
                             f"(please report; rerun with --debug for the trace)\n")
            code = 1
    for w in caught:
        text = " ".join(str(w.message).split())
        sys.stderr.write(f"{where}: warning: {text}\n")
    return code


def _debug_trace(args: argparse.Namespace) -> None:
    if getattr(args, "debug", False):
        traceback.print_exc(file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
