"""log, exp and log1p in numba: the C library's (math.log, ...) against lossctl._vecmath's.

    python benchmarks/vecmath.py [--size 1e7] [--repeat 10] [--threads 2]

Each kernel has the engine's loop shape: a parallel loop (prange) over blocks of 1024 elements;
per block, ``buf[j] = f(x[i])`` in a plain map loop, then the sum of ``buf`` (the only place where
reassociation is allowed, as in the engine, so that the sum is vectorised too). Timed: the best
of ``--repeat`` runs on ``--size`` float64 values, after a first run that compiles; the C library
and vecmath kernels run alternately. Besides the
three functions alone, the two compositions binary cross-entropy needs:

- on probabilities: -(y log p + (1 - y) log(1 - p)), p clipped to [1e-15, 1 - 1e-15];
- on logits: max(x, 0) - x y + log1p(exp(-|x|)).

Prints a Markdown table: ns per element for each, the speed-up, and how far the two sums differ.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from numba import njit, prange

from lossctl import _vecmath
from lossctl._vecmath import vexp, vlog, vlog1p

_vecmath.register_numba()  # before anything that calls vlog, vexp or vlog1p is compiled

BLOCK = 1024


@njit(fastmath={"reassoc"}, nogil=True)
def _sum(a):  # type: ignore[no-untyped-def]
    s = 0.0
    for i in range(a.shape[0]):
        s += a[i]
    return s


# The scalar functions, C library against lossctl._vecmath. They are inlined into the loop at
# numba's level (inline="always"), as the loss kernels are meant to be.
def libm_log(x: float) -> float:
    return math.log(x)


def vec_log(x: float) -> float:
    return vlog(x)


def libm_exp(x: float) -> float:
    return math.exp(x)


def vec_exp(x: float) -> float:
    return vexp(x)


def libm_log1p(x: float) -> float:
    return math.log1p(x)


def vec_log1p(x: float) -> float:
    return vlog1p(x)


def libm_bce_prob(y: float, p: float) -> float:
    p = min(max(p, 1e-15), 1.0 - 1e-15)
    return -(y * math.log(p) + (1.0 - y) * math.log(1.0 - p))


def vec_bce_prob(y: float, p: float) -> float:
    p = min(max(p, 1e-15), 1.0 - 1e-15)
    return -(y * vlog(p) + (1.0 - y) * vlog(1.0 - p))


def libm_bce_logit(y: float, x: float) -> float:
    return max(x, 0.0) - x * y + math.log1p(math.exp(-abs(x)))


def vec_bce_logit(y: float, x: float) -> float:
    return max(x, 0.0) - x * y + vlog1p(vexp(-abs(x)))


def unary_loop(fn: Callable[[float], float]) -> Any:
    f = njit(fn, error_model="numpy", inline="always")

    @njit(parallel=True, nogil=True, error_model="numpy")
    def run(x):  # type: ignore[no-untyped-def]
        n = x.shape[0]
        nblocks = (n + BLOCK - 1) // BLOCK
        sums = np.zeros(nblocks)
        for b in prange(nblocks):
            lo = b * BLOCK
            hi = min(lo + BLOCK, n)
            buf = np.empty(hi - lo)
            for i in range(lo, hi):
                buf[i - lo] = f(x[i])
            sums[b] = _sum(buf)
        return _sum(sums)

    return run


def binary_loop(fn: Callable[[float, float], float]) -> Any:
    f = njit(fn, error_model="numpy", inline="always")

    @njit(parallel=True, nogil=True, error_model="numpy")
    def run(y, x):  # type: ignore[no-untyped-def]
        n = x.shape[0]
        nblocks = (n + BLOCK - 1) // BLOCK
        sums = np.zeros(nblocks)
        for b in prange(nblocks):
            lo = b * BLOCK
            hi = min(lo + BLOCK, n)
            buf = np.empty(hi - lo)
            for i in range(lo, hi):
                buf[i - lo] = f(y[i], x[i])
            sums[b] = _sum(buf)
        return _sum(sums)

    return run


def best_times(kernels: list[Any], args: tuple[Any, ...], repeat: int) -> list[tuple[float, float]]:
    """For each kernel, (the best of ``repeat`` runs in seconds, its result). The first, compiling
    run is not timed, and the kernels run alternately, so a busy moment of the machine hits all."""
    results = [float(k(*args)) for k in kernels]
    best = [math.inf] * len(kernels)
    for _ in range(repeat):
        for j, k in enumerate(kernels):
            t0 = time.perf_counter()
            k(*args)
            best[j] = min(best[j], time.perf_counter() - t0)
    return list(zip(best, results, strict=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=float, default=1e7, help="number of float64 values (default 1e7)")
    ap.add_argument("--repeat", type=int, default=10, help="timed runs per kernel; the best is kept")
    ap.add_argument("--threads", type=int, default=2, help="numba threads (default 2)")
    args = ap.parse_args()
    n = int(args.size)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    rng = np.random.default_rng(0)
    labels = (rng.random(n) < 0.5).astype(np.float64)
    cases: list[tuple[str, str, Any, Any, tuple[Any, ...]]] = [
        ("log", "p ~ U(0, 1)", libm_log, vec_log, (rng.random(n),)),
        ("exp", "x ~ U(-30, 30)", libm_exp, vec_exp, (rng.uniform(-30.0, 30.0, n),)),
        ("log1p", "x ~ U(0, 1)", libm_log1p, vec_log1p, (rng.random(n),)),
        ("BCE on probabilities", "y in {0, 1}, p ~ U(0, 1)", libm_bce_prob, vec_bce_prob, (labels, rng.random(n))),
        ("BCE on logits", "y in {0, 1}, x ~ N(0, 4^2)", libm_bce_logit, vec_bce_logit, (labels, rng.normal(0, 4, n))),
    ]
    print(f"{n:,} float64 values, {numba.get_num_threads()} threads, blocks of {BLOCK}; best of {args.repeat} runs\n")
    print("| kernel | input | C library ns/elem | vecmath ns/elem | speed-up | relative difference of the sums |")
    print("|---|---|---|---|---|---|")
    for name, what, libm_fn, vec_fn, data in cases:
        loop = unary_loop if len(data) == 1 else binary_loop
        (t_libm, s_libm), (t_vec, s_vec) = best_times([loop(libm_fn), loop(vec_fn)], data, args.repeat)
        diff = abs(s_vec - s_libm) / abs(s_libm)
        print(
            f"| {name} | {what} | {t_libm / n * 1e9:.2f} | {t_vec / n * 1e9:.2f} | {t_libm / t_vec:.1f}x | {diff:.1e} |"
        )


if __name__ == "__main__":
    main()
