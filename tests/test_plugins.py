"""Plugins: loss declarations from a file (``--plugin FILE``) or from an installed package (the
entry-point group ``lossctl.losses``), end to end.

The example plugin (``examples/cauchy_loss.py``) is loaded for the whole test session by
``conftest.py``; here it is also loaded the way a user does, in fresh processes (``list``,
``describe``, ``eval``, ``bench``, ``plot``). Broken plugin files must fail in one stderr line
naming the file, with exit 2 and nothing half-registered; broken entry points must only warn.
Entry points are tested with a throwaway distribution (a module and its ``.dist-info``) put on
PYTHONPATH of a subprocess. Every expected number is computed here with NumPy.
"""

from __future__ import annotations

import json
import math
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from clitest import assert_error, env_without_debug, eval_json, lossctl_procs, ok, plain_environment, run  # noqa: F401

import lossctl
import lossctl.registry as reg
from lossctl.errors import UsageError
from lossctl.registry import REGISTRY, load_plugin, registry

ROOT = Path(__file__).resolve().parents[1]
REG = ROOT / "sample_data" / "regression.csv"
EXAMPLE = "examples/cauchy_loss.py"  # relative to ROOT, as a user types it there
REL = 1e-12


@pytest.fixture
def restore_registry() -> Iterator[None]:
    """Whatever a test's plugins add to this process's registry is taken out again afterwards."""
    losses, names, files = dict(REGISTRY._losses), dict(REGISTRY._names), dict(reg._plugin_files)
    yield
    REGISTRY._losses.clear()
    REGISTRY._losses.update(losses)
    REGISTRY._names.clear()
    REGISTRY._names.update(names)
    reg._plugin_files.clear()
    reg._plugin_files.update(files)


# --- helpers ---------------------------------------------------------------------------------


def rel_close(a: float, b: float, rel: float = REL) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=0.0)


def reg_arrays() -> tuple[np.ndarray, np.ndarray]:
    df = pd.read_csv(REG)
    return df["y_true"].to_numpy(float), df["y_pred"].to_numpy(float)


def cauchy(r: np.ndarray, c: float = 1.0) -> np.ndarray:
    return 0.5 * c * c * np.log1p((r / c) ** 2)


def cauchy_d(r: np.ndarray, c: float = 1.0) -> np.ndarray:
    return r / (1.0 + (r / c) ** 2)


def write(path: Path, source: str) -> Path:
    path.write_text(textwrap.dedent(source))
    return path


def stable_plugin(name: str, source: str) -> Path:
    """A plugin file at a path that stays the same from one test session to the next.

    lossctl names a plugin's module by its path and content, and numba caches the compiled kernels
    by that module: a file in a fresh tmp_path would be compiled again (seconds) in every session.
    Also, as generated kernels are keyed by the kernel's source alone (a bug: see
    test_a_plugin_moved_or_edited_outside_its_kernel_still_runs), the same kernel in a file at a
    new path would find a stale kernel module in a warm cache and fail."""
    import hashlib
    import tempfile

    text = textwrap.dedent(source)
    where = Path(tempfile.gettempdir()) / f"lossctl-test-plugins-{os.getuid()}"
    where.mkdir(exist_ok=True)
    path = where / f"{name}.py"
    if not path.exists() or path.read_text() != text:
        tmp = where / f".{name}.{os.getpid()}.{hashlib.sha1(text.encode()).hexdigest()[:8]}.tmp"
        tmp.write_text(text)
        os.replace(tmp, path)  # atomic: two test workers may write it at once
    return path


_HEADER = """\
import math

import numpy as np

from lossctl.domains import POSITIVE, REALS
from lossctl.registry import NONNEGATIVE, Param, Pred, Task, loss
"""


def declaration(name: str, *, extra: str = "", grad: bool = True, fn: str | None = None) -> str:
    """Source declaring a regression loss ``name`` = |r|^3 (with its derivative unless not ``grad``)."""
    fn = fn or f"{name}_kernel"
    grad_src = f"\n\ndef {fn}_grad(y: float, p: float) -> float:\n    r = p - y\n    return 3.0 * r * abs(r)\n"
    return (
        (grad_src if grad else "")
        + f"""

@loss(
    name="{name}",
    task=Task.REGRESSION,
    summary="cube of the absolute residual",
    formula="|y_pred - y_true|^3",
    reference=lambda y, p: np.abs(np.asarray(p, dtype=float) - np.asarray(y, dtype=float)) ** 3,
    y_true=REALS,
    y_pred=REALS,
    prediction=Pred.VALUE,
    properties=frozenset({{NONNEGATIVE}}),
    {"grad=" + fn + "_grad," if grad else ""}
    {extra}
)
def {fn}(y: float, p: float) -> float:
    return abs(p - y) ** 3
"""
    )


# --- the example plugin, in fresh processes ---------------------------------------------------


def test_example_plugin_end_to_end_in_fresh_processes(tmp_path: Path) -> None:
    # bench reports the versions of PyTorch and scikit-learn when they import (seconds, even with
    # --no-frameworks): these processes see neither, as on a machine without them.
    hide = tmp_path / "hide"
    hide.mkdir()
    for mod in ("torch", "sklearn"):
        (hide / f"{mod}.py").write_text(f"raise ImportError('{mod} is hidden from this test')\n")
    y, p = reg_arrays()
    r = p - y
    n = r.shape[0]
    plugin = ["--plugin", EXAMPLE]
    commands = [
        ["list", *plugin, "-f", "table"],
        ["describe", "lorentzian", *plugin, "-f", "table"],
        ["eval", str(REG), *plugin, "--loss", "cauchy", "-p", "c=20", "--grad", "-f", "json"],
        ["bench", *plugin, "--loss", "cauchy", "--size", "1000", "--seconds", "0.01", "--no-frameworks", "-f", "json"],
        ["plot", *plugin, "cauchy", "mse", "--points", "41", "-f", "json"],
        ["eval", str(REG), "--loss", "cauchy", "-f", "json"],  # without --plugin: not a loss
    ]
    listing, describe, evaluated, bench, plotted, without = lossctl_procs(
        commands, COLUMNS="100", PYTHONPATH=pythonpath(hide)
    )
    for proc in (listing, describe, evaluated, bench, plotted):
        assert proc.returncode == 0, (proc.args, proc.stderr)
        assert "Traceback" not in proc.stderr

    # list: the plugin loss, marked as one, among the built-in ones.
    assert "cauchy (plugin)" in listing.stdout and "mse" in listing.stdout
    # describe (by its alias): its declaration and where it comes from.
    assert "c^2 / 2 * log(1 + ((y_pred - y_true) / c)^2)" in describe.stdout
    assert f"declared by: plugin {EXAMPLE}" in describe.stdout
    assert "lossctl eval --grad" in describe.stdout  # it declares a derivative

    # eval --grad: the cost and the gradient summary against c^2/2 log1p((r/c)^2).
    res = json.loads(evaluated.stdout)["results"][0]
    assert res["loss"] == "cauchy" and res["params"] == {"c": 20.0} and res["n"] == n
    assert rel_close(res["cost"], float(np.mean(cauchy(r, 20.0))))
    g = res["gradient"]
    assert rel_close(g["cost_grad_norm"], float(np.linalg.norm(cauchy_d(r, 20.0) / n)), 1e-10)
    assert rel_close(g["max_abs"], float(np.max(np.abs(cauchy_d(r, 20.0)))), 1e-12)
    want = np.lexsort((np.arange(n), -np.abs(cauchy_d(r, 20.0))))[:5]
    assert [x["row"] for x in g["largest"]] == [int(i) for i in want]

    # bench: lossctl's kernel against the plugin's own NumPy reference, and they agree.
    rows = json.loads(bench.stdout)["rows"]
    assert {row["loss"] for row in rows} == {"cauchy"}
    assert {row["impl"] for row in rows} >= {"lossctl", "numpy"}
    assert all(row["agrees"] for row in rows) and all(row["n"] == 1000 for row in rows)

    # plot: the curve of the plugin loss beside a built-in one.
    d = json.loads(plotted.stdout)
    x = np.array(d["x"])
    ys = {s["name"]: np.array(s["y"], dtype=float) for s in d["series"]}
    np.testing.assert_allclose(ys["cauchy"], cauchy(x), rtol=REL)
    np.testing.assert_allclose(ys["mse"], x * x, rtol=REL)

    # Without --plugin a fresh process does not know it.
    assert without.returncode == 2 and without.stdout == ""
    assert without.stderr.strip() == without.stderr.strip().split("\n")[0]
    assert "'cauchy' is not a loss" in without.stderr


def test_example_plugin_in_process_is_listed_and_evaluated_like_a_built_in(tmp_path: Path) -> None:
    listing = json.loads(ok("list", "--plugin", EXAMPLE, "-f", "json").stdout)
    row = next(x for x in listing if x["name"] == "cauchy")
    assert row["origin"] == f"plugin {EXAMPLE}" and row["task"] == "regression" and row["params"] == "c=1"
    assert all(x["origin"] == "built-in" for x in listing if x["name"] in ("mse", "huber", "bce"))
    assert "cauchy" in registry().names() and "cauchy" not in registry().names(builtin=True)
    # eval: cost, per-sample values and gradients (weighted too), through the file plumbing.
    y, p = reg_arrays()
    r = p - y
    out = tmp_path / "rows.csv"
    d = json.loads(
        ok(
            "eval",
            REG,
            "--plugin",
            EXAMPLE,
            "-l",
            "cauchy",
            "-p",
            "c=0.5,30",
            "--grad",
            "--per-sample",
            out,
            "-f",
            "json",
        ).stdout
    )
    costs = {x["label"]: x["cost"] for x in d["results"]}
    assert rel_close(costs["cauchy[c=0.5]"], float(np.mean(cauchy(r, 0.5))))
    assert rel_close(costs["cauchy[c=30]"], float(np.mean(cauchy(r, 30.0))))
    rows = pd.read_csv(out)
    np.testing.assert_allclose(rows["cauchy[c=30]"], cauchy(r, 30.0), rtol=REL)
    np.testing.assert_allclose(rows["grad_cauchy[c=30]"], cauchy_d(r, 30.0), rtol=REL)
    np.testing.assert_allclose(rows["grad_cauchy[c=0.5]"], cauchy_d(r, 0.5), rtol=REL)
    # The alias, a parameter outside its range, and a plot of its derivative.
    assert rel_close(lossctl.evaluate(y, p, "lorentzian", c=2.0).cost, float(np.mean(cauchy(r, 2.0))))
    assert_error(run("eval", REG, "--plugin", EXAMPLE, "-l", "cauchy", "-p", "c=0"), "c=0", "cauchy")
    g = json.loads(ok("plot", "cauchy", "--plugin", EXAMPLE, "--grad", "-p", "c=2", "-f", "json").stdout)
    x = np.array(g["x"])
    np.testing.assert_allclose(np.array(g["series"][0]["y"], dtype=float), cauchy_d(x, 2.0), rtol=REL)
    # A sweep of its parameter equals separate evaluations.
    sw = json.loads(ok("eval", REG, "-l", "cauchy", "--sweep", "c=1:100:6:log", "-f", "json").stdout)
    sweep = sw["results"][0]["sweep"]
    for c, cost in zip(sweep["values"], sweep["costs"], strict=True):
        assert rel_close(cost, lossctl.evaluate(y, p, "cauchy", c=c).cost)


def test_the_plugin_loss_goes_through_the_generic_tests() -> None:
    """The tests parametrised over the registry (tests/test_losses.py) include the plugin loss."""
    try:
        import test_losses  # pytest puts tests/ on sys.path (no __init__.py)
    except ImportError:  # pragma: no cover - another import mode
        from tests import test_losses  # type: ignore[no-redef]

    assert "cauchy" in [lo.name for lo in test_losses.LOSSES]
    assert "cauchy" in [lo.name for lo in test_losses.ELEMENTWISE]
    marks = [m for m in test_losses.test_matches_reference.pytestmark if m.name == "parametrize"]
    by_registry = next(m for m in marks if m.args[0] == "lo")
    assert "cauchy" in by_registry.kwargs["ids"]
    assert {lo.name for lo in by_registry.args[1]} >= {"cauchy", "mse", "bce", "softmax_ce"}
    examples = [m for m in test_losses.test_worked_example.pytestmark if m.name == "parametrize"][0]
    assert {"cauchy-0", "cauchy-1", "cauchy-2"} <= set(examples.kwargs["ids"])


# --- broken plugin files ---------------------------------------------------------------------


BROKEN = {
    "syntax error": ("def broken(:\n    pass\n", ["failed to load: SyntaxError"]),
    "raises at import": ("raise RuntimeError('no GPU found')\n", ["failed to load: RuntimeError: no GPU found"]),
    "declares, then raises": (
        _HEADER + declaration("half_done") + "\nraise ValueError('late failure')\n",
        ["failed to load: ValueError: late failure"],
    ),
    "name taken by a built-in": (
        _HEADER + declaration("mse", fn="my_mse"),
        ["loss name 'mse' is declared twice", "a built-in loss"],
    ),
    "alias taken by a built-in": (
        _HEADER + declaration("my_l2", extra='aliases=("l2",),'),
        ["loss name 'l2' is declared twice", "already taken by mse"],
    ),
    "second of two taken": (
        _HEADER + declaration("first_fine") + declaration("huber", fn="my_huber"),
        ["loss name 'huber' is declared twice"],
    ),
    "name taken by another plugin": (
        _HEADER + declaration("lorentzian"),
        ["loss name 'lorentzian' is declared twice", "already taken by cauchy", f"plugin {EXAMPLE}"],
    ),
    "declares nothing": ("import math\nX = math.pi\n", ["declares no loss"]),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_plugin_file_fails_in_one_line_and_registers_nothing(tmp_path: Path, case: str) -> None:
    source, needles = BROKEN[case]
    path = write(tmp_path / "my_losses.py", source)
    api_path = write(tmp_path / "my_losses_again.py", source)  # a second file: a load is remembered
    names, all_names = registry().names(), registry().all_names()
    modules = set(sys.modules)
    # The CLI: one line naming the file and the problem, exit 2, no output.
    assert_error(run("eval", REG, "--plugin", path, "-l", "mse"), f"--plugin '{path}'", *needles)
    assert registry().names() == names and registry().all_names() == all_names
    # The library: a UsageError, and the registry as it was.
    with pytest.raises(UsageError) as info:
        load_plugin(str(api_path))
    assert str(api_path) in str(info.value) and "\n" not in str(info.value)
    assert registry().names() == names and registry().all_names() == all_names
    if "declares no loss" not in needles:  # a module that failed to load is not kept either
        assert not [m for m in set(sys.modules) - modules if m.startswith("lossctl_plugin_")]
    # The built-in losses are untouched.
    y, p = reg_arrays()
    assert rel_close(lossctl.evaluate(y, p, "mse").cost, float(np.mean((p - y) ** 2)))


@pytest.mark.parametrize(
    "name, needles",
    [
        ("missing.py", ["is not a file"]),
        ("losses.txt", ["is not a .py file"]),
        ("a_directory.py", ["is not a file"]),
    ],
)
def test_a_plugin_path_that_is_not_a_python_file(tmp_path: Path, name: str, needles: list[str]) -> None:
    path = tmp_path / name
    if name.endswith(".txt"):
        write(path, _HEADER + declaration("from_txt"))
    elif name.startswith("a_directory"):
        path.mkdir()
    names = registry().names()
    for command in (["eval", REG, "-l", "mse"], ["list"], ["plot", "mse"], ["describe", "mse"]):
        assert_error(run(*command, "--plugin", path), f"--plugin '{path}'", *needles)
    with pytest.raises(UsageError, match="--plugin"):
        load_plugin(str(path))
    assert registry().names() == names


def test_a_plugin_that_declares_nothing_fails_every_time(tmp_path: Path) -> None:
    path = write(tmp_path / "nothing.py", "X = 1\n")
    for _ in range(2):
        with pytest.raises(UsageError, match="declares no loss"):
            load_plugin(str(path))


def test_a_plugin_that_exits_at_import_is_an_error(tmp_path: Path, restore_registry: None) -> None:
    path = write(tmp_path / "exits.py", "import sys\nsys.exit(0)\n")
    assert_error(run("eval", REG, "--plugin", path, "-l", "mse"), f"--plugin '{path}'")


def test_a_plugin_moved_or_edited_outside_its_kernel_still_runs(
    tmp_path: Path, restore_registry: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lossctl import engine

    monkeypatch.setenv("LOSSCTL_CACHE_DIR", str(tmp_path / "cache"))  # this test's own kernel cache
    source = _HEADER + declaration("moved_cube")
    (tmp_path / "v1").mkdir()
    first = write(tmp_path / "v1" / "cube.py", source)
    assert load_plugin(str(first)) == ["moved_cube"]
    for per_sample in (False, True):  # writes the kernel modules (compiled only when called)
        engine.get_kernel(registry().get("moved_cube"), "elementwise", False, per_sample)
    REGISTRY.remove("moved_cube")
    for name in [m for m in sys.modules if m.startswith("lossctl_plugin_cube_")]:
        monkeypatch.delitem(sys.modules, name)  # as in the next process
    # The same declarations, edited outside the kernel (a comment), loaded by the next run.
    edited = write(tmp_path / "v1" / "cube.py", source + "\n# tuned the summary\n")
    reg._plugin_files.clear()
    assert load_plugin(str(edited)) == ["moved_cube"]
    y, p = reg_arrays()
    r = run("eval", REG, "--plugin", edited, "-l", "moved_cube", "--no-stats", "-f", "json")
    assert r.exit_code == 0, r.stderr
    assert rel_close(json.loads(r.stdout)["results"][0]["cost"], float(np.mean(np.abs(p - y) ** 3)))


# --- plugins in use ----------------------------------------------------------------------------


def test_a_plugin_without_a_derivative_refuses_grad(tmp_path: Path, restore_registry: None) -> None:
    path = stable_plugin("flat", _HEADER + declaration("no_slope", grad=False))
    y, p = reg_arrays()
    r = p - y
    d = json.loads(ok("eval", REG, "--plugin", path, "-l", "no_slope", "-f", "json").stdout)
    assert rel_close(d["results"][0]["cost"], float(np.mean(np.abs(r) ** 3)))
    assert_error(run("eval", REG, "--plugin", path, "-l", "no_slope", "--grad"), "no_slope", "no derivative")
    assert_error(run("plot", "no_slope", "--plugin", path, "--grad"), "no_slope declares no derivative")
    # Drawing the loss itself works.
    c = json.loads(ok("plot", "no_slope", "mse", "--plugin", path, "--points", "7", "-f", "json").stdout)
    x = np.array(c["x"])
    np.testing.assert_allclose(np.array(c["series"][0]["y"], dtype=float), np.abs(x) ** 3, rtol=REL)
    described = ok("describe", "no_slope", "--plugin", path, "-f", "json").stdout
    assert "no_slope" in described


def test_the_same_file_loads_once_and_a_second_file_adds_its_losses(tmp_path: Path, restore_registry: None) -> None:
    path = stable_plugin("cube", _HEADER + declaration("cube_abs"))
    before = registry().names()
    assert load_plugin(str(path)) == ["cube_abs"]
    assert load_plugin(os.path.relpath(path)) == ["cube_abs"]  # the same file by another path
    assert set(registry().names()) == {*before, "cube_abs"}
    assert registry().get("cube_abs").origin == f"plugin {path}"
    y, p = reg_arrays()
    res = lossctl.evaluate(y, p, "cube_abs", keep_per_sample=True)
    assert rel_close(res.cost, float(np.mean(np.abs(p - y) ** 3)))
    np.testing.assert_allclose(res.gradient(), 3 * (p - y) * np.abs(p - y), rtol=REL)
    # Registry.remove takes a loss out with its aliases; add puts it back.
    lo = registry().get("cube_abs")
    REGISTRY.remove("cube_abs")
    assert "cube_abs" not in registry().names()
    with pytest.raises(UsageError, match="not a loss"):
        registry().get("cube_abs")
    REGISTRY.add(lo)
    assert registry().get("cube_abs") is lo
    with pytest.raises(UsageError, match="declared twice"):
        REGISTRY.add(lo)


def test_a_plugin_loss_whose_cost_is_a_root_sweeps_and_differentiates_through_it(
    tmp_path: Path, restore_registry: None
) -> None:
    """A plugin may declare a root-of-mean cost with a parameter (no built-in has both): the sweep
    and the cost's gradient go through the square root."""
    source = _HEADER + textwrap.dedent(
        """
        def root_power_grad(y: float, p: float, a: float) -> float:
            r = p - y
            return a * abs(r) ** (a - 1.0) * (1.0 if r > 0 else -1.0 if r < 0 else 0.0)


        @loss(
            name="root_power",
            task=Task.REGRESSION,
            summary="root of the mean |r|^a",
            formula="|y_pred - y_true|^a, cost sqrt(mean)",
            reference=lambda y, p, a=2.0: np.abs(np.asarray(p, dtype=float) - np.asarray(y, dtype=float)) ** a,
            y_true=REALS,
            y_pred=REALS,
            prediction=Pred.VALUE,
            params=(Param("a", 2.0, POSITIVE, "a is the power, > 0"),),
            cost="sqrt_mean",
            grad=root_power_grad,
        )
        def root_power(y: float, p: float, a: float) -> float:
            return abs(p - y) ** a
        """
    )
    path = stable_plugin("root_power", source)
    y, p = reg_arrays()
    r = p - y
    n = r.shape[0]
    d = json.loads(ok("eval", REG, "--plugin", path, "-l", "root_power", "--sweep", "a=1:3:5", "-f", "json").stdout)
    res = d["results"][0]
    assert rel_close(res["cost"], math.sqrt(float(np.mean(r * r))))
    sweep = res["sweep"]
    np.testing.assert_allclose(sweep["values"], np.linspace(1, 3, 5), rtol=REL)
    for a, cost in zip(sweep["values"], sweep["costs"], strict=True):
        assert rel_close(cost, lossctl.evaluate(y, p, "root_power", keep_per_sample=True, a=a).cost)
        assert rel_close(cost, math.sqrt(float(np.mean(np.abs(r) ** a))), 1e-10)
    assert sweep["least"]["cost"] == min(sweep["costs"])
    # --grad: d sqrt(m) / dp_i = g_i / (n 2 sqrt(m)), weighted too.
    g = json.loads(ok("eval", REG, "-l", "root_power", "-p", "a=3", "--grad", "-f", "json").stdout)["results"][0]
    root = math.sqrt(float(np.mean(np.abs(r) ** 3)))
    per_row = 3 * r * np.abs(r)
    assert rel_close(g["cost"], root)
    assert rel_close(g["gradient"]["cost_grad_norm"], float(np.linalg.norm(per_row / (n * 2 * root))), 1e-10)
    res = lossctl.evaluate(y, p, "root_power", keep_per_sample=True, a=3.0)
    np.testing.assert_allclose(res.cost_gradient(), per_row / (n * 2 * root), rtol=1e-12)
    sw = res.sweep("a", [1.0, 3.0])
    assert rel_close(float(sw.costs[1]), root)
    assert sw.fixed == {} and sw.param == "a"


# --- entry points ----------------------------------------------------------------------------


MY_PLUGIN = '''\
import numpy as np

from lossctl.domains import REALS
from lossctl.registry import NONNEGATIVE, Loss, Pred, Task, loss


def quartic_grad(y: float, p: float) -> float:
    return 4.0 * (p - y) ** 3


@loss(
    name="quartic",
    task=Task.REGRESSION,
    summary="fourth power of the residual",
    formula="(y_pred - y_true)^4",
    reference=lambda y, p: (np.asarray(p, dtype=float) - np.asarray(y, dtype=float)) ** 4,
    y_true=REALS,
    y_pred=REALS,
    prediction=Pred.VALUE,
    properties=frozenset({NONNEGATIVE}),
    grad=quartic_grad,
)
def quartic(y: float, p: float) -> float:
    r = p - y
    return r * r * r * r


def cube_kernel(y: float, p: float) -> float:
    return abs(p - y) ** 3


def make_losses():
    """A callable entry point: returns Loss objects instead of decorating kernels."""
    return [
        Loss(
            name="made_cube",
            task=Task.REGRESSION,
            summary="cube of the absolute residual",
            formula="|y_pred - y_true|^3",
            kernel=cube_kernel,
            reference=lambda y, p: np.abs(np.asarray(p, dtype=float) - np.asarray(y, dtype=float)) ** 3,
            y_true=REALS,
            y_pred=REALS,
            prediction=Pred.VALUE,
        )
    ]
'''


def distribution(where: Path, dist: str, entry_points: str, module: tuple[str, str] | None = None) -> Path:
    """A throwaway installed distribution: a module and its ``.dist-info``, found on PYTHONPATH."""
    where.mkdir(parents=True, exist_ok=True)
    if module is not None:
        (where / f"{module[0]}.py").write_text(module[1])
    info = where / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist.replace('_', '-')}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)
    return where


@pytest.fixture(scope="module")
def entry_point_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("entry_points")
    return {
        "good": distribution(
            base / "good",
            "my_plugin",
            "[lossctl.losses]\nmine = my_plugin\nmade = my_plugin:make_losses\n",
            ("my_plugin", MY_PLUGIN),
        ),
        "missing": distribution(base / "missing", "broken_plugin", "[lossctl.losses]\nbad = no_such_module_xyz\n"),
        "clash": distribution(
            base / "clash",
            "clash_plugin",
            "[lossctl.losses]\nclash = clash_plugin\n",
            ("clash_plugin", _HEADER + declaration("mse", fn="my_mse")),
        ),
    }


def pythonpath(*dirs: Path) -> str:
    return os.pathsep.join([*map(str, dirs), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)


def test_entry_points_declare_losses_without_plugin_flags(entry_point_dirs: dict[str, Path]) -> None:
    y, p = reg_arrays()
    r = p - y
    good, missing, clash = entry_point_dirs["good"], entry_point_dirs["missing"], entry_point_dirs["clash"]
    evaluate = ["eval", str(REG), "-l", "mse,quartic", "--no-warnings", "-f", "json"]
    procs = [
        (["list", "-f", "json"], pythonpath(good)),
        # Per-sample rows (JSON records) on stdout, the summary on stderr.
        ([*evaluate, "--grad", "--per-sample", "-"], pythonpath(good)),
        (evaluate, pythonpath(good, missing)),
        (["eval", str(REG), "-l", "mse", "--no-warnings", "-f", "json"], pythonpath(clash)),
    ]
    results = lossctl_procs([cmd for cmd, _ in procs], envs=[{"PYTHONPATH": path} for _, path in procs])
    (listing, err_l), (per_sample, ev), (ev_missing, err_missing), (ev_clash, err_clash) = (
        (r.stdout, r.stderr) for r in results
    )
    codes = [proc.returncode for proc in results]
    assert codes == [0] * 4, (codes, err_l, ev, err_missing, err_clash)

    # list: the decorated loss (marked as a plugin, by entry point) and the one a callable made.
    rows = {x["name"]: x for x in json.loads(listing)}
    assert rows["quartic"]["origin"] == "plugin mine (my_plugin)"
    assert "made_cube" in rows
    assert err_l == ""

    # eval: the entry point's loss with no --plugin, cost and gradient against r^4 and 4 r^3.
    res = {x["loss"]: x for x in json.loads(ev)["results"]}
    assert rel_close(res["quartic"]["cost"], float(np.mean(r**4)), 1e-12)
    assert rel_close(res["mse"]["cost"], float(np.mean(r**2)), 1e-12)
    norm = float(np.linalg.norm(4 * r**3 / r.shape[0]))
    assert rel_close(res["quartic"]["gradient"]["cost_grad_norm"], norm, 1e-10)

    # A broken entry point: one warning line, and every other loss still works (exit 0).
    lines = err_missing.strip().split("\n")
    assert len(lines) == 1, err_missing
    assert lines[0].startswith("lossctl: warning: plugin bad (no_such_module_xyz) failed to load")
    assert "ModuleNotFoundError" in lines[0]
    assert {x["loss"]: x["cost"] for x in json.loads(ev_missing)["results"]} == {k: v["cost"] for k, v in res.items()}

    # An entry point that takes a built-in's name: a warning, and mse stays lossctl's own.
    lines = err_clash.strip().split("\n")
    assert len(lines) == 1 and lines[0].startswith("lossctl: warning: plugin clash (clash_plugin) failed to load")
    assert "loss name 'mse' is declared twice" in lines[0]
    assert rel_close(json.loads(ev_clash)["results"][0]["cost"], float(np.mean(r**2)), 1e-12)

    # --per-sample: the entry point's loss and its gradient per row.
    rows = pd.DataFrame(json.loads(per_sample))
    assert list(rows.columns) == ["row", "mse", "grad_mse", "quartic", "grad_quartic"]
    np.testing.assert_allclose(rows["grad_mse"], 2 * r, rtol=REL)
    np.testing.assert_allclose(rows["quartic"], r**4, rtol=REL)
    np.testing.assert_allclose(rows["grad_quartic"], 4 * r**3, rtol=REL)


def test_a_loss_made_by_a_callable_entry_point_is_marked_as_a_plugin(
    entry_point_dirs: dict[str, Path], restore_registry: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(entry_point_dirs["good"]))
    monkeypatch.delitem(sys.modules, "my_plugin", raising=False)
    import importlib

    importlib.invalidate_caches()
    loaded = reg.load_entry_points()
    assert {"mine", "made"} <= set(loaded)
    assert registry().get("quartic").origin == "plugin mine (my_plugin)"
    assert registry().get("made_cube").origin != "built-in"
    assert "made_cube" not in registry().names(builtin=True)


def test_load_entry_points_in_process_reports_and_skips_broken_ones(
    entry_point_dirs: dict[str, Path], restore_registry: None, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    import importlib

    monkeypatch.syspath_prepend(str(entry_point_dirs["good"]))
    monkeypatch.syspath_prepend(str(entry_point_dirs["missing"]))
    monkeypatch.delitem(sys.modules, "my_plugin", raising=False)
    importlib.invalidate_caches()
    names = set(registry().names())
    loaded = reg.load_entry_points()
    assert "mine" in loaded and "bad" not in loaded
    err = capsys.readouterr().err
    assert err.count("lossctl: warning: plugin bad (no_such_module_xyz) failed to load") == 1
    assert set(registry().names()) - names == {"quartic", "made_cube"}
    y, p = reg_arrays()
    r = p - y
    assert rel_close(lossctl.evaluate(y, p, "quartic").cost, float(np.mean(r**4)))
    assert rel_close(lossctl.evaluate(y, p, "made_cube").cost, float(np.mean(np.abs(r) ** 3)))


# --- review fixes ----------------------------------------------------------------------------


def test_a_plugin_helper_declared_after_a_kernel_ran_is_compiled(tmp_path: Path, restore_registry: None) -> None:
    # A kernel (mse) runs first, so lossctl's own helpers are compiled; the plugin's @jit_helper
    # arrives later and must still be compiled before its kernel is.
    y, p = reg_arrays()
    lossctl.evaluate(y, p, "mse")
    path = stable_plugin(
        "late_helper",
        """
        import numpy as np
        from lossctl.domains import REALS
        from lossctl.registry import NONNEGATIVE, Pred, Task, jit_helper, loss

        @jit_helper
        def late_square(r: float) -> float:
            return r * r

        def late_grad(y: float, p: float) -> float:
            return 2.0 * (p - y)

        @loss(name="late_sq", task=Task.REGRESSION, summary="square through a helper", formula="r^2",
              reference=lambda y, p: np.square(np.subtract(p, y)), y_true=REALS, y_pred=REALS,
              prediction=Pred.VALUE, properties=frozenset({NONNEGATIVE}), grad=late_grad)
        def late_sq(y: float, p: float) -> float:
            return late_square(p - y)
        """,
    )
    load_plugin(str(path))
    r = lossctl.evaluate(y, p, "late_sq")
    assert rel_close(r.cost, float(np.mean((p - y) ** 2)))
    np.testing.assert_allclose(r.gradient(), 2 * (p - y), rtol=1e-15)


def test_a_plugin_kernel_numba_cannot_compile_is_one_line_exit_2(restore_registry: None) -> None:
    path = stable_plugin(
        "bad_jit",
        """
        import math

        import numpy as np
        from lossctl.domains import REALS
        from lossctl.registry import Pred, Task, loss

        @loss(name="bad_jit", task=Task.REGRESSION, summary="calls getattr", formula="?",
              reference=lambda y, p: np.abs(np.subtract(p, y)), y_true=REALS, y_pred=REALS,
              prediction=Pred.VALUE)
        def bad_jit(y: float, p: float) -> float:
            return getattr(math, "fabs")(p - y)
        """,
    )
    assert_error(run("eval", REG, "--plugin", path, "--loss", "bad_jit"), "bad_jit", "does not compile with numba")


def test_parameter_names_of_evaluate_are_reserved(restore_registry: None) -> None:
    for name in ("y_true", "reduction", "compat"):
        assert_error(run("eval", REG, "--expr", f"abs(r)**{name}", "-p", f"{name}=2"), f"'{name}' is reserved")
    with pytest.raises(UsageError, match="reserves"):
        lossctl.load_plugin(
            str(
                stable_plugin(
                    "reserved_param",
                    """
                    import numpy as np
                    from lossctl.domains import POSITIVE, REALS
                    from lossctl.registry import Param, Pred, Task, loss

                    @loss(name="reserved_p", task=Task.REGRESSION, summary="s", formula="f",
                          reference=lambda y, p, nan=1.0: np.abs(np.subtract(p, y)), y_true=REALS, y_pred=REALS,
                          prediction=Pred.VALUE, params=(Param("nan", 1.0, POSITIVE, "nan"),))
                    def reserved_p(y: float, p: float, nan: float) -> float:
                        return abs(p - y)
                    """,
                )
            )
        )
    assert "reserved_p" not in registry().names()


def test_readme_expression_sweep_runs_and_declares_the_parameter() -> None:
    r = ok(
        "eval", REG, "--expr", "where(abs(r) < d, 0.5*r**2, d*(abs(r) - 0.5*d))", "--sweep", "d=0.5:3:6", "-f", "json"
    )
    sweep = json.loads(r.stdout)["results"][0]["sweep"]
    y, p = reg_arrays()
    a = np.abs(p - y)
    for d, cost in zip(sweep["values"], sweep["costs"], strict=True):
        want = float(np.mean(np.where(a < d, 0.5 * a * a, d * (a - 0.5 * d))))
        assert rel_close(cost, want)
    assert sweep["least"]["value"] == 0.5


def test_costs_of_plus_and_minus_infinity_name_both_rows(tmp_path: Path, restore_registry: None) -> None:
    data = write(tmp_path / "pm.csv", "y_true,y_pred\n0,1\n1,0\n")
    err = assert_error(run("eval", data, "--expr", "inf*r"), "row 0 has loss +inf", "row 1 has loss -inf")
    assert "NaN) at row" not in err
