"""Reading prediction files and finding the columns a loss needs.

Formats: CSV, TSV and Parquet, chosen by extension or, failing that, by content; ``-`` reads CSV
from stdin. Only the columns in use are read. Columns are found by common names (per the kind of
prediction a loss declares) or given explicitly; multiclass predictions take a glob such as
``p_*``, sorted by their numeric suffix.
"""

from __future__ import annotations

import fnmatch
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lossctl.errors import InputError, UsageError, did_you_mean
from lossctl.registry import Loss, Pred, Task

LABEL_NAMES = ("y_true", "label", "labels", "target", "y", "class", "truth")
GENERIC_PRED_NAMES = ("y_pred", "pred", "prediction", "predictions", "yhat", "y_hat")
# Tried before the generic names, tier by tier: the first tier with a match wins.
PRED_NAME_TIERS: dict[Pred, tuple[tuple[str, ...], ...]] = {
    Pred.VALUE: (),
    Pred.PROBABILITY: (("prob", "proba", "probability", "p"),),
    Pred.LOGIT: (("logit", "logits"),),
    Pred.SCORE: (("score", "decision", "margin"), ("logit", "logits")),
}
CLASS_GLOBS: dict[Pred, tuple[str, ...]] = {
    Pred.PROBABILITY: ("p_*", "prob_*", "proba_*"),
    Pred.LOGIT: ("logit_*", "logits_*"),
    Pred.SCORE: ("score_*", "logit_*"),
    Pred.VALUE: (),
}
PARQUET_EXT = (".parquet", ".pq")
TSV_EXT = (".tsv", ".tab")


@dataclass
class Table:
    """Columns read from one file (as a pandas DataFrame) and where they came from."""

    source: str
    format: str
    columns: list[str]
    frame: Any = None  # pandas.DataFrame of the columns read
    delimiter: str = ","
    compression: str | None = None
    raw: bytes | None = None  # stdin's bytes, held until read_columns parses them

    @property
    def rows(self) -> int:
        return 0 if self.frame is None else len(self.frame)

    def line_of(self, row: int) -> str:
        """' (line L)' for text formats: the header is line 1."""
        return "" if self.format == "parquet" else f" (line {row + 2})"


HEAD_BYTES = 1 << 16
DELIMITERS = (",", "\t", ";", "|")


def _os_error(path: str, e: OSError) -> InputError:
    if isinstance(e, FileNotFoundError):
        return InputError(f"file '{path}' does not exist; check the path")
    if isinstance(e, IsADirectoryError):
        return InputError(f"'{path}' is a directory; give a CSV, TSV or Parquet file")
    if isinstance(e, PermissionError):
        return InputError(f"cannot read '{path}': permission denied; check the file's permissions")
    return InputError(f"cannot read '{path}': {e.strerror or e}")


def _head(path: str) -> tuple[bytes, bytes | None]:
    """The first bytes of a file (or all of stdin, which can be read only once)."""
    if path == "-":
        data = sys.stdin.buffer.read()
        return data[:HEAD_BYTES], data
    if os.path.isdir(path):
        raise InputError(f"'{path}' is a directory; give a CSV, TSV or Parquet file")
    try:
        with open(path, "rb") as fh:
            return fh.read(HEAD_BYTES), None
    except OSError as e:
        raise _os_error(path, e) from None


def _gunzip_head(head: bytes) -> bytes:
    import zlib

    try:
        return zlib.decompressobj(wbits=31).decompress(head, HEAD_BYTES)
    except zlib.error as e:
        raise InputError(f"corrupt gzip data ({e})") from None


def open_table(path: str) -> Table:
    """Look at a file's format, delimiter and column names without reading its data."""
    head, raw = _head(path)
    low = path.lower()
    if not head:
        raise InputError(f"'{path}' is empty; it needs a header row and data rows")
    if head.startswith(b"PAR1") or low.endswith(PARQUET_EXT):
        return _open_parquet(path, head)
    compression = None
    if head.startswith(b"\x1f\x8b"):
        compression = "gzip"
        try:
            head = _gunzip_head(head)
        except InputError as e:
            raise InputError(f"cannot read '{path}': {e}") from None
        low = low.removesuffix(".gz")
    if b"\x00" in head:
        raise InputError(f"'{path}' looks like a binary file, not CSV or TSV text; give a CSV, TSV or Parquet file")
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # not just a character cut at the end of the sample
            raise InputError(f"'{path}' is not UTF-8 text (byte {e.start}); save it as UTF-8 CSV") from None
        text = head[: e.start].decode("utf-8-sig")
    header = text.splitlines()[0] if text.strip() else ""
    if not header.strip():
        raise InputError(f"'{path}' has no header row; the first line must name the columns")
    if low.endswith(TSV_EXT):
        delimiter = "\t"
    else:
        counts = {d: header.count(d) for d in DELIMITERS}
        delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    import csv

    columns = next(csv.reader([header], delimiter=delimiter))
    fmt = "tsv" if delimiter == "\t" else "csv"
    return Table(path, fmt, columns, delimiter=delimiter, compression=compression, raw=raw)


def _open_parquet(path: str, head: bytes) -> Table:
    if path == "-":
        raise InputError("stdin holds Parquet data; lossctl reads CSV from stdin: give the Parquet file's path")
    import pyarrow.parquet as pq

    try:
        names = list(pq.read_schema(path).names)
    except OSError as e:
        if not head.startswith(b"PAR1"):
            raise InputError(f"'{path}' is not a Parquet file (it does not start with PAR1)") from None
        raise InputError(f"'{path}' is not a readable Parquet file: {_first_line(e)}") from None
    except Exception as e:  # pyarrow raises ArrowInvalid for a corrupt or truncated file
        raise InputError(f"'{path}' is not a readable Parquet file: {_first_line(e)}") from None
    return Table(path, "parquet", names)


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def read_columns(table: Table, needed: Sequence[str]) -> Table:
    """Read the named columns of ``table`` into ``table.frame``."""
    import pandas as pd

    cols = list(dict.fromkeys(needed))
    for c in cols:
        if table.columns.count(c) > 1:
            raise InputError(f"column '{c}' appears {table.columns.count(c)} times in '{table.source}'; rename one")
    try:
        if table.format == "parquet":
            frame = pd.read_parquet(table.source, columns=cols)
        else:
            frame = _read_text(table, cols, as_text=False)
    except OSError as e:
        raise _os_error(table.source, e) from None
    except Exception as e:
        if "conversion error" not in str(e).lower():
            raise InputError(f"cannot read '{table.source}': {_first_line(e)}") from None
        # A cell that is not a number: read the columns as text so the error can name its row.
        frame = _read_text(table, cols, as_text=True)
    if len(frame) == 0:
        raise InputError(f"'{table.source}' has a header but no data rows")
    table.frame = frame
    return table


def _read_text(table: Table, cols: list[str], as_text: bool) -> Any:
    """CSV/TSV via pyarrow: multithreaded, and it refuses ragged rows (pandas' C reader with
    usecols silently ignores extra fields)."""
    import pyarrow as pa
    import pyarrow.csv as pc

    src = pa.py_buffer(table.raw) if table.raw is not None else table.source
    stream = pa.input_stream(src, compression=table.compression)
    types = {c: pa.string() for c in cols} if as_text else None
    result = pc.read_csv(
        stream,
        parse_options=pc.ParseOptions(delimiter=table.delimiter),
        convert_options=pc.ConvertOptions(include_columns=cols, column_types=types),
    )
    return result.to_pandas()


def numeric_column(table: Table, name: str) -> Any:
    """One column as a float64 (or float32) NumPy array; a non-numeric cell is an error naming it."""
    import numpy as np
    import pandas as pd

    s = table.frame[name]
    if s.dtype.kind in "fiu":
        return s.to_numpy()
    if s.dtype.kind == "b":
        return s.to_numpy(dtype=np.float64)
    converted = pd.to_numeric(s, errors="coerce")
    bad = converted.isna() & s.notna()
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        where = f"row {i}{table.line_of(i)}"
        raise InputError(f"column '{name}' of '{table.source}' has a non-numeric value {s.iloc[i]!r} at {where}")
    return converted.to_numpy(dtype=np.float64)


def numeric_matrix(table: Table, names: Sequence[str]) -> Any:
    import numpy as np

    if len(names) == 1:
        return numeric_column(table, names[0])
    return np.column_stack([numeric_column(table, c) for c in names])


# --- finding columns ------------------------------------------------------------------------


def _lookup(columns: Sequence[str], wanted: str) -> str | None:
    if wanted in columns:
        return wanted
    lowered = {c.lower(): c for c in columns}
    return lowered.get(wanted.lower())


def _missing(what: str, name: str, source: str, columns: Sequence[str]) -> InputError:
    hint = did_you_mean(name, columns)
    return InputError(f"{what} column '{name}' is not in '{source}'.{hint} Its columns: {', '.join(columns)}")


def _natural_key(name: str) -> tuple[Any, ...]:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def _glob(columns: Sequence[str], pattern: str) -> list[str]:
    return sorted((c for c in columns if fnmatch.fnmatchcase(c, pattern)), key=_natural_key)


def _pick(columns: Sequence[str], names: Sequence[str], what: str, source: str) -> str | None:
    found = [c for c in (_lookup(columns, n) for n in names) if c is not None]
    found = list(dict.fromkeys(found))
    if len(found) > 1:
        raise InputError(
            f"'{source}' has several {what} columns ({', '.join(found)}); choose one with "
            f"--{'y-true' if what == 'label' else 'y-pred'} COL"
        )
    return found[0] if found else None


def find_pred_columns(loss: Loss, table: Table, given: str | None) -> list[str]:
    """The prediction column(s) for ``loss`` in ``table``: one, or K for multiclass."""
    cols, src = table.columns, table.source
    if given:
        if _is_glob(given):
            found = _glob(cols, given)
            if not found:
                raise InputError(f"--y-pred '{given}' matches no column of '{src}'; its columns: {', '.join(cols)}")
        else:
            one = _lookup(cols, given)
            if one is None:
                raise _missing("prediction", given, src, cols)
            found = [one]
        if loss.task is Task.MULTICLASS and len(found) < 2:
            raise UsageError(
                f"{loss.name} is multiclass and needs one prediction column per class; "
                f"give a glob such as --y-pred '{(CLASS_GLOBS[loss.prediction] or ('p_*',))[0]}'"
            )
        if loss.task is not Task.MULTICLASS and len(found) > 1:
            raise UsageError(f"{loss.name} takes one prediction column; --y-pred '{given}' matches {len(found)}")
        return found
    if loss.task is Task.MULTICLASS:
        for pattern in CLASS_GLOBS[loss.prediction]:
            found = _glob(cols, pattern)
            if len(found) >= 2:
                return found
        wanted = " or ".join(f"'{g}'" for g in CLASS_GLOBS[loss.prediction])
        raise InputError(
            f"no class columns for {loss.name} in '{src}' (looked for {wanted}); name them with --y-pred 'GLOB'. "
            f"Its columns: {', '.join(cols)}"
        )
    for tier in (*PRED_NAME_TIERS[loss.prediction], GENERIC_PRED_NAMES):
        one = _pick(cols, tier, "prediction", src)
        if one:
            return [one]
    looked = [n for tier in (*PRED_NAME_TIERS[loss.prediction], GENERIC_PRED_NAMES) for n in tier]
    raise InputError(
        f"no prediction column for {loss.name} in '{src}' (looked for {', '.join(looked)}); "
        f"name it with --y-pred COL. Its columns: {', '.join(cols)}"
    )


def find_label_columns(loss: Loss, table: Table, given: str | None) -> list[str]:
    """The label column(s): one (values or class ids), or K for label distributions."""
    cols, src = table.columns, table.source
    if given:
        if _is_glob(given):
            found = _glob(cols, given)
            if not found:
                raise InputError(f"--y-true '{given}' matches no column of '{src}'; its columns: {', '.join(cols)}")
            if loss.task is not Task.MULTICLASS and len(found) > 1:
                raise UsageError(f"{loss.name} takes one label column; --y-true '{given}' matches {len(found)}")
            return found
        one = _lookup(cols, given)
        if one is None:
            raise _missing("label", given, src, cols)
        return [one]
    one = _pick(cols, LABEL_NAMES, "label", src)
    if one is None:
        raise InputError(
            f"no label column in '{src}' (looked for {', '.join(LABEL_NAMES)}); name it with --y-true COL. "
            f"Its columns: {', '.join(cols)}"
        )
    return [one]


def find_column(table: Table, name: str, what: str) -> str:
    one = _lookup(table.columns, name)
    if one is None:
        raise _missing(what, name, table.source, table.columns)
    return one


def describe_columns(names: Sequence[str]) -> str:
    """'p_0..p_9' for a run of class columns, else the name."""
    if len(names) == 1:
        return names[0]
    return f"{names[0]}..{names[-1]}"
