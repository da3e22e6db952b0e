"""Robustness: lossctl runs unattended in CI on files that other programs wrote.

The promise under test: every bad input gets ONE clear line on stderr (naming the file, column,
row or value, and the way out) and exit code 2, with no traceback and nothing half-written;
every good input gets the right answer with a quiet stderr; every file lossctl writes is complete
or absent. Exit codes: 0 ok, 1 gate failed, 2 usage or bad input, 130 interrupted.

Sections: files, columns, two files, values, options, processes (real ``python -m lossctl``
subprocesses for closed pipes and Ctrl-C), writing without losing data, and Hypothesis properties
of the whole pipeline (CLI cost == ``lossctl.evaluate`` on the same arrays, invariant under row
order, additive over a split of the file).

Most tests drive ``lossctl.cli.app`` in-process with ``typer.testing.CliRunner``, as
``tests/test_cli.py`` does; expected numbers come from NumPy or ``lossctl.evaluate`` on arrays the
test built itself.
"""

from __future__ import annotations

import builtins
import errno
import glob
import gzip
import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from clitest import env_without_debug
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

import lossctl
import lossctl.pipeline
from lossctl.cli import app

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "sample_data"
REL = 1e-12
# No debug mode leaking in from the caller's shell (it would turn errors into tracebacks).
CLI_ENV: dict[str, str | None] = {"LOSSCTL_DEBUG": None, "COLUMNS": "80"}
MAX_MESSAGE = 500  # one *clear* line: an error message longer than this is not one a person reads


# --- helpers ---------------------------------------------------------------------------------------


# Warnings Python hides by default; any other warning lands on a user's stderr.
HIDDEN_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def run(*args: Any, input: bytes | str | None = None) -> Result:
    """Invoke the CLI in-process. Warnings are recorded, since pytest would swallow them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = CliRunner(env=CLI_ENV).invoke(app, [str(a) for a in args], input=input)
    shown = [w for w in caught if not issubclass(w.category, HIDDEN_WARNINGS)]
    r.user_stderr = r.stderr + "".join(  # type: ignore[attr-defined]
        warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in shown
    )
    return r


def user_stderr(r: Result) -> str:
    """stderr as a user of the real command would see it: what was printed, plus any warnings."""
    return getattr(r, "user_stderr", r.stderr)  # type: ignore[no-any-return]


def ok(*args: Any) -> Result:
    """Exit 0, no traceback, nothing on stderr (a success is quiet)."""
    r = run(*args)
    assert r.exit_code == 0, (
        f"exit {r.exit_code}\nstdout: {r.stdout[:2000]}\nstderr: {r.stderr[:2000]}\n{r.exception!r}"
    )
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.output
    assert user_stderr(r) == "", f"a successful run should print nothing on stderr, got:\n{user_stderr(r)[:2000]}"
    return r


def eval_json(*args: Any) -> dict[str, Any]:
    return json.loads(ok("eval", *args, "-f", "json").stdout)


def result(report: dict[str, Any], loss: str | None = None) -> dict[str, Any]:
    rows = report["results"]
    return rows[0] if loss is None else next(r for r in rows if r["loss"] == loss)


def assert_error(r: Result, *needles: str | re.Pattern[str], code: int = 2) -> str:
    """Exit ``code``, one short line on stderr holding every needle, nothing on stdout, no traceback."""
    assert r.exit_code == code, f"exit {r.exit_code}\nstdout: {r.stdout[:2000]}\nstderr: {r.stderr[:2000]}"
    # An exception that escaped the CLI would be caught by CliRunner and never printed.
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.output
    err = user_stderr(r).strip()
    assert err.startswith("lossctl: error: "), err[:2000]
    assert "\n" not in err, f"expected one line on stderr, got:\n{err[:2000]}"
    assert len(err) <= MAX_MESSAGE, f"a {len(err)}-character error line is not a clear message: {err[:300]}..."
    for needle in needles:
        if isinstance(needle, re.Pattern):
            assert needle.search(err), f"/{needle.pattern}/ not found in {err!r}"
        else:
            assert needle in err, f"{needle!r} not in {err!r}"
    assert r.stdout == "", f"an error should print no results, got stdout:\n{r.stdout[:2000]}"
    return err


def rel_close(a: float, b: float, rel: float = REL) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=0.0)


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.encode())
    return path


def temp_files(directory: Path) -> list[str]:
    return glob.glob(str(directory / ".lossctl-*"))


# A small regression data set with exact binary fractions: its mse is exactly 1.140625.
Y = [0.5, 1.25, -3.0, 2.0]
P = [1.0, 1.0, -2.5, 4.0]
MSE = 1.140625
assert float(np.mean((np.array(P) - np.array(Y)) ** 2)) == MSE


def reg_text(delimiter: str = ",", newline: str = "\n") -> str:
    lines = [f"y_true{delimiter}y_pred"] + [f"{y!r}{delimiter}{p!r}" for y, p in zip(Y, P, strict=True)]
    return newline.join(lines) + newline


@pytest.fixture(scope="module")
def real_parquet(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a valid Parquet file of a few thousand rows (well over 3000 bytes)."""
    rng = np.random.default_rng(11)
    path = tmp_path_factory.mktemp("pq") / "real.parquet"
    pd.DataFrame({"y_true": rng.normal(size=2000), "y_pred": rng.normal(size=2000)}).to_parquet(path, index=False)
    data = path.read_bytes()
    assert len(data) > 6000 and data.startswith(b"PAR1")
    return data


# --- 1. files ---------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    assert_error(run("eval", tmp_path / "nope.csv", "-l", "mse"), "nope.csv", "does not exist", "check the path")


def test_unreadable_file_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Root reads through chmod 000, so make opening this one path fail the way it does for a user.
    path = write(tmp_path / "secret.csv", reg_text())
    real_open = builtins.open

    def guarded_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, (str, os.PathLike)) and os.path.abspath(file) == str(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    assert_error(run("eval", path, "-l", "mse"), "secret.csv", "permission denied", "permissions")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads files despite chmod 000")
def test_unreadable_file_chmod(tmp_path: Path) -> None:
    path = write(tmp_path / "secret.csv", reg_text())
    path.chmod(0)
    try:
        assert_error(run("eval", path, "-l", "mse"), "secret.csv", "permission denied")
    finally:
        path.chmod(0o644)


def test_directory_as_input(tmp_path: Path) -> None:
    (tmp_path / "adir.csv").mkdir()
    assert_error(run("eval", tmp_path / "adir.csv", "-l", "mse"), "adir.csv", "is a directory")


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path / "empty.csv", b"")
    assert_error(run("eval", path, "-l", "mse"), "empty.csv", "empty", "header row")


@pytest.mark.parametrize("newline", ["\n", ""], ids=["with-newline", "without-newline"])
def test_header_only(tmp_path: Path, newline: str) -> None:
    path = write(tmp_path / "header.csv", "y_true,y_pred" + newline)
    assert_error(run("eval", path, "-l", "mse"), "header.csv", "no data rows")


@pytest.mark.parametrize("case", ["truncated", "garbage-with-magic", "garbage", "corrupt-page"])
def test_corrupt_parquet(tmp_path: Path, real_parquet: bytes, case: str) -> None:
    rng = np.random.default_rng(5)
    junk = rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
    content = {
        "truncated": real_parquet[:3000],
        "garbage-with-magic": b"PAR1" + junk + b"PAR1",
        "garbage": junk,
        "corrupt-page": real_parquet[:4] + b"\x00" * 64 + real_parquet[68:],  # intact footer, broken data page
    }[case]
    path = write(tmp_path / "broken.parquet", content)
    assert_error(run("eval", path, "-l", "mse"), "broken.parquet", "Parquet")


def test_parquet_name_holding_csv_text(tmp_path: Path) -> None:
    # Either the content decides (README: "by content rather than extension") and it just works, or
    # the error says the file is not Parquet. Never a crash or a misleading message.
    path = write(tmp_path / "actually_csv.parquet", reg_text())
    r = run("eval", path, "-l", "mse", "-f", "json")
    if r.exit_code == 0:
        assert r.stderr == ""
        assert result(json.loads(r.stdout))["cost"] == MSE
    else:
        assert_error(r, "actually_csv.parquet", re.compile(r"not a (readable )?Parquet file"))


@pytest.mark.parametrize(
    ("body", "expected"),
    [("1,2\n3,5,7\n4,4\n", 3), ("1,2\n3\n4,4\n", 2)],
    ids=["too-many-fields", "too-few-fields"],
)
def test_ragged_rows(tmp_path: Path, body: str, expected: int) -> None:
    # README: "Ragged rows ... are errors naming the line". The bad row is line 3 of the file.
    path = write(tmp_path / "ragged.csv", "y_true,y_pred\n" + body)
    err = assert_error(run("eval", path, "-l", "mse"), "ragged.csv", re.compile(r"\b2\b columns|columns?\b.*\b2\b"))
    assert str(expected) in err
    assert re.search(r"\bline 3\b", err), f"the message does not name the line of the ragged row: {err!r}"


def _variants() -> dict[str, bytes]:
    plain = reg_text().encode()
    quoted = "".join(
        ['"y_true","y_pred","note"\n'] + [f'"{y!r}","{p!r}","a, ""quoted"" note"\n' for y, p in zip(Y, P, strict=True)]
    )
    multiline = "y_true,y_pred,note\n" + "".join(f'{y!r},{p!r},"two\nlines"\n' for y, p in zip(Y, P, strict=True))
    return {
        "semicolon": reg_text(";").encode(),
        "pipe": reg_text("|").encode(),
        "tab-in-a-.csv": reg_text("\t").encode(),
        "quoted-fields": quoted.encode(),
        "quoted-newlines": multiline.encode(),
        "utf8-bom": b"\xef\xbb\xbf" + plain,
        "crlf": reg_text(newline="\r\n").encode(),
        "bom-and-crlf": b"\xef\xbb\xbf" + reg_text(";", "\r\n").encode(),
        "no-final-newline": plain.rstrip(b"\n"),
        "blank-lines-between-rows": plain.replace(b"\n", b"\n\n"),
    }


@pytest.mark.parametrize("variant", list(_variants()))
def test_text_variants_work(tmp_path: Path, variant: str) -> None:
    path = write(tmp_path / "data.csv", _variants()[variant])
    d = eval_json(path, "-l", "mse")
    assert result(d)["n"] == len(Y)
    assert result(d)["cost"] == MSE


@pytest.mark.parametrize("name", ["data.csv.gz", "data.csv", "data.gz"], ids=["csv.gz", "gzip-named-csv", "gz"])
def test_gzip_csv_matches_plain(tmp_path: Path, name: str) -> None:
    plain = write(tmp_path / "plain.csv", reg_text())
    packed = write(tmp_path / name, gzip.compress(reg_text().encode()))
    assert result(eval_json(packed, "-l", "mse"))["cost"] == result(eval_json(plain, "-l", "mse"))["cost"] == MSE


@pytest.mark.parametrize("case", ["truncated", "corrupt-body", "magic-only"])
def test_corrupt_gzip(tmp_path: Path, case: str) -> None:
    rng = np.random.default_rng(2)
    rows = "".join(f"{a:.6f},{b:.6f}\n" for a, b in rng.normal(size=(20_000, 2)))
    packed = gzip.compress(("y_true,y_pred\n" + rows).encode())
    content = {
        "truncated": packed[: len(packed) // 2],
        "corrupt-body": packed[:20] + bytes(b ^ 0x5A for b in packed[20:400]) + packed[400:],
        "magic-only": b"\x1f\x8b",
    }[case]
    path = write(tmp_path / "broken.csv.gz", content)
    assert_error(run("eval", path, "-l", "mse"), "broken.csv.gz", re.compile(r"gzip|compress", re.I))


@pytest.mark.parametrize("megabytes", [1, 5])
def test_long_unused_string_cell_works(tmp_path: Path, megabytes: int) -> None:
    # A notes/blob column the losses never read must not stop the run, however long its cells.
    blob = "x" * (megabytes * 1_000_000 + 17)
    lines = ["y_true,y_pred,note"] + [
        f"{y!r},{p!r},{blob if i == 1 else 'short'}" for i, (y, p) in enumerate(zip(Y, P, strict=True))
    ]
    path = write(tmp_path / "long.csv", "\n".join(lines) + "\n")
    d = eval_json(path, "-l", "mse")
    assert result(d)["n"] == len(Y)
    assert result(d)["cost"] == MSE


def test_long_garbage_numeric_cell(tmp_path: Path) -> None:
    garbage = "9" * 20 + "x" * 1_000_000
    path = write(tmp_path / "garbage.csv", f"y_true,y_pred\n1,2\n3,{garbage}\n4,4\n")
    assert_error(run("eval", path, "-l", "mse"), "garbage.csv", "'y_pred'", "row 1", "line 3", "non-numeric")


def test_binary_file_named_csv(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    content = b"\x07\x00" + rng.integers(0, 256, 4096, dtype=np.uint8).tobytes() + b"\x00" * 8
    path = write(tmp_path / "binary.csv", content)
    assert_error(run("eval", path, "-l", "mse"), "binary.csv", "binary", "CSV")


def test_non_utf8_header(tmp_path: Path) -> None:
    path = write(tmp_path / "latin1.csv", "y_true,y_pred,poids_é\n1,2,3\n".encode("latin-1"))
    assert_error(run("eval", path, "-l", "mse"), "latin1.csv", "UTF-8", "save it as UTF-8")


@pytest.mark.parametrize(
    "content", [b"\xef\xbb\xbf>\xac", b"\xef\xbb\xbf\xff"], ids=["bom-then-broken-char", "bom-then-invalid-byte"]
)
def test_bom_followed_by_invalid_utf8(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path / "bom.csv", content)
    assert_error(run("eval", path, "-l", "mse"), "bom.csv")


def test_non_utf8_cell_in_a_used_column(tmp_path: Path) -> None:
    path = write(tmp_path / "latin1.csv", b"y_true,y_pred\n1,2\n3,5\xe9\n")
    assert_error(run("eval", path, "-l", "mse"), "latin1.csv", "'y_pred'", "row 1")


# --- 2. columns -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "given", "nearest", "what"),
    [
        ("--y-pred", "y_prd", "y_pred", "prediction"),
        ("--y-true", "ytrue", "y_true", "label"),
        ("--weight", "wt", "w", "weight"),
    ],
)
def test_missing_named_column(tmp_path: Path, option: str, given: str, nearest: str, what: str) -> None:
    path = write(tmp_path / "data.csv", "y_true,y_pred,w\n1,2,1\n")
    err = assert_error(run("eval", path, "-l", "mse", option, given), f"'{given}'", "data.csv", what)
    assert "Its columns: y_true, y_pred, w" in err
    assert f"Did you mean '{nearest}'?" in err


def test_missing_default_column_suggests_the_nearest(tmp_path: Path) -> None:
    # No prediction column under a known name, but one that is nearly so: the message should list the
    # columns, the names looked for, and point at the near miss.
    path = write(tmp_path / "data.csv", "y_true,y_prd\n1,2\n")
    err = assert_error(run("eval", path, "-l", "mse"), "data.csv", "--y-pred", "y_true, y_prd")
    assert re.search(r"[Dd]id you mean '?y_prd'?", err), f"no nearest-name suggestion in {err!r}"


def test_duplicated_column_names(tmp_path: Path) -> None:
    path = write(tmp_path / "dup.csv", "y_true,y_pred,y_pred\n1,2,3\n")
    assert_error(run("eval", path, "-l", "mse"), "'y_pred'", "2 times", "dup.csv", "rename")


def test_duplicated_unused_column_names_are_fine(tmp_path: Path) -> None:
    path = write(
        tmp_path / "dup.csv", "y_true,y_pred,x,x\n" + "".join(f"{y!r},{p!r},0,0\n" for y, p in zip(Y, P, strict=True))
    )
    assert result(eval_json(path, "-l", "mse"))["cost"] == MSE


def test_ambiguous_default_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "amb.csv", "y_true,pred,prediction\n1,2,3\n")
    assert_error(run("eval", path, "-l", "mse"), "amb.csv", "pred, prediction", "--y-pred")
    # ... and choosing one settles it.
    assert result(eval_json(path, "-l", "mse", "--y-pred", "prediction"))["cost"] == 4.0


@pytest.mark.parametrize("others", ["2", "2.5"], ids=["integer-column", "float-column"])
@pytest.mark.parametrize(
    ("cell", "shown"),
    [("abc", "'abc'"), ("1.2.3", "'1.2.3'"), ("0x1F", "'0x1F'"), ("1,5", "'1,5'"), ("1_000", "'1_000'")],
    ids=["word", "two-points", "hexadecimal", "decimal-comma", "underscore"],
)
def test_non_numeric_cell(tmp_path: Path, cell: str, shown: str, others: str) -> None:
    # An odd spelling is not silently read as some number, whatever the other cells of the column hold.
    path = write(tmp_path / "nonnum.csv", f'y_true,y_pred\n1,{others}\n3,"{cell}"\n4,4\n')
    assert_error(run("eval", path, "-l", "mse"), "'y_pred'", "nonnum.csv", shown, "row 1", "line 3")


def test_integer_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "ints.csv", "y_true,y_pred\n1,2\n3,6\n-2,-2\n")
    assert result(eval_json(path, "-l", "mse,mae"), "mse")["cost"] == pytest.approx(10 / 3, rel=REL)


@pytest.mark.parametrize(("true", "false"), [("true", "false"), ("True", "False"), ("TRUE", "FALSE")])
def test_boolean_labels(tmp_path: Path, true: str, false: str) -> None:
    path = write(tmp_path / "bools.csv", f"y_true,y_pred\n{true},0.8\n{false},0.25\n{true},0.5\n")
    expected = -np.mean([math.log(0.8), math.log(0.75), math.log(0.5)])
    assert rel_close(result(eval_json(path, "-l", "bce"))["cost"], expected)


def test_empty_cells_follow_the_nan_policy(tmp_path: Path) -> None:
    path = write(tmp_path / "holes.csv", "y_true,y_pred\n1,2\n3,\n4,6\n")
    assert_error(run("eval", path, "-l", "mse"), "y_pred", "row 1", "NaN", "--nan omit")
    omit = result(eval_json(path, "-l", "mse", "--nan", "omit"))
    assert omit["cost"] == 2.5 and omit["n"] == 2 and omit["omitted"] == 1
    r = ok("eval", path, "-l", "mse", "--nan", "propagate", "-f", "json")
    assert '"cost": "nan"' in r.stdout
    propagate = result(json.loads(r.stdout))
    assert propagate["cost"] == "nan" and propagate["omitted"] == 1


# --- 3. two files ----------------------------------------------------------------------------------------


@pytest.fixture
def pair(tmp_path: Path) -> Callable[[str, str], tuple[Path, Path]]:
    def make(preds: str, labels: str) -> tuple[Path, Path]:
        return write(tmp_path / "preds.csv", preds), write(tmp_path / "labels.csv", labels)

    return make


PREDS = "id,y_pred\n1,0.5\n2,0.25\n7,0.875\n"
# bce of (y, p) pairs keyed 1 -> (1, 0.5), 2 -> (0, 0.25), 7 -> (1, 0.875)
ALIGNED = lossctl.evaluate([1.0, 0.0, 1.0], [0.5, 0.25, 0.875], "bce").cost


def test_different_row_counts(pair: Callable[[str, str], tuple[Path, Path]]) -> None:
    preds, labels = pair(PREDS, "y_true\n1\n0\n")
    assert_error(
        run("eval", preds, "--labels", labels, "-l", "bce"), "preds.csv", "3 rows", "labels.csv", "has 2", "--key"
    )


@pytest.mark.parametrize("side", ["predictions", "labels"])
def test_duplicate_keys(pair: Callable[[str, str], tuple[Path, Path]], side: str) -> None:
    if side == "predictions":
        preds, labels = pair("id,y_pred\n1,0.5\n2,0.25\n1,0.875\n", "id,y_true\n7,1\n2,0\n1,1\n")
    else:
        preds, labels = pair(PREDS, "id,y_true\n7,1\n2,0\n2,1\n")
    name = "preds.csv" if side == "predictions" else "labels.csv"
    assert_error(run("eval", preds, "--labels", labels, "--key", "id", "-l", "bce"), "'id'", name, "row 2", "unique")


@pytest.mark.parametrize(
    ("labels", "missing", "matched"),
    [
        ("id,y_true\n7,1\n2,0\n", (1, 0), [7, 2]),
        ("id,y_true\n7,1\n2,0\n1,1\n9,0\n5,1\n", (0, 2), [1, 2, 7]),
        ("id,y_true\n7,1\n2,0\n9,0\n", (1, 1), [7, 2]),
    ],
    ids=["label-missing", "prediction-missing", "both"],
)
def test_unmatched_keys(
    pair: Callable[[str, str], tuple[Path, Path]], labels: str, missing: tuple[int, int], matched: list[int]
) -> None:
    preds, labels_path = pair(PREDS, labels)
    args = ["eval", preds, "--labels", labels_path, "--key", "id", "-l", "bce"]
    assert_error(run(*args), "'id'", f"{missing[0]} prediction rows", f"{missing[1]} label rows", "--unmatched drop")
    d = eval_json(*args[1:], "--unmatched", "drop")
    assert d["input"]["unmatched_dropped"] == {"predictions": missing[0], "labels": missing[1]}
    truth = {1: 1.0, 2: 0.0, 7: 1.0}
    pred = {1: 0.5, 2: 0.25, 7: 0.875}
    expected = lossctl.evaluate([truth[k] for k in matched], [pred[k] for k in matched], "bce").cost
    assert result(d)["n"] == len(matched)
    assert rel_close(result(d)["cost"], expected)


@pytest.mark.parametrize(
    "labels",
    [
        "id,y_true\n7,1\n2,0\n1,1\n",
        "id,y_true\n7.0,1\n2.0,0\n1.0,1\n",
        'id,y_true\n"7",1\n"2",0\n"1",1\n',
        "id,y_true\n7.000,1\n 2,0\n1e0,1\n",
    ],
    ids=["ints", "floats", "quoted-strings", "mixed-spellings"],
)
def test_keys_match_by_value(pair: Callable[[str, str], tuple[Path, Path]], labels: str) -> None:
    preds, labels_path = pair(PREDS, labels)
    d = eval_json(preds, "--labels", labels_path, "--key", "id", "-l", "bce")
    assert result(d)["n"] == 3
    assert rel_close(result(d)["cost"], ALIGNED)


def test_numeric_keys_against_text_keys(pair: Callable[[str, str], tuple[Path, Path]]) -> None:
    # Integer keys on one side, text keys on the other: '1' and '2' still match 1 and 2 by value,
    # 'x7' matches nothing. That is an unmatched-key error, not an internal error.
    preds, labels = pair(PREDS, "id,y_true\nx7,1\n2,0\n1,1\n")
    args = ["eval", preds, "--labels", labels, "--key", "id", "-l", "bce"]
    assert_error(run(*args), "'id'", "1 prediction rows", "1 label rows")
    d = eval_json(*args[1:], "--unmatched", "drop")
    assert d["input"]["unmatched_dropped"] == {"predictions": 1, "labels": 1}
    assert rel_close(result(d)["cost"], lossctl.evaluate([1.0, 0.0], [0.5, 0.25], "bce").cost)


@pytest.mark.parametrize(
    ("preds", "labels", "culprit"),
    [
        ("id,y_pred\n1,0.5\n,0.25\n7,0.875\n", "id,y_true\n7,1\n2,0\n1,1\n", "preds.csv"),
        (PREDS, "id,y_true\n7,1\n,0\n1,1\n", "labels.csv"),
        ("id,y_pred\na,0.5\n,0.25\nc,0.875\n", "id,y_true\nc,1\nb,0\na,1\n", "preds.csv"),
        ("id,y_pred\na,0.5\n,0.25\nc,0.875\n", "id,y_true\nc,1\n,0\na,1\n", "preds.csv"),
    ],
    ids=["numeric-key-in-predictions", "numeric-key-in-labels", "text-key", "text-key-empty-on-both-sides"],
)
def test_empty_key_cell(pair: Callable[[str, str], tuple[Path, Path]], preds: str, labels: str, culprit: str) -> None:
    # An empty key is never a key: on both sides it must not silently pair two unrelated rows.
    p, lab = pair(preds, labels)
    assert_error(run("eval", p, "--labels", lab, "--key", "id", "-l", "bce"), "'id'", "empty", "row 1", culprit)


def test_missing_key_column(pair: Callable[[str, str], tuple[Path, Path]]) -> None:
    preds, labels = pair(PREDS, "ID,y_true\n7,1\n2,0\n1,1\n")
    # Column lookup ignores case, so 'ID' is found; a key absent from one side is an error naming it.
    assert rel_close(result(eval_json(preds, "--labels", labels, "--key", "id", "-l", "bce"))["cost"], ALIGNED)
    preds, labels = pair(PREDS, "key,y_true\n7,1\n2,0\n1,1\n")
    assert_error(
        run("eval", preds, "--labels", labels, "--key", "id", "-l", "bce"), "'id'", "labels.csv", "key, y_true"
    )


# --- 4. values -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity", "-Infinity"])
def test_non_finite_regression_values(tmp_path: Path, value: str) -> None:
    path = write(tmp_path / "v.csv", f"y_true,y_pred\n1,2\n3,{value}\n4,6\n")
    shown = "NaN" if "nan" in value.lower() else ("-inf" if value.startswith("-") else "inf")
    assert_error(run("eval", path, "-l", "mse"), "y_pred", "row 1", shown)
    omit = result(eval_json(path, "-l", "mse", "--nan", "omit"))
    assert (omit["cost"], omit["n"], omit["omitted"]) == (2.5, 2, 1)
    propagate = result(eval_json(path, "-l", "mse", "--nan", "propagate"))
    assert (propagate["cost"], propagate["omitted"]) == ("nan", 1)


@pytest.mark.parametrize("policy", ["error", "omit", "propagate"])
def test_infinite_logits_are_admitted(tmp_path: Path, policy: str) -> None:
    # bce_logits is defined for logits of +-inf: those rows are data, under every --nan policy.
    path = write(tmp_path / "logits.csv", "y_true,logit\n1,inf\n0,-inf\n1,0\n0,1.5\n")
    r = result(eval_json(path, "-l", "bce_logits", "--nan", policy))
    expected = lossctl.evaluate([1.0, 0.0, 1.0, 0.0], [math.inf, -math.inf, 0.0, 1.5], "bce_logits").cost
    assert r["n"] == 4 and r.get("omitted", 0) == 0
    assert rel_close(r["cost"], expected)
    assert rel_close(expected, (math.log(2.0) + math.log1p(math.exp(1.5))) / 4)


@pytest.mark.parametrize(
    ("loss", "text"),
    [("bce_logits", "y_true,logit\n0,inf\n1,0\n"), ("bce", "y_true,y_pred\n1,0\n0,0.5\n")],
    ids=["bce_logits-wrong-infinite-logit", "bce-p-zero-for-a-positive"],
)
def test_an_infinite_loss_is_reported_quietly(tmp_path: Path, loss: str, text: str) -> None:
    # A legitimately infinite per-sample loss gives cost inf, written "inf" in JSON, and no warnings.
    path = write(tmp_path / "inf.csv", text)
    r = ok("eval", path, "-l", loss, "-f", "json")
    assert result(json.loads(r.stdout))["cost"] == "inf"


def test_positive_infinite_logit_for_softmax_ce(tmp_path: Path) -> None:
    # softmax_ce admits -inf (a masked class) but not +inf: error names row and class; omit skips it.
    path = write(tmp_path / "sm.csv", "label,logit_0,logit_1,logit_2\n0,1,-inf,2\n2,inf,0,1\n1,0,0,0\n")
    assert_error(run("eval", path, "-l", "softmax_ce"), "logit_0..logit_2", "row 1", "class 0", "inf")
    omit = result(eval_json(path, "-l", "softmax_ce", "--nan", "omit"))
    expected = lossctl.evaluate([0, 1], [[1.0, -math.inf, 2.0], [0.0, 0.0, 0.0]], "softmax_ce").cost
    assert omit["omitted"] == 1 and rel_close(omit["cost"], expected)
    assert result(eval_json(path, "-l", "softmax_ce", "--nan", "propagate"))["cost"] == "nan"


@pytest.mark.parametrize("policy", ["omit", "propagate"])
def test_nan_label_and_weight_follow_the_policy(tmp_path: Path, policy: str) -> None:
    path = write(tmp_path / "w.csv", "y_true,y_pred,w\n1,2,1\n1,3,nan\nnan,2,1\n2,2,1\n")
    r = result(eval_json(path, "-l", "mse", "--weight", "w", "--nan", policy))
    assert r["omitted"] == 2
    assert r["cost"] == (0.5 if policy == "omit" else "nan")


def test_nan_error_names_the_first_row(tmp_path: Path) -> None:
    # README: "--nan error (default) stops at the first row holding NaN". Row 1 has a NaN weight,
    # row 2 a NaN label: the message should point at row 1.
    path = write(tmp_path / "w.csv", "y_true,y_pred,w\n1,2,1\n1,3,nan\nnan,2,1\n2,2,1\n")
    assert_error(run("eval", path, "-l", "mse", "--weight", "w"), "row 1", re.compile("nan", re.I))


@pytest.mark.parametrize(
    ("loss", "text", "needles"),
    [
        ("bce", "y_true,y_pred\n1,0.5\n0,-0.1\n", ["y_pred", "row 1", "-0.1", "[0, 1]", "bce_logits"]),
        ("bce", "y_true,y_pred\n1,0.5\n0,1.5\n", ["y_pred", "row 1", "1.5", "[0, 1]", "bce_logits"]),
        ("bce", "y_true,y_pred\n1,0.5\n2,0.2\n", ["y_true", "row 1", "is 2", "[0, 1]"]),
        ("bce_logits", "y_true,logit\n1,0.5\n-1,0.2\n", ["y_true", "row 1", "is -1", "[0, 1]"]),
        ("hinge", "y_true,score\n1,0.5\n2,0.2\n", ["y_true", "row 1", "is 2", "{-1, 0, 1}"]),
        ("hinge", "y_true,score\n1,0.5\n0.5,0.2\n", ["y_true", "row 1", "is 0.5", "{-1, 0, 1}"]),
        ("cce", "label,p_0,p_1,p_2\n0,0.2,0.3,0.5\n3,0.2,0.3,0.5\n", ["label", "row 1", "is 3", "0..2"]),
        ("cce", "label,p_0,p_1,p_2\n0,0.2,0.3,0.5\n1.5,0.2,0.3,0.5\n", ["label", "row 1", "is 1.5", "0..2"]),
        ("cce", "label,p_0,p_1,p_2\n0,0.2,0.3,0.5\n-1,0.2,0.3,0.5\n", ["label", "row 1", "is -1", "0..2"]),
        ("softmax_ce", "label,logit_0,logit_1\n0,1,2\n2,1,2\n", ["label", "row 1", "is 2", "0..1"]),
        ("cce", "label,p_0,p_1,p_2\n0,0.2,0.3,0.5\n1,0.6,0.6,0.5\n", ["p_0..p_2", "row 1", "sums to 1.7", "sum to 1"]),
        ("msle", "y_true,y_pred\n1,2\n-1.5,2\n", ["y_true", "row 1", "-1.5", "(-1, inf)"]),
        ("msle", "y_true,y_pred\n1,2\n1,-1\n", ["y_pred", "row 1", "is -1", "(-1, inf)"]),
    ],
    ids=[
        "probability-below-0",
        "probability-above-1",
        "bce-label-2",
        "bce_logits-label-minus-1",
        "hinge-label-2",
        "hinge-label-0.5",
        "class-id-too-large",
        "class-id-fractional",
        "class-id-negative",
        "softmax_ce-class-id-too-large",
        "probability-row-not-summing-to-1",
        "msle-below-minus-1",
        "msle-at-minus-1",
    ],
)
def test_values_outside_the_domain(tmp_path: Path, loss: str, text: str, needles: list[str]) -> None:
    path = write(tmp_path / "values.csv", text)
    assert_error(run("eval", path, "-l", loss), loss, *needles)


@pytest.mark.parametrize(
    ("row", "sums"), [("1,1,0", "sums to 2"), ("0,0,0", "sums to 0"), ("0.5,0.2,0.2", "sums to 0.9")]
)
def test_one_hot_labels_not_summing_to_1(tmp_path: Path, row: str, sums: str) -> None:
    path = write(tmp_path / "onehot.csv", f"y_0,y_1,y_2,p_0,p_1,p_2\n1,0,0,0.2,0.3,0.5\n{row},0.2,0.3,0.5\n")
    assert_error(run("eval", path, "-l", "cce", "--y-true", "y_*"), "y_0..y_2", "row 1", sums, "sum to 1")


def test_all_zero_weights(tmp_path: Path) -> None:
    path = write(tmp_path / "w.csv", "y_true,y_pred,w\n1,2,0\n1,3,0\n")
    assert_error(run("eval", path, "-l", "mse", "--weight", "w"), "mse", "undefined", "weights sum to 0")
    assert result(eval_json(path, "-l", "mse", "--weight", "w", "--reduction", "sum"))["cost"] == 0.0


@pytest.mark.parametrize("value", ["-0.5", "-inf"])
def test_negative_weights(tmp_path: Path, value: str) -> None:
    path = write(tmp_path / "w.csv", f"y_true,y_pred,w\n1,2,1\n1,3,{value}\n")
    assert_error(run("eval", path, "-l", "mse", "--weight", "w"), "w at row 1", value, ">= 0")


# --- 5. options -----------------------------------------------------------------------------------------


@pytest.fixture
def reg(tmp_path: Path) -> Path:
    return write(tmp_path / "reg.csv", reg_text())


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["-l", "hubr"], ["'hubr'", "Did you mean 'huber'?", "lossctl list"]),
        (["-l", "mse,bce_logit"], ["'bce_logit'", "Did you mean 'bce_logits'?"]),
        (["-l", "huber", "-p", "delt=2"], ["'delt'", "Did you mean 'delta'?"]),
        (["-l", "huber", "-p", "delta=0"], ["delta=0", "(0, inf)", "huber"]),
        (["-l", "huber", "-p", "delta=-1"], ["delta=-1", "(0, inf)"]),
        (["-l", "huber", "-p", "delta=inf"], ["delta=inf", "(0, inf)"]),
        (["-l", "huber", "-p", "delta=nan"], ["delta", "NaN"]),
        (["-l", "huber", "-p", "delta=abc"], ["delta", "'abc'", "not a number"]),
        (["-l", "bce", "-p", "eps=0.7"], ["eps=0.7", "[0, 0.5)"]),
        (["-l", "mse", "-p", "delta=2"], ["'delta'", "mse", "huber"]),
        (["-l", "mse", "-p", "huber.delta=2"], ["huber", "--loss huber"]),
        (["-l", "cce", "--y-pred", "y_pred"], ["cce", "multiclass", "--y-pred 'p_*'"]),
        (["-l", "cce"], ["cce", "p_*", "--y-pred"]),
        (["-l", "mse", "--fail-above", "1", "--reduction", "none"], ["--fail-above", "--reduction none"]),
        (["-l", "mse", "--key", "id"], ["--key", "--labels"]),
        (["-l", "rmse", "--reduction", "sum"], ["rmse", "sum"]),
    ],
    ids=[
        "unknown-loss",
        "unknown-loss-in-a-list",
        "unknown-param",
        "param-at-open-bound",
        "param-negative",
        "param-infinite",
        "param-nan",
        "param-not-a-number",
        "eps-out-of-range",
        "param-no-selected-loss-takes",
        "scoped-param-for-an-unselected-loss",
        "multiclass-loss-on-one-column",
        "multiclass-loss-without-class-columns",
        "fail-above-with-reduction-none",
        "key-without-labels",
        "rmse-has-no-sum",
    ],
)
def test_bad_options(reg: Path, args: list[str], needles: list[str]) -> None:
    assert_error(run("eval", reg, *args), *needles)


def test_conflicting_options_are_refused_before_reading(reg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    original = lossctl.pipeline.evaluate_files
    monkeypatch.setattr(lossctl.pipeline, "evaluate_files", lambda *a, **k: calls.append(a) or original(*a, **k))
    assert_error(run("eval", reg, "-l", "mse", "--fail-above", "1", "--reduction", "none"), "--fail-above")
    assert_error(run("eval", reg, "-l", "nosuchloss"), "nosuchloss")
    assert calls == [], "the input was read although the options could never work"


def test_per_sample_to_stdout_moves_the_summary_to_stderr(reg: Path) -> None:
    # `--per-sample -` without `--reduction none` was once refused; it now prints the rows on stdout
    # and the summary on stderr (README), so stdout stays one clean table.
    r = run("eval", reg, "-l", "mse", "--per-sample", "-", "-f", "csv")
    assert r.exit_code == 0 and "Traceback" not in r.output
    rows = pd.read_csv(io.StringIO(r.stdout))
    assert list(rows.columns) == ["row", "mse"]
    np.testing.assert_array_equal(rows["mse"], (np.array(P) - np.array(Y)) ** 2)
    summary = pd.read_csv(io.StringIO(r.stderr))
    assert summary["cost"].tolist() == [MSE]


# --- 6. processes ---------------------------------------------------------------------------------------

BIG_ROWS = 3_000_000


def write_rows(path: Path, rows: int, block_rows: int = 10_000) -> Path:
    """A regression CSV of ``rows`` rows, fast: one random block repeated."""
    rng = np.random.default_rng(0)
    y = rng.normal(size=block_rows)
    block = "".join(f"{a:.6f},{b:.6f}\n" for a, b in zip(y, y + rng.normal(size=block_rows), strict=True))
    with open(path, "w") as fh:
        fh.write("y_true,y_pred\n")
        for _ in range(rows // block_rows):
            fh.write(block)
    return path


@pytest.fixture(scope="session")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_rows(tmp_path_factory.mktemp("big") / "big.csv", BIG_ROWS)


@pytest.fixture(scope="session")
def mid_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_rows(tmp_path_factory.mktemp("mid") / "mid.csv", 200_000)


def popen(*args: Any, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "lossctl", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=env_without_debug(),
    )


def assert_quiet_stderr(err: str) -> None:
    assert "Traceback" not in err, err
    assert "Exception ignored" not in err, err
    assert "KeyboardInterrupt" not in err, err
    assert "BrokenPipeError" not in err, err


def test_stdout_closed_early(mid_csv: Path, tmp_path: Path) -> None:
    # `lossctl eval big.csv ... | head -1`: the reader goes away; lossctl must leave quietly.
    proc = popen("eval", mid_csv, "-l", "mse", "--reduction", "none", "-f", "csv", cwd=tmp_path)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode(errors="replace")
    code = proc.wait(timeout=120)
    assert first == b"row,mse\n"
    assert code in (0, -signal.SIGPIPE, 128 + signal.SIGPIPE), (code, err[-2000:])
    assert_quiet_stderr(err)
    assert err == "", err[-2000:]


def _open_paths(pid: int) -> set[str]:
    out = set()
    for fd in glob.glob(f"/proc/{pid}/fd/*"):
        try:
            out.add(os.readlink(fd))
        except OSError:
            pass
    return out


def _wait_for(condition: Callable[[], bool], proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, "lossctl finished before it could be interrupted; use a bigger file"
        assert time.monotonic() < deadline, "timed out waiting for lossctl to reach the phase under test"
        time.sleep(0.01)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(
    ("phase", "earlier"),
    [("reading", False), ("writing", True)],
    ids=["while-reading", "while-writing-over-an-earlier-file"],
)
def test_ctrl_c(big_csv: Path, tmp_path: Path, phase: str, earlier: bool) -> None:
    out = tmp_path / "out.csv"
    before = b"row,mse\n0,42\n"
    if earlier:
        out.write_bytes(before)
    proc = popen("eval", big_csv, "-l", "mse", "--per-sample", out, "-f", "json", cwd=tmp_path)
    if phase == "reading":
        if os.path.isdir(f"/proc/{proc.pid}/fd"):
            _wait_for(lambda: str(big_csv) in _open_paths(proc.pid), proc)
            time.sleep(0.2)
        else:  # no /proc: start-up takes about a second, reading 3M rows about two more
            time.sleep(1.5)
    else:
        _wait_for(lambda: bool(temp_files(tmp_path)), proc)
        time.sleep(0.3)
    assert proc.poll() is None, "lossctl finished before it could be interrupted; use a bigger file"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    err = stderr.decode(errors="replace")
    assert proc.returncode == 130, (proc.returncode, err[-2000:])
    assert err.strip() == "lossctl: interrupted", err[-2000:]
    assert_quiet_stderr(err)
    assert temp_files(tmp_path) == [], "a temporary file was left behind"
    if earlier:
        assert out.read_bytes() == before, "the earlier per-sample file was changed"
    else:
        assert not out.exists(), "a per-sample file was written by an interrupted run"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_while_starting_up(tmp_path: Path, reg: Path) -> None:
    # Ctrl-C (or a CI cancel) can land while lossctl's own modules are still importing. Raise it
    # deterministically at the import of lossctl.registry, which lossctl.cli imports first thing.
    code = (
        "import runpy, sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'lossctl.registry':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        f"sys.argv = ['lossctl', 'eval', {str(reg)!r}, '-l', 'mse']\n"
        "runpy.run_module('lossctl', run_name='__main__', alter_sys=True)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env_without_debug(), timeout=120
    )
    # 130, or killed by SIGINT (which a shell also reports as 130); either way no traceback.
    assert proc.returncode in (130, -signal.SIGINT), (proc.returncode, proc.stderr[-2000:])
    assert_quiet_stderr(proc.stderr)


# --- 7. writing without losing data ----------------------------------------------------------------------


def _fail_while_writing(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    """Make the per-sample writers put half a file down, then fail with ``exc``."""

    def half_then_fail(self: pd.DataFrame, path: Any, *args: Any, **kwargs: Any) -> None:
        assert os.path.basename(str(path)).startswith(".lossctl-"), "not written through a temporary file"
        with open(path, "w") as fh:
            fh.write("row,mse\n0,1\n")
        raise exc

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_fail)
    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_then_fail)


@pytest.mark.parametrize("name", ["out.csv", "out.parquet"])
@pytest.mark.parametrize("earlier", [False, True], ids=["new", "replacing"])
def test_full_disk(reg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, earlier: bool) -> None:
    out = tmp_path / name
    if earlier:
        out.write_bytes(b"earlier results\n")
    _fail_while_writing(monkeypatch, OSError(errno.ENOSPC, "No space left on device"))
    r = run("eval", reg, "-l", "mse", "--per-sample", out, "-f", "json")
    assert_error(r, str(out), "No space left on device")
    assert temp_files(tmp_path) == []
    if earlier:
        assert out.read_bytes() == b"earlier results\n"
    else:
        assert not out.exists()


def test_interrupt_while_writing_in_process(reg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = write(tmp_path / "out.csv", b"earlier results\n")
    _fail_while_writing(monkeypatch, KeyboardInterrupt())
    r = run("eval", reg, "-l", "mse", "--per-sample", out, "-f", "json")
    assert r.exit_code == 130
    assert r.stderr.strip() == "lossctl: interrupted" and "Traceback" not in r.output
    assert out.read_bytes() == b"earlier results\n"
    assert temp_files(tmp_path) == []


def test_unwritable_output_directory(reg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        os,
        "access",
        lambda p, mode, *a, **k: False if os.path.abspath(p) == str(locked) else real_access(p, mode, *a, **k),
    )
    calls: list[Any] = []
    original = lossctl.pipeline.evaluate_files
    monkeypatch.setattr(lossctl.pipeline, "evaluate_files", lambda *a, **k: calls.append(a) or original(*a, **k))
    assert_error(run("eval", reg, "-l", "mse", "--per-sample", locked / "o.csv"), "o.csv", "not writable")
    assert calls == [], "the inputs were read and evaluated before the output was found unwritable"
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize("target", ["under-a-file", "missing-directory", "a-directory"])
def test_impossible_output_path(reg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    path = {"under-a-file": reg / "o.csv", "missing-directory": tmp_path / "nodir" / "o.csv", "a-directory": tmp_path}[
        target
    ]
    calls: list[Any] = []
    original = lossctl.pipeline.evaluate_files
    monkeypatch.setattr(lossctl.pipeline, "evaluate_files", lambda *a, **k: calls.append(a) or original(*a, **k))
    assert_error(run("eval", reg, "-l", "mse", "--per-sample", path), "cannot write", str(path))
    assert calls == []


@pytest.mark.parametrize("spelling", ["same", "dot-slash", "dot-dot", "absolute", "symlink", "hardlink", "labels"])
def test_output_equal_to_an_input_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pair: Callable[[str, str], tuple[Path, Path]], spelling: str
) -> None:
    preds, labels = pair(PREDS, "id,y_true\n7,1\n2,0\n1,1\n")
    before = {p: p.read_bytes() for p in (preds, labels)}
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    if spelling == "symlink":
        os.symlink("preds.csv", tmp_path / "alias.csv")
    if spelling == "hardlink":
        os.link(preds, tmp_path / "alias.csv")
    out = {
        "same": "preds.csv",
        "dot-slash": "./preds.csv",
        "dot-dot": "sub/../preds.csv",
        "absolute": str(preds),
        "symlink": "alias.csv",
        "hardlink": "alias.csv",
        "labels": "./labels.csv",
    }[spelling]
    r = run("eval", "preds.csv", "--labels", "labels.csv", "--key", "id", "-l", "bce", "--per-sample", out)
    assert_error(r, "--per-sample", out, "input")
    assert {p: p.read_bytes() for p in (preds, labels)} == before
    assert temp_files(tmp_path) == []


def test_per_sample_file_replaced_only_on_success(tmp_path: Path) -> None:
    out = write(tmp_path / "out.csv", b"earlier results\n")
    bad = write(tmp_path / "bad.csv", "y_true,y_pred\n1,2\n3,abc\n")
    assert_error(run("eval", bad, "-l", "mse", "--per-sample", out), "'abc'")
    assert out.read_bytes() == b"earlier results\n"
    nan = write(tmp_path / "nan.csv", "y_true,y_pred\n1,2\n3,nan\n")
    assert_error(run("eval", nan, "-l", "mse", "--per-sample", out), "NaN")
    assert out.read_bytes() == b"earlier results\n"
    good = write(tmp_path / "good.csv", reg_text())
    eval_json(good, "-l", "mse", "--per-sample", out)
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["row", "mse"]
    np.testing.assert_array_equal(frame["mse"], (np.array(P) - np.array(Y)) ** 2)
    assert temp_files(tmp_path) == []


def test_per_sample_file_has_ordinary_permissions(tmp_path: Path) -> None:
    # Another program (an artifact uploader, a second user) reads the file: it should get the mode
    # any new file gets under the umask, not the 0600 of a private temporary file.
    good = write(tmp_path / "good.csv", reg_text())
    out = tmp_path / "out.csv"
    umask = os.umask(0o022)
    try:
        eval_json(good, "-l", "mse", "--per-sample", out)
    finally:
        os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o644, oct(out.stat().st_mode & 0o777)


# --- 8. properties of the whole pipeline (Hypothesis) ------------------------------------------------------

PROPERTY_LOSSES = ("mse", "huber", "bce", "bce_logits", "softmax_ce")


def draw_frame(loss: str, n: int, seed: int, scale: float) -> tuple[pd.DataFrame, Any, Any]:
    """A valid frame for ``loss`` and the (y_true, y_pred) arrays it holds."""
    rng = np.random.default_rng(seed)
    if loss in ("mse", "huber"):
        y = rng.normal(0.0, scale, n)
        p = y + rng.normal(0.0, scale, n) * rng.choice([0.1, 1.0, 10.0], n)
        return pd.DataFrame({"id": np.arange(n), "y_true": y, "y_pred": p}), y, p
    if loss == "bce":
        y = rng.choice([0.0, 1.0, 0.25], n, p=[0.45, 0.45, 0.1])
        p = np.clip(rng.beta(0.7, 0.7, n), 1e-12, 1 - 1e-12)
        return pd.DataFrame({"y_true": y, "y_pred": p}), y, p
    if loss == "bce_logits":
        y = rng.integers(0, 2, n)
        x = rng.normal(0.0, scale, n)
        return pd.DataFrame({"y_true": y, "logit": x}), y, x
    k = int(rng.integers(2, 6))
    x = rng.normal(0.0, scale, (n, k))
    y = rng.integers(0, k, n)
    frame = pd.DataFrame({"label": y, **{f"logit_{i}": x[:, i] for i in range(k)}})
    return frame, y, x


@st.composite
def frames(draw: st.DrawFn, min_rows: int = 1) -> tuple[str, pd.DataFrame, Any, Any, dict[str, float]]:
    loss = draw(st.sampled_from(PROPERTY_LOSSES))
    n = draw(st.integers(min_rows, 300))
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.sampled_from([1e-3, 1.0, 30.0, 1e4]))
    params = {"delta": draw(st.sampled_from([0.1, 1.0, 7.5]))} if loss == "huber" else {}
    frame, y, p = draw_frame(loss, n, seed, scale)
    return loss, frame, y, p, params


def save(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, float_format="%.17g")
    return path


def cli_cost(path: Path, loss: str, params: dict[str, float]) -> dict[str, Any]:
    args = [a for k, v in params.items() for a in ("-p", f"{k}={v!r}")]
    # Arithmetic, not advice: random frames can look like a classic mistake (0/1 labels, ...).
    return result(eval_json(path, "-l", loss, "--no-warnings", *args))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("properties")


PROPERTY_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(case=frames())
def test_cli_cost_equals_library_cost(
    scratch: Path, case: tuple[str, pd.DataFrame, Any, Any, dict[str, float]]
) -> None:
    loss, frame, y, p, params = case
    expected = lossctl.evaluate(y, p, loss, **params).cost
    with tempfile.TemporaryDirectory(dir=scratch) as d:
        for ext in ("csv", "parquet"):
            r = cli_cost(save(frame, Path(d) / f"data.{ext}"), loss, params)
            assert r["n"] == len(frame)
            assert rel_close(r["cost"], expected), (ext, r["cost"], expected)


@PROPERTY_SETTINGS
@given(case=frames(), ext=st.sampled_from(["csv", "parquet"]), perm_seed=st.integers(0, 2**32 - 1))
def test_row_order_does_not_change_the_cost(
    scratch: Path, case: tuple[str, pd.DataFrame, Any, Any, dict[str, float]], ext: str, perm_seed: int
) -> None:
    loss, frame, _, _, params = case
    shuffled = frame.iloc[np.random.default_rng(perm_seed).permutation(len(frame))]
    with tempfile.TemporaryDirectory(dir=scratch) as d:
        whole = cli_cost(save(frame, Path(d) / f"a.{ext}"), loss, params)
        mixed = cli_cost(save(shuffled, Path(d) / f"b.{ext}"), loss, params)
    assert mixed["n"] == whole["n"] == len(frame)
    assert rel_close(mixed["cost"], whole["cost"]), (mixed["cost"], whole["cost"])


@PROPERTY_SETTINGS
@given(case=frames(min_rows=2), ext=st.sampled_from(["csv", "parquet"]), data=st.data())
def test_costs_of_two_halves_combine_to_the_whole(
    scratch: Path, case: tuple[str, pd.DataFrame, Any, Any, dict[str, float]], ext: str, data: st.DataObject
) -> None:
    loss, frame, _, _, params = case
    cut = data.draw(st.integers(1, len(frame) - 1), label="cut")
    with tempfile.TemporaryDirectory(dir=scratch) as d:
        whole = cli_cost(save(frame, Path(d) / f"whole.{ext}"), loss, params)
        head = cli_cost(save(frame.iloc[:cut], Path(d) / f"head.{ext}"), loss, params)
        tail = cli_cost(save(frame.iloc[cut:], Path(d) / f"tail.{ext}"), loss, params)
    assert (head["n"], tail["n"]) == (cut, len(frame) - cut)
    combined = (head["cost"] * head["n"] + tail["cost"] * tail["n"]) / len(frame)
    assert rel_close(combined, whole["cost"]), (combined, whole["cost"])


# --- review findings: silent wrong answers that must be errors ------------------------------------


def test_class_columns_with_a_gap_are_refused(tmp_path: Path) -> None:
    # p_2 missing: taking columns by position would score label 2 against p_3.
    path = write(tmp_path / "gap.csv", "label,p_0,p_1,p_3\n2,0.2,0.3,0.5\n")
    assert_error(run("eval", path, "-l", "cce"), "class 2 has no column", "0..2")
    shifted = write(tmp_path / "shift.csv", "label,p_1,p_2,p_3\n1,0.2,0.3,0.5\n")
    assert_error(run("eval", shifted, "-l", "cce"), "numbered 0..2")


def test_row_aligned_files_whose_ids_disagree_are_refused() -> None:
    preds, labels = DATA / "binary_preds.csv", DATA / "binary_labels.csv"
    assert_error(run("eval", preds, "--labels", labels, "-l", "bce"), "different order", "--key id")


def test_zero_padded_text_keys_stay_distinct(tmp_path: Path) -> None:
    p = write(tmp_path / "p.csv", "id,y_pred\n007,1.0\n7,2.0\n")
    lab = write(tmp_path / "l.csv", "id,y_true\n7,2.0\n007,1.0\n")
    out = eval_json(p, "--labels", lab, "--key", "id", "-l", "mse")
    assert out["results"][0]["cost"] == 0.0


def test_per_sample_writes_through_a_symlink(tmp_path: Path) -> None:
    target = write(tmp_path / "real.csv", "old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    ok("eval", DATA / "regression.csv", "-l", "mse", "--per-sample", link)
    assert link.is_symlink()
    assert target.read_text().startswith("row,mse\n")


def test_full_stdout_is_an_input_output_error_not_a_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    from lossctl import render

    monkeypatch.setitem(render.RENDERERS, "json", full)
    assert_error(run("eval", DATA / "regression.csv", "-l", "mse", "-f", "json"), "No space left on device")


def test_propagated_nan_makes_every_statistic_nan(tmp_path: Path) -> None:
    path = write(tmp_path / "nan.csv", "y_true,y_pred\n1,2\n2,\n3,3\n")
    res = eval_json(path, "-l", "mse", "--nan", "propagate")["results"][0]
    assert res["cost"] == "nan" and res["omitted"] == 1
    assert set(res["stats"].values()) == {"nan"}


# --- Arrow columns to NumPy without pandas ---------------------------------------------------------


@pytest.mark.parametrize("arrow_type", ["float64", "float32", "int64", "int32", "uint16", "int8"])
@pytest.mark.parametrize("start", [0, 3, 9])
def test_arrow_numbers_match_pandas_on_sliced_chunks_with_nulls(arrow_type: str, start: int) -> None:
    """Buffers read directly: the slice offset applies to the values and to the validity bits,
    nulls become NaN (integers with nulls widen to float64), and the result equals pandas'."""
    import pyarrow as pa

    from lossctl.io import _arrow_numbers

    values = [None if i % 4 == 1 else i for i in range(20)]
    chunk = pa.array(values, type=getattr(pa, arrow_type)()).slice(start, 11)
    got = _arrow_numbers(chunk)
    want = chunk.to_pandas().to_numpy()
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype
    no_nulls = pa.array(list(range(20)), type=getattr(pa, arrow_type)()).slice(start, 11)
    assert _arrow_numbers(no_nulls).dtype == np.dtype(no_nulls.type.to_pandas_dtype())
    np.testing.assert_array_equal(_arrow_numbers(no_nulls), np.arange(start, start + 11))


def test_numeric_column_joins_chunks_and_falls_back_for_other_types() -> None:
    import pyarrow as pa

    from lossctl.errors import InputError
    from lossctl.io import Table, numeric_column

    t = pa.table({"a": pa.chunked_array([[1.0, None], [3.0]]), "b": pa.chunked_array([["1", "2"], ["x"]])})
    table = Table("f.csv", "csv", ["a", "b"], arrow=t)
    np.testing.assert_array_equal(numeric_column(table, "a"), [1.0, np.nan, 3.0])
    with pytest.raises(InputError, match=r"column 'b' of 'f.csv' has a non-numeric value 'x' at row 2 \(line 4\)"):
        numeric_column(table, "b")
    assert table.rows == 3


def test_errors_after_rows_are_left_out_name_the_input_row() -> None:
    """--nan omit and --ignore-index drop rows before the domain checks: a later error still
    names the row of the input, not of the rows kept."""
    from lossctl import evaluate
    from lossctl.errors import InputError

    y = np.array([0.5, np.nan, 0.2, 1.5, 0.3])
    p = np.array([0.5, 0.3, 0.4, 0.2, 0.1])
    with pytest.raises(InputError, match=r"y_true at row 3 is 1.5"):
        evaluate(y, p, "bce", nan="omit")
    ids = np.array([0, 2, 1, 7, 1])
    logits = np.zeros((5, 3))
    with pytest.raises(InputError, match=r"at row 3 is 7, not a class id"):
        evaluate(ids, logits, "softmax_ce", ignore_index=2)
    # A weight checked after an omitted row.
    w = np.array([1.0, 1.0, np.nan, 1.0, -1.0])
    with pytest.raises(InputError, match=r"at row 4 is -1"):
        evaluate(np.zeros(5), np.ones(5), "mse", w, nan="omit")
