"""Readers, memory and streaming, each measured beside its baseline in one run.

    python benchmarks/memory.py readers [--rows 1e7]        # lossctl's reader vs standalone readers
    python benchmarks/memory.py peak [--rows 1e7]           # peak memory of an in-memory eval
    python benchmarks/memory.py stream [--rows 1e8] [--max-memory 512M] [--format parquet|csv]

- readers: the same two float64 columns read into NumPy arrays, in this process, alternating
  between readers so that a busy moment hits all of them: lossctl's reader (``lossctl.io``) and
  every standalone reader installed (pyarrow, pandas, polars), for Parquet and CSV. The fastest
  standalone reader is the baseline.
- peak: ``lossctl eval FILE --no-stats`` in a child process; its peak resident memory against a
  1,000-row run of the same command (the fixed baseline) and the decoded input (rows x 2 x 8
  bytes): (peak - baseline) / decoded.
- stream: ``lossctl eval FILE --max-memory M`` against ``lossctl eval FILE`` in memory: the costs
  (they must be the same), the time and the peak memory of each.

Files are written once into --dir (default: a temporary directory, removed afterwards).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_data(directory: Path, rows: int, fmt: str) -> Path:
    import numpy as np
    import pyarrow as pa

    path = directory / f"preds_{rows}.{fmt}"
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    rng = np.random.default_rng(0)
    step = 1 << 22
    if fmt == "parquet":
        import pyarrow.parquet as pq

        schema = pa.schema([("y_true", pa.float64()), ("y_pred", pa.float64())])
        with pq.ParquetWriter(tmp, schema) as w:
            for start in range(0, rows, step):
                y = rng.normal(size=min(step, rows - start))
                w.write_table(pa.table({"y_true": y, "y_pred": y + rng.normal(size=y.shape[0])}, schema=schema))
    else:
        import pyarrow.csv as pcsv

        with pa.OSFile(str(tmp), "wb") as sink:
            writer = None
            for start in range(0, rows, step):
                y = rng.normal(size=min(step, rows - start))
                t = pa.table({"y_true": y, "y_pred": y + rng.normal(size=y.shape[0])})
                if writer is None:
                    writer = pcsv.CSVWriter(sink, t.schema)
                writer.write_table(t)
            assert writer is not None
            writer.close()
    tmp.rename(path)
    return path


# --- readers ------------------------------------------------------------------------------------


def readers(path: Path) -> dict[str, Callable[[], Any]]:
    """Every reader installed, each returning the two columns as NumPy arrays."""
    import numpy as np

    from lossctl import io

    cols = ["y_true", "y_pred"]

    def lossctl_reader() -> Any:
        t = io.read_columns(io.open_table(str(path)), cols, cols)
        return [io.numeric_column(t, c) for c in cols]

    out: dict[str, Callable[[], Any]] = {"lossctl": lossctl_reader}
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        out["pyarrow read_table + to_numpy"] = lambda: [c.to_numpy() for c in pq.read_table(path, columns=cols).columns]
        import pandas as pd

        out["pandas read_parquet"] = lambda: [pd.read_parquet(path, columns=cols)[c].to_numpy() for c in cols]
        try:
            import polars as pl

            out["polars read_parquet"] = lambda: [
                s.to_numpy() for s in pl.read_parquet(path, columns=cols).get_columns()
            ]
        except ImportError:
            pass
    else:
        import pyarrow as pa
        import pyarrow.csv as pcsv

        types = {c: pa.float64() for c in cols}
        out["pyarrow read_csv + to_numpy"] = lambda: [
            c.to_numpy()
            for c in pcsv.read_csv(
                path, convert_options=pcsv.ConvertOptions(include_columns=cols, column_types=types)
            ).columns
        ]
        import pandas as pd

        out["pandas read_csv (C engine)"] = lambda: [
            pd.read_csv(path, usecols=cols, dtype=np.float64)[c].to_numpy() for c in cols
        ]
        try:
            import polars as pl

            out["polars read_csv"] = lambda: [s.to_numpy() for s in pl.read_csv(path, columns=cols).get_columns()]
        except ImportError:
            pass
    return out


def bench_readers(directory: Path, rows: int, repeat: int) -> None:
    print("| format | reader | median s | min s | vs fastest standalone |\n|---|---|---|---|---|")
    for fmt in ("parquet", "csv"):
        path = write_data(directory, rows, fmt)
        fns = readers(path)
        for fn in fns.values():  # warm the page cache and the imports
            fn()
        times: dict[str, list[float]] = {name: [] for name in fns}
        for _ in range(repeat):
            for name, fn in fns.items():
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
        med = {name: statistics.median(ts) for name, ts in times.items()}
        best = min(v for k, v in med.items() if k != "lossctl")
        for name, ts in times.items():
            print(f"| {fmt} | {name} | {med[name]:.3f} | {min(ts):.3f} | {med[name] / best:.2f}x |")


# --- peak memory and streaming --------------------------------------------------------------------


def run_child(args: list[str], env: dict[str, str]) -> tuple[float, int, dict[str, Any]]:
    """(seconds, peak resident bytes, JSON report) of one ``lossctl`` child process; the peak is
    the child's own (wait4), not the largest child's so far."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "lossctl", *args], env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"lossctl {' '.join(args)} failed: {err.read().decode().strip()}")
        return seconds, usage.ru_maxrss * 1024, json.loads(out.read())


def bench_peak(directory: Path, rows: int, env: dict[str, str]) -> None:
    for fmt in ("parquet", "csv"):
        small = write_data(directory, 1000, fmt)
        big = write_data(directory, rows, fmt)
        args = ["eval", "-l", "mse", "--no-stats", "-f", "json"]
        _, base, _ = run_child([args[0], str(small), *args[1:]], env)
        _, peak, _ = run_child([args[0], str(big), *args[1:]], env)
        decoded = rows * 2 * 8
        print(
            f"{fmt}: {rows:,} rows, decoded input {decoded / 2**20:,.0f} MiB; peak {peak / 2**20:,.0f} MiB, "
            f"baseline (1,000 rows) {base / 2**20:,.0f} MiB: "
            f"(peak - baseline) / decoded = {(peak - base) / decoded:.2f}"
        )


def bench_stream(directory: Path, rows: int, fmt: str, limit: str, env: dict[str, str]) -> None:
    path = write_data(directory, rows, fmt)
    args = ["eval", str(path), "-l", "mse", "-f", "json"]
    t_stream, _, streamed = run_child([*args, "--max-memory", limit], env)
    info = streamed["input"]["streamed"]
    t_mem, peak_mem, memory = run_child([*args, "--no-stats"], env)
    same = [a["cost"] for a in streamed["results"]] == [b["cost"] for b in memory["results"]]
    print(f"{fmt}, {rows:,} rows, lossctl eval -l mse:")
    print(
        f"  streamed (--max-memory {limit}): {t_stream:.2f} s, {rows / t_stream / 1e6:.1f} M rows/s, "
        f"peak {info['peak_memory'] / 2**20:,.0f} MiB, {info['batches']} batches of {info['batch_rows']:,} rows"
    )
    print(f"  in memory: {t_mem:.2f} s, {rows / t_mem / 1e6:.1f} M rows/s, peak {peak_mem / 2**20:,.0f} MiB")
    print(f"  throughput streamed / in memory: {t_mem / t_stream:.2f}x; costs identical: {same}")
    print(f"  cost: {streamed['results'][0]['cost']!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["readers", "peak", "stream"])
    ap.add_argument("--rows", type=float, default=None)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    ap.add_argument("--max-memory", default="512M")
    ap.add_argument("--dir", type=Path, default=None, help="keep the data files here (default: temporary)")
    args = ap.parse_args()
    directory = args.dir or Path(tempfile.mkdtemp(prefix="lossctl-mem-"))
    directory.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LOSSCTL_CACHE_DIR": str(directory / "cache")}
    try:
        if args.what == "readers":
            bench_readers(directory, int(args.rows or 1e7), args.repeat)
        elif args.what == "peak":
            bench_peak(directory, int(args.rows or 1e7), env)
        else:
            # Warm the kernel cache first, so neither timed run compiles.
            run_child(["eval", str(write_data(directory, 1000, args.format)), "-l", "mse", "-f", "json"], env)
            bench_stream(directory, int(args.rows or 1e8), args.format, args.max_memory, env)
    finally:
        if args.dir is None:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
