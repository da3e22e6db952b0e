"""`lossctl bench`: cases from the registry, agreement checks, exports and the regression gate.

These tests check what the bench reports, never how fast anything is.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lossctl import bench
from lossctl.cli import app
from lossctl.registry import get_loss, registry

runner = CliRunner()


def run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [str(a) for a in args])


def test_every_loss_is_a_case_and_implementations_agree():  # type: ignore[no-untyped-def]
    report = bench.run_bench(list(registry()), [300], ["float64", "float32"], target_seconds=0.001)
    cases = {(r.loss, r.dtype) for r in report.rows}
    assert cases == {(lo.name, d) for lo in registry() for d in ("float64", "float32")}
    for r in report.rows:
        assert r.agrees, f"{r.loss} {r.dtype} {r.impl}: rel diff {r.rel_diff}"
        assert r.repeats >= 3 and r.min_s <= r.median_s <= r.max_s
        assert r.rows_per_s == pytest.approx(300 / r.median_s)
    lossctl_rows = [r for r in report.rows if r.impl == "lossctl"]
    assert all(r.per_sample_ratio is not None and r.rel_diff == 0 for r in lossctl_rows)
    assert {r.impl for r in report.rows} >= {"lossctl", "numpy"}
    assert report.ceilings and all(c["gb_per_s"] > 0 for c in report.ceilings)
    assert report.env["cores"] >= 1 and "numba" in report.env["versions"]


def test_frameworks_listed_by_the_declaration_are_timed():  # type: ignore[no-untyped-def]
    pytest.importorskip("torch")
    report = bench.run_bench([get_loss("huber")], [100], target_seconds=0.001)
    assert [r.impl for r in report.rows] == ["lossctl", "numpy", "torch"]
    no_fw = bench.run_bench([get_loss("huber")], [100], frameworks=False, target_seconds=0.001)
    assert [r.impl for r in no_fw.rows] == ["lossctl", "numpy"]


def test_cli_exports(tmp_path: Path):  # type: ignore[no-untyped-def]
    j, c, m = tmp_path / "b.json", tmp_path / "b.csv", tmp_path / "b.md"
    args = ["bench", "-l", "mse,softmax_ce", "--size", "1e2,2e2", "--seconds", "0.01", "--no-frameworks"]
    r = run(*args, "--export-json", j, "--export-csv", c, "--export-markdown", m, "-f", "table")
    assert r.exit_code == 0, r.stderr
    assert "mse" in r.stdout and "softmax_ce" in r.stdout and "cpu:" in r.stdout
    data = json.loads(j.read_text())
    assert {(row["loss"], row["n"], row["impl"]) for row in data["rows"]} == {
        (loss, n, impl) for loss in ("mse", "softmax_ce") for n in (100, 200) for impl in ("lossctl", "numpy")
    }
    assert data["env"]["threading_layer"] and data["settings"]["sizes"] == [100, 200]
    rows = list(csv.DictReader(io.StringIO("".join(li for li in c.read_text().splitlines(True) if li[0] != "#"))))
    assert len(rows) == 8 and rows[0]["impl"] == "lossctl"
    assert c.read_text().startswith("# cpu:")
    assert "| loss |" in m.read_text() and "- versions:" in m.read_text()
    # '-' sends an export to stdout instead of the table.
    r = run(*args, "--export-json", "-")
    assert r.exit_code == 0 and len(json.loads(r.stdout)["rows"]) == 8


def test_multiclass_cases_at_each_number_of_classes(tmp_path: Path):  # type: ignore[no-untyped-def]
    j = tmp_path / "b.json"
    args = ["bench", "-l", "mse,softmax_ce", "--size", "200", "--classes", "3,50", "--seconds", "0.01"]
    r = run(*args, "--no-frameworks", "--export-json", j, "-f", "table")
    assert r.exit_code == 0, r.stderr
    rows = json.loads(j.read_text())["rows"]
    assert {(row["loss"], row["k"], row["impl"]) for row in rows} == {
        ("mse", None, "lossctl"),
        ("mse", None, "numpy"),
        *[("softmax_ce", k, impl) for k in (3, 50) for impl in ("lossctl", "numpy")],
    }
    assert all(row["agrees"] for row in rows)
    # The K=50 inputs are larger: their read ceiling is measured over their own bytes.
    nbytes = {row["k"]: row["gb_per_s"] * row["median_s"] for row in rows if row["impl"] == "lossctl"}
    assert nbytes[50] > 10 * nbytes[3] > 0
    assert "softmax_ce (K=50)" in {s["loss"] for s in bench.scaling(json.loads(j.read_text()))}


def test_baseline_gate(tmp_path: Path):  # type: ignore[no-untyped-def]
    args = ["bench", "-l", "mse", "--size", "100", "--seconds", "0.01", "--no-frameworks"]
    base = tmp_path / "base.json"
    assert run(*args, "--export-json", base).exit_code == 0
    data = json.loads(base.read_text())
    # A baseline that was 1000x faster: this run is a regression.
    for row in data["rows"]:
        row["median_s"] /= 1000
    fast = tmp_path / "fast.json"
    fast.write_text(json.dumps(data))
    r = run(*args, "--baseline", fast, "--max-regression", "10")
    assert r.exit_code == 1 and "regression" in r.stderr and "mse n=100" in r.stderr
    # A baseline a million times slower: no regression. (Only 1000x slower was flaky on a loaded
    # machine: a 1 us kernel whose threads wait a millisecond to be scheduled.)
    for row in data["rows"]:
        row["median_s"] *= 1e9
    fast.write_text(json.dumps(data))
    assert run(*args, "--baseline", fast).exit_code == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--size", "abc"], "--size takes numbers"),
        (["--size", "0.5"], "whole number"),
        (["--dtype", "int8"], "float64 or float32"),
        (["-l", "hubr"], "did you mean 'huber'"),
        (["--baseline", "/nonexistent.json"], "cannot read --baseline"),
        (["--classes", "1"], "at least 2 classes"),
        (["--classes", "ten"], "--classes takes numbers"),
    ],
)
def test_cli_errors(args, message):  # type: ignore[no-untyped-def]
    r = run("bench", "--seconds", "0.01", *args)
    assert r.exit_code == 2
    assert message.lower() in r.stderr.lower()
