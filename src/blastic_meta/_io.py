"""Reading input files within a size limit and writing files whole or not at all.

Shared by every wing (imports no wing). Reading: a file is opened without blocking (a named
pipe or a device is refused rather than waited on) and its size is checked on the open file
before any byte is read, so a 200 MB file costs a ``stat``, not a parse. Writing: the text goes
to a temporary file in the target's folder, is flushed to disk (``fsync``) and then renamed
over the target (``os.replace``, atomic on POSIX), so a failure leaves the old file or no file,
never a partial one.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["FileLimitError", "atomic_write_text", "megabytes", "read_limited"]

#: study files, protocol.yaml, references.bib and templates larger than this are refused
MAX_INPUT_BYTES = 2_000_000


class FileLimitError(OSError):
    """A file that is too large or not a regular file; ``strerror`` says which, in words."""

    def __init__(self, path: str | Path, message: str, *, too_large: bool) -> None:
        super().__init__(errno.EFBIG if too_large else errno.EINVAL, message, str(path))
        self.too_large = too_large


def megabytes(n: int) -> str:
    """2_000_000 -> '2 MB', 10_500_000 -> '10.5 MB' (decimal megabytes)."""
    return f"{n / 1e6:g} MB"


def read_limited(path: str | Path, limit: int = MAX_INPUT_BYTES, what: str = "file") -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes.

    Raises FileLimitError (an OSError) for a larger file or one that is not a regular file
    (a folder, a named pipe, a device), and OSError when the file cannot be opened.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileLimitError(path, f"not a regular file (a {what} must be one)",
                                 too_large=False)
        if info.st_size > limit:
            raise FileLimitError(path, f"{info.st_size:,} bytes, over the {megabytes(limit)} "
                                       f"limit for a {what}", too_large=True)
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)  # the file may have grown since fstat
    finally:
        os.close(fd)
    if len(data) > limit:
        raise FileLimitError(path, f"over the {megabytes(limit)} limit for a {what}",
                             too_large=True)
    return data


def _new_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_text(path: str | Path, text: str, *, overwrite: bool = True) -> None:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` whole or not at all.

    With ``overwrite=False`` an existing file is never replaced (FileExistsError), and the
    check and the creation are one step (a hard link), so two writers cannot both succeed.
    An existing file's permissions are kept; a new file gets the usual ones (umask).
    """
    path = Path(path)
    data = text.encode("utf-8")
    try:
        mode = stat.S_IMODE(path.stat().st_mode) if overwrite else _new_file_mode()
    except FileNotFoundError:
        mode = _new_file_mode()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _link_new(tmp: Path, path: Path) -> None:
    """Give ``tmp`` the name ``path`` only if no such file exists (then drop ``tmp``)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV,
                             errno.EMLINK):
            raise
        # a file system without hard links: check, then rename (a narrow race remains)
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "file exists", str(path)) from None
        os.replace(tmp, path)
        return
    tmp.unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable; not possible (nor needed) on every platform."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
