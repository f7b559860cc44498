"""Paired differences: the folds' shared difficulty cancels, and the report says where a student stands."""
import numpy as np
import pandas as pd
import pytest

from pipeline.evaluate.paired import average_difference, task_difference, verdict, versus_markdown
from pipeline.evaluate.report import write_report
from pipeline.evaluate.rows import ModelRow
from pipeline.evaluate.stats import mean_ci

HARD = np.random.default_rng(3).normal(0.0, 0.08, (3, 5))  # how hard each (seed, fold) is, for every model


DRAWS: dict[str, np.random.Generator] = {}  # the running test's generator of fold noise


@pytest.fixture(autouse=True)
def fresh_draws():
    """Each test draws its fold noise from a fresh generator: its rows do not depend on which tests ran before."""
    DRAWS["rng"] = np.random.default_rng(4)
    yield
    DRAWS.clear()


def _row(model: str, kind: str, means: dict, noise: float = 0.004) -> ModelRow:
    folds = {t: m + HARD + DRAWS["rng"].normal(0.0, noise, (3, 5)) for t, m in means.items()}
    return ModelRow(model, kind, {t: mean_ci(f) for t, f in folds.items()}, folds=folds)


def test_a_small_gain_is_seen_when_the_models_cis_overlap():
    a, b = _row("a", "student", {"T": 0.52}), _row("b", "baseline", {"T": 0.50})
    assert a.scores["T"][1] > 0.02 and b.scores["T"][1] > 0.02  # the unpaired CIs overlap by far
    mean, ci = task_difference(a, b, "T")
    assert mean == pytest.approx(np.mean(a.folds["T"] - b.folds["T"]))
    assert ci < 0.01 and verdict((mean, ci)) == "above"
    assert verdict(task_difference(b, a, "T")) == "below"


def test_the_average_difference_pairs_cell_by_cell():
    a, b = _row("a", "student", {"T": 0.6, "U": 0.3}), _row("b", "baseline", {"T": 0.5, "U": 0.4})
    mean, ci = average_difference(a, b, ["T", "U"])
    cells = (a.folds["T"] - b.folds["T"] + a.folds["U"] - b.folds["U"]) / 2
    assert (mean, ci) == pytest.approx(mean_ci(cells))
    assert verdict((mean, ci)) == "tie"  # +10 and -10 points: nothing between them on the average


def test_missing_fold_scores_give_no_verdict():
    a, bare = _row("a", "student", {"T": 0.6}), ModelRow("b", "baseline", {"T": (0.5, 0.01)})
    assert task_difference(a, bare, "T") is None and average_difference(a, bare, ["T"]) is None
    assert verdict(None) == "-"


def test_the_report_has_the_paired_section(tmp_path):
    rows = [_row("teacher", "teacher", {"T": 0.7, "U": 0.6}), _row("s", "student", {"T": 0.6, "U": 0.45}),
            _row("s-untrained", "untrained", {"T": 0.3, "U": 0.2}), _row("logmel", "baseline", {"T": 0.5, "U": 0.5})]
    text = write_report(rows, tmp_path)
    assert "## Students against log-mel statistics and the untrained network (paired by fold)" in text
    line = next(x for x in text.splitlines() if x.startswith("| s | logmel |"))
    assert "▲" in line.split("|")[3] and "▼" in line.split("|")[4]  # T above, U below log-mel
    assert versus_markdown(rows[:2], ["T", "U"]) == ""  # nothing to compare with


def test_results_keep_each_tasks_effective_rank(tmp_path):
    row = _row("s", "student", {"T": 0.6, "U": 0.45})
    ranked = ModelRow(row.model, row.kind, row.scores, rank=15.0, folds=row.folds, ranks={"T": 10.0, "U": 20.0})
    write_report([ranked], tmp_path)
    table = pd.read_csv(tmp_path / "results.csv")
    assert table.loc[0, "rank:T"] == 10.0 and table.loc[0, "rank:U"] == 20.0 and table.loc[0, "rank"] == 15.0
