"""Reading prediction files and finding the columns a loss needs.

Formats: CSV, TSV and Parquet, chosen by extension or, failing that, by content; ``-`` reads CSV
from stdin. Only the columns in use are read. Columns are found by common names (per the kind of
prediction a loss declares) or given explicitly; multiclass predictions take a glob such as
``p_*``, sorted by their numeric suffix.
"""

from __future__ import annotations

import fnmatch
import io as _io
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

    @property
    def rows(self) -> int:
        return 0 if self.frame is None else len(self.frame)


def _detect_format(path: str) -> str:
    if path == "-":
        return "csv"
    low = path.lower()
    if low.endswith(PARQUET_EXT):
        return "parquet"
    if low.endswith(TSV_EXT):
        return "tsv"
    if low.endswith(".csv"):
        return "csv"
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as e:
        raise _os_error(path, e) from None
    if head.startswith(b"PAR1"):
        return "parquet"
    first = head.split(b"\n", 1)[0]
    return "tsv" if first.count(b"\t") > first.count(b",") else "csv"


def _os_error(path: str, e: OSError) -> InputError:
    if isinstance(e, FileNotFoundError):
        return InputError(f"file '{path}' does not exist; check the path")
    if isinstance(e, IsADirectoryError):
        return InputError(f"'{path}' is a directory; give a CSV, TSV or Parquet file")
    if isinstance(e, PermissionError):
        return InputError(f"cannot read '{path}': permission denied")
    return InputError(f"cannot read '{path}': {e.strerror or e}")


def open_table(path: str) -> Table:
    """Look at a file's format and column names without reading its data."""
    fmt = _detect_format(path)
    if path != "-":
        if not os.path.exists(path):
            raise InputError(f"file '{path}' does not exist; check the path")
        if os.path.isdir(path):
            raise InputError(f"'{path}' is a directory; give a CSV, TSV or Parquet file")
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            names = list(pq.read_schema(path).names)
        except OSError as e:
            raise _os_error(path, e) from None
        except Exception as e:  # pyarrow raises ArrowInvalid for a corrupt file
            raise InputError(f"'{path}' is not a readable Parquet file ({_first_line(e)})") from None
        return Table(path, fmt, names)
    table = Table(path, fmt, [])
    if path == "-":
        table.frame = sys.stdin.buffer.read()  # held until read_columns parses it
        header = table.frame.split(b"\n", 1)[0]
    else:
        try:
            with open(path, "rb") as fh:
                header = fh.readline()
        except OSError as e:
            raise _os_error(path, e) from None
    if not header.strip():
        raise InputError(f"'{path}' is empty; it needs a header row and data rows")
    import csv

    text = header.decode("utf-8-sig", errors="replace").rstrip("\r\n")
    table.columns = next(csv.reader([text], delimiter="\t" if fmt == "tsv" else ","))
    return table


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def read_columns(table: Table, needed: Sequence[str]) -> Table:
    """Read the named columns of ``table`` into ``table.frame``."""
    import pandas as pd

    cols = list(dict.fromkeys(needed))
    try:
        if table.format == "parquet":
            frame = pd.read_parquet(table.source, columns=cols)
        else:
            src = _io.BytesIO(table.frame) if table.source == "-" else table.source
            frame = pd.read_csv(
                src, sep="\t" if table.format == "tsv" else ",", usecols=cols, encoding="utf-8-sig", low_memory=False
            )
    except OSError as e:
        raise _os_error(table.source, e) from None
    except Exception as e:
        raise InputError(f"cannot read '{table.source}': {_first_line(e)}") from None
    table.frame = frame
    return table


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
        where = f"row {i}" + (f" (line {i + 2})" if table.format != "parquet" else "")
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
