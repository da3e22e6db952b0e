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
    Pred.VALUE: ("pred_*", "y_pred_*"),
}
# Label columns of losses whose labels are vectors (cosine) or multi-label rows (dice), when no
# single label column is there to hold class ids.
LABEL_GLOBS = ("true_*", "y_true_*", "target_*", "label_*", "y_*")
PARQUET_EXT = (".parquet", ".pq")
TSV_EXT = (".tsv", ".tab")


@dataclass
class Table:
    """Columns read from one file and where they came from.

    The columns read are held as a pyarrow Table (``arrow``); ``frame`` is a pandas DataFrame of
    them, made on first use: numeric columns go to NumPy straight from Arrow, so a plain
    evaluation never imports pandas (about 0.4 s of a short run's start-up)."""

    source: str
    format: str
    columns: list[str]
    _frame: Any = None  # pandas.DataFrame of the columns read, or None until asked for
    delimiter: str = ","
    compression: str | None = None
    raw: bytes | None = None  # stdin's bytes, held until read_columns parses them
    arrow: Any = None  # pyarrow.Table of the columns read

    @property
    def frame(self) -> Any:
        if self._frame is None and self.arrow is not None:
            self._frame = self.arrow.to_pandas()
        return self._frame

    @frame.setter
    def frame(self, value: Any) -> None:
        self._frame, self.arrow = value, None

    @property
    def rows(self) -> int:
        if self.arrow is not None:
            return int(self.arrow.num_rows)
        return 0 if self._frame is None else len(self._frame)

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
    return InputError(f"cannot read '{path}': {_first_line(e.strerror or e)}")


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
        what = "is not a Parquet file (no PAR1 header)" if low.endswith(PARQUET_EXT) else "looks like a binary file"
        raise InputError(f"'{path}' {what}, not CSV or TSV text either; give a CSV, TSV or Parquet file")
    head = head.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # not just a character cut at the end of the sample
            what = "a Parquet file" if low.endswith(PARQUET_EXT) else "UTF-8 text"
            raise InputError(f"'{path}' is not {what} (bad byte at offset {e.start}); save it as UTF-8") from None
        text = head[: e.start].decode("utf-8")
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


def _first_line(e: object, limit: int = 200) -> str:
    """The first line of an error's text, printable and bounded."""
    text = str(e).strip()
    line = (text.splitlines() or [type(e).__name__])[0]
    line = "".join(ch if ch.isprintable() else "?" for ch in line)
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_columns(table: Table, needed: Sequence[str], numeric: Sequence[str] = ()) -> Table:
    """Read the named columns of ``table`` into ``table.frame``: ``numeric`` ones as float64, the
    others (keys) as text from CSV, so "007" is not read as the number 7."""
    cols = list(dict.fromkeys(needed))
    check_unique(table, cols)
    numeric = [c for c in dict.fromkeys(numeric) if c in cols]
    try:
        if table.format == "parquet":
            import pyarrow.parquet as pq

            # Not read_table (its dataset layer imports pandas); no pre-buffering (it kept every column
            # chunk read and made a 10^8-row read ten times slower).
            with pq.ParquetFile(table.source, pre_buffer=False) as pf:
                frame = pf.read(columns=cols)
        else:
            frame = _read_text(table, cols, numeric, as_text=False)
    except Exception as e:
        text = str(e).lower()
        if table.format == "parquet":
            raise InputError(f"'{table.source}' is not a readable Parquet file: {_first_line(e)}") from None
        if "conversion error" in text:
            # A cell that is not a number: read the columns as text so the error can name its row.
            try:
                frame = _read_text(table, cols, numeric, as_text=True)
            except Exception as e2:
                raise InputError(f"cannot read '{table.source}': {_explain_column_error(table, e2)}") from None
        elif "expected" in text and "columns, got" in text:
            raise InputError(
                f"'{table.source}' has ragged rows: {_ragged_line(table)}; every row needs one field per column"
            ) from None
        elif "empty csv file" in text:
            raise InputError(f"'{table.source}' has a header but no data rows") from None
        elif isinstance(e, OSError) and not isinstance(e, pa_errors()):
            raise _os_error(table.source, e) from None
        else:
            raise InputError(f"cannot read '{table.source}': {_first_line(e)}") from None
    if frame.num_rows == 0:
        raise InputError(f"'{table.source}' has a header but no data rows")
    table.arrow, table._frame = frame, None
    return table


def check_unique(table: Table, columns: Sequence[str]) -> None:
    """Columns to read must have one name each."""
    for c in columns:
        if table.columns.count(c) > 1:
            raise InputError(f"column '{c}' appears {table.columns.count(c)} times in '{table.source}'; rename one")


def _explain_column_error(table: Table, e: BaseException) -> str:
    """pyarrow's 'In CSV column #1: ... invalid UTF8' as a message naming the column."""
    import re

    text = _first_line(e)
    m = re.search(r"column #(\d+)", text)
    col = table.columns[int(m.group(1))] if m and int(m.group(1)) < len(table.columns) else None
    if "utf8" in text.lower():
        where = f"column '{col}'" if col else "a column"
        row = _first_non_utf8_row(table, col) if col else None
        at = f" at row {row}{table.line_of(row)}" if row is not None else ""
        return f"{where} holds bytes that are not UTF-8 text{at}; save the file as UTF-8"
    return text


def _first_non_utf8_row(table: Table, col: str) -> int | None:
    """Read ``col`` as raw bytes and find the first value that is not UTF-8."""
    import pyarrow as pa
    import pyarrow.csv as pc

    try:
        src = pa.py_buffer(table.raw) if table.raw is not None else table.source
        result = pc.read_csv(
            pa.input_stream(src, compression=table.compression),
            read_options=pc.ReadOptions(block_size=BLOCK_SIZES[-1]),
            parse_options=pc.ParseOptions(delimiter=table.delimiter),
            convert_options=pc.ConvertOptions(include_columns=[col], column_types={col: pa.binary()}),
        )
    except Exception:
        return None
    for i, value in enumerate(result.column(0).to_pylist()):
        try:
            (value or b"").decode("utf-8")
        except UnicodeDecodeError:
            return i
    return None


def pa_errors() -> tuple[type[BaseException], ...]:
    import pyarrow as pa

    return (pa.ArrowException,)


BLOCK_SIZES = (16 << 20, 256 << 20)  # pyarrow parse blocks; a larger one for huge cells


def _read_text(table: Table, cols: list[str], numeric: Sequence[str], as_text: bool) -> Any:
    """CSV/TSV via pyarrow: multithreaded, and it refuses ragged rows (pandas' C reader with
    usecols silently ignores extra fields). Numeric columns are read as float64, so that text
    such as '0x1F' is an error rather than a silently parsed integer."""
    import pyarrow as pa
    import pyarrow.csv as pc

    if as_text:
        types = {c: pa.string() for c in cols}
    else:
        types = {c: (pa.float64() if c in numeric else pa.string()) for c in cols}
    for i, block in enumerate(BLOCK_SIZES):
        src = pa.py_buffer(table.raw) if table.raw is not None else table.source
        stream = pa.input_stream(src, compression=table.compression)
        try:
            result = pc.read_csv(
                stream,
                read_options=pc.ReadOptions(block_size=block),
                parse_options=pc.ParseOptions(delimiter=table.delimiter),
                convert_options=pc.ConvertOptions(include_columns=cols, column_types=types),
            )
        except pa.ArrowInvalid as e:
            if "straddl" in str(e) and i + 1 < len(BLOCK_SIZES):
                continue  # a cell longer than the block: retry with larger blocks
            raise
        return result
    raise AssertionError("unreachable")


def _ragged_line(table: Table) -> str:
    """Where the first row with the wrong number of fields is, found with the csv module."""
    import csv
    import gzip
    import io as _stdio

    binary: Any = _stdio.BytesIO(table.raw) if table.raw is not None else open(table.source, "rb")  # noqa: SIM115
    if table.compression == "gzip":
        binary = gzip.open(binary)
    with _stdio.TextIOWrapper(binary, encoding="utf-8-sig", errors="replace", newline="") as text:
        reader = csv.reader(text, delimiter=table.delimiter)
        width = len(next(reader, []))
        for row in reader:
            if row and len(row) != width:
                return f"line {reader.line_num} has {len(row)} fields but the header has {width} columns"
    return "a row has the wrong number of fields"


def numeric_column(table: Table, name: str) -> Any:
    """One column as a float64 (or float32) NumPy array; a non-numeric cell is an error naming it.

    Empty cells are NaN (the NaN policy decides); true/false are 1/0."""
    import numpy as np

    if table.arrow is not None and table._frame is None:
        import pyarrow.types as pat

        col = table.arrow.column(name)
        if pat.is_floating(col.type) or pat.is_integer(col.type):
            parts = [_arrow_numbers(chunk) for chunk in col.chunks]
            return parts[0] if len(parts) == 1 else np.concatenate(parts)
    import pandas as pd

    s = table.frame[name]
    if s.dtype.kind in "fiu":
        return s.to_numpy()
    if s.dtype.kind == "b":
        return s.to_numpy(dtype=np.float64)
    text = s.astype(str).str.strip()
    blank = s.isna() | (text == "")
    converted = pd.to_numeric(text.where(~blank), errors="coerce")
    lowered = text.str.lower()
    booleans = lowered.isin(["true", "false"])
    converted = converted.where(~booleans, (lowered == "true").astype(float))
    bad = converted.isna() & ~blank
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        raise InputError(
            f"column '{name}' of '{table.source}' has a non-numeric value {_short(s.iloc[i])} "
            f"at row {i}{table.line_of(i)}"
        )
    return converted.to_numpy(dtype=np.float64)


def _arrow_numbers(chunk: Any) -> Any:
    """One Arrow chunk of numbers as a NumPy array, read from its buffers (no copy without
    nulls; pyarrow's own to_numpy imports pandas). Nulls (empty cells) become NaN, which makes
    an integer column float64."""
    import numpy as np
    import pyarrow.types as pat

    kind = "f" if pat.is_floating(chunk.type) else ("i" if pat.is_signed_integer(chunk.type) else "u")
    dtype = np.dtype(f"{kind}{chunk.type.bit_width // 8}")
    validity, data = chunk.buffers()[:2]
    n, offset = len(chunk), chunk.offset
    values = np.frombuffer(data, dtype=dtype, count=n, offset=offset * dtype.itemsize) if n else np.empty(0, dtype)
    if chunk.null_count:
        bits = np.unpackbits(np.frombuffer(validity, np.uint8), bitorder="little", count=offset + n)
        values = np.where(bits[offset:].astype(bool), values, np.nan)
    return values


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


def _nearest(wanted: Sequence[str], columns: Sequence[str]) -> str:
    """' Did you mean 'y_prd'?' when a column is close to one of the names looked for."""
    for name in wanted:
        hint = did_you_mean(name, columns)
        if hint:
            return hint.replace("?", " (--y-pred/--y-true)?", 1)
    return ""


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


def _given_columns(table: Table, given: str, option: str, what: str) -> list[str]:
    """The columns an explicit --y-pred/--y-true names: one name, or a glob."""
    cols, src = table.columns, table.source
    if _is_glob(given):
        found = _glob(cols, given)
        if not found:
            raise InputError(f"{option} '{given}' matches no column of '{src}'; its columns: {', '.join(cols)}")
        return found
    one = _lookup(cols, given)
    if one is None:
        raise _missing(what, given, src, cols)
    return [one]


def check_class_columns(columns: list[str], source: str) -> list[str]:
    """Class columns numbered by suffix must be exactly 0..K-1: a gap would shift every class id."""
    numbers = [re.search(r"(\d+)$", c) for c in columns]
    if not any(numbers):
        return columns  # named classes (p_cat, p_dog): class id = position in this order
    if not all(numbers):
        odd = next(c for c, m in zip(columns, numbers, strict=True) if m is None)
        raise InputError(
            f"class column '{odd}' in '{source}' has no class number while others do; name them all _0.._K-1"
        )
    ids = [int(m.group(1)) for m in numbers if m]
    if ids != list(range(len(columns))):
        missing = sorted(set(range(max(ids) + 1)) - set(ids))
        detail = f"class {missing[0]} has no column" if missing else f"they are numbered {ids[0]}..{ids[-1]}"
        raise InputError(
            f"class columns {columns[0]}..{columns[-1]} in '{source}' must be numbered 0..{len(columns) - 1} "
            f"(class id = number): {detail}"
        )
    return columns


def _named_pred_columns(loss: Loss, table: Table, given: str | None) -> list[str]:
    """The named prediction columns of a loss like gaussian_nll (mean, var): given as a
    comma-separated list in the declared order, or found by their usual names."""
    cols, src = table.columns, table.source
    roles = [role for role, _ in loss.pred_columns]
    if given:
        names = [g.strip() for g in given.split(",") if g.strip()]
        if len(names) != len(roles):
            raise UsageError(
                f"{loss.name} takes {len(roles)} prediction columns ({', '.join(roles)}); "
                f"give them in that order: --y-pred {','.join(roles)}"
            )
        out = []
        for name in names:
            one = _lookup(cols, name)
            if one is None:
                raise _missing("prediction", name, src, cols)
            out.append(one)
        return out
    out = []
    for role, candidates in loss.pred_columns:
        one = _pick(cols, candidates, f"{role} prediction", src)
        if one is None:
            raise InputError(
                f"no {role} column for {loss.name} in '{src}' (looked for {', '.join(candidates)}); "
                f"name the columns with --y-pred {','.join(roles)}. Its columns: {', '.join(cols)}"
            )
        out.append(one)
    return out


def find_pred_columns(loss: Loss, table: Table, given: str | None) -> list[str]:
    """The prediction column(s) for ``loss`` in ``table``: one, or K for multiclass."""
    cols, src = table.columns, table.source
    if loss.pred_columns:
        return _named_pred_columns(loss, table, given)
    if given:
        found = _given_columns(table, given, "--y-pred", "prediction")
        if loss.task is Task.MULTICLASS and len(found) < 2:
            raise UsageError(
                f"{loss.name} is multiclass and needs one prediction column per class; "
                f"give a glob such as --y-pred '{(CLASS_GLOBS[loss.prediction] or ('p_*',))[0]}'"
            )
        if loss.task is not Task.MULTICLASS and len(found) > 1:
            raise UsageError(f"{loss.name} takes one prediction column; --y-pred '{given}' matches {len(found)}")
        return check_class_columns(found, src) if len(found) > 1 else found
    if loss.task is Task.MULTICLASS:
        for pattern in CLASS_GLOBS[loss.prediction]:
            found = _glob(cols, pattern)
            if len(found) >= 2:
                return check_class_columns(found, src)
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
        f"name it with --y-pred COL.{_nearest(looked, cols)} Its columns: {', '.join(cols)}"
    )


def find_label_columns(loss: Loss, table: Table, given: str | None) -> list[str]:
    """The label column(s): one (values or class ids), or K for label distributions."""
    src = table.source
    if given:
        found = _given_columns(table, given, "--y-true", "label")
        if loss.task is not Task.MULTICLASS and len(found) > 1:
            raise UsageError(f"{loss.name} takes one label column; --y-true '{given}' matches {len(found)}")
        return check_class_columns(found, src) if len(found) > 1 else found
    return default_label_columns(table, loss.task is Task.MULTICLASS and not loss.label_rows_are_distributions)


def default_label_columns(table: Table, vectors: bool) -> list[str]:
    """The label column found by its usual names; with ``vectors``, failing that, a run of label
    columns (true_0, true_1, ...) for vector or multi-label rows."""
    cols, src = table.columns, table.source
    one = _pick(cols, LABEL_NAMES, "label", src)
    if one is None and vectors:
        for pattern in LABEL_GLOBS:
            found = _glob(cols, pattern)
            if len(found) >= 2:
                return check_class_columns(found, src)
    if one is None:
        raise InputError(
            f"no label column in '{src}' (looked for {', '.join(LABEL_NAMES)}); name it with --y-true COL."
            f"{_nearest(LABEL_NAMES, cols)} Its columns: {', '.join(cols)}"
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
