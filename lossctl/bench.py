"""``lossctl bench``: lossctl's kernels against NumPy and the frameworks, in one run.

Cases come from the loss registry (every loss by default) crossed with sizes and dtypes; inputs
come from :func:`lossctl.samples.draw`, the generator the correctness tests use. For each case:

- lossctl's fused kernel, cost only: compile (or cache-load) time apart, then after a warm-up
  the median, min and max of repeated runs; also the per-sample variant writing into a reused
  buffer, as a ratio to the cost-only time;
- the loss's NumPy reference (``.mean()`` of its per-sample array), and every framework the loss
  declares (PyTorch, scikit-learn) that is installed;
- throughput in rows/s and GB/s of input read, the fraction of the memory-read ceiling measured
  in the same run by a read-only kernel over the same arrays, and speed relative to NumPy;
- agreement: each implementation's cost against lossctl's (one table for speed and correctness).
"""

from __future__ import annotations

import functools
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from lossctl.registry import Loss, Task

MULTICLASS_K = 10
# Agreement tolerance on the cost, relative: float64 everywhere, or a float32 computation.
TOL_FLOAT64 = 1e-9
TOL_FLOAT32 = 1e-4
TARGET_SECONDS = 0.25  # time spent timing one implementation of one case (after warm-up)


@dataclass
class BenchRow:
    loss: str
    n: int
    dtype: str
    k: int | None
    impl: str
    median_s: float
    min_s: float
    max_s: float
    repeats: int
    first_call_s: float  # for lossctl: compile or disk-cache load; for others: the cold first call
    rows_per_s: float
    gb_per_s: float
    ceiling_fraction: float
    vs_numpy: float  # numpy median / this median: "x times faster than NumPy"
    cost: float
    rel_diff: float  # |cost - lossctl cost| / |lossctl cost|
    agrees: bool
    per_sample_ratio: float | None = None  # lossctl only: per-sample variant time / cost-only time


@dataclass
class BenchReport:
    rows: list[BenchRow]
    ceilings: list[dict[str, Any]]
    env: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "settings": self.settings,
            "ceilings": self.ceilings,
            "rows": [asdict(r) for r in self.rows],
        }


def environment() -> dict[str, Any]:
    import numba
    import numpy as np

    from lossctl import __version__

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {"lossctl": __version__, "python": platform.python_version(), "numpy": np.__version__}
    versions["numba"] = numba.__version__
    for mod in ("torch", "sklearn"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            pass
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        layer = "not initialised"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": numba.get_num_threads(),
        "threading_layer": layer,
        "platform": platform.platform(),
        "versions": versions,
    }


def _time(fn: Callable[[], Any], warmup: int = 1, target: float = TARGET_SECONDS) -> tuple[float, list[float], Any]:
    """(first call seconds, timed runs, last result): warm up, then repeat for about ``target`` s
    (at least 3 runs). A first call longer than ``target`` is warm-up enough on its own."""
    t0 = time.perf_counter()
    result = fn()
    first = time.perf_counter() - t0
    for _ in range(warmup if first < target else 0):
        fn()
    times: list[float] = []
    budget_end = time.perf_counter() + target
    while len(times) < 3 or (time.perf_counter() < budget_end and len(times) < 50):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return first, times, result


@functools.cache
def _ceiling_kernel() -> Callable[..., float]:
    from numba import njit, prange

    @njit(parallel=True, fastmath={"reassoc"}, cache=True)
    def read_all(a: Any, b: Any) -> float:  # pragma: no cover - compiled
        # One fused pass when the inputs have the same length (as lossctl's loop reads them).
        s = 0.0
        if a.shape[0] == b.shape[0]:
            for i in prange(a.shape[0]):
                s += a[i] + b[i]
            return s
        for i in prange(a.shape[0]):
            s += a[i]
        for i in prange(b.shape[0]):
            s += b[i]
        return s

    return read_all  # type: ignore[no-any-return]


def _flat_float(a: Any) -> Any:
    """The array's bytes as a 1-D float view (int64 class ids are read, not interpreted)."""
    import numpy as np

    flat = np.ascontiguousarray(a).reshape(-1)
    if flat.dtype.kind in "iu":
        flat = flat.view(np.float64)
    return flat


def run_bench(
    losses: Sequence[Loss],
    sizes: Sequence[int],
    dtypes: Sequence[str] = ("float64",),
    *,
    frameworks: bool = True,
    seed: int = 0,
    target_seconds: float = TARGET_SECONDS,
    progress: Callable[[str], None] | None = None,
    classes: Sequence[int] = (MULTICLASS_K,),
) -> BenchReport:
    """Time every (loss, size, dtype) case, multiclass losses at each number of ``classes``; see
    the module docstring for what is measured."""
    ceilings: dict[tuple[int, str, int], dict[str, Any]] = {}
    rows: list[BenchRow] = []
    for dtype in dtypes:
        for n in sizes:
            for lo in losses:
                for k in classes if lo.task is Task.MULTICLASS else (None,):
                    if progress:
                        progress(f"{lo.name} n={n:,} {dtype}" + (f" K={k}" if k else ""))
                    rows += _case(lo, n, dtype, seed, frameworks, target_seconds, ceilings, k)
    settings = {
        "sizes": list(sizes),
        "dtypes": list(dtypes),
        "classes": list(classes),
        "losses": [lo.name for lo in losses],
        "seed": seed,
    }
    return BenchReport(rows=rows, ceilings=list(ceilings.values()), env=environment(), settings=settings)


def _case(
    lo: Loss,
    n: int,
    dtype: str,
    seed: int,
    frameworks: bool,
    target: float,
    ceilings: dict[tuple[int, str, int], dict[str, Any]],
    k: int | None = None,
) -> list[BenchRow]:
    import numpy as np

    from lossctl import engine
    from lossctl.api import compat_params, evaluate
    from lossctl.samples import draw

    yt, yp = draw(lo, np.random.default_rng(seed), n, k=k or 0, dtype=np.dtype(dtype))
    if lo.task is Task.MULTICLASS and lo.kernel_ids is None:  # only the label-row form: one-hot the ids
        yt = np.eye(k or 2, dtype=yp.dtype)[yt]
    if any(c.labels for c in lo.compat.values()):  # labels every implementation reads alike
        yt = np.where(yt > 0, 1.0, -1.0).astype(yt.dtype)
    params = {p.name: p.default for p in lo.params}
    ptuple = tuple(params.values())
    layout = engine.layout_for(lo, np.ndim(yt))
    if lo.task is Task.MULTICLASS:
        yp = np.ascontiguousarray(yp, dtype=np.float64)  # the engine reads K class columns as float64
    nbytes = yt.nbytes + yp.nbytes

    key = (n, dtype, nbytes)
    if key not in ceilings:
        a, b = _flat_float(yt), _flat_float(yp)
        read_all = _ceiling_kernel()
        _, ctimes, _ = _time(lambda: read_all(a, b), target=target)
        med = statistics.median(ctimes)
        ceilings[key] = {"n": n, "dtype": dtype, "bytes": nbytes, "median_s": med, "gb_per_s": nbytes / med / 1e9}
    t_ceiling = ceilings[key]["median_s"]

    def finish(mean: float) -> float:
        return math.sqrt(mean) if lo.cost == "sqrt_mean" else mean

    def lossctl_cost() -> float:
        total, wsum = engine.run_kernel(lo, layout, yt, yp, None, None, ptuple)
        return finish(total / wsum)

    out = np.empty(n)

    def lossctl_per_sample() -> Any:
        return engine.run_kernel(lo, layout, yt, yp, None, out, ptuple)

    def numpy_cost() -> float:
        return finish(float(lo.reference(yt, yp, **params).mean()))

    impls: list[tuple[str, Callable[[], float]]] = [("lossctl", lossctl_cost), ("numpy", numpy_cost)]
    # What each implementation should give: lossctl's own cost, or for a framework's own loss
    # lossctl under that framework's conventions (its epsilons, divisors), in the input's dtype.
    expected: dict[str, float] = {}
    if frameworks:
        for name, fn in lo.frameworks.items():
            if not _available(name):
                continue
            conv = lo.compat.get(name)
            if conv is not None and conv.call is not None:
                resolved = compat_params(lo, name, {})  # the framework's defaults
                kw = {k: v for k, v in resolved.items() if k in conv.kwargs}
                impls.append((name, functools.partial(conv.call, yt, yp, **kw)))
                expected[name] = float(evaluate(yt, yp, lo, compat=name, compat_dtype=dtype).cost)
            else:
                impls.append((name, functools.partial(fn, yt, yp, **params)))

    measured = {name: _time(fn, target=target) for name, fn in impls}
    _, ps_times, _ = _time(lossctl_per_sample, target=target)
    lossctl_value = measured["lossctl"][2]
    numpy_median = statistics.median(measured["numpy"][1])
    rows = []
    for name, (first, times, cost) in measured.items():
        med = statistics.median(times)
        want = expected.get(name, lossctl_value)
        diff = abs(cost - want) / abs(want) if want else abs(cost)
        # Every implementation but lossctl computes in the input's dtype, as its users would.
        tol = TOL_FLOAT32 if dtype == "float32" else TOL_FLOAT64
        rows.append(
            BenchRow(
                loss=lo.name,
                n=n,
                dtype=dtype,
                k=k,
                impl=name,
                median_s=med,
                min_s=min(times),
                max_s=max(times),
                repeats=len(times),
                first_call_s=first,
                rows_per_s=n / med,
                gb_per_s=nbytes / med / 1e9,
                ceiling_fraction=t_ceiling / med,
                vs_numpy=numpy_median / med,
                cost=float(cost),
                rel_diff=float(diff),
                agrees=bool(diff <= tol),
                per_sample_ratio=statistics.median(ps_times) / med if name == "lossctl" else None,
            )
        )
    return rows


def _available(framework: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(framework) is not None


def scaling(d: dict[str, Any]) -> list[dict[str, Any]]:
    """Time per row (ns) at each size, per (loss, dtype, implementation): linear cost is a flat
    row. ``growth`` is the largest size's time per row over the smallest's (1.0: linear; above 1:
    the per-row cost grows, e.g. once the data leaves the caches; below 1: fixed overheads that
    small inputs cannot amortise)."""
    series: dict[tuple[str, str, str], dict[int, float]] = {}
    for r in d["rows"]:
        loss = r["loss"] + (f" (K={r['k']})" if r.get("k") else "")
        series.setdefault((loss, r["dtype"], r["impl"]), {})[r["n"]] = r["median_s"] / r["n"] * 1e9
    out = []
    for (loss, dtype, impl), per_n in series.items():
        sizes = sorted(per_n)
        growth = per_n[sizes[-1]] / per_n[sizes[0]] if len(sizes) > 1 and per_n[sizes[0]] > 0 else None
        out.append({"loss": loss, "dtype": dtype, "impl": impl, "ns_per_row": per_n, "growth": growth})
    return out


def regressions(report: BenchReport, baseline: dict[str, Any], max_regression_pct: float) -> list[str]:
    """lossctl cases slower than the baseline's by more than the given percentage."""
    old = {
        (r["loss"], r["n"], r["dtype"], r.get("k")): r["median_s"]
        for r in baseline.get("rows", [])
        if r.get("impl") == "lossctl"
    }
    out = []
    for r in report.rows:
        if r.impl != "lossctl":
            continue
        before = old.get((r.loss, r.n, r.dtype, r.k))
        if before and r.median_s > before * (1 + max_regression_pct / 100):
            case = f"{r.loss} n={r.n} {r.dtype}" + (f" K={r.k}" if r.k else "")
            out.append(f"{case}: {r.median_s * 1e3:.3f} ms vs {before * 1e3:.3f} ms baseline")
    return out
