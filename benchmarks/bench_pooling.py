"""Speed of blastic_meta's pooling functions against pymare and R metafor, in one run.

Run ``python benchmarks/bench_pooling.py`` (or ``make bench``; about a minute). On synthetic
data from a fixed seed (no study data), it measures and prints, with each goal and PASS/MISS:

1. ``pool_many(method="REML")`` on 20,000 meta-analyses of k = 10 against pymare's batched
   REML estimator on the same arrays, in the same process, alternating (goal: >= 10 times
   faster), with the largest differences of the estimates;
2. one ``pool(method="REML")`` call on k = 13 (goal: <= 0.2 ms), and R metafor's ``rma``;
3. ``pool_glmm`` on k = 10 against R metafor's ``rma.glmm(measure="PLO")`` (goal: >= 25
   times faster);
4. ``pool_bayes`` on k = 10 with a half-normal(0.5) prior on tau (goal: <= 5 ms), when the
   installed blastic_meta has it;
5. with ``--report DIR`` (a folder holding ``studies/`` and ``evidence/``, e.g. the project
   root), the wall time of ``blastic-meta report`` as a user runs it: cold, into an empty
   folder, so no figure is reused (goal: <= 6 s), and warm, rerun into the same folder.

Every time is the median of repeated timings after a warm-up call. R is timed inside R with
``system.time`` over many calls, divided by their number (one ``Rscript`` run for both R
functions, so R's start-up is not counted); without ``Rscript``, metafor or lme4 the R
columns say so and the ratios are skipped. Not part of the test suite or CI.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from importlib import metadata

import numpy as np

import blastic_meta
from blastic_meta import pool, pool_glmm, pool_many

REPEATS = 7  # timed blocks per measurement; the median block is reported
GOALS = {"pool_many": 10.0, "pool": 0.2e-3, "pool_glmm": 25.0, "pool_bayes": 5e-3,
         "report": 6.0}
REPORT_RUNS = 3  # cold and warm report runs; the median is reported

# synthetic k = 10 events and totals for the GLMM timing (not study data)
GLMM_EVENTS = [2, 0, 5, 12, 3, 8, 1, 15, 4, 6]
GLMM_TOTALS = [20, 15, 30, 40, 25, 33, 18, 45, 22, 28]

R_SCRIPT = r"""
if (!requireNamespace("metafor", quietly = TRUE)) {
  cat("no-metafor\n")
  quit(save = "no")
}
suppressMessages(library(metafor))
med <- function(expr_fun, n) {
  expr_fun()  # warm-up
  median(sapply(1:{repeats}, function(b)
    system.time(for (i in 1:n) expr_fun())[["elapsed"]] / n))
}
yi <- c({yi}); vi <- c({vi})
cat("rma", med(function() rma(yi, vi, method = "REML"), {n_rma}), "\n")
xi <- c({xi}); ni <- c({ni})
if (requireNamespace("lme4", quietly = TRUE)) {
  cat("rma.glmm", med(function() rma.glmm(measure = "PLO", xi = xi, ni = ni), {n_glmm}), "\n")
} else cat("rma.glmm NA\n")
cat("versions", R.version$major, R.version$minor, as.character(packageVersion("metafor")),
    "\n")
"""


def make_batch(rows: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Effects and variances of ``rows`` meta-analyses with a mix of true tau^2 values."""
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.01, 0.5, (rows, k))
    tau2 = rng.choice([0.0, 0.02, 0.1, 0.5], (rows, 1))
    y = rng.normal(0.3, np.sqrt(v + tau2))
    return y, v


def timed(fun: Callable[[], object], number: int = 1) -> float:
    """Seconds per call of ``number`` calls, with the garbage collector off (as timeit)."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(number):
            fun()
        return (time.perf_counter() - start) / number
    finally:
        gc.enable()


def per_call(fun: Callable[[], object], number: int) -> float:
    """Median over ``REPEATS`` blocks of ``number`` calls of the time per call, after a
    warm-up call."""
    fun()
    return statistics.median(timed(fun, number) for _ in range(REPEATS))


def fmt(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms" if seconds < 0.01 else f"{seconds * 1e3:.1f} ms"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def line(what: str, ours: str, reference: str, ratio: str, goal: str, result: str) -> None:
    print(f"{what:<34} {ours:>11}  {reference:<22} {ratio:>8}  {goal:<18} {result}")


def machine() -> list[str]:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            model = next(x.split(":", 1)[1].strip() for x in fh if x.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    versions = ", ".join(f"{name} {metadata.version(name)}"
                         for name in ("numpy", "scipy", "pandas", "pymare"))
    return [f"machine: {os.cpu_count()} logical cores ({model}), {platform.system()} "
            f"{platform.release()}; load average {load} (1, 5, 15 min)",
            f"python {platform.python_version()}, {versions}, blastic_meta "
            f"{blastic_meta.__version__}"]


def bench_pool_many(rows: int, seed: int) -> tuple[float, float]:
    """Median times of pool_many and of pymare on the same batch, alternating calls."""
    from pymare import Dataset
    from pymare.estimators import VarianceBasedLikelihoodEstimator

    y, v = make_batch(rows, 10, seed)

    def fit_pymare():
        # every option spelled out; "wald" because pymare's default is Knapp-Hartung
        est = VarianceBasedLikelihoodEstimator(
            method="REML", weight_scheme="individual", rho=None,
            small_sample_correction="wald", xtol=1e-6, ftol=1e-12, maxiter=50)
        return est.fit_dataset(Dataset(y=y.T, v=v.T, X=None, add_intercept=True))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table, est = pool_many(y, v, method="REML"), fit_pymare()  # warm-up
        ours, theirs = [], []
        for _ in range(REPEATS):  # alternate, so that both see the same machine load
            # pool_many is the shorter call, so one busy moment of the machine weighs more on
            # it: three of its calls per pymare call steady its median
            ours += [timed(lambda: pool_many(y, v, method="REML")) for _ in range(3)]
            theirs.append(timed(fit_pymare))
    d_est = np.abs(est.params_["fe_params"][0] - table["estimate"].to_numpy())
    d_tau2 = np.abs(est.params_["tau2"][0] - table["tau2"].to_numpy())
    same = d_est <= 1e-6  # elsewhere pymare's bounded search stops at another local maximum
    print(f"  pool_many vs pymare on the same {rows:,} rows: max |estimate diff| "
          f"{d_est[same].max():.1e}, max |tau2 diff| {d_tau2[same].max():.1e} over "
          f"{int(same.sum()):,} rows; {int((~same).sum())} rows where pymare stops at "
          "another local maximum")
    return statistics.median(ours), statistics.median(theirs)


def r_times(yi: np.ndarray, vi: np.ndarray) -> tuple[dict[str, float | None], str] | str:
    """R's rma and rma.glmm seconds per call (None without lme4) and R's versions, or why
    they could not be measured."""
    if shutil.which("Rscript") is None:
        return "Rscript not found"
    script = R_SCRIPT
    for key, value in {"repeats": REPEATS, "n_rma": 200, "n_glmm": 10,
                       "yi": ", ".join(map(repr, yi.tolist())),
                       "vi": ", ".join(map(repr, vi.tolist())),
                       "xi": ", ".join(map(str, GLMM_EVENTS)),
                       "ni": ", ".join(map(str, GLMM_TOTALS))}.items():
        script = script.replace("{" + key + "}", str(value))
    run = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True,
                         check=False)
    if run.returncode != 0:
        lines = run.stderr.strip().splitlines()
        return "R failed: " + (lines[-1] if lines else "no message")
    if run.stdout.startswith("no-metafor"):
        return "the R package metafor is not installed"
    times: dict[str, float | None] = {}
    versions = "?"
    for row in run.stdout.splitlines():
        name, *values = row.split()
        if name == "versions":
            versions = f"R {values[0]}.{values[1]}, metafor {values[2]}"
        else:
            times[name] = None if values[0] == "NA" else float(values[0])
    return times, versions


def report_times(root: str) -> tuple[float, float]:
    """Median wall seconds of a cold and of a warm ``blastic-meta report`` on ``root``'s
    registry: a fresh interpreter each time, as a user runs it, writing to a scratch folder."""
    import tempfile

    command = [sys.executable, "-m", "blastic_meta", "report", "--quiet",
               "--studies", os.path.join(root, "studies"),
               "--evidence", os.path.join(root, "evidence")]
    cold, warm = [], []
    for _ in range(REPORT_RUNS):
        with tempfile.TemporaryDirectory() as scratch:
            out = ["--out", os.path.join(scratch, "outputs")]
            for times in (cold, warm):
                start = time.perf_counter()
                subprocess.run(command + out, check=True, stdout=subprocess.DEVNULL)
                times.append(time.perf_counter() - start)
    return statistics.median(cold), statistics.median(warm)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000,
                        help="meta-analyses in the pool_many batch (default 20,000)")
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--no-r", action="store_true", help="skip the R timings")
    parser.add_argument("--report", metavar="DIR",
                        help="also time `blastic-meta report` on DIR/studies and DIR/evidence")
    args = parser.parse_args()

    print(f"blastic_meta benchmarks, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    for text in machine():
        print(text)
    print(f"every time: median of {REPEATS} timed blocks ({3 * REPEATS} for pool_many) after a "
          "warm-up call")
    print()

    many, pymare_s = bench_pool_many(args.rows, args.seed)
    y13, v13 = make_batch(1, 13, args.seed + 1)
    y13, v13 = y13[0], v13[0]
    pool_s = per_call(lambda: pool(y13, v13, method="REML"), 200)
    glmm_s = per_call(lambda: pool_glmm(GLMM_EVENTS, GLMM_TOTALS), 20)
    bayes_s = None
    if hasattr(blastic_meta, "pool_bayes"):
        y10, v10 = make_batch(1, 10, args.seed + 2)
        bayes_s = per_call(lambda: blastic_meta.pool_bayes(
            y10[0], v10[0], tau_prior="halfnormal", tau_scale=0.5), 10)
    reports = report_times(args.report) if args.report else None
    r = "--no-r" if args.no_r else r_times(y13, v13)
    if isinstance(r, str):
        print(f"  R timings skipped: {r}")
        r_s: dict[str, float | None] = {}
    else:
        r_s, versions = r
        print(f"  R: {versions} (timed inside R with system.time)")
    print()

    line("what", "blastic_meta", "reference", "ratio", "goal", "")
    ratio = pymare_s / many
    line(f"pool_many REML, {args.rows:,} x k=10", fmt(many), f"pymare {fmt(pymare_s)}",
         f"{ratio:.1f}x", ">= 10x pymare", verdict(ratio >= GOALS["pool_many"]))
    rma = r_s.get("rma")
    line("pool REML, k=13", fmt(pool_s), f"rma {fmt(rma)}" if rma else "rma: not timed",
         f"{rma / pool_s:.1f}x" if rma else "-", "<= 0.2 ms",
         verdict(pool_s <= GOALS["pool"]))
    glmm_r = r_s.get("rma.glmm")
    line("pool_glmm, k=10", fmt(glmm_s),
         f"rma.glmm {fmt(glmm_r)}" if glmm_r else "rma.glmm: not timed",
         f"{glmm_r / glmm_s:.1f}x" if glmm_r else "-", ">= 25x rma.glmm",
         verdict(glmm_r / glmm_s >= GOALS["pool_glmm"]) if glmm_r else "not measured")
    if bayes_s is None:
        print("pool_bayes: not available")
    else:
        line("pool_bayes halfnormal(0.5), k=10", fmt(bayes_s), "-", "-", "<= 5 ms",
             verdict(bayes_s <= GOALS["pool_bayes"]))
    if reports is not None:
        cold, warm = reports
        line("report, cold (no figure reused)", f"{cold:.1f} s", "-", "-", "<= 6 s",
             verdict(cold <= GOALS["report"]))
        line("report, warm (figures reused)", f"{warm:.1f} s", "-", "-", "-", "")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
