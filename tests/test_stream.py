"""Streaming files larger than memory (lossctl/stream.py): the same cost as in memory, bounded
batches, and refusals of what needs every row.

Small files are streamed in many batches by making the batch size small; the engine's blocks
are 1,024 rows, so files of a few thousand rows cross several batch and block edges.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from clitest import assert_error, eval_json, ok, plain_environment, run  # noqa: F401

from lossctl import stream
from lossctl.engine import BLOCK
from lossctl.errors import UsageError

N = 5 * BLOCK + 333  # not a whole number of blocks


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Batches of 2 blocks whatever the limit; records the sizes asked for."""
    asked: list[int] = []

    def rows(budget: int, columns: int, fmt: str, line_bytes: int = 0, why: str = "") -> int:
        asked.append(budget)
        return 2 * BLOCK

    monkeypatch.setattr(stream, "batch_rows", rows)
    return asked


def _frame(n: int = N, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    logits = rng.normal(size=(n, 3)) * 3
    return pd.DataFrame(
        {
            "y_true": y,
            "y_pred": y + rng.normal(size=n) * np.where(rng.random(n) < 0.01, 1e3, 1.0),
            "w": rng.random(n),
            "cls": rng.integers(0, 3, size=n),
            "logit_0": logits[:, 0],
            "logit_1": logits[:, 1],
            "logit_2": logits[:, 2],
        }
    )


def _write(df: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        # Row groups of an odd size: Parquet batches are cut at them, so remainders are carried.
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=1500)
    elif path.suffix == ".gz":
        with gzip.open(path, "wt") as fh:
            df.to_csv(fh, index=False)
    else:
        df.to_csv(path, index=False, float_format="%.17g")
    return path


def _costs(d: dict[str, Any]) -> dict[str, float]:
    return {r["label"]: r["cost"] for r in d["results"]}


@pytest.mark.parametrize("name", ["p.parquet", "p.csv", "p.csv.gz"])
def test_streamed_cost_has_the_same_bits_as_in_memory(tmp_path: Path, small_batches: list[int], name: str) -> None:
    path = _write(_frame(), tmp_path / name)
    for args in (
        ["-l", "mse,rmse,huber,log_cosh", "-p", "huber.delta=0.5", "--y-true", "y_true"],
        ["-l", "mse,mae", "--weight", "w", "--y-true", "y_true"],
        ["-l", "softmax_ce", "--y-true", "cls"],
        ["-l", "softmax_ce", "--y-true", "cls", "--class-weight", "1,2,0.5"],
        ["-l", "mse", "--reduction", "sum", "--y-true", "y_true"],
        ["-l", "mse", "--compat", "torch", "--y-true", "y_true"],
    ):
        memory = eval_json(path, *args, "--no-stats")
        streamed = eval_json(path, *args, "--max-memory", "1G")
        assert _costs(streamed) == _costs(memory), args  # exactly: same block sums, same order
        info = streamed["input"]["streamed"]
        assert info["batches"] >= 3 and info["batch_rows"] == 2 * BLOCK and info["max_memory"] == 1 << 30
        assert streamed["input"]["rows"] == memory["input"]["rows"] == N
        for a, b in zip(streamed["results"], memory["results"], strict=True):
            assert a["n"] == b["n"] and a.get("accuracy") == b.get("accuracy")
            assert "stats" not in a
    assert small_batches  # the batch size was asked for the limit given


def test_nan_policies_and_row_numbers_across_batches(tmp_path: Path, small_batches: list[int]) -> None:
    df = _frame()
    bad = 3 * BLOCK + 17  # in the second batch
    df.loc[bad, "y_pred"] = np.nan
    df.loc[10, "y_pred"] = np.nan
    path = _write(df, tmp_path / "p.parquet")
    err = assert_error(run("eval", path, "-l", "mse", "--max-memory", "1G"), "y_pred at row 10 is NaN")
    assert "--nan omit" in err
    df.loc[10, "y_pred"] = 0.0
    path = _write(df, tmp_path / "q.parquet")
    assert_error(run("eval", path, "-l", "mse", "--max-memory", "1G"), f"y_pred at row {bad} is NaN")
    omit = eval_json(path, "-l", "mse,huber", "--nan", "omit", "--max-memory", "1G")
    memory = eval_json(path, "-l", "mse,huber", "--nan", "omit", "--no-stats")
    for a, b in zip(omit["results"], memory["results"], strict=True):
        assert a["n"] == b["n"] == N - 1 and a["omitted"] == 1
        assert math.isclose(a["cost"], b["cost"], rel_tol=1e-15)  # the block edges moved by one row
    prop = eval_json(path, "-l", "mse", "--nan", "propagate", "--max-memory", "1G")
    memory_prop = eval_json(path, "-l", "mse", "--nan", "propagate", "--no-stats")
    assert prop["results"][0]["cost"] == memory_prop["results"][0]["cost"] == "nan"
    assert prop["results"][0]["omitted"] == 1


def test_gate_and_table_under_streaming(tmp_path: Path, small_batches: list[int]) -> None:
    path = _write(_frame(), tmp_path / "p.parquet")
    r = run("eval", path, "-l", "mse", "--fail-above", "0.001", "--max-memory", "1G", "-f", "json")
    assert r.exit_code == 1
    table = ok("eval", path, "-l", "mse", "--max-memory", "512M", "-f", "table").stdout
    assert "streamed in" in table and "--max-memory 512M" in table and "peak memory" in table


@pytest.mark.parametrize(
    "extra",
    [
        ["--per-sample", "-"],
        ["--top", "3"],
        ["--hist"],
        ["--ci", "0.95"],
        ["--group-by", "cls"],
        ["--where", "cls=1"],
        ["--grad"],
        ["--sweep", "delta=0.5,1"],
        ["--reduction", "none"],
        ["--compat", "all"],
    ],
)
def test_what_needs_every_row_is_refused(tmp_path: Path, extra: list[str]) -> None:
    path = _write(_frame(200), tmp_path / "p.parquet")
    loss = "huber" if "--sweep" in extra else "mse"
    flag = extra[0] if extra[0] != "--reduction" else "--reduction none"
    if flag == "--compat":
        flag = "--compat all"
    r = run("eval", path, "-l", loss, *extra, "--max-memory", "1G")
    if extra[0] == "--reduction":
        assert_error(r, "--reduction none")  # refused before streaming is decided
    else:
        assert_error(r, f"{flag} needs every row in memory", f"drop {flag}", "drop --max-memory to evaluate it")


def test_bad_limits_and_inputs_that_cannot_stream(tmp_path: Path) -> None:
    path = _write(_frame(200), tmp_path / "p.csv")
    assert_error(run("eval", path, "-l", "mse", "--max-memory", "lots"), "--max-memory 'lots' is not a size")
    assert_error(run("eval", path, "-l", "mse", "--max-memory", "0"), "must be more than 0")
    assert_error(run("eval", path, "-l", "mse", "--max-memory", "20M"), "leaves no room", "give at least")
    labels = _write(_frame(200)[["y_true"]], tmp_path / "l.csv")
    assert_error(run("eval", path, "--labels", labels, "-l", "mse", "--max-memory", "1G"), "not a --labels file")
    text = tmp_path / "t.csv"
    text.write_text("y_true,y_pred\n1,2\n3,x\n")
    assert_error(run("eval", text, "-l", "mse", "--max-memory", "1G"), "column 'y_pred'", "value 'x'", "numbers only")
    flags = tmp_path / "tf.csv"
    flags.write_text("y_true,y_pred\ntrue,0.9\nfalse,0.2\n")
    assert_error(run("eval", flags, "-l", "bce", "--max-memory", "1G"), "value 'true'", "1/0 for true/false")
    df = _frame(200)
    df.insert(0, "dup", df["y_pred"])
    df = df.rename(columns={"dup": "y_pred"})
    dup_csv = tmp_path / "dup.csv"
    df.to_csv(dup_csv, index=False)
    assert_error(run("eval", dup_csv, "-l", "mse", "--y-true", "y_true", "--max-memory", "1G"), "appears 2 times")
    cols = [df.iloc[:, 0], df.iloc[:, 1], df["y_true"]]
    pq.write_table(pa.table(cols, names=["y_pred", "y_pred", "y_true"]), tmp_path / "d.parquet")
    assert_error(run("eval", tmp_path / "d.parquet", "-l", "mse", "--max-memory", "1G"), "appears 2 times")


def test_parse_size() -> None:
    assert stream.parse_size("512M") == 512 << 20
    assert stream.parse_size("512MiB") == 512 << 20
    assert stream.parse_size("1.5G") == 3 << 29
    assert stream.parse_size("2gb") == 2 << 30
    assert stream.parse_size("4096") == 4096
    for bad in ("", "M", "-1G", "1X", "1.2.3"):
        with pytest.raises(UsageError):
            stream.parse_size(bad)


def test_a_file_too_large_for_memory_is_streamed_automatically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_batches: list[int]
) -> None:
    path = _write(_frame(), tmp_path / "p.parquet")
    need = N * 2 * 8  # two float64 columns
    monkeypatch.setattr(stream, "available_memory", lambda: int(need * stream.IN_MEMORY_FACTOR * 2) - 1)
    d = eval_json(path, "-l", "mse")
    assert d["input"]["streamed"]["why"].startswith("automatic")
    assert small_batches == [(int(need * stream.IN_MEMORY_FACTOR * 2) - 1) // 2]
    monkeypatch.setattr(stream, "available_memory", lambda: int(need * stream.IN_MEMORY_FACTOR * 2) + 1)
    assert "streamed" not in eval_json(path, "-l", "mse")["input"]


def test_batch_rows_follow_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "resident_memory", lambda: 200 << 20)
    rows = stream.batch_rows(512 << 20, 2, "parquet")
    assert rows % BLOCK == 0 and rows == min(stream.MAX_BATCH_ROWS, rows)
    per_row = stream.BYTES_PER_CELL * 2
    assert (200 << 20) + stream.FIXED_BYTES["parquet"] + rows * per_row <= 512 << 20
    assert stream.batch_rows(400 << 20, 2, "csv", 60) < stream.batch_rows(600 << 20, 2, "csv", 60)


def test_parquet_columns_of_other_types_stream_as_they_read_in_memory(tmp_path: Path, small_batches: list[int]) -> None:
    """Booleans, numbers as text and all-null columns are converted as the in-memory reader
    does; a bad cell is named at its row of the file, not of its batch."""
    n = N
    rng = np.random.default_rng(3)
    y = rng.random(n) < 0.4
    p = rng.random(n)
    text = pa.array([f"{v:.17g}" for v in p])
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"y_true": pa.array(y), "y_pred": text}), path)
    memory = eval_json(path, "-l", "bce", "--no-stats")
    assert _costs(eval_json(path, "-l", "bce", "--max-memory", "1G")) == _costs(memory)
    bad = 3 * BLOCK + 5
    cells = text.to_pylist()
    cells[bad] = "abc"
    pq.write_table(pa.table({"y_true": pa.array(y), "y_pred": pa.array(cells)}), path)
    assert_error(run("eval", path, "-l", "bce", "--max-memory", "1G"), f"non-numeric value 'abc' at row {bad}")
    assert_error(run("eval", path, "-l", "bce"), f"non-numeric value 'abc' at row {bad}")


def test_keras_label_reading_is_not_streamed(tmp_path: Path) -> None:
    """Keras reads 0/1 labels as -1/+1 only when every label is 0 or 1: a file-wide decision."""
    path = _write(_frame(300), tmp_path / "p.parquet")
    r = run("eval", path, "-l", "hinge", "--y-true", "cls", "--compat", "keras", "--max-memory", "1G")
    assert_error(r, "--compat keras hinge", "cannot know before the end", "drop --max-memory")


def test_only_eval_streams_by_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """compare needs per-sample losses: it is never streamed for want of memory."""
    df = _frame(300, seed=1)
    a = _write(df, tmp_path / "a.csv")
    b = _write(df.assign(y_pred=df["y_pred"] * 1.1), tmp_path / "b.csv")
    monkeypatch.setattr(stream, "available_memory", lambda: 1)
    d = json.loads(ok("compare", a, b, "-l", "mse", "--y-true", "y_true", "-f", "json").stdout)
    assert "streamed" not in d["input"]
    err = assert_error(run("eval", a, "-l", "mse", "--y-true", "y_true"), "too large for memory", "leaves no room")
    assert "--max-memory 0" not in err


def test_streamed_timings_count_the_kernel_load(tmp_path: Path, small_batches: list[int]) -> None:
    path = _write(_frame(), tmp_path / "p.parquet")
    d = eval_json(path, "-l", "mse", "--max-memory", "1G")
    assert d["timings"]["jit"] >= d["input"]["streamed"]["warm_up_s"] > 0
    assert d["timings"]["total"] >= d["timings"]["jit"]
