"""The registry is complete and consistent, and everything derived from it stays in sync."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from lossctl import docs
from lossctl.domains import Interval, OneOf
from lossctl.errors import UsageError
from lossctl.registry import PROPERTIES, Task, get_loss, params_for, parse_loss_list, parse_param_assignments, registry

ROOT = Path(__file__).resolve().parents[1]
LOSSES = list(registry())

# The losses the core issue asks for. A loss missing here or there fails the test.
CORE = {
    "mse", "rmse", "mae", "msle", "huber", "pseudo_huber", "log_cosh",
    "bce", "bce_logits", "hinge", "squared_hinge", "cce", "softmax_ce", "kl_div",
}  # fmt: skip
CORE_ALIASES = {
    "l2": "mse", "l1": "mae", "log_loss": "bce", "binary_crossentropy": "bce",
    "sigmoid_cross_entropy": "bce_logits", "categorical_crossentropy": "cce",
    "sparse_categorical_crossentropy": "cce", "cross_entropy": "softmax_ce",
}  # fmt: skip


def test_core_losses_declared():  # type: ignore[no-untyped-def]
    assert CORE <= set(registry().names())
    for alias, name in CORE_ALIASES.items():
        assert get_loss(alias).name == name


@pytest.mark.parametrize("lo", LOSSES, ids=[lo.name for lo in LOSSES])
def test_declaration_is_complete(lo):  # type: ignore[no-untyped-def]
    assert lo.summary and lo.formula
    assert callable(lo.kernel) and callable(lo.reference)
    assert lo.reference.__module__ != "lossctl.engine"
    assert isinstance(lo.y_true, Interval | OneOf)
    if lo.pred_columns:  # one domain per named prediction column
        assert isinstance(lo.y_pred, tuple) and len(lo.y_pred) == len(lo.pred_columns)
        assert all(isinstance(d, Interval | OneOf) for d in lo.y_pred)
    else:
        assert isinstance(lo.y_pred, Interval | OneOf)
    assert len(lo.examples) >= 2, "every loss needs worked examples"
    assert set(lo.properties) <= set(PROPERTIES)
    assert lo.cost in ("mean", "sqrt_mean")
    if lo.task is Task.MULTICLASS and lo.label_rows_are_distributions and not lo.hard_labels:
        assert callable(lo.kernel_ids), "multiclass losses on distributions take class ids too (a fast kernel)"
    for p in lo.params:
        assert p.domain.contains(p.default), f"{lo.name}.{p.name} default outside its range"
        assert p.help
    # Names are lowercase identifiers usable on the command line.
    for name in (lo.name, *lo.aliases):
        assert name.isidentifier() and name == name.lower()


def test_names_unique_and_lookup_normalises():  # type: ignore[no-untyped-def]
    every = [n for lo in LOSSES for n in (lo.name, *lo.aliases)]
    assert len(every) == len(set(every))
    assert get_loss("Pseudo-Huber").name == "pseudo_huber"


def test_unknown_loss_suggests_nearest():  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match="'hubr' is not a loss. Did you mean 'huber'"):
        get_loss("hubr")


def test_param_parsing():  # type: ignore[no-untyped-def]
    losses = parse_loss_list(["huber,mse", "pseudo_huber"])
    assert [lo.name for lo in losses] == ["huber", "mse", "pseudo_huber"]
    got = params_for(losses, parse_param_assignments(["delta=2", "pseudo_huber.delta=0.5"]))
    assert got == {"huber": {"delta": 2.0}, "mse": {}, "pseudo_huber": {"delta": 0.5}}
    for bad, msg in [
        (["delta"], "key=value"),
        (["delta=x"], "not a number"),
        (["delta=nan"], "NaN"),
        (["delta=-1"], r"outside \(0, inf\)"),
        (["eps=0.1"], "not taken by huber, mse, pseudo_huber"),
        (["mse.delta=1"], "mse has no parameter 'delta'"),
        (["bce.eps=0.1"], "not selected"),
    ]:
        with pytest.raises(UsageError, match=msg):
            params_for(losses, parse_param_assignments(bad))
    with pytest.raises(UsageError, match="no loss given"):
        parse_loss_list([" , "])


def test_domain_objects():  # type: ignore[no-untyped-def]
    unit = Interval(0.0, 1.0, True, False)
    assert str(unit) == "[0, 1)"
    assert unit.contains(0.0) and not unit.contains(1.0) and not unit.contains(math.nan)
    inside, outside = unit.boundary_points()
    assert all(unit.contains(v) for v in inside)
    assert not any(unit.contains(v) for v in outside)
    labels = OneOf((-1.0, 0.0, 1.0))
    assert str(labels) == "{-1, 0, 1}"
    ins, outs = labels.boundary_points()
    assert all(labels.contains(v) for v in ins) and not any(labels.contains(v) for v in outs)


def test_reference_docs_are_current():  # type: ignore[no-untyped-def]
    """docs/losses.md is generated from the registry; regenerate with `make docs`."""
    assert (ROOT / "docs" / "losses.md").read_text() == docs.reference_markdown()


def test_readme_quick_start_and_loss_list():  # type: ignore[no-untyped-def]
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    for lo in LOSSES:
        assert f"`{lo.name}`" in readme, f"README does not mention {lo.name}"
