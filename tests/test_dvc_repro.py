"""End to end: `dvc repro` of the whole project in a temporary copy, on a tiny params set."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tiny_project import copy_project

from pipeline import stage_profile

TINY = {
    "base": {"num_threads": 1},
    "demo": {"scale": 0.04, "n_task_clips": 1000, "detection_seconds": 4.0, "workers": 1},
    "prepare": {"workers": 1},
    "embed": {"batch_size": 8, "workers": 0, "chunk_rows": 16, "shard_rows": 32},
    "cluster": {"k": 4, "sweep": [3], "batch_size": 32, "init_size": 40, "metric_sample": 60, "map_sample": 60},
    "train": {"epochs": 1, "epoch_size": 64, "batch_size": 16, "workers": 0, "val_max_rows": 16,
              "student_options": {"width": 0.1}},
    "supervised": {"epochs": 1, "epoch_size": 64},
    "evaluate": {"n_folds": 2, "probe": {"seeds": [0], "c_grid": [1.0]}},
    # every other format, the frame graph and int8: tests/test_export*.py and tests/stages/test_export_stage.py
    "export": {"formats": ["pt2"], "frames": False, "quantize": False},
}


def run(cmd: list[str], cwd: Path) -> str:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    # a hang guard, not a speed check: with the 2 cores at load 5 a repro here once ran past 15 min
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=2400)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A git + DVC copy of the project files with tiny params, after one `dvc repro`."""
    dest = copy_project(tmp_path_factory.mktemp("project"), TINY)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "copy"]):
        run(cmd, dest)
    run(["dvc", "repro"], dest)
    return dest


@pytest.mark.slow
def test_repro_builds_every_stage(project: Path):
    assert (project / "cache/demo/manifest.csv").exists()
    assert (project / "cache/corpus/corpus.h5").exists()
    assert (project / "cache/embeddings/aisfx/store.json").exists()
    assert (project / "cache/clusters/aisfx-k4/index.parquet").exists()
    assert (project / "cache/students/demo/student.pt").exists()
    assert (project / "cache/students/demo-supervised/student.pt").exists()
    report = (project / "cache/eval/report.md").read_text()
    assert "aisfx" in report and "retention" in report
    assert (project / "cache/export/demo/manifest.json").exists()
    # the profile stage printed and set aside one record per stage command, every one of them a success
    timings = stage_profile.read(stage_profile.log_dir(project) / stage_profile.PRINTED_NAME)
    stages = [t.stage for t in timings]
    assert {"demo-corpus", "prepare", "embed@aisfx", "cluster", "train", "evaluate", "export"} <= set(stages), stages
    assert all(t.ok and t.wall_s > 0 for t in timings) and len(stages) == len(set(stages))


@pytest.mark.slow
def test_second_repro_is_a_no_op(project: Path):
    status = run(["dvc", "status"], project)
    others = re.sub(r"profile:\s*always changed", "", status)  # the profile stage always runs, by design
    assert "changed" not in others, status
    out = run(["dvc", "repro"], project)
    ran = set(re.findall(r"Running stage '([^']+)'", out))
    assert ran == {"profile"}, out  # the profile stage always runs: it says that no other stage did
    assert "no stage ran since the last profile" in out, out


@pytest.mark.slow
def test_sample_rate_change_invalidates_prepare_not_demo(project: Path):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["audio"]["sample_rate"] = 16000
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        status = run(["dvc", "status", "--json"], project)
    finally:
        params["audio"]["sample_rate"] = 32000
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    import json
    changed = set(json.loads(status.strip().splitlines()[-1]))
    assert "prepare" in changed
    assert "demo-corpus" not in changed


@pytest.mark.slow
def test_distillation_param_change_leaves_the_supervised_baseline(project: Path):
    """`-S train.loss=mse` re-runs the distilled student (and what reads it), never the supervised baseline."""
    import json
    original = (project / "params.yaml").read_text()
    params = yaml.safe_load(original)
    params["train"]["loss"] = "mse"
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        changed = set(json.loads(run(["dvc", "status", "--json"], project).strip().splitlines()[-1]))
    finally:
        (project / "params.yaml").write_text(original)
    assert "train" in changed and "train-supervised" not in changed, changed


@pytest.mark.slow
def test_push_then_pull_into_a_fresh_clone(project: Path, tmp_path: Path):
    """The cached results (students, indices, scores) travel through a DVC remote; the stores stay out of it."""
    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "-d", "-f", "local", str(remote)], project)
    run(["git", "add", "-A"], project)
    run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "lock"], project)
    run(["dvc", "push"], project)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    run(["dvc", "pull", "--allow-missing"], clone)
    for path in ("cache/students/demo/student.pt", "cache/clusters/aisfx-k4/index.parquet", "cache/eval/report.md",
                 "cache/export/demo/manifest.json"):
        assert (clone / path).read_bytes() == (project / path).read_bytes(), path
    assert not (clone / "cache/stores").exists()  # uncached: shared by URL, not by the remote


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Relative path -> (size, mtime in ns) of every file below `folder`."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")
            if p.is_file()}


@pytest.mark.slow
def test_a_second_clone_trains_from_the_first_clones_stores(project: Path, tmp_path: Path):
    """`paths.stores` pointed at another checkout's store root: `dvc repro train` embeds no window."""
    import json
    run(["git", "add", "-A"], project)
    run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "lock", "--allow-empty"], project)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    params = yaml.safe_load((clone / "params.yaml").read_text())
    local = params["paths"]["stores"]
    shared = project / local
    params["paths"]["stores"] = str(shared)
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    before = snapshot(shared / "aisfx")
    out = run(["dvc", "repro", "train"], clone)
    assert "reused (already complete)" in out, out[-3000:]
    assert snapshot(shared / "aisfx") == before  # not a byte of any store was written
    assert not (clone / local).exists()  # only the pointer is local
    assert (clone / "cache" / "embeddings" / "aisfx" / "store.json").exists()
    pointer = json.loads((clone / "cache" / "embeddings" / "aisfx" / "store.json").read_text())
    assert pointer["store"] == str(shared / "aisfx" / pointer["store_fingerprint"])
    assert (clone / "cache" / "students" / "demo" / "student.pt").exists()
