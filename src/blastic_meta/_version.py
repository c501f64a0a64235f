"""Package version, read from the installed distribution metadata."""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("blastic-meta")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
