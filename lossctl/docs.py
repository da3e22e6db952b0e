"""``lossctl list`` and ``lossctl describe``, and the generated docs: all read from the registry."""

from __future__ import annotations

import json
from typing import Any, TextIO

from lossctl.errors import UsageError
from lossctl.registry import Loss, Task, registry

TASK_INPUTS = {
    Task.REGRESSION: "one prediction column and one target column",
    Task.BINARY: "one prediction column and one label column",
    Task.MULTICLASS: "K prediction columns (one per class) and class ids or K label columns",
}


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
        "domains": {"y_true": str(loss.y_true), "y_pred": str(loss.y_pred)},
        "params": [{"name": p.name, "default": p.default, "range": str(p.domain), "help": p.help} for p in loss.params],
        "properties": sorted(loss.properties),
        "examples": [
            {"y_true": e.y_true, "y_pred": e.y_pred, "params": dict(e.params), "loss": e.expected, "why": e.why}
            for e in loss.examples
        ],
        "conventions": list(loss.notes),
    }
    if loss.task is Task.MULTICLASS:
        d["domains"]["y_true"] = f"class ids 0..K-1, or K columns in {loss.y_true} summing to 1"
        if loss.pred_rows_sum_to_one:
            d["domains"]["y_pred"] += " per class, each row summing to 1"
    return d


def list_rows() -> list[dict[str, str]]:
    return [
        {
            "name": lo.name,
            "task": lo.task.value,
            "aliases": ", ".join(lo.aliases),
            "params": ", ".join(f"{p.name}={p.default:g}" for p in lo.params),
            "summary": lo.summary,
        }
        for lo in registry()
    ]


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
            for col in ("name", "aliases", "params", "summary"):
                table.add_column(col, style="bold" if col == "name" else None)
            for r in rows:
                if r["task"] == task.value:
                    table.add_row(r["name"], r["aliases"], r["params"], r["summary"])
            console.print(table)
            console.print()
        console.print("`lossctl describe NAME` shows the formula, domains, examples and conventions.")


def list_markdown() -> str:
    lines = []
    for task in Task:
        lines += [f"### {task.value}", "", "| name | aliases | params | summary |", "|---|---|---|---|"]
        for r in list_rows():
            if r["task"] == task.value:
                cells = [f"`{r['name']}`"] + [_md_escape(r[k]) for k in ("aliases", "params", "summary")]
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
    for c in d["conventions"]:
        lines.append(f"- {c}")
    if d["examples"]:
        lines += ["", "| y_true | y_pred | params | loss | why |", "|---|---|---|---|---|"]
        for e in d["examples"]:
            ps = ", ".join(f"{k}={v:g}" for k, v in e["params"].items())
            lines.append(f"| {e['y_true']} | {e['y_pred']} | {ps} | {e['loss']:.12g} | {_md_escape(e['why'])} |")
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
        list_markdown(),
    ]
    parts += [describe_markdown(lo) for lo in registry()]
    return "\n".join(parts)


if __name__ == "__main__":
    import sys

    sys.stdout.write(reference_markdown())
