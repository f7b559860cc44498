"""Per-stage records under `dvc repro` and the table the profile stage prints."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipeline import stage_profile
from pipeline.stage_profile import StageTiming

ROOT = Path(__file__).resolve().parents[1]


def test_records_round_trip_and_take_moves_them_aside(tmp_path: Path):
    first, second = StageTiming("prepare", "t0", 12.0, 20.0, 300.0, True), StageTiming("train", "t1", 36.0, 70.0,
                                                                                        500.0, False)
    for t in (first, second):
        stage_profile.append(tmp_path, t)
    assert stage_profile.read(tmp_path / stage_profile.LOG_NAME) == [first, second]
    assert stage_profile.take(tmp_path) == [first, second]
    assert stage_profile.take(tmp_path) == []  # taken once: the next repro starts a fresh list
    assert stage_profile.read(tmp_path / stage_profile.PRINTED_NAME) == [first, second]
    text = stage_profile.table([first, second])
    assert "| prepare | 0:12 | 0:20 | 1.67 | 25% | 300 MiB |" in text
    assert "| train (failed) | 0:36 | 1:10 | 1.94 | 75% |" in text
    assert "**all 2 stages** | **0:48** | 1:30" in text


def test_stopwatch_counts_this_process_cpu():
    watch = stage_profile.Stopwatch()
    total = sum(i * i for i in range(2_000_000))  # some CPU work
    timing = watch.timing("x", True)
    assert total > 0 and timing.cpu_s > 0 and timing.wall_s >= timing.cpu_s * 0.5 and timing.peak_rss_mb > 10


def ssondo(args: list[str], env: dict) -> subprocess.CompletedProcess:
    """Run the `ssondo` command line in a subprocess with `env` added."""
    return subprocess.run([sys.executable, "-m", "stages.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, **env))


def test_stage_commands_under_dvc_are_recorded_with_their_outcome(tmp_path: Path):
    dvc = {"DVC_ROOT": str(tmp_path)}
    assert ssondo(["store", "--help"], dict(dvc, DVC_STAGE="ok-stage")).returncode == 0
    failed = ssondo(["store", "info", str(tmp_path / "missing")], dict(dvc, DVC_STAGE="failing-stage"))
    assert failed.returncode != 0
    assert ssondo(["store", "--help"], {"DVC_STAGE": ""}).returncode == 0  # outside DVC: nothing recorded
    timings = stage_profile.read(stage_profile.log_dir(tmp_path) / stage_profile.LOG_NAME)
    assert [(t.stage, t.ok) for t in timings] == [("ok-stage", True), ("failing-stage", False)]
    shown = ssondo(["profile"], dict(dvc, DVC_STAGE="profile"))  # the profile command records nothing itself
    assert shown.returncode == 0, shown.stderr
    assert "| ok-stage |" in shown.stdout and "| failing-stage (failed) |" in shown.stdout
    assert "no stage ran" in ssondo(["profile"], dict(dvc, DVC_STAGE="profile")).stdout
