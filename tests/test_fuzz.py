"""Fuzzing ``lossctl eval`` with broken input files.

Each case feeds the CLI (in-process, through ``typer.testing.CliRunner``) random bytes or a valid
file mutated at the byte level (bit flips, truncation, inserted delimiters, quotes, NULs, line
ends and BOMs, duplicated, dropped or swapped lines), at the cell level (junk, non-finite and
huge values, empty cells, renamed or duplicated columns) or, for Parquet, at the frame level.
Inputs are CSV, TSV, gzip-compressed CSV and Parquet, sometimes under a misleading name, sometimes
on stdin, sometimes as one of a pair joined with ``--key``, with random options.

Every case must end in exit 0 with valid JSON (and a quiet stderr), or exit 2 with one line on
stderr and nothing on stdout: never a traceback, an escaped exception, exit 3 (internal error) or
a hang. A ``--per-sample`` file must be complete on success and absent on failure, with no
temporary file left behind.

Cases are seeded and deterministic: case ``i`` draws from ``random.Random(f"{SEED}:{i}")``.
Environment:
- ``LOSSCTL_FUZZ_CASES``: number of cases in the default test (100, a few seconds);
- ``LOSSCTL_FUZZ_LONG_CASES``: cases in the long test, marked ``slow`` (5000);
- ``LOSSCTL_FUZZ_SEED``: the base seed (a different seed explores different cases);
- ``LOSSCTL_FUZZ_TIMEOUT``: seconds one case may take before it counts as a hang (60).
Failing inputs are saved under pytest's ``tmp_path`` and listed in the failure message.
"""

from __future__ import annotations

import glob
import gzip
import io
import json
import math
import os
import random
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from lossctl.cli import app

N_CASES = int(os.environ.get("LOSSCTL_FUZZ_CASES", "100"))
LONG_CASES = int(os.environ.get("LOSSCTL_FUZZ_LONG_CASES", "5000"))
SEED = os.environ.get("LOSSCTL_FUZZ_SEED", "lossctl-fuzz-1")
CASE_TIMEOUT = float(os.environ.get("LOSSCTL_FUZZ_TIMEOUT", "60"))
CLI_ENV: dict[str, str | None] = {"LOSSCTL_DEBUG": None, "COLUMNS": "80"}
MAX_MESSAGE = 1000
MAX_REPORTED = 25
# Warnings Python hides by default; any other warning lands on a user's stderr.
HIDDEN_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)

# --- valid inputs the mutations start from ---------------------------------------------------------


def _base_frames() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(20240611)
    n = 40
    y = rng.normal(size=n)
    k = 3
    probs = rng.dirichlet(np.ones(k), n)
    logits = rng.normal(0, 2, (n, k))
    return {
        "regression": pd.DataFrame(
            {
                "id": np.arange(n),
                "y_true": y,
                "y_pred": y + rng.normal(size=n),
                "w": rng.uniform(0, 2, n),
                "note": [f"r{i}" for i in range(n)],
            }
        ),
        "binary": pd.DataFrame(
            {
                "id": np.arange(n),
                "y_true": rng.integers(0, 2, n),
                "y_pred": rng.uniform(0.01, 0.99, n),
                "logit": rng.normal(0, 3, n),
            }
        ),
        "multiclass": pd.DataFrame(
            {
                "id": np.arange(n),
                "label": rng.integers(0, k, n),
                **{f"p_{i}": probs[:, i] for i in range(k)},
                **{f"logit_{i}": logits[:, i] for i in range(k)},
            }
        ),
    }


BASES = _base_frames()
LOSSES = {"regression": "mse,huber,mae", "binary": "bce,bce_logits,hinge", "multiclass": "cce,softmax_ce"}
JUNK = [
    "",
    " ",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1e309",
    "-1e309",
    "1e-400",
    "-0",
    "abc",
    '"',
    '""',
    '"1,2"',
    "1,2",
    "1;2",
    "\t",
    "0x1F",
    "1_000",
    "١٢",
    "TRUE",
    "null",
    "None",
    "NA",
    "\x00",
    "\ufeff1",
    "é",
    "3" * 400,
    "9" * 30,
    "-1",
    "2",
    "1.5",
    "-1e300",
    "1e300",
    "x" * 150,
]
TOKENS = [b",", b";", b"\t", b"|", b'"', b"'", b"\x00", b"\n", b"\r", b"\r\n", b"\xef\xbb\xbf", b"\xff", b"\\", b" "]


def encode(frame: pd.DataFrame, encoding: str) -> bytes:
    if encoding == "parquet":
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        return buf.getvalue()
    text = frame.to_csv(index=False, sep="\t" if encoding == "tsv" else ",", float_format="%.17g", lineterminator="\n")
    data = text.encode()
    return gzip.compress(data, mtime=0) if encoding == "csv.gz" else data


# --- mutations ----------------------------------------------------------------------------------------


def bit_flips(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    if not data:
        return data, "bit-flips(empty)"
    b = bytearray(data)
    k = rng.randint(1, 24)
    for _ in range(k):
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b), f"bit-flips({k})"


def truncate(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    cut = rng.randint(0, len(data))
    return data[:cut], f"truncate({cut}/{len(data)})"


def insert_tokens(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    b = bytearray(data)
    k = rng.randint(1, 8)
    picked = []
    for _ in range(k):
        token = rng.choice(TOKENS)
        picked.append(token)
        i = rng.randint(0, len(b))
        b[i:i] = token
    return bytes(b), f"insert({picked!r})"


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def duplicate_lines(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    lines = _lines(data)
    i = rng.randrange(len(lines))
    times = rng.randint(1, 5)
    lines[i:i] = [lines[i]] * times
    return b"\n".join(lines), f"duplicate-line({i}x{times})"


def drop_lines(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    lines = _lines(data)
    i = rng.randrange(len(lines))
    j = min(len(lines), i + rng.randint(1, 3))
    del lines[i:j]
    return b"\n".join(lines), f"drop-lines({i}:{j})"


def swap_lines(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    lines = _lines(data)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines), f"swap-lines({i},{j})"


def junk_cells(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    lines = _lines(data)
    delimiter = b"\t" if b"\t" in lines[0] else b","
    k = rng.randint(1, 4)
    done = []
    for _ in range(k):
        i = rng.randrange(len(lines))
        cells = lines[i].split(delimiter)
        c = rng.randrange(len(cells))
        junk = rng.choice(JUNK)
        cells[c] = junk.encode()
        lines[i] = delimiter.join(cells)
        done.append((i, c, junk[:12]))
    return b"\n".join(lines), f"junk-cells({done!r})"


def mangle_header(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    lines = _lines(data)
    delimiter = b"\t" if b"\t" in lines[0] else b","
    names = lines[0].split(delimiter)
    how = rng.choice(["duplicate", "rename", "drop", "blank", "case", "space"])
    i = rng.randrange(len(names))
    if how == "duplicate":
        names[rng.randrange(len(names))] = names[i]
    elif how == "rename":
        names[i] = names[i] + b"_x"
    elif how == "drop":
        del names[i]
    elif how == "blank":
        names[i] = b""
    elif how == "case":
        names[i] = names[i].upper()
    else:
        names[i] = b" " + names[i]
    lines[0] = delimiter.join(names)
    return b"\n".join(lines), f"header-{how}({i})"


def copy_chunk(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    if not data:
        return data, "copy-chunk(empty)"
    i = rng.randrange(len(data))
    chunk = data[i : i + rng.randint(1, 200)]
    j = rng.randint(0, len(data))
    return data[:j] + chunk + data[j:], f"copy-chunk({i}->{j},{len(chunk)})"


TEXT_MUTATIONS = [
    bit_flips,
    truncate,
    insert_tokens,
    duplicate_lines,
    drop_lines,
    swap_lines,
    junk_cells,
    mangle_header,
]
BYTE_MUTATIONS = [bit_flips, truncate, insert_tokens, copy_chunk]


def mutate_frame(rng: random.Random, frame: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Parquet-level damage: values, dtypes, columns and rows that a writer could produce."""
    f = frame.copy()
    how = rng.choice(["value", "string-column", "drop-column", "rename", "empty", "duplicate-rows", "nullable"])
    col = rng.choice(list(f.columns))
    if how == "value":
        col = rng.choice([c for c in f.columns if f[c].dtype.kind in "iuf"])
        i = rng.randrange(len(f))
        value = rng.choice([math.nan, math.inf, -math.inf, 1e308, -1e308, 2.0, -1.0, 0.5])
        f[col] = f[col].astype("float64")
        f.loc[f.index[i], col] = value
    elif how == "string-column":
        f[col] = f[col].astype(str)
        f.loc[f.index[rng.randrange(len(f))], col] = rng.choice(JUNK)
    elif how == "drop-column":
        f = f.drop(columns=[col])
    elif how == "rename":
        f = f.rename(columns={col: col + "_x"})
    elif how == "empty":
        f = f.iloc[:0]
    elif how == "duplicate-rows":
        f = pd.concat([f, f.iloc[: rng.randint(1, 5)]])
    else:
        col = rng.choice([c for c in f.columns if f[c].dtype.kind in "iuf"])
        f[col] = f[col].astype("Float64" if f[col].dtype.kind == "f" else "Int64")
        f.loc[f.index[rng.randrange(len(f))], col] = pd.NA
    return f, f"frame-{how}({col})"


# --- one case ----------------------------------------------------------------------------------------


@dataclass
class Case:
    index: int
    steps: list[str] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)  # name -> content, written into the case dir
    args: list[str] = field(default_factory=list)
    stdin: bytes | None = None
    losses: list[str] = field(default_factory=list)
    per_sample: str | None = None

    def describe(self) -> str:
        return f"case {self.index} (seed {SEED}:{self.index}): {' + '.join(self.steps)}; lossctl {' '.join(self.args)}"


EXT = {"csv": ".csv", "tsv": ".tsv", "csv.gz": ".csv.gz", "parquet": ".parquet"}


def make_content(rng: random.Random, case: Case, frame: pd.DataFrame) -> tuple[bytes, str]:
    """Damaged bytes of ``frame`` and the file extension they go under."""
    encoding = rng.choice(["csv", "csv", "csv", "tsv", "csv.gz", "parquet"])
    case.steps.append(encoding)
    if encoding == "parquet" and rng.random() < 0.5:
        frame, step = mutate_frame(rng, frame)
        case.steps.append(step)
        data = encode(frame, "parquet")
        mutations = BYTE_MUTATIONS if rng.random() < 0.3 else []
    elif encoding == "csv.gz" and rng.random() < 0.5:
        data = encode(frame, "csv")
        for _ in range(rng.randint(1, 3)):
            data, step = rng.choice(TEXT_MUTATIONS)(rng, data)
            case.steps.append(step)
        data = gzip.compress(data, mtime=0)
        mutations = []
    else:
        data = encode(frame, encoding)
        pool = TEXT_MUTATIONS if encoding in ("csv", "tsv") else BYTE_MUTATIONS
        mutations = [rng.choice(pool) for _ in range(rng.randint(1, 3))]
    for mutation in mutations:
        data, step = mutation(rng, data)
        case.steps.append(step)
    ext = EXT[encoding]
    if rng.random() < 0.1:
        ext = rng.choice([".csv", ".parquet", ".txt", ".gz", ""])
        case.steps.append(f"named{ext or '-without-extension'}")
    return data, ext


def random_bytes(rng: random.Random, case: Case) -> bytes:
    n = rng.choice([0, 1, 2, 8, 100, 1000, 5000])
    data = bytes(rng.getrandbits(8) for _ in range(n))
    prefix = rng.choice([b"", b"", b"PAR1", b"\x1f\x8b", b"y_true,y_pred\n", b"\xef\xbb\xbf", b"label,p_0,p_1\n"])
    case.steps.append(f"random-bytes({n}, prefix={prefix!r})")
    return prefix + data


def build_case(index: int) -> Case:
    rng = random.Random(f"{SEED}:{index}")
    case = Case(index)
    kind = rng.choices(["mutated", "random", "pair"], weights=[70, 15, 15])[0]
    task = rng.choice(list(BASES))
    case.losses = LOSSES[task].split(",")
    extra: list[str] = []
    if kind == "pair":
        frame = BASES[task]
        label_col = "label" if task == "multiclass" else "y_true"
        preds = frame.drop(columns=[label_col]).sample(frac=1.0, random_state=index)
        labels = frame[["id", label_col]]
        victim = rng.choice(["preds", "labels"])
        data, ext = make_content(rng, case, preds if victim == "preds" else labels)
        clean, clean_ext = encode(labels if victim == "preds" else preds, "csv"), ".csv"
        names = {"preds": "preds", "labels": "labels"}
        pfile = names["preds"] + (ext if victim == "preds" else clean_ext)
        lfile = names["labels"] + (ext if victim == "labels" else clean_ext)
        case.files[pfile] = data if victim == "preds" else clean
        case.files[lfile] = data if victim == "labels" else clean
        case.steps.insert(0, f"pair({victim} damaged)")
        target = pfile
        extra += ["--labels", lfile, "--key", "id"]
        if rng.random() < 0.5:
            extra += ["--unmatched", "drop"]
    else:
        if kind == "random":
            data, ext = random_bytes(rng, case), rng.choice([".csv", ".parquet", ".tsv", ".csv.gz", ".txt"])
        else:
            data, ext = make_content(rng, case, BASES[task])
        target = "input" + ext
        case.files[target] = data
    if kind != "pair" and rng.random() < 0.1:
        case.stdin = case.files.pop(target)
        target = "-"
        case.steps.append("stdin")
    if rng.random() < 0.3:
        extra += ["--nan", rng.choice(["error", "omit", "propagate"])]
    if task == "regression" and rng.random() < 0.25:
        extra += ["--weight", "w"]
    if rng.random() < 0.1:
        extra += ["--reduction", "sum"]
    if rng.random() < 0.1:
        extra += ["--no-stats"]
    if rng.random() < 0.15:
        case.per_sample = rng.choice(["out.csv", "out.parquet"])
        extra += ["--per-sample", case.per_sample]
    case.args = ["eval", target, "-l", ",".join(case.losses), "-f", "json", *extra]
    return case


# --- running and judging ------------------------------------------------------------------------------


def invoke(case: Case, directory: Path) -> tuple[Result, str]:
    """Run the case in a daemon thread so that a hang is reported instead of blocking the suite."""
    box: dict[str, Any] = {}

    local = {*case.files, case.per_sample}
    args = [str(directory / a) if a in local else a for a in case.args]

    def target() -> None:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                box["result"] = CliRunner(env=CLI_ENV).invoke(app, args, input=case.stdin)
            # pytest would swallow warnings that the real command prints on stderr: count them in.
            shown = [w for w in caught if not issubclass(w.category, HIDDEN_WARNINGS)]
            box["warnings"] = "".join(f"{w.category.__name__}: {w.message}\n" for w in shown)
        except BaseException as e:  # reported in the main thread
            box["error"] = e

    thread = threading.Thread(target=target, name=f"fuzz-case-{case.index}", daemon=True)
    thread.start()
    thread.join(CASE_TIMEOUT)
    if thread.is_alive():
        pytest.fail(f"HANG: no answer within {CASE_TIMEOUT:g} s: {case.describe()} (inputs in {directory})")
    if "error" in box:
        raise box["error"]
    return box["result"], box["warnings"]  # type: ignore[no-any-return]


def problems(case: Case, r: Result, warned: str, directory: Path) -> list[str]:
    """What is wrong with the outcome of ``case`` (empty when it kept the promise)."""
    out: list[str] = []
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        return [f"escaped exception {type(r.exception).__name__}: {r.exception}"]
    if "Traceback" in r.output:
        out.append("traceback in the output")
    leftovers = glob.glob(str(directory / ".lossctl-*"))
    if leftovers:
        out.append(f"temporary files left behind: {leftovers}")
    if warned:
        out.append(f"warnings on stderr: {warned[:300]!r}")
    if r.exit_code == 0:
        if r.stderr:
            out.append(f"exit 0 but stderr is not empty: {r.stderr[:300]!r}")
        try:
            d = json.loads(r.stdout)
        except ValueError as e:
            return out + [f"exit 0 with invalid JSON ({e}): {r.stdout[:200]!r}"]
        results = d.get("results") if isinstance(d, dict) else None
        if not isinstance(results, list) or [x.get("loss") for x in results] != case.losses:
            out.append(f"exit 0 but the results do not list {case.losses}: {r.stdout[:200]!r}")
        else:
            for x in results:
                cost = x.get("cost")
                if not (isinstance(cost, (int, float)) or cost in ("nan", "inf", "-inf")):
                    out.append(f"{x['loss']}: cost {cost!r} is not a number")
                if not isinstance(x.get("n"), int) or x["n"] < 0 or x["n"] > d["input"]["rows"]:
                    out.append(f"{x['loss']}: n={x.get('n')!r} with {d['input']['rows']} rows")
        if case.per_sample:
            path = directory / case.per_sample
            if not path.exists():
                out.append("exit 0 but the --per-sample file is missing")
            else:
                try:
                    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
                    if len(frame) != d["input"]["rows"] or list(frame.columns)[1:] != case.losses:
                        out.append(f"per-sample file has {len(frame)} rows, columns {list(frame.columns)}")
                except Exception as e:  # any failure to read it back is the finding
                    out.append(f"per-sample file does not read back: {type(e).__name__}: {e}")
    elif r.exit_code == 2:
        err = r.stderr.strip()
        if r.stdout:
            out.append(f"exit 2 but stdout is not empty: {r.stdout[:200]!r}")
        if not err.startswith("lossctl: error: "):
            out.append(f"exit 2 without a lossctl error line: {err[:300]!r}")
        elif "\n" in err:
            out.append(f"exit 2 with more than one line on stderr: {err[:300]!r}")
        if len(err) > MAX_MESSAGE:
            out.append(f"exit 2 with a {len(err)}-character message: {err[:200]!r}...")
        if case.per_sample and (directory / case.per_sample).exists():
            out.append("a failed run left a --per-sample file")
    else:
        out.append(f"exit {r.exit_code}: {r.stderr.strip()[:300]!r}")
    return out


def run_fuzz(n_cases: int, tmp_path: Path) -> None:
    failures: list[str] = []
    outcomes = {0: 0, 2: 0}
    for index in range(n_cases):
        case = build_case(index)
        directory = tmp_path / f"case-{index:05d}"
        directory.mkdir()
        for name, content in case.files.items():
            (directory / name).write_bytes(content)
        if case.stdin is not None:
            (directory / "stdin.bin").write_bytes(case.stdin)
        r, warned = invoke(case, directory)
        found = problems(case, r, warned, directory)
        if found:
            failures.append(f"{case.describe()}\n    -> " + "\n    -> ".join(found) + f"\n    inputs: {directory}")
        else:
            outcomes[r.exit_code] = outcomes.get(r.exit_code, 0) + 1
            for name in case.files:  # keep only the inputs of failing cases
                (directory / name).unlink(missing_ok=True)
    shown = "\n".join(failures[:MAX_REPORTED])
    more = f"\n... and {len(failures) - MAX_REPORTED} more" if len(failures) > MAX_REPORTED else ""
    assert not failures, f"{len(failures)} of {n_cases} fuzz cases broke the promise:\n{shown}{more}"
    # The mix must exercise both outcomes, or the fuzzer is not testing what it claims to.
    if n_cases >= 50:
        assert outcomes[0] > 0 and outcomes[2] > 0, outcomes


def test_cases_are_deterministic() -> None:
    for index in (0, 1, 7, 42):
        a, b = build_case(index), build_case(index)
        assert (a.args, a.files, a.stdin, a.steps) == (b.args, b.files, b.stdin, b.steps)
    assert build_case(0).files != build_case(1).files or build_case(0).args != build_case(1).args


def test_unmutated_bases_evaluate(tmp_path: Path) -> None:
    # The fuzzer starts from inputs that work, in every encoding.
    for task, frame in BASES.items():
        for encoding, ext in EXT.items():
            path = tmp_path / f"{task}{ext}"
            path.write_bytes(encode(frame, encoding))
            r = CliRunner(env=CLI_ENV).invoke(app, ["eval", str(path), "-l", LOSSES[task], "-f", "json"])
            assert r.exit_code == 0, (task, encoding, r.stderr)
            d = json.loads(r.stdout)
            assert [x["loss"] for x in d["results"]] == LOSSES[task].split(",")
            assert all(x["n"] == len(frame) and math.isfinite(x["cost"]) for x in d["results"])


def test_fuzz_cli(tmp_path: Path) -> None:
    run_fuzz(N_CASES, tmp_path)


@pytest.mark.slow
def test_fuzz_cli_long(tmp_path: Path) -> None:
    run_fuzz(LONG_CASES, tmp_path)
