"""End-to-end timings of `lossctl eval` as a user runs it, each beside its baseline, in one run.

    python benchmarks/e2e.py [--repeat 5]

- warm start: `lossctl eval` on a 1,000-row file with kernels cached, against a bare Python
  process that imports NumPy and numba and calls one cached parallel kernel;
- first run ever: `lossctl eval` with an empty kernel cache (compiles only what it uses);
- `lossctl --help` and `lossctl list`.

Prints a Markdown table of medians; the README's performance section quotes it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BARE = """
import numpy as np
from numba import njit, prange

@njit(parallel=True, cache=True)
def mse(y, p):
    s = 0.0
    for i in prange(y.shape[0]):
        r = p[i] - y[i]
        s += r * r
    return s / y.shape[0]

y = np.zeros(1000)
print(mse(y, y + 1.0))
"""


def timed(cmd: list[str], env: dict[str, str], repeat: int, before=None) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        if before:
            before()
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lossctl-e2e-"))
    try:
        import numpy as np

        rng = np.random.default_rng(0)
        y = rng.normal(size=1000)
        data = work / "preds.csv"
        np.savetxt(
            data, np.column_stack([y, y + rng.normal(size=1000)]), delimiter=",", header="y_true,y_pred", comments=""
        )
        bare = work / "bare.py"
        bare.write_text(BARE)
        cache = work / "cache"
        env = {**os.environ, "LOSSCTL_CACHE_DIR": str(cache)}
        lossctl = [sys.executable, "-m", "lossctl"]
        eval_cmd = [*lossctl, "eval", str(data), "--loss", "mse", "--format", "json"]

        def empty_cache() -> None:
            shutil.rmtree(cache, ignore_errors=True)
            shutil.rmtree(work / "__pycache__", ignore_errors=True)

        rows = []
        rows.append(
            ("lossctl eval, empty kernel cache (first run ever)", timed(eval_cmd, env, args.repeat, empty_cache))
        )
        subprocess.run(eval_cmd, env=env, check=True, stdout=subprocess.DEVNULL)  # warm the cache
        subprocess.run([sys.executable, str(bare)], env=env, check=True, stdout=subprocess.DEVNULL)
        # Side by side: the two are run alternately, so a busy moment of the machine hits both.
        bare_times: list[float] = []
        warm_times: list[float] = []
        for _ in range(args.repeat):
            bare_times += timed([sys.executable, str(bare)], env, 1)
            warm_times += timed(eval_cmd, env, 1)
        rows.append(("bare: import numpy + numba, one cached kernel", bare_times))
        rows.append(("lossctl eval, 1,000 rows, kernels cached", warm_times))
        rows.append(("lossctl --help", timed([*lossctl, "--help"], env, args.repeat)))
        rows.append(("lossctl list", timed([*lossctl, "list", "--format", "json"], env, args.repeat)))
        print("| command | median s | min s | max s |")
        print("|---|---|---|---|")
        for name, ts in rows:
            print(f"| {name} | {statistics.median(ts):.3f} | {min(ts):.3f} | {max(ts):.3f} |")
        warm = statistics.median(rows[2][1]) / statistics.median(rows[1][1])
        print(f"\nwarm start ratio (lossctl eval / bare kernel process): {warm:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
