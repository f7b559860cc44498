"""The distillation study: `dvc exp run` variants of the demo, one table row per run.

    python -m benchmarks.study run NAME [-S key=value ...] [--target evaluate] [--engine exp|repro]
    python -m benchmarks.study table [--out docs/study.md] [--tasks [NAME ...]]

`run` restores params.yaml from git, runs `dvc exp run -f -n study-NAME -S ... evaluate` in the workspace (so
stages whose inputs did not change are skipped: the corpus and teacher store are built once for every row that
shares them), times it, and appends one row to docs/study.csv: the command, wall time, the student's validation
cosine and effective rank, and the probe averages of the distilled student, its untrained twin, the teacher and
log-mel statistics from that run's cache/eval/results.csv. `table` renders docs/study.csv as markdown.

`--engine repro` writes the same values into params.yaml and runs `dvc repro` instead: the same stages with the same
inputs, for a second clone that runs rows beside the first (two `dvc exp run` at once in worktrees of one repository
share DVC's experiment refs and mix up their parameters).

The CI of an average over T tasks is sqrt(sum of the per-task CI half widths squared) / T: tasks are scored on
disjoint clips, so their errors are treated as independent.
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import subprocess
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "docs" / "study.csv"
KINDS = {"student": "student", "untrained": "untrained", "teacher": "teacher", "baseline": "logmel"}


def average_ci(row: pd.Series, tasks: list[str]) -> tuple[float, float]:
    """(mean over tasks, CI half width of that mean) of one results.csv row, as fractions."""
    means = [float(row[t]) for t in tasks]
    half = math.sqrt(sum(float(row[f"{t}_ci"]) ** 2 for t in tasks)) / len(tasks)
    return sum(means) / len(means), half


def eval_summary(results: Path) -> dict:
    """Average and CI per kind (student, untrained, teacher, logmel) from one evaluate run, and each kind's score
    per task (`<kind>:<task>`, `<kind>:<task>_ci`), since a recipe is judged task by task too."""
    df = pd.read_csv(results)
    tasks = [c for c in df.columns if f"{c}_ci" in df.columns]
    out = {}
    for kind, label in KINDS.items():
        rows = df[df["kind"] == kind]
        if len(rows):
            out[label], out[f"{label}_ci"] = average_ci(rows.iloc[0], tasks)
            if "rank" in rows:
                out[f"{label}_rank"] = float(rows.iloc[0]["rank"])
            for task in tasks:
                out[f"{label}:{task}"], out[f"{label}:{task}_ci"] = (float(rows.iloc[0][task]),
                                                                     float(rows.iloc[0][f"{task}_ci"]))
    return out


def student_summary(params: dict) -> dict:
    """The trained student's validation figures and size (cache/students/<train.name>/metrics.json)."""
    path = ROOT / "cache" / "students" / params["train"]["name"] / "metrics.json"
    m = json.loads(path.read_text())
    return {k: m.get(k) for k in ("val_cosine", "val_rank", "val_rank_untrained", "params", "samples_per_s")}


def set_params(path: Path, sets: list[str]) -> None:
    """Apply `key.sub=value` (YAML values) to a params file, keeping its comments and layout."""
    from ruamel.yaml import YAML

    rt = YAML()
    doc = rt.load(path.read_text())
    for item in sets:
        key, value = item.split("=", 1)
        *parents, last = key.split(".")
        node = doc
        for part in parents:
            node = node[part]
        if last not in node:
            raise KeyError(f"{key}: not in {path.name}")
        node[last] = yaml.safe_load(value)
    with path.open("w") as f:
        rt.dump(doc, f)


def restore_params(path: Path) -> None:
    """Write params.yaml back to its committed bytes. Not `git checkout -- params.yaml`: after `dvc repro` (autostage)
    the index can hold the edited file's stat data with the committed blob, and checkout then keeps the edited file
    (a row once ran with the previous row's params that way)."""
    committed = f"HEAD:{path.resolve().relative_to(ROOT).as_posix()}"
    path.write_bytes(subprocess.run(["git", "show", committed], cwd=ROOT, check=True, capture_output=True).stdout)


def run(name: str, sets: list[str], target: str, engine: str = "exp") -> dict:
    """One study row: reset params.yaml, run the experiment, collect its figures."""
    restore_params(ROOT / "params.yaml")
    if engine == "exp":
        cmd = ["dvc", "exp", "run", "-f", "-n", f"study-{name}"] + [a for s in sets for a in ("-S", s)] + [target]
    else:
        set_params(ROOT / "params.yaml", sets)
        cmd = ["dvc", "repro", target]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True)
    wall = time.perf_counter() - start
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True, capture_output=True,
                            text=True).stdout.strip()
    row = {"name": name, "commit": commit, "command": shlex.join(["dvc", "exp", "run"] + [a for s in sets for a in ("-S", s)]),
           "wall_min": round(wall / 60, 1), **student_summary(params),
           **eval_summary(ROOT / "cache" / "eval" / "results.csv")}
    CSV.parent.mkdir(exist_ok=True)
    table = pd.concat([pd.read_csv(CSV), pd.DataFrame([row])]) if CSV.exists() else pd.DataFrame([row])
    table.to_csv(CSV, index=False)
    return row


def pct(mean: float, ci: float) -> str:
    """'12.3 ± 1.4' from fractions; '-' when missing."""
    return "-" if pd.isna(mean) else f"{100 * mean:.1f} ± {100 * ci:.1f}"


def markdown_table(df: pd.DataFrame) -> str:
    """The study as a markdown table (scores in %, mean ± 95% CI over the built-in tasks)."""
    head = ("| run | command | student | untrained | teacher | log-mel | retention % | student rank | "
            "teacher rank | val cosine | wall (min) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in df.itertuples():
        retention = 100 * r.student / r.teacher if r.teacher else float("nan")
        lines.append(f"| {r.name} | `{r.command}` | {pct(r.student, r.student_ci)} | "
                     f"{pct(r.untrained, r.untrained_ci)} | {pct(r.teacher, r.teacher_ci)} | "
                     f"{pct(r.logmel, r.logmel_ci)} | {retention:.1f} | {r.student_rank:.1f} | {r.teacher_rank:.1f} | "
                     f"{r.val_cosine:.3f} | {'-' if pd.isna(r.wall_min) else r.wall_min} |")
    return "\n".join(lines) + "\n"


def tasks_table(df: pd.DataFrame, names: list[str] | None = None) -> str:
    """Per-task scores of the students of the rows that recorded them (`names`: those rows only, in that order),
    then the teacher, untrained and log-mel rows of the first of them: mean ± 95% CI in %."""
    rows = df[df[[c for c in df.columns if c.startswith("student:")]].notna().any(axis=1)]
    if names:
        rows = rows.set_index("name").loc[names].reset_index()
    tasks = [c.split(":", 1)[1] for c in rows.columns if c.startswith("student:") and not c.endswith("_ci")
             and rows[c].notna().any()]
    head = "| row | " + " | ".join(tasks) + " | average |"
    lines = [head, "|" + "---|" * (len(tasks) + 2)]

    def line(label: str, r: pd.Series, kind: str) -> str:
        cells = [pct(r[f"{kind}:{t}"], r[f"{kind}:{t}_ci"]) for t in tasks]
        return f"| {label} | " + " | ".join(cells) + f" | {pct(r[kind], r[f'{kind}_ci'])} |"

    for _, r in rows.iterrows():
        lines.append(line(r["name"], r, "student"))
    if len(rows):
        for kind in ("teacher", "untrained", "logmel"):
            lines.append(line(f"{kind} ({rows.iloc[0]['name']})", rows.iloc[0], kind))
    return "\n".join(lines) + "\n"


def main() -> None:
    """`run` one variant or print the `table`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    one = sub.add_parser("run")
    one.add_argument("name")
    one.add_argument("-S", "--set-param", dest="sets", action="append", default=[])
    one.add_argument("--target", default="evaluate", help="the stage the experiment runs up to")
    one.add_argument("--engine", choices=["exp", "repro"], default="exp", help="dvc exp run, or params + dvc repro")
    tab = sub.add_parser("table")
    tab.add_argument("--out", default=None)
    tab.add_argument("--tasks", nargs="*", default=None, help="per-task scores instead (of these rows, or all)")
    args = parser.parse_args()
    if args.verb == "run":
        print(json.dumps(run(args.name, args.sets, args.target, args.engine), indent=2))
    else:
        df = pd.read_csv(CSV)
        text = markdown_table(df) if args.tasks is None else tasks_table(df, args.tasks or None)
        if args.out:
            Path(args.out).write_text(text)
        print(text)


if __name__ == "__main__":
    main()
