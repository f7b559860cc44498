"""Training killed mid-run, as a user would see it: SIGKILL during `dvc repro`, then `dvc repro` again resumes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from tiny_project import TRAIN, copy_project, train_args, train_inputs

from stages import cli

EPOCHS = TRAIN["train"]["epochs"]


def _env(project: Path) -> dict:
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                PYTHONPATH=str(project), OMP_NUM_THREADS="1")


def _weights(path: Path) -> dict:
    payload = torch.load(path, weights_only=True)
    return {f"{part}.{k}": v for part in ("student", "head") for k, v in payload[part].items()}


@pytest.mark.slow
def test_dvc_repro_after_a_sigkill_resumes_from_the_last_checkpoint(tmp_path, monkeypatch):
    project = copy_project(tmp_path / "project", TRAIN)
    (project / ".dvc" / "config.local").write_text("[core]\n    no_scm = true\n")  # no git needed
    train_inputs(project)
    out = project / "cache" / "students" / "tiny"
    repro = ["dvc", "repro", "--single-item", "train"]
    with open(tmp_path / "killed.log", "w") as log:  # a file: a full pipe would stall the run
        proc = subprocess.Popen(repro, cwd=project, env=_env(project), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        deadline = time.time() + 120
        while not (out / "checkpoint.pt").exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)  # dvc and the `ssondo train` it runs, at once
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "killed.log").read_text()[-3000:]
    done = torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] + 1
    assert done < EPOCHS and not (out / "student.pt").exists()  # it really was cut short

    rerun = subprocess.run(repro, cwd=project, env=_env(project), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    said = rerun.stdout + rerun.stderr
    assert f"train: resuming from cache/students/tiny/checkpoint.pt after epoch {done} of {EPOCHS}" in said, said
    # the dvclive curve holds every epoch, not only those after the resume
    assert len((out / "live/plots/metrics/val_cosine.tsv").read_text().splitlines()) == 1 + EPOCHS

    monkeypatch.chdir(project)  # the same run, never interrupted
    whole = CliRunner().invoke(cli.main, ["train", *train_args("whole")], catch_exceptions=False)
    assert whole.exit_code == 0, whole.output
    resumed, reference = _weights(out / "student.pt"), _weights(project / "cache/students/whole/student.pt")
    assert resumed.keys() == reference.keys()
    assert [k for k in resumed if not torch.equal(resumed[k], reference[k])] == []
