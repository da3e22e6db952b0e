"""The bootstrap kernels (import numba: only loaded when a bootstrap runs).

Every replicate has its own splitmix64 stream, seeded from (seed, replicate), so the answer is the
same on any number of threads. Sums are plain float64 loops: an interval needs speed far more
than it needs 1e-12 accuracy.

Two resampling schemes. Up to ``MULTINOMIAL_MAX_ROWS`` rows, the classic bootstrap: n row indices
drawn with replacement. Beyond that, random reads of a large array are bound by memory latency
(about 30 ns a draw: 30 s for 2000 replicates of 10^6 rows), so the Poisson bootstrap is used:
each row enters a replicate Poisson(1) times, which is the classic scheme to first order and lets
the kernel stream through the rows in cache-sized blocks, many replicates per pass.
"""

from __future__ import annotations

import math

import numba
import numpy as np

MULTINOMIAL_MAX_ROWS = 1 << 17
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53
# P(X <= k) for X ~ Poisson(1), k = 0..11, as 32-bit thresholds: a 32-bit uniform u becomes the
# count sum_k [u > T_k], without branches. Counts above 12 (probability 1e-10) are cut at 12.
_POISSON_T = np.array(
    [min(2**32 - 1, int(c * 2**32)) for c in np.cumsum([math.exp(-1.0) / math.factorial(k) for k in range(12)])],
    dtype=np.int64,
)
_LOW32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_GROUP = 16  # replicates per pass over a block of rows
_BLOCK = 2048  # rows per block (with m models, (m + 1) * 16 KiB: in L1/L2)


@numba.njit(cache=True, inline="always")
def _mix(z: np.uint64) -> np.uint64:
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@numba.njit(cache=True, inline="always")
def _start(seed: np.uint64, b: int) -> np.uint64:
    return _mix(seed * _GOLDEN + _mix(np.uint64(b) + _GOLDEN))


@numba.njit(cache=True, parallel=True, nogil=True)
def _multinomial(v, d, seed, sums_v, sums_d):  # type: ignore[no-untyped-def]
    m, n = v.shape
    for b in numba.prange(sums_d.shape[0]):
        # One pass per column, each replaying the replicate's stream (the generator costs less
        # than a second accumulator in memory): the sums stay in registers.
        for j in range(m + 1):
            x = d if j == m else v[j]
            state = _start(seed, b)
            acc = 0.0
            for _ in range(n):
                state += _GOLDEN
                i = np.int64(np.float64(_mix(state) >> _S11) * _TO_UNIT * n)
                acc += x[min(i, n - 1)]
            if j == m:
                sums_d[b] = acc
            else:
                sums_v[b, j] = acc


@numba.njit(cache=True, inline="always")
def _poisson_counts(state, thresholds, counts):  # type: ignore[no-untyped-def]
    """Fill ``counts`` with Poisson(1) draws (two per 64-bit output: its high and low 32 bits,
    each counted by how many thresholds it exceeds; branch-free so the loop vectorises)."""
    half = (counts.shape[0] + 1) // 2
    for i in range(half):
        z = _mix(state + np.uint64(i + 1) * _GOLDEN)
        u1 = np.int64(z >> _S32)
        u2 = np.int64(z & _LOW32)
        c1 = 0
        c2 = 0
        for k in range(thresholds.shape[0]):
            c1 += u1 > thresholds[k]
            c2 += u2 > thresholds[k]
        counts[2 * i] = c1
        if 2 * i + 1 < counts.shape[0]:
            counts[2 * i + 1] = c2
    return state + np.uint64(half) * _GOLDEN


@numba.njit(cache=True, fastmath=True, inline="always")
def _dot(counts, x, lo):  # type: ignore[no-untyped-def]
    # fastmath lets LLVM reorder this sum into vector lanes; the bootstrap does not need the
    # last bit of a sum.
    s = 0.0
    for i in range(counts.shape[0]):
        s += counts[i] * x[lo + i]
    return s


@numba.njit(cache=True, parallel=True, nogil=True)
def _poisson(v, d, seed, thresholds, sums_v, sums_d):  # type: ignore[no-untyped-def]
    m, n = v.shape
    replicates = sums_d.shape[0]
    groups = (replicates + _GROUP - 1) // _GROUP
    for g in numba.prange(groups):
        first = g * _GROUP
        size = min(_GROUP, replicates - first)
        acc = np.zeros((size, m + 1))
        states = np.empty(size, dtype=np.uint64)
        buffer = np.empty(_BLOCK, dtype=np.float64)
        for r in range(size):
            states[r] = _start(seed, first + r)
        for lo in range(0, n, _BLOCK):
            hi = min(n, lo + _BLOCK)
            counts = buffer[: hi - lo]
            for r in range(size):
                states[r] = _poisson_counts(states[r], thresholds, counts)
                for j in range(m):
                    acc[r, j] += _dot(counts, v[j], lo)
                acc[r, m] += _dot(counts, d, lo)
        for r in range(size):
            for j in range(m):
                sums_v[first + r, j] = acc[r, j]
            sums_d[first + r] = acc[r, m]


def resampled_sums(v: np.ndarray, d: np.ndarray, seed: np.uint64, sums_v: np.ndarray, sums_d: np.ndarray) -> str:
    """For each replicate b, the sums of the rows of ``v`` (m, n) and of ``d`` (n,) over a
    resample of the rows, into ``sums_v[b]`` and ``sums_d[b]``. Returns the scheme used."""
    if v.shape[1] <= MULTINOMIAL_MAX_ROWS:
        _multinomial(v, d, seed, sums_v, sums_d)
        return "multinomial"
    _poisson(v, d, seed, _POISSON_T, sums_v, sums_d)
    return "poisson"
