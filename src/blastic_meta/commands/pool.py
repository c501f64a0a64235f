"""``blastic-meta pool``: random-effects pooling of a CSV file of effect sizes.

Either the effect sizes are columns of the file (``--yi COL --vi COL``), or they are computed
from raw columns with metafor's ``escalc`` names (``--measure PLO --xi COL --ni COL``, ...).
Prints the metafor-style summary, or the full result as JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from ..errors import InputError

#: escalc argument names that may be given as columns with --measure
ESCALC_ARGS = ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i", "ni", "ri", "xi",
               "ai", "bi", "ci", "di")
METHODS = ("DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM", "EE", "FE")


class CsvInputError(InputError):
    """The CSV file or a column of it cannot be used."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE.csv", help="comma-separated file, one study per row")
    parser.add_argument("--yi", metavar="COL", help="column of effect sizes")
    parser.add_argument("--vi", metavar="COL", help="column of sampling variances")
    parser.add_argument("--measure", metavar="CODE",
                        help="compute effect sizes with metafor's escalc measure CODE "
                             "(e.g. PLO, PFT, MC, SMD) from the columns named below")
    group = parser.add_argument_group("escalc input columns (with --measure)")
    for name in ESCALC_ARGS:
        group.add_argument(f"--{name}", metavar="COL", help=f"column for escalc's {name}")
    parser.add_argument("--mods", metavar="COL", nargs="+",
                        help="numeric moderator column(s) for a meta-regression")
    parser.add_argument("--method", default="REML", choices=METHODS,
                        help="tau^2 estimator (default: REML); EE (alias FE) fits the "
                             "equal-effects model")
    parser.add_argument("--test", default="z", choices=("z", "knha"),
                        help="z (Wald) or knha (Knapp-Hartung) tests (default: z)")
    parser.add_argument("--adhoc", action="store_true",
                        help="with --test knha: floor the Knapp-Hartung scale at 1")
    parser.add_argument("--level", default="0.95", metavar="L",
                        help="confidence level in (0, 1) (default: 0.95)")
    parser.add_argument("--pi", default="metafor", choices=("metafor", "t(k-1)", "t(k-2)"),
                        help="prediction-interval quantile convention (default: metafor)")
    parser.add_argument("--i2", default="tau2", choices=("tau2", "Q"),
                        help="I^2 from tau^2 (metafor) or from Q (default: tau2)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _read(path: Path):
    import pandas as pd

    if not path.is_file():
        raise CsvInputError(f"{path}: no such file")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise CsvInputError(f"{path}: not a readable CSV file ({exc})") from None


def _column(table, path: Path, option: str, name: str):
    """A numeric column as a float array; errors name the file line of the bad cell."""
    import numpy as np

    if name not in table.columns:
        cols = ", ".join(repr(c) for c in table.columns)
        raise CsvInputError(f"{path}: {option} {name!r}: no such column (columns: {cols})")
    out = np.empty(len(table))
    for i, cell in enumerate(table[name].tolist()):
        text = cell.strip()
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise CsvInputError(f"{path}:{i + 2}: {option} column {name!r}: {cell!r} is not a "
                                "finite number")
        out[i] = value
    return out


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    from ..stats.models import pool

    path = Path(args.file)
    table = _read(path)
    if len(table) == 0:
        raise CsvInputError(f"{path}: no data rows")
    escalc = {n: getattr(args, n) for n in ESCALC_ARGS if getattr(args, n) is not None}
    if args.measure is not None:
        if args.yi or args.vi:
            raise CsvInputError("--measure: give either --measure with its input columns or "
                                "--yi/--vi, not both")
        if not escalc:
            raise CsvInputError(f"--measure {args.measure}: name the input columns, e.g. "
                                "--xi COL --ni COL for proportions")
        from ..stats.effects import effect_sizes

        arrays = {n: _column(table, path, f"--{n}", col) for n, col in escalc.items()}
        try:
            effects = effect_sizes(args.measure, **arrays)
        except InputError as exc:
            raise CsvInputError(f"{path}: {exc}") from None
        yi, vi = effects["yi"].to_numpy(), effects["vi"].to_numpy()
    else:
        if escalc:
            raise CsvInputError(f"--{next(iter(escalc))}: escalc input columns need --measure")
        if not (args.yi and args.vi):
            raise CsvInputError("give --yi COL and --vi COL, or --measure with its input "
                                "columns")
        yi = _column(table, path, "--yi", args.yi)
        vi = _column(table, path, "--vi", args.vi)
        bad = np.flatnonzero(vi <= 0)
        if bad.size:
            i = int(bad[0])
            raise CsvInputError(f"{path}:{i + 2}: --vi column {args.vi!r}: {float(vi[i])!r} is "
                                "not a sampling variance (must be > 0)")
    mods = None
    if args.mods:
        mods = pd.DataFrame({c: _column(table, path, "--mods", c) for c in args.mods})
    try:
        level = float(args.level)
    except ValueError:
        raise CsvInputError(f"--level {args.level!r}: expected a number in (0, 1), "
                            "e.g. 0.95") from None
    try:
        result = pool(yi, vi, method=args.method, test=args.test, level=level, mods=mods,
                      pi=args.pi, adhoc=args.adhoc, i2=args.i2)
    except InputError as exc:
        raise CsvInputError(f"{path}: {exc}") from None
    if args.json:
        payload = result.to_dict()
        payload["input"] = {"file": path.name, "rows": len(table)}
        sys.stdout.write(json.dumps(payload, indent=2, allow_nan=False) + "\n")
    else:
        sys.stdout.write(result.summary())
    return 0
