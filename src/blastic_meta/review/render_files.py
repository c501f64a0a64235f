"""The files of ``blastic-meta render``: reading the template, writing the filled-in text.

``render`` writes a file only where it cannot destroy the researcher's work:

- never over its own template nor over any file it reads or the report reads (the summary,
  the bibliography, the protocol, the screening record, a study file), even with ``force``:
  the same file however reached (a relative path, a symlink or a hard link);
- over an existing file only if render wrote it before, which its first line says
  (``MARKER_PREFIXES``: an HTML comment for Markdown, a ``%`` comment for ``.tex``), or with
  ``force``;
- whole or not at all (``_io.atomic_write_text``): a failure leaves the old file or no file.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Iterable
from pathlib import Path

from .._io import MAX_INPUT_BYTES, FileLimitError, atomic_write_text, read_limited
from .filters import RenderError

__all__ = ["MARKER_PREFIXES", "check_output", "has_marker", "marker_line", "read_template",
           "write_output"]

MAX_TEMPLATE_BYTES = MAX_INPUT_BYTES
MARKER_PREFIXES = ("<!-- written by blastic-meta render", "% written by blastic-meta render")
_LATEX_SUFFIXES = {".tex", ".ltx", ".sty", ".cls"}


def read_template(path: str | Path) -> str:
    """The template's text (UTF-8, at most 2 MB, a regular file)."""
    path = Path(path)
    try:
        data = read_limited(path, MAX_TEMPLATE_BYTES, "template")
    except FileNotFoundError:
        raise RenderError(f"{path}: template not found") from None
    except FileLimitError as exc:
        raise RenderError(f"{path}: template not read: {exc.strerror}") from None
    except OSError as exc:
        raise RenderError(f"{path}: cannot read template ({exc.strerror})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RenderError(f"{path}:{line}: template is not UTF-8 text") from None


def _shown(template: Path, out: Path) -> str:
    try:
        name = os.path.relpath(template, out.parent)
    except ValueError:  # another drive (Windows)
        name = template.name
    # one printable line that cannot close the comment it sits in
    name = "".join(c if c.isprintable() else "?" for c in name)
    return name.replace("--", "-?")


def marker_line(out: str | Path, template: str | Path) -> str:
    """The first line render writes to ``out``, saying where the text comes from."""
    out, template = Path(out), Path(template)
    what = f"written by blastic-meta render from {_shown(template, out)}; edit the template, " \
           f"not this file"
    if out.suffix.lower() in _LATEX_SUFFIXES:
        return f"% {what}"
    return f"<!-- {what} -->"


def has_marker(path: str | Path) -> bool:
    """Whether the regular file ``path`` starts with render's marker line."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        head = os.read(fd, 256)
    finally:
        os.close(fd)
    first = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    return first.startswith(MARKER_PREFIXES)


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)  # also true for a hard link or a symlink to it
    except OSError:
        return a.resolve() == b.resolve()


#: an input file, or (file, what it is) for the error message
Input = str | Path | tuple[str | Path, str]


def _described(inputs: Iterable[Input]) -> list[tuple[Path, str]]:
    return [(Path(i[0]), i[1]) if isinstance(i, tuple) else (Path(i), "an input it reads")
            for i in inputs]


def check_output(out: str | Path, template: str | Path, *, force: bool = False,
                 inputs: Iterable[Input] = ()) -> None:
    """Raise RenderError unless render may write ``out`` (see the module's rules).

    ``inputs`` are the files render or the report reads; ``out`` is never one of them, with
    or without ``force`` (overwriting the bibliography just read loses it).
    """
    out, template = Path(out), Path(template)
    for source, which in [(template, "its own template"), *_described(inputs)]:
        if os.path.lexists(out) and _same(out, source):
            raise RenderError(f"{out}: is {which} ({source}), an input; not overwritten, "
                              f"even with --force; write to another file with -o")
    if not out.parent.is_dir():
        raise RenderError(f"{out}: folder {out.parent} does not exist")
    if not os.path.lexists(out):
        return
    if out.is_dir() or (out.exists() and not out.is_file()):
        raise RenderError(f"{out}: exists and is not a regular file; not replaced (omit -o to "
                          f"print to standard output)")
    if not force and not has_marker(out):
        raise RenderError(f"{out}: exists and was not written by blastic-meta render (no "
                          f"marker on its first line); not replaced; choose another -o, or "
                          f"pass --force to replace it")


def write_output(text_out: str, out: str | Path | None, template: str | Path = "<template>",
                 *, force: bool = False, inputs: Iterable[Input] = ()) -> None:
    """Print ``text_out``, or write it to ``out`` with the marker line, whole or not at all."""
    if out is None:
        _print(text_out)
        return
    out = Path(out)
    inputs = tuple(inputs)
    check_output(out, template, force=force, inputs=inputs)  # again: files may have changed
    body = text_out
    if re.match(r"---[ \t]*\r?\n", body):
        body = "\n" + body  # pandoc reads a YAML block after a blank line only
    try:
        atomic_write_text(out, marker_line(out, template) + "\n" + body)
    except OSError as exc:
        raise RenderError(f"{out}: cannot write ({exc.strerror or exc}); the file is left as "
                          f"it was") from None


def _print(text_out: str) -> None:
    """Write to standard output; a closed one is a user error, not a crash."""
    closed = RenderError("standard output is closed; nothing printed; write to a file with "
                         "-o OUT")
    if sys.stdout is None:  # the program was started with its output closed (>&-)
        raise closed
    try:
        sys.stdout.write(text_out)
        sys.stdout.flush()
    except BrokenPipeError:
        raise  # the reader stopped (| head): the command line ends quietly
    except (OSError, ValueError) as exc:  # EBADF; ValueError: I/O on a closed file
        raise closed from exc
