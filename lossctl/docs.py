"""``lossctl list`` and ``lossctl describe``, and the generated docs: all read from the registry."""

from __future__ import annotations

import json
from typing import Any, TextIO

from lossctl.errors import UsageError
from lossctl.registry import (
    FRAMEWORK_CLASS_DIVISOR,
    FRAMEWORK_DIVISOR,
    FRAMEWORK_DTYPE,
    FRAMEWORKS,
    Loss,
    Task,
    registry,
)

TASK_INPUTS = {
    Task.REGRESSION: "one prediction column and one target column",
    Task.BINARY: "one prediction column and one label column",
    Task.MULTICLASS: "K prediction columns (one per class) and class ids or K label columns",
}


def _fmt_value(v: float) -> str:
    return f"{v:.10g}"


def framework_dict(loss: Loss, framework: str) -> dict[str, Any]:
    """How one framework computes the loss (or that it has none), as plain data."""
    conv = loss.compat.get(framework)
    if conv is None:
        return {"framework": framework, "has_loss": False}
    rules = []
    if conv.via:
        rules.append(f"computed as {conv.via} after the transforms")
    if conv.pred_transform:
        rules.append(f"{conv.pred_transform} applied to the predictions first")
    if conv.normalize_pred:
        rules.append("probability rows divided by their sum")
    if conv.clip_pred:
        rules.append(f"predictions clipped to [{_fmt_value(conv.clip_pred[0])}, {_fmt_value(conv.clip_pred[1])}]")
    if conv.clip_true:
        rules.append(f"labels clipped to [{_fmt_value(conv.clip_true[0])}, {_fmt_value(conv.clip_true[1])}]")
    if conv.labels == "as_given":
        rules.append("labels used as given: a 0 label is a zero target")
    elif conv.labels == "keras":
        rules.append("0/1 labels become -1/+1 only when every label is 0 or 1")
    if "inf_pred" in conv.nan_if:
        rules.append("an infinite prediction gives NaN (undefined)")
    if "zero_pair" in conv.nan_if:
        rules.append("a zero label where the prediction is 0 gives NaN (undefined)")
    if conv.per_element:
        rules.append("the mean also divides by K")
    if conv.scale != 1.0:
        rules.append(f"the value is {_fmt_value(conv.scale)} x lossctl's")
    divisor = conv.divisor or FRAMEWORK_DIVISOR[framework]
    cdivisor = conv.class_divisor or FRAMEWORK_CLASS_DIVISOR[framework]
    return {
        "framework": framework,
        "has_loss": True,
        "api": conv.api,
        "dtype": conv.dtype or FRAMEWORK_DTYPE[framework],
        "params": {k: v for k, v in conv.params.items()},
        "exposes": dict(conv.kwargs),
        "conventions": rules,
        "weighted_mean_divides_by": "the number of rows" if divisor == "count" else "the sum of weights",
        "class_weights": (
            "none"
            if framework == "torch" and not conv.class_weights
            else ("divides by the number of rows" if cdivisor == "count" else "divides by the sum of weights")
        ),
        "notes": list(conv.notes),
        "verified_here": conv.call is not None,
    }


def _class_weight_rule(framework: str, takes: bool, divisor: str) -> str:
    if framework == "torch" and not takes:
        return "none"
    return "divides by the number of rows" if divisor == "count" else "divides by the sum of weights"


def describe_dict(loss: Loss) -> dict[str, Any]:
    """Everything a user should know about one loss, as plain data."""
    d: dict[str, Any] = {
        "name": loss.name,
        "aliases": list(loss.aliases),
        "task": loss.task.value,
        "summary": loss.summary,
        "formula": loss.formula,
        "cost": "sqrt of the (weighted) mean" if loss.cost == "sqrt_mean" else "(weighted) mean: sum(w l) / sum(w)",
        "inputs": TASK_INPUTS[loss.task],
        "prediction": loss.prediction.value,
        "domains": {"y_true": str(loss.y_true), "y_pred": _pred_domain(loss)},
        "params": [{"name": p.name, "default": p.default, "range": str(p.domain), "help": p.help} for p in loss.params],
        "properties": sorted(loss.properties),
        "examples": [
            {"y_true": e.y_true, "y_pred": e.y_pred, "params": dict(e.params), "loss": e.expected, "why": e.why}
            for e in loss.examples
        ],
        "conventions": list(loss.notes),
        "gradient": "declared: `lossctl eval --grad`, `lossctl plot --grad`" if loss.grad else "not declared",
        "origin": loss.origin,
        "frameworks": [framework_dict(loss, fw) for fw in FRAMEWORKS],
    }
    if loss.pred_columns:
        roles = ", ".join(r for r, _ in loss.pred_columns)
        d["inputs"] = f"{len(loss.pred_columns)} prediction columns ({roles}) and one label column"
    if loss.task is Task.MULTICLASS:
        if loss.label_rows_are_distributions:
            d["domains"]["y_true"] = f"class ids 0..K-1, or K columns in {loss.y_true} summing to 1"
        else:
            d["domains"]["y_true"] = f"class ids 0..K-1 (one-hot), or K columns in {loss.y_true}"
        if loss.hard_labels:
            d["domains"]["y_true"] = "class ids 0..K-1, or one-hot rows of K columns"
        if loss.pred_rows == "probabilities":
            d["domains"]["y_pred"] += " per class, each row summing to 1"
        elif loss.pred_rows == "log_probabilities":
            d["domains"]["y_pred"] += " per class, each row's exp summing to 1"
    return d


def _pred_domain(loss: Loss) -> str:
    if isinstance(loss.y_pred, tuple):
        return ", ".join(f"{role} in {dom}" for (role, _), dom in zip(loss.pred_columns, loss.y_pred, strict=True))
    return str(loss.y_pred)


def list_rows(builtin_only: bool = False) -> list[dict[str, str]]:
    return [
        {
            "name": lo.name,
            "task": lo.task.value,
            "aliases": ", ".join(lo.aliases),
            "params": ", ".join(f"{p.name}={p.default:g}" for p in lo.params),
            "frameworks": ", ".join(lo.compat),
            "summary": lo.summary,
            "origin": lo.origin,
        }
        for lo in registry()
        if lo.origin == "built-in" or not builtin_only
    ]


def _shown_name(row: dict[str, str]) -> str:
    """A loss's name as a listing shows it: a plugin's or an expression's says so."""
    origin = row.get("origin", "built-in")
    return row["name"] if origin == "built-in" else f"{row['name']} ({origin.split()[0]})"


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|")


def render_list(fmt: str, out: TextIO) -> None:
    rows = list_rows()
    if fmt == "json":
        json.dump(rows, out, indent=2)
        out.write("\n")
    elif fmt == "csv":
        import csv

        w = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    elif fmt == "markdown":
        out.write(list_markdown())
    else:
        from rich.console import Console
        from rich.table import Table

        console = Console(file=out, highlight=False)
        for task in Task:
            table = Table(title=task.value, title_justify="left", show_edge=False)
            for col in ("name", "params", "frameworks", "summary"):
                table.add_column(col, style="bold" if col == "name" else None, no_wrap=col == "name")
            for r in rows:
                if r["task"] == task.value:
                    table.add_row(_shown_name(r), r["params"], r["frameworks"], r["summary"])
            console.print(table)
            console.print()
        console.print(
            "`lossctl describe NAME` shows the aliases, formula, domains, examples and each framework's conventions."
        )


def list_markdown(builtin_only: bool = False) -> str:
    lines = []
    for task in Task:
        lines += [
            f"### {task.value}",
            "",
            "| name | aliases | params | frameworks | summary |",
            "|---|---|---|---|---|",
        ]
        for r in list_rows(builtin_only):
            if r["task"] == task.value:
                cells = [f"`{r['name']}`" + _shown_name(r)[len(r["name"]) :]] + [
                    _md_escape(r[k]) for k in ("aliases", "params", "frameworks", "summary")
                ]
                lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def describe_markdown(loss: Loss) -> str:
    d = describe_dict(loss)
    lines = [f"## `{d['name']}`", "", d["summary"] + ".", ""]
    if d["aliases"]:
        lines.append(f"- aliases: {', '.join(f'`{a}`' for a in d['aliases'])}")
    lines += [
        f"- task: {d['task']} ({d['inputs']})",
        f"- per-sample loss: `{d['formula']}`",
        f"- cost: {d['cost']}",
        f"- prediction: {d['prediction']}; y_pred in {d['domains']['y_pred']}; y_true in {d['domains']['y_true']}",
    ]
    for p in d["params"]:
        lines.append(f"- parameter `{p['name']}` = {p['default']:g}, in {p['range']}: {p['help']}")
    if d["properties"]:
        lines.append(f"- properties: {', '.join(d['properties'])}")
    lines.append(f"- derivative d loss / d y_pred: {d['gradient']}")
    if d["origin"] != "built-in":
        lines.append(f"- declared by: {d['origin']}")
    for c in d["conventions"]:
        lines.append(f"- {c}")
    if d["examples"]:
        lines += ["", "| y_true | y_pred | params | loss | why |", "|---|---|---|---|---|"]
        for e in d["examples"]:
            ps = ", ".join(f"{k}={v:g}" for k, v in e["params"].items())
            lines.append(f"| {e['y_true']} | {e['y_pred']} | {ps} | {e['loss']:.12g} | {_md_escape(e['why'])} |")
    lines += ["", "Frameworks (`--compat NAME` computes the loss as that framework does):", ""]
    lines += ["| framework | function | conventions |", "|---|---|---|"]
    for f in d["frameworks"]:
        if not f["has_loss"]:
            lines.append(f"| {f['framework']} | - | has no such loss |")
            continue
        parts = [f"{f['dtype']}"]
        parts += [f"{k}={_fmt_value(v)}" for k, v in f["params"].items()]
        if f["exposes"]:
            parts.append("exposes " + ", ".join(f"{k} as {v}" for k, v in f["exposes"].items()))
        parts += f["conventions"]
        parts.append(f"weighted mean / {f['weighted_mean_divides_by']}")
        parts += f["notes"]
        lines.append(f"| {f['framework']} | `{f['api']}` | {_md_escape('; '.join(parts))} |")
    return "\n".join(lines) + "\n"


def render_describe(loss: Loss, fmt: str, out: TextIO) -> None:
    if fmt == "json":
        from lossctl.render import jsonable

        json.dump(jsonable(describe_dict(loss)), out, indent=2)
        out.write("\n")
    elif fmt == "markdown":
        out.write(describe_markdown(loss))
    elif fmt == "csv":
        raise UsageError("describe has no csv form; use --format json or markdown")
    else:
        from rich.console import Console
        from rich.markdown import Markdown

        Console(file=out).print(Markdown(describe_markdown(loss)))


def reference_markdown() -> str:
    """docs/losses.md: the list and every loss described (kept in sync by a test)."""
    parts = [
        "# Losses",
        "",
        "Generated from the loss registry by `python -m lossctl.docs`; do not edit.",
        "",
        list_markdown(builtin_only=True),
    ]
    parts += [describe_markdown(lo) for lo in registry() if lo.origin == "built-in"]
    return "\n".join(parts)


if __name__ == "__main__":
    import sys

    sys.stdout.write(reference_markdown())
