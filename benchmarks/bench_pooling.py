"""Speed of the pooling functions, printed as absolute times and ratios.

Run ``python benchmarks/bench_pooling.py`` (about a minute) or with ``--quick`` (smaller
batch). Measures, in one process and on synthetic data from a fixed seed:

1. ``pool_many(method="REML")`` on 100,000 meta-analyses of k = 10 against pymare's batched
   REML estimator (``VarianceBasedLikelihoodEstimator``) on the same data, with the largest
   absolute difference of the estimates (goal: >= 5 times faster, differences <= 1e-6);
2. one ``pool(method="REML")`` call on k = 10 (goal: < 1 ms);
3. ``pool_glmm`` on k = 10 against R's ``metafor::rma.glmm`` (goal: >= 10 times faster).
   R's time is the figure recorded in ``benchmarks/README.md``; ``--r`` measures it again
   with ``Rscript`` when R, metafor and lme4 are installed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import time
import timeit
import warnings

import numpy as np

from blastic_meta import pool, pool_glmm, pool_many

#: R 4.2.2, metafor 3.8-1, lme4: mean time of rma.glmm(measure="PLO") on GLMM_EVENTS /
#: GLMM_TOTALS over 20 calls, measured on the benchmark machine (see README.md for the date)
R_RMA_GLMM_SECONDS = 0.0528

# synthetic k = 10 data set for the GLMM timing (not study data)
GLMM_EVENTS = [2, 0, 5, 12, 3, 8, 1, 15, 4, 6]
GLMM_TOTALS = [20, 15, 30, 40, 25, 33, 18, 45, 22, 28]

R_SCRIPT = """
suppressMessages(library(metafor))
x <- c({x}); n <- c({n})
invisible(rma.glmm(measure="PLO", xi=x, ni=n))
t <- system.time(for (i in 1:20) rma.glmm(measure="PLO", xi=x, ni=n))[["elapsed"]] / 20
cat(sprintf("%.6f\\n", t))
"""


def make_batch(rows: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Effects and variances of ``rows`` meta-analyses with a mix of true tau^2 values."""
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.01, 0.5, (rows, k))
    tau2 = rng.choice([0.0, 0.02, 0.1, 0.5], (rows, 1))
    y = rng.normal(0.3, np.sqrt(v + tau2))
    return y, v


def best_time(fun, repeats: int) -> tuple[float, object]:
    """Smallest wall time of ``repeats`` calls and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fun()
        times.append(time.perf_counter() - start)
    return min(times), result


def bench_batch(rows: int, k: int, repeats: int, seed: int) -> None:
    from pymare import Dataset
    from pymare.estimators import VarianceBasedLikelihoodEstimator

    y, v = make_batch(rows, k, seed)
    ours_s, table = best_time(lambda: pool_many(y, v, method="REML", test="z"), repeats)

    def fit_pymare():
        # every option spelled out; "wald" because pymare's default is Knapp-Hartung
        est = VarianceBasedLikelihoodEstimator(
            method="REML", weight_scheme="individual", rho=None,
            small_sample_correction="wald", xtol=1e-6, ftol=1e-12, maxiter=50)
        return est.fit_dataset(Dataset(y=y.T, v=v.T, X=None, add_intercept=True))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs_s, est = best_time(fit_pymare, repeats)
    their_est, their_tau2 = est.params_["fe_params"][0], est.params_["tau2"][0]
    d_est = np.abs(their_est - table["estimate"].to_numpy())
    d_tau2 = np.abs(their_tau2 - table["tau2"].to_numpy())
    # rows where pymare's search stops at another local maximum of the REML likelihood
    other = d_est > 1e-6
    gain = reml_loglik(y, v, table["tau2"].to_numpy()) - reml_loglik(y, v, their_tau2)
    print(f"pool_many REML, {rows:,} meta-analyses of k = {k} (best of {repeats}):")
    print(f"  blastic_meta.pool_many   {ours_s:8.3f} s")
    print(f"  pymare REML (batched)    {theirs_s:8.3f} s")
    print(f"  ratio                    {theirs_s / ours_s:8.1f} x faster   (goal >= 5)")
    print(f"  max |estimate diff|      {d_est[~other].max():8.1e}     (goal <= 1e-6), "
          f"over the {int((~other).sum()):,} rows with the same optimum")
    print(f"  max |tau2 diff|          {d_tau2[~other].max():8.1e}     over the same rows")
    print(f"  rows with another optimum {int(other.sum()):7d}", end="")
    if other.any():
        print(f"     (pool_many's REML log-likelihood is higher in {int((gain[other] > 0).sum())}"
              f" of them, by up to {gain[other].max():.1e})")
    else:
        print()


def reml_loglik(y: np.ndarray, v: np.ndarray, tau2: np.ndarray) -> np.ndarray:
    """REML log-likelihood of each row at its tau2, up to a constant (Viechtbauer, 2005)."""
    w = 1 / (v + tau2[:, None])
    mu = (w * y).sum(1) / w.sum(1)
    rss = (w * (y - mu[:, None]) ** 2).sum(1)
    return -0.5 * (np.log(v + tau2[:, None]).sum(1) + np.log(w.sum(1)) + rss)


def bench_pool(k: int, seed: int) -> None:
    y, v = make_batch(1, k, seed)
    yi, vi = y[0], v[0]
    pool(yi, vi, method="REML")
    number = 500
    runs = timeit.repeat(lambda: pool(yi, vi, method="REML"), number=number, repeat=5)
    per_call = min(runs) / number
    print(f"pool(method='REML'), k = {k}: {per_call * 1e3:.3f} ms per call (goal < 1 ms)")


def bench_glmm(measure_r: bool) -> None:
    pool_glmm(GLMM_EVENTS, GLMM_TOTALS)
    number = 50
    runs = timeit.repeat(lambda: pool_glmm(GLMM_EVENTS, GLMM_TOTALS), number=number, repeat=5)
    ours = statistics.median(runs) / number
    r_time, source = R_RMA_GLMM_SECONDS, "recorded in benchmarks/README.md"
    if measure_r:
        if shutil.which("Rscript") is None:
            print("  (--r: Rscript not found; using the recorded figure)")
        else:
            script = R_SCRIPT.format(x=", ".join(map(str, GLMM_EVENTS)),
                                     n=", ".join(map(str, GLMM_TOTALS)))
            out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True,
                                 check=True)
            r_time, source = float(out.stdout.split()[-1]), "measured now"
    print(f"pool_glmm, k = {len(GLMM_EVENTS)}: {ours * 1e3:.2f} ms per call; "
          f"R rma.glmm {r_time * 1e3:.1f} ms ({source}); "
          f"ratio {r_time / ours:.1f} x faster (goal >= 10)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 meta-analyses, 2 repeats")
    parser.add_argument("--rows", type=int, help="number of meta-analyses in the batch")
    parser.add_argument("--k", type=int, default=10, help="studies per meta-analysis")
    parser.add_argument("--r", action="store_true", help="time R's rma.glmm now")
    parser.add_argument("--seed", type=int, default=20261128)
    args = parser.parse_args()
    rows = args.rows or (10_000 if args.quick else 100_000)
    repeats = 2 if args.quick else 3
    bench_batch(rows, args.k, repeats, args.seed)
    bench_pool(args.k, args.seed)
    bench_glmm(args.r)


if __name__ == "__main__":
    main()
