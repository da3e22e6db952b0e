"""Renderers: the same report as a rich table, JSON, CSV or Markdown.

Every renderer reads ``report.to_dict()`` (or its per-sample frame), so the formats cannot drift
apart. Data goes to stdout; the caller sends diagnostics to stderr.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from typing import Any, TextIO

FORMATS = ("table", "json", "csv", "markdown")
STAT_ORDER = ("std", "min", "median", "p90", "p99", "max")
TIMING_ORDER = ("read", "validate", "jit", "compute", "total")


def jsonable(x: Any) -> Any:
    """Non-finite floats become the strings "inf", "-inf", "nan" (JSON has no such numbers)."""
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if hasattr(x, "item") and callable(x.item):  # NumPy scalars
        return jsonable(x.item())
    return x


def fmt(x: Any, digits: int = 6) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def params_text(params: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in params.items())


def summary_rows(d: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per loss: the shared shape of the CSV and Markdown renderers."""
    rows = []
    for r in d["results"]:
        row = {
            "loss": r.get("label", r["loss"]),
            "compat": r.get("compat") or "",
            "params": params_text(r["params"]),
            "n": r["n"],
            "reduction": r["reduction"],
            "cost": r["cost"],
            "sum": r["sum"],
            "divisor": r["divisor"],
            "vs_lossctl": r.get("vs_lossctl"),
            "accuracy": r.get("accuracy"),
        }
        row.update({k: r.get("stats", {}).get(k) for k in STAT_ORDER})
        row.update({f"{k}_s": r.get("timings", {}).get(k) for k in ("validate", "jit", "compute")})
        rows.append(row)
    return rows


def _signed(x: Any) -> str:
    return "-" if x is None else (f"{x:+.6g}" if x else "0")


def to_json(d: dict[str, Any], out: TextIO) -> None:
    json.dump(jsonable(d), out, indent=2)
    out.write("\n")


def to_csv(d: dict[str, Any], out: TextIO) -> None:
    rows = summary_rows(d)
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["loss"], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def to_markdown(d: dict[str, Any], out: TextIO) -> None:
    rows = summary_rows(d)
    if rows:
        header = [k for k in rows[0] if not k.endswith("_s")]
        out.write(_md_table(header, [[fmt(r[k], 10 if k == "cost" else 6) for k in header] for r in rows]))
    t = d.get("timings", {})
    out.write("\n")
    out.write(_md_table(["phase", "seconds"], [[k, fmt(t.get(k), 4)] for k in TIMING_ORDER if k in t]))
    if "rows_per_s" in t:
        out.write(f"\n{fmt(t['rows_per_s'], 4)} rows/s end to end\n")


def to_table(d: dict[str, Any], out: TextIO) -> None:
    """Rich tables: a summary with one column per loss, then the timing table."""
    from rich.console import Console
    from rich.table import Table

    # Off a terminal, never cut a value to fit 80 columns: let the table take the width it needs.
    console = Console(file=out, highlight=False, soft_wrap=False, width=None if out.isatty() else 10_000)
    inp = d["input"]
    src = inp["predictions"] + (f" + {inp['labels']}" if inp.get("labels") else "")
    console.print(f"[bold]{src}[/] · {inp['rows']} rows")
    lines: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("columns", lambda r: f"{r['columns'].get('y_true', '')} vs {r['columns'].get('y_pred', '')}"),
        ("n", lambda r: str(r["n"])),
        ("cost" if d["results"][0]["reduction"] != "sum" else "cost (sum)", lambda r: fmt(r["cost"], 10)),
        ("sum", lambda r: fmt(r["sum"], 10)),
        ("divisor", lambda r: fmt(r["divisor"], 10)),
    ]
    if any(r.get("api") for r in d["results"]):
        lines.insert(0, ("computed as", lambda r: r.get("api") or "lossctl"))
    if any(r.get("vs_lossctl") is not None for r in d["results"]):
        lines.append(("vs lossctl", lambda r: _signed(r.get("vs_lossctl"))))
    if any(r.get("ignored") for r in d["results"]):
        lines.append(("ignored (--ignore-index)", lambda r: str(r.get("ignored", 0))))
    if any(r.get("omitted") for r in d["results"]):
        lines.append(("omitted (--nan)", lambda r: str(r.get("omitted", 0))))
    if any(r.get("accuracy") is not None for r in d["results"]):
        lines.append(("accuracy", lambda r: fmt(r.get("accuracy"), 6)))
    if any(r.get("stats") for r in d["results"]):
        lines += [(k, lambda r, k=k: fmt(r.get("stats", {}).get(k))) for k in STAT_ORDER]
    # As many losses per table as fit the width, so no number is ever wrapped or cut.
    per_table = max(1, (console.width - 18) // 20)
    results = d["results"]
    for start in range(0, len(results), per_table):
        chunk = results[start : start + per_table]
        summary = Table(show_edge=False)
        summary.add_column("", style="bold", no_wrap=True)
        for r in chunk:
            head = r.get("label", r["loss"]) + (f"\n{params_text(r['params'])}" if r["params"] else "")
            summary.add_column(head, justify="right", no_wrap=True)
        for label, get in lines:
            summary.add_row(label, *[get(r) for r in chunk])
        console.print(summary)
    for what, why in d.get("skipped", {}).items():
        console.print(f"[dim]{what}: not computed: {why}[/]")
    if "gate" in d:
        g = d["gate"]
        verdict = "[green]passed[/]" if g["passed"] else f"[red]failed[/] ({', '.join(g['failed'])})"
        console.print(f"gate --fail-above {fmt(g['fail_above'])}: {verdict}")
    t = d.get("timings", {})
    timing = Table(show_edge=False)
    timing.add_column("phase", style="bold")
    timing.add_column("seconds", justify="right")
    timing.add_column("share", justify="right")
    total = t.get("total") or float("nan")
    for k in TIMING_ORDER:
        if k in t:
            timing.add_row(k, f"{t[k]:.4f}", "" if k == "total" else f"{100 * t[k] / total:.0f}%")
    if "rows_per_s" in t:
        timing.add_row("rows/s", fmt(t["rows_per_s"], 4), "")
    console.print()
    console.print(timing)


RENDERERS: dict[str, Callable[[dict[str, Any], TextIO], None]] = {
    "table": to_table,
    "json": to_json,
    "csv": to_csv,
    "markdown": to_markdown,
}


def render(d: dict[str, Any], fmt_name: str, out: TextIO) -> None:
    RENDERERS[fmt_name](d, out)


def frame_to_text(frame: Any, fmt_name: str) -> str:
    """Per-sample rows in a text format (for --reduction none or --per-sample -)."""
    buf = io.StringIO()
    if fmt_name == "json":
        # json.dumps writes floats that round-trip exactly (pandas' to_json rounds them).
        buf.write(json.dumps(jsonable(frame.to_dict("records"))))
        buf.write("\n")
    elif fmt_name == "markdown":
        buf.write(
            _md_table(
                list(map(str, frame.columns)), [[fmt(v, 10) for v in row] for row in frame.itertuples(index=False)]
            )
        )
    else:
        frame.to_csv(buf, index=False, float_format="%.17g", lineterminator="\n")
    return buf.getvalue()


# --- benchmark reports ------------------------------------------------------------------------

BENCH_COLUMNS = (
    ("loss", "loss"),
    ("n", "n"),
    ("dtype", "dtype"),
    ("impl", "impl"),
    ("median_ms", "median ms"),
    ("min_ms", "min ms"),
    ("max_ms", "max ms"),
    ("first_call_s", "first call s"),
    ("rows_per_s", "rows/s"),
    ("gb_per_s", "GB/s"),
    ("ceiling_fraction", "of ceiling"),
    ("vs_numpy", "x NumPy"),
    ("per_sample_ratio", "per-sample x"),
    ("rel_diff", "rel diff"),
    ("agrees", "agrees"),
)


def bench_rows(d: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for r in d["rows"]:
        row = dict(r)
        for k in ("median", "min", "max"):
            row[f"{k}_ms"] = r[f"{k}_s"] * 1e3
        rows.append({key: row.get(key) for key, _ in BENCH_COLUMNS})
    return rows


def _bench_cell(key: str, v: Any) -> str:
    if v is None:
        return "-"
    if key == "agrees":
        return "yes" if v else "NO"
    if key in ("ceiling_fraction",):
        return f"{v:.2f}"
    if key in ("vs_numpy", "per_sample_ratio"):
        return f"{v:.2f}x"
    if key == "rows_per_s":
        return f"{v:.3g}"
    if key == "rel_diff":
        return f"{v:.1e}"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def env_lines(d: dict[str, Any]) -> list[str]:
    e = d["env"]
    versions = ", ".join(f"{k} {v}" for k, v in e["versions"].items())
    ceil = "; ".join(
        f"{c['bytes'] / 1e6:.3g} MB ({c['dtype']}): {c['gb_per_s']:.1f} GB/s" for c in d.get("ceilings", [])
    )
    return [
        f"cpu: {e['cpu']} ({e['cores']} cores, {e['threads']} threads, numba threading layer {e['threading_layer']})",
        f"versions: {versions}",
        f"read ceiling (a read-only parallel kernel over the same inputs): {ceil}",
    ]


def bench_to_table(d: dict[str, Any], out: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=out, highlight=False, soft_wrap=False, width=None if out.isatty() else 10_000)
    table = Table(show_edge=False)
    for key, head in BENCH_COLUMNS:
        table.add_column(head, justify="left" if key in ("loss", "dtype", "impl") else "right", no_wrap=True)
    previous = None
    for row in bench_rows(d):
        case = (row["loss"], row["n"], row["dtype"])
        if previous is not None and case != previous:
            table.add_section()
        previous = case
        table.add_row(
            *[_bench_cell(k, row[k]) for k, _ in BENCH_COLUMNS], style="bold" if row["impl"] == "lossctl" else None
        )
    console.print(table)
    for line in env_lines(d):
        console.print(line)


def bench_to_json(d: dict[str, Any], out: TextIO) -> None:
    to_json(d, out)


def bench_to_csv(d: dict[str, Any], out: TextIO) -> None:
    for line in env_lines(d):
        out.write(f"# {line}\n")
    writer = csv.DictWriter(out, fieldnames=[k for k, _ in BENCH_COLUMNS], lineterminator="\n")
    writer.writeheader()
    for row in bench_rows(d):
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})


def bench_to_markdown(d: dict[str, Any], out: TextIO) -> None:
    header = [head for _, head in BENCH_COLUMNS]
    body = [[_bench_cell(k, row[k]) for k, _ in BENCH_COLUMNS] for row in bench_rows(d)]
    out.write(_md_table(header, body))
    out.write("\n" + "\n".join(f"- {line}" for line in env_lines(d)) + "\n")


BENCH_RENDERERS: dict[str, Callable[[dict[str, Any], TextIO], None]] = {
    "table": bench_to_table,
    "json": bench_to_json,
    "csv": bench_to_csv,
    "markdown": bench_to_markdown,
}
