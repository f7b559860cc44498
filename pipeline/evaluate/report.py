"""The results table: per-task scores with CIs, average, retention vs the teacher and gap closed vs a baseline.

retention  = 100 * average(model) / average(teacher it was distilled from)
gap closed = 100 * (average(model) - average(baseline)) / (average(teacher) - average(baseline))
Both are computed only for rows that name a `teacher` (a student of several teachers names the `best-teacher`
row: per task, the best of the teachers probed). The average is over every task, detection tasks included; a
student's `-windows` row, probed on detection tasks alone, has none. Scores are fractions in the numeric table
(results.csv, metrics.json) and percentages in the printed table (report.md), which says how each row embedded the
detection tasks' segments and ends with the check of each fused student (pipeline/evaluate/fusion.py).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from pipeline.evaluate.fusion import check_markdown, checks_table, fusion_checks, with_best_teacher
from pipeline.evaluate.paired import fmt, task_difference, verdict, versus_markdown
from pipeline.evaluate.rows import ModelRow, task_names


def retention(score: float, teacher: float | None) -> float:
    """100 * score / teacher score (NaN when there is no teacher score)."""
    if teacher is None or not np.isfinite(teacher) or teacher == 0:
        return math.nan
    return 100.0 * score / teacher


def gap_closed(score: float, teacher: float | None, baseline: float | None) -> float:
    """Share (%) of the baseline-to-teacher gap that `score` closes.

    NaN without both scores, and when the teacher does not beat the baseline: there is no gap to close then.
    """
    if teacher is None or baseline is None or not np.isfinite(teacher - baseline) or teacher <= baseline:
        return math.nan
    return 100.0 * (score - baseline) / (teacher - baseline)


def results_table(rows: list[ModelRow], baseline: str | None = "logmel") -> pd.DataFrame:
    """Numeric table: model, kind, params, macs, <task>, <task>_ci, average, retention, gap_closed, rank (the mean
    over tasks) and rank:<task> (each task's effective rank: collapse can hit one kind of audio only)."""
    _check_rows(rows)
    tasks = task_names(rows)
    records = []
    for r in rows:
        rec = {"model": r.model, "kind": r.kind, "params": r.params, "macs": r.macs, "teacher": r.teacher}
        for t in tasks:
            rec[t], rec[f"{t}_ci"] = r.scores.get(t, (math.nan, math.nan))
        rec["average"] = float(np.mean([rec[t] for t in tasks])) if tasks else math.nan
        records.append(rec)
    df = pd.DataFrame.from_records(records)
    for col in ("params", "macs"):  # whole numbers, blank where unknown
        df[col] = pd.array([None if getattr(r, col) is None else round(getattr(r, col)) for r in rows], dtype="Int64")
    avg = dict(zip(df["model"], df["average"]))
    base = avg.get(baseline) if baseline else None
    df["retention"] = [retention(a, avg.get(t)) for a, t in zip(df["average"], df["teacher"])]
    df["gap_closed"] = [gap_closed(a, avg.get(t), base) for a, t in zip(df["average"], df["teacher"])]
    df["rank"] = [math.nan if r.rank is None else float(r.rank) for r in rows]
    for t in tasks:
        df[f"rank:{t}"] = [float(r.ranks.get(t, math.nan)) for r in rows]
    return df


def _check_rows(rows: list[ModelRow]) -> None:
    names = [r.model for r in rows]
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be unique, got {names}")
    unknown = sorted({r.teacher for r in rows if r.teacher is not None} - set(names))
    if unknown:
        raise ValueError(f"teacher row(s) {unknown} not among the models {names}")


def human(n: float | None) -> str:
    """1234567 -> '1.23M' (k, M, G, T); missing -> '-'."""
    if n is None or pd.isna(n):
        return "-"
    for size, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:.3g}"


def display_table(df: pd.DataFrame) -> pd.DataFrame:
    """The numeric table as strings: scores in % as 'mean ± ci', sizes as 1.2M, missing as '-'."""
    out = pd.DataFrame({"model": df["model"], "kind": df["kind"], "teacher": df["teacher"].fillna("-"),
                        "params": df["params"].map(human), "MACs/10s": df["macs"].map(human)})
    for t in task_names_of(df):
        out[t] = [f"{100 * m:.1f} ± {100 * c:.1f}" if np.isfinite(m) else "-" for m, c in zip(df[t], df[f"{t}_ci"])]
    out["average"] = (100 * df["average"]).map(_one_decimal)
    out["retention %"] = df["retention"].map(_one_decimal)
    out["gap closed %"] = df["gap_closed"].map(_one_decimal)
    out["eff. rank"] = df["rank"].map(_one_decimal)
    return out


def _one_decimal(value: float) -> str:
    return f"{value:.1f}" if np.isfinite(value) else "-"


def task_names_of(df: pd.DataFrame) -> list[str]:
    """Task columns of a numeric table (those with a matching `<task>_ci` column)."""
    return [c for c in df.columns if f"{c}_ci" in df.columns]


def markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table of string cells, columns padded to equal width."""
    cells = [list(map(str, table.columns))] + [list(map(str, r)) for r in table.itertuples(index=False)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(table.columns))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in cells]
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([lines[0], rule] + lines[1:]) + "\n"


def flat_metrics(df: pd.DataFrame) -> dict[str, float]:
    """`<model>/<task>`, `<model>/<task>_ci`, `<model>/average`, `/retention`, `/gap_closed`, `/rank` (NaN left
    out)."""
    keys = [c for t in task_names_of(df) for c in (t, f"{t}_ci")] + ["average", "retention", "gap_closed", "rank"]
    out = {}
    for _, r in df.iterrows():
        out.update({f"{r['model']}/{k}": float(r[k]) for k in keys if np.isfinite(r[k])})
    return out


def plot_scores(df: pd.DataFrame, path: Path) -> None:
    """Left: per-task grouped bars with CI error bars; right: average score vs parameters (log x)."""
    tasks = task_names_of(df)
    fig = Figure(figsize=(7 + 1.2 * len(tasks), 4.5), layout="constrained")
    bars, size = fig.subplots(1, 2, width_ratios=[max(2, len(tasks)), 3])
    width = 0.8 / max(1, len(df))
    for i, (_, r) in enumerate(df.iterrows()):
        means = [100 * r[t] for t in tasks]
        bars.bar(np.arange(len(tasks)) + (i - (len(df) - 1) / 2) * width, means, width,
                 yerr=[100 * r[f"{t}_ci"] for t in tasks], capsize=2, label=r["model"])
    bars.set_xticks(np.arange(len(tasks)), tasks, rotation=20, ha="right")
    bars.set_ylabel("score (%)")
    bars.legend(fontsize="small")
    plot_size(size, df)
    fig.savefig(path, dpi=120)


def plot_size(ax, df: pd.DataFrame) -> None:
    """Average score against parameters (log x, ticks as 400k / 4.7M); baselines without parameters as lines."""
    df = df[(df["kind"] != "best_teacher") & np.isfinite(df["average"].astype(float))]  # one size, one average
    has_size = df["params"].notna() & (df["params"].astype(float) > 0)
    sized = df[has_size]
    x, y = sized["params"].astype(float).to_numpy(), 100 * sized["average"].to_numpy(dtype=float)
    ax.scatter(x, y)
    span = max(np.ptp(100 * df["average"].to_numpy(dtype=float)), 1.0)
    for xi, yi, h, name in zip(x, y, label_heights(x, y, 0.06 * span), sized["model"]):
        ax.annotate(name, (xi, yi), xytext=(xi * 1.15, h), va="center", fontsize="small",
                    arrowprops=dict(arrowstyle="-", linewidth=0.5, color="grey") if h != yi else None)
    for _, r in df[~has_size].iterrows():  # parameter-free baselines: a reference line instead of a point
        ax.axhline(100 * r["average"], linestyle="--", color="grey", linewidth=1)
        ax.annotate(f"{r['model']} (no parameters)", (0.98, 100 * r["average"]), xycoords=("axes fraction", "data"),
                    ha="right", va="bottom", fontsize="small", color="grey")
    if len(sized):  # a log axis needs at least one positive value
        ax.set_xscale("log")
        ax.set_xlim(x.min() / 2, x.max() * 4)  # room for the labels right of the points
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: human_count(v)))
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor log ticks would print 2x10^5, 3x10^5 ... over each other
    ax.set_xlabel("parameters")
    ax.set_ylabel("average score (%)")


def label_heights(x: np.ndarray, y: np.ndarray, gap: float) -> np.ndarray:
    """A text height per point: its own y, moved up until it is `gap` from the texts of points at the same x.

    Points that share a size (a student and its projection) would otherwise print their names over each other.
    """
    heights = np.array(y, dtype=float)
    placed: dict[float, list[float]] = {}
    for i in np.lexsort((y, x)):
        row = placed.setdefault(float(x[i]), [])
        while any(abs(heights[i] - other) < gap for other in row):
            heights[i] += gap
        row.append(heights[i])
    return heights


def human_count(v: float) -> str:
    """400000 -> 400k, 4690000 -> 4.7M (tick labels)."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= scale:
            return f"{v / scale:.3g}{suffix}"
    return f"{v:.0f}"


def plot_data(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Long tables for DVC plots: per (model, task) scores, and average vs parameters."""
    tasks = task_names_of(df)
    scores = pd.DataFrame([{"model": r["model"], "task": t, "score": r[t], "ci": r[f"{t}_ci"]}
                           for _, r in df.iterrows() for t in tasks])
    size = df[["model", "kind", "params", "macs", "average"]]
    return {"scores.csv": scores, "size.csv": size}


SEGMENT_MODES = {"frames": "one pass over each clip (frame embeddings, pooled per segment)",
                 "windows": "a window centred on each segment (evaluate.detection.window_seconds), as a clip"}


def segments_markdown(rows: list[ModelRow]) -> str:
    """report.md section on detection tasks: how each row embedded the segments, and each distilled student's one
    pass against its sliding-window row, paired by fold ('' without detection tasks)."""
    tasks = list(dict.fromkeys(t for r in rows for t in r.segments))
    if not tasks:
        return ""
    lines = [f"## Detection tasks ({', '.join(tasks)}): one pass against sliding windows", ""]
    for mode, how in SEGMENT_MODES.items():
        names = [r.model for r in rows if mode in r.segments.values()]
        lines.append(f"- {how}: {', '.join(names) or '-'}")
    by_name = {r.model: r for r in rows}
    for sliding in (r for r in rows if r.kind == "student_windows"):
        one_pass = by_name.get(sliding.model.removesuffix("-windows"))
        for task in tasks if one_pass is not None else ():
            diff = task_difference(one_pass, sliding, task)
            lines.append(f"- {task}: {one_pass.model} (one pass) minus {sliding.model}: {fmt(diff)} points "
                         f"({verdict(diff)}; mean ± 95% CI over the (seed, fold) differences)")
    return "\n".join(lines + [""])


def write_report(rows: list[ModelRow], out_dir: str | Path, baseline: str | None = "logmel") -> str:
    """Write results.csv, metrics.json, report.md, scores.png, plots/*.csv (and fusion.csv when a fused student was
    probed beside two or more teachers); return report.md's text."""
    out = Path(out_dir)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    rows = with_best_teacher(rows)
    df = results_table(rows, baseline)
    checks = fusion_checks(rows)
    versus = versus_markdown(rows, task_names(rows))
    text = markdown(display_table(df)) + "".join("\n" + part for part in (segments_markdown(rows), versus) if part) \
        + "".join("\n" + check_markdown(c) for c in checks)
    df.to_csv(out / "results.csv", index=False)
    if checks:
        checks_table(checks).to_csv(out / "fusion.csv", index=False)
    (out / "metrics.json").write_text(json.dumps(flat_metrics(df), indent=2, sort_keys=True) + "\n")
    (out / "report.md").write_text(text)
    for name, table in plot_data(df).items():
        table.to_csv(out / "plots" / name, index=False)
    plot_scores(df, out / "scores.png")
    return text
