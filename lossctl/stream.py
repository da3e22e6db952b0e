"""Files larger than memory: the rows are read in record batches and each batch evaluated as it
comes, so memory stays bounded whatever the file's size.

The batches are cut at whole blocks of the engine's ``BLOCK`` rows (a CSV batch's remainder is
carried into the next), and each batch's block sums are kept; the cost is their compensated
total in order, exactly as the in-memory pass computes it, so a streamed cost has the same bits
as the in-memory one whenever no row is left out (``--nan omit`` moves the block edges and can
change the last bit). What needs every row at once (per-sample output, quantiles, intervals,
breakdowns, the worst rows, gradients, sweeps, a second file joined by key) is refused with a
message saying so.

The limit is ``--max-memory`` or, when not given, automatic: a file whose decoded columns would
not fit comfortably in the memory available is streamed within half of that memory.
"""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from lossctl import io
from lossctl.errors import InputError, UsageError, renumbered
from lossctl.registry import Loss

MAX_BATCH_ROWS = 1 << 20  # larger batches read no faster
# Peak memory of a streamed run, measured on 2 cores (10^6 to 10^8 rows): the process once its
# kernels are loaded, plus a reader's fixed buffers (a Parquet row group's column chunks; the
# CSV reader's threads), plus per row 24 bytes per column read (the Arrow batch, the NumPy
# arrays, a carried remainder, the checks' masks) and, for text, TEXT_BLOCKS times the line's
# bytes: Arrow's CSV reader reads blocks ahead of the one being evaluated (about 8 of them, each
# held as text and parsed), so its memory is a multiple of the block size.
FIXED_BYTES = {"parquet": 80 << 20, "csv": 100 << 20, "tsv": 100 << 20}
BYTES_PER_CELL = 24
TEXT_BLOCKS = 36
# An in-memory run holds the decoded columns about this many times over at its peak.
IN_MEMORY_FACTOR = 2.5
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """'512M', '512MiB', '2G', '1.5GB' or a number of bytes (binary multiples)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b)?\s*", text.lower())
    if m is None:
        raise UsageError(f"--max-memory '{text}' is not a size; give bytes or a number with K, M or G (512M)")
    size = int(float(m.group(1)) * _UNITS[m.group(2)])
    if size <= 0:
        raise UsageError(f"--max-memory '{text}' must be more than 0 bytes")
    return size


def available_memory() -> int | None:
    """The memory the system can give without swapping (MemAvailable), when it says."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def resident_memory() -> int:
    """This process's resident memory now, in bytes (its peak where the system does not say)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return peak_memory()


def peak_memory() -> int:
    """This process's peak resident memory so far, in bytes."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def decoded_size(table: io.Table, columns: Sequence[str]) -> int | None:
    """The bytes the columns would take as float64 in memory: exact rows for Parquet, estimated
    from the file's size and its first lines for CSV (compressed text taken as 5x smaller)."""
    ncols = len(set(columns))
    if table.format == "parquet":
        import pyarrow.parquet as pq

        try:
            with pq.ParquetFile(table.source) as pf:
                return int(pf.metadata.num_rows) * ncols * 8
        except Exception:
            return None  # the in-memory reader reports what is wrong with the file
    if table.source == "-":
        return None
    try:
        size = os.path.getsize(table.source) * (5 if table.compression == "gzip" else 1)
        rows = size // _line_bytes(table)
    except OSError:
        return None
    return rows * ncols * 8


def memory_budget(
    table: io.Table, columns: Sequence[str], max_memory: str | None, automatic: bool = True
) -> tuple[int, str] | None:
    """(bytes, why) when the file is to be streamed: a ``--max-memory`` limit, or (if
    ``automatic``) when its decoded columns would not fit comfortably in the memory available;
    else None. ``why`` starts with "automatic" for the latter."""
    if max_memory is not None:
        return parse_size(max_memory), f"--max-memory {max_memory}"
    if not automatic:
        return None
    need, free = decoded_size(table, columns), available_memory()
    if need is None or free is None or need * IN_MEMORY_FACTOR <= free / 2:
        return None
    return (
        free // 2,
        f"automatic: about {need / 2**20:,.0f} MiB of columns, {free / 2**20:,.0f} MiB of memory available",
    )


def batch_rows(budget: int, columns: int, fmt: str, line_bytes: int = 0, why: str = "") -> int:
    """Rows per batch for a memory budget: what the process and the reader do not already use,
    over the bytes a row takes while evaluated (``columns``: the columns read, times the results
    evaluated from them); whole blocks, at least one."""
    from lossctl.engine import BLOCK

    per_row = BYTES_PER_CELL * max(columns, 1) + TEXT_BLOCKS * line_bytes
    used = resident_memory() + FIXED_BYTES[fmt]
    rows = (budget - used) // per_row // BLOCK * BLOCK
    if rows < BLOCK:
        least = (used + BLOCK * per_row) / 2**20
        room = f"already use {used / 2**20:,.0f} MiB"
        if why.startswith("automatic"):
            raise InputError(
                f"the file is too large for memory and the memory available ({budget / 2**20:,.0f} MiB, half of "
                f"what is free) leaves no room to stream it: lossctl and the reader {room}; free memory, "
                f"or give --max-memory (at least {least:,.0f}M)"
            )
        raise UsageError(
            f"--max-memory {budget / 2**20:,.0f} MiB leaves no room: lossctl and the reader {room}; "
            f"give at least {least:,.0f}M"
        )
    return int(min(rows, MAX_BATCH_ROWS))


def _batches(table: io.Table, columns: list[str], rows: int) -> Iterator[dict[str, Any]]:
    """The columns, batch by batch, as NumPy arrays (float64 for CSV; Parquet's numbers as they
    are, other Parquet types converted as the in-memory reader does)."""
    import pyarrow as pa

    start = 0
    if table.format == "parquet":
        import pyarrow.parquet as pq

        try:
            # pre_buffer would keep every column chunk read, so memory would grow with the file;
            # a read buffer keeps a large row group from being read whole.
            with pq.ParquetFile(table.source, pre_buffer=False, buffer_size=8 << 20) as pf:
                for batch in pf.iter_batches(batch_size=rows, columns=columns, use_threads=True):
                    yield _arrays(table, batch, columns, start)
                    start += batch.num_rows
        except (OSError, pa.ArrowException) as e:
            raise InputError(f"'{table.source}' is not a readable Parquet file: {io._first_line(e)}") from None
        return
    import pyarrow.csv as pc

    try:
        reader = pc.open_csv(
            pa.input_stream(table.source, compression=table.compression),
            # A block of about ``rows`` lines: the memory of the blocks read ahead follows from it.
            read_options=pc.ReadOptions(block_size=max(rows * _line_bytes(table), 1 << 16)),
            parse_options=pc.ParseOptions(delimiter=table.delimiter),
            convert_options=pc.ConvertOptions(include_columns=columns, column_types={c: pa.float64() for c in columns}),
        )
        for batch in reader:
            yield _arrays(table, batch, columns, start)
            start += batch.num_rows
    except pa.ArrowInvalid as e:
        m = re.search(r"column #(\d+).*invalid value '(.*)'", str(e))
        if m is None:
            raise InputError(f"cannot read '{table.source}': {io._first_line(e)}") from None
        name = columns[int(m.group(1))] if int(m.group(1)) < len(columns) else "a column"
        raise InputError(
            f"column '{name}' of '{table.source}' has a value '{m.group(2)}' that is not a number, after row "
            f"{start}; a streamed CSV is read as numbers only (1/0 for true/false): fix the file, or evaluate "
            "it in memory without --max-memory, which names the row"
        ) from None
    except OSError as e:
        raise InputError(f"cannot read '{table.source}': {io._first_line(e)}") from None


def _line_bytes(table: io.Table) -> int:
    """The mean length of a text file's first lines (its rows' size, decompressed)."""
    return _mean_line_bytes(table.source, table.compression)


@functools.cache
def _mean_line_bytes(source: str, compression: str | None) -> int:
    with open(source, "rb") as fh:
        head = fh.read(io.HEAD_BYTES)
    if compression == "gzip":
        head = io._gunzip_head(head)
    return max(len(head) // max(head.count(b"\n"), 1), 8)


def _arrays(table: io.Table, batch: Any, columns: list[str], start: int) -> dict[str, Any]:
    """One batch's columns as NumPy arrays: numbers straight from their buffers; other types
    (booleans, numbers as text, all-null columns) as the in-memory reader converts them, its
    errors naming the row of the file."""
    import pyarrow as pa
    import pyarrow.types as pat

    out = {}
    for name in columns:
        col = batch.column(name)
        if pat.is_floating(col.type) or pat.is_integer(col.type):
            out[name] = io._arrow_numbers(col)
            continue
        part = io.Table(table.source, table.format, columns, arrow=pa.Table.from_batches([batch.select([name])]))
        try:
            out[name] = io.numeric_column(part, name)
        except InputError as e:
            raise renumbered(e, lambda i: i + start, lines=True) from None
    return out


def _whole_blocks(batches: Iterator[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(first row, arrays) in runs of whole blocks: a batch's remainder goes before the next."""
    import numpy as np

    from lossctl.engine import BLOCK

    carry: dict[str, Any] | None = None
    start = 0
    for arrays in batches:
        if carry is not None:
            arrays = {c: np.concatenate([carry[c], a]) for c, a in arrays.items()}
        n = len(next(iter(arrays.values())))
        whole = n // BLOCK * BLOCK
        if whole:
            yield start, {c: a[:whole] for c, a in arrays.items()} if whole < n else arrays
            start += whole
        carry = {c: a[whole:] for c, a in arrays.items()} if whole < n else None
    if carry is not None:
        yield start, carry


class _Totals:
    """One result's block sums and counts, batch after batch."""

    def __init__(self) -> None:
        self.sums: list[Any] = []
        self.wsums: list[Any] = []
        self.n = self.omitted = self.ignored = 0
        self.hits = 0.0
        self.hit_weight = 0.0
        self.timings = {"validate": 0.0, "jit": 0.0, "compute": 0.0}
        # From the first batch's result: its parameters, columns and conventions only (the
        # result itself holds that batch's arrays).
        self.first: dict[str, Any] | None = None

    def add(self, r: Any) -> None:
        import numpy as np

        sums, wsums, _ = r._blocks
        self.sums.append(sums)
        self.wsums.append(wsums)
        self.n += r.n
        self.omitted += r.omitted
        self.ignored += r.ignored
        if r._hits is not None and r._hits.shape[0]:
            w = r._weights
            self.hits += float(np.sum(r._hits if w is None else w * r._hits))
            self.hit_weight += float(r._hits.shape[0] if w is None else np.sum(w))
        for k in self.timings:
            self.timings[k] += r.timings.get(k, 0.0)
        if self.first is None:
            keep = ("loss", "params", "weighted", "columns", "compat", "api", "_k", "_count_divisor", "_root", "_loss")
            self.first = {k: getattr(r, k) for k in keep} | {"scale": r._blocks[2]}


def evaluate_stream(
    table: io.Table,
    plan: Sequence[tuple[Loss, list[str], list[str]]],
    runs: Sequence[tuple[Loss, dict[str, float], str | None, str]],
    *,
    weight: str | None,
    reduction: str,
    nan: str,
    compat: str | None,
    class_weight: Any,
    ignore_index: int | None,
    budget: tuple[int, str],
) -> tuple[list[Any], int, dict[str, Any]]:
    """Evaluate every run over the file's batches: (results, rows read, what the streaming did)."""
    import numpy as np

    from lossctl import api
    from lossctl.engine import BLOCK

    columns = list(dict.fromkeys([c for _, tc, pc in plan for c in (*tc, *pc)] + ([weight] if weight else [])))
    io.check_unique(table, columns)
    for lo, _, fw, _ in runs:
        conv = lo.compat.get(fw) if fw else None
        if conv is not None and conv.labels == "keras":
            raise UsageError(
                f"--compat keras {lo.name} reads -1/+1 labels as they are unless every label of the file is 0 "
                f"or 1, which a streamed run cannot know before the end; {_evaluate_in_memory(budget[1])}"
            )
    where = {lo.name: (tc, pc) for lo, tc, pc in plan}

    def evaluate_batch(start: int, arrays: dict[str, Any]) -> list[Any]:
        w = arrays[weight] if weight else None
        out = []
        for lo, given, fw, _ in runs:
            tcols, pcols = where[lo.name]
            yt = arrays[tcols[0]] if len(tcols) == 1 else np.column_stack([arrays[c] for c in tcols])
            yp = arrays[pcols[0]] if len(pcols) == 1 else np.column_stack([arrays[c] for c in pcols])
            names = {"y_true": io.describe_columns(tcols), "y_pred": io.describe_columns(pcols)}
            if weight:
                names["weight"] = weight
            try:
                r = api._evaluate(
                    yt,
                    yp,
                    lo,
                    w,
                    reduction=reduction,
                    nan=nan,
                    keep_per_sample=False,
                    names=names,
                    class_weight=class_weight,
                    ignore_index=ignore_index,
                    compat=fw,
                    compat_dtype=None,
                    params=given,
                    reduce=False,
                )
            except InputError as e:
                raise renumbered(e, lambda i: i + start, lines=True) from None
            out.append(r)
        return out

    # A first small batch loads the kernels (and numba), so the memory they take is counted
    # before the batch size is chosen; its results are not kept.
    t0 = time.perf_counter()
    first = next(_batches(table, columns, BLOCK), None)
    if first is not None:
        evaluate_batch(0, first)
    del first
    warm_up = time.perf_counter() - t0
    line_bytes = 0 if table.format == "parquet" else _line_bytes(table)
    # The columns read, and one result's masks at a time (and, under --compat, its copies of
    # the columns in the framework's precision and conventions).
    extra = 8 if any(fw for _, _, fw, _ in runs) else 2
    rows = batch_rows(budget[0], len(columns) + extra, table.format, line_bytes, budget[1])
    totals = {label: _Totals() for _, _, _, label in runs}
    n_rows = batches = 0
    for start, arrays in _whole_blocks(_batches(table, columns, rows)):
        batches += 1
        n_rows = start + len(next(iter(arrays.values())))
        for (_, _, _, label), r in zip(runs, evaluate_batch(start, arrays), strict=True):
            totals[label].add(r)
    if n_rows == 0:
        raise InputError(f"'{table.source}' has a header but no data rows")
    results = [_combine(totals[label], lo, label, reduction, nan, compat) for lo, _, _, label in runs]
    info = {
        "why": budget[1],
        "max_memory": budget[0],
        "batch_rows": rows,
        "batches": batches,
        "peak_memory": peak_memory(),
        "warm_up_s": warm_up,
    }
    return results, n_rows, info


def _combine(t: _Totals, lo: Loss, label: str, reduction: str, nan: str, compat: str | None) -> Any:
    """The batches' sums as one result, reduced as :func:`lossctl.evaluate` reduces them."""
    import math

    import numpy as np

    from lossctl import api, engine

    assert t.first is not None
    r = t.first
    total = engine.block_total(np.concatenate(t.sums)) * r["scale"]
    wsum = engine.block_total(np.concatenate(t.wsums)) if r["weighted"] else float(t.n)
    if math.isnan(total):
        raise InputError(
            f"the cost of {lo.name} is undefined: some rows have loss +inf and others -inf; "
            "a loss that can be -inf has no mean (drop or fix those rows)"
        )
    cost, divisor, total = api.reduce_cost(lo, reduction, total, wsum, t.n, r["_k"], r["_count_divisor"], r["weighted"])
    if nan == "propagate" and t.omitted:
        cost, total = (None if cost is None else math.nan), math.nan
    return api.EvalResult(
        loss=r["loss"],
        params=r["params"],
        n=t.n,
        reduction=reduction,
        cost=cost,
        total=total,
        weight_sum=wsum,
        weighted=r["weighted"],
        accuracy=t.hits / t.hit_weight if t.hit_weight > 0 else None,
        timings=dict(t.timings),
        columns=r["columns"],
        omitted=t.omitted,
        ignored=t.ignored,
        nan_policy=nan,
        divisor=divisor,
        compat=r["compat"],
        api=r["api"],
        label=label,
        _count_divisor=r["_count_divisor"],
        _k=r["_k"],
        _root=r["_root"],
        _no_gradient="gradients need every row in memory; evaluate without streaming",
        _loss=r["_loss"],
    )


def _evaluate_in_memory(why: str) -> str:
    if why.startswith("automatic"):
        return f"the file is streamed because its columns would not fit in memory ({why})"
    return f"drop {why.split(' ')[0]} to evaluate it in memory"


def refuse(options: Mapping[str, bool], why: str) -> None:
    """One line for the first option that needs every row in memory."""
    for flag, given in options.items():
        if given:
            raise UsageError(
                f"{flag} needs every row in memory, and this run streams the file; drop {flag} "
                f"({_evaluate_in_memory(why)})"
            )
