"""A full disk or a read-only output: `prepare` and `train` fail with a clear message and leave nothing
half-written that a later run would trust."""
from __future__ import annotations

import errno
import os
from pathlib import Path

import h5py
import pytest
import torch
import yaml
from click.testing import CliRunner
from tiny_project import TRAIN, train_args, train_inputs, write_params

from stages import cli

FULL = Path("/dev/full")  # every write to it fails with ENOSPC, as on a full disk
pytestmark = pytest.mark.skipif(not FULL.exists(), reason="needs /dev/full")
EPOCHS = TRAIN["train"]["epochs"]


def _fill_disk_at(path: Path) -> None:
    """Send the writes meant for `path` to a full disk: its temporary name (see `atomic_path`) links to /dev/full."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(FULL, path.with_name(path.name + ".tmp"))


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.suffix in (".tmp", ".partial"))  # parts/ included


def _prepare(tmp_path: Path, audio_folder: Path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"audio": {"sample_rate": 16000},
                                      "prepare": {"input": str(audio_folder), "workers": 1}}))
    return CliRunner().invoke(cli.main, ["prepare", "--params", str(params), "--output", str(tmp_path / "out")])


def _no_corpus(result, out: Path, message: str) -> None:
    assert result.exit_code == 1 and message in result.output and "no corpus was published" in result.output, \
        result.output
    assert not (out / "corpus.h5").exists() and not (out / "manifest.parquet").exists()  # not even the older one
    assert _leftovers(out) == []


@pytest.mark.parametrize("name", ["manifest.parquet", "rejected.csv"])
def test_prepare_on_a_full_disk_publishes_no_corpus(tmp_path, audio_folder, name):
    assert _prepare(tmp_path, audio_folder).exit_code == 0  # an older corpus a failed run must not leave behind
    _fill_disk_at(tmp_path / "out" / name)
    result = _prepare(tmp_path, audio_folder)
    _no_corpus(result, tmp_path / "out", "No space left on device")
    assert name in result.output
    rerun = _prepare(tmp_path, audio_folder)  # once there is space, a run just works
    assert rerun.exit_code == 0 and "12 input(s) reused" in rerun.output  # and keeps what was decoded


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_prepare_failing_to_write_audio_drops_the_partial_corpus(tmp_path, audio_folder, monkeypatch, code):
    """The HDF5 write fails after a few clips, and so does closing the file (as on a full or read-only disk)."""
    assert _prepare(tmp_path, audio_folder).exit_code == 0
    writes, setitem, close = [], h5py.Dataset.__setitem__, h5py.File.close

    def failing_write(self, key, value):
        writes.append(key)
        if len(writes) > 2:
            raise OSError(code, os.strerror(code))
        setitem(self, key, value)

    def failing_close(self):
        close(self)
        if writes:
            raise OSError(code, os.strerror(code))

    monkeypatch.setattr(h5py.Dataset, "__setitem__", failing_write)
    monkeypatch.setattr(h5py.File, "close", failing_close)
    _no_corpus(_prepare(tmp_path, audio_folder), tmp_path / "out", os.strerror(code))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The train inputs with TRAIN params, and the student of an uninterrupted run (`whole`)."""
    root = tmp_path_factory.mktemp("project")
    train_inputs(root)
    write_params(root, TRAIN)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        assert CliRunner().invoke(cli.main, ["train", *train_args("whole")]).exit_code == 0
    finally:
        os.chdir(cwd)
    return root


def _weights(path: Path) -> dict:
    payload = torch.load(path, weights_only=True)
    return {f"{part}.{k}": v for part in ("student", "head") for k, v in payload[part].items()}


@pytest.mark.parametrize("name", ["checkpoint.pt", "student.pt"])
def test_train_on_a_full_disk_keeps_the_last_complete_checkpoint(project, monkeypatch, name):
    monkeypatch.chdir(project)
    out = project / "cache" / "students" / name.replace(".", "-")
    _fill_disk_at(out / name)
    failed = CliRunner().invoke(cli.main, ["train", *train_args(out.name)])
    assert failed.exit_code == 1, failed.output
    assert "No space left on device" in failed.output and f"{out.relative_to(project)}/{name}" in failed.output
    assert "run again" in failed.output and _leftovers(out) == [] and not (out / "student.pt").exists()
    if name == "student.pt":  # every epoch was saved: the next run only writes the student
        assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == EPOCHS - 1
    else:  # the first checkpoint failed: nothing to resume from
        assert not (out / "checkpoint.pt").exists()
    rerun = CliRunner().invoke(cli.main, ["train", *train_args(out.name)])
    assert rerun.exit_code == 0, rerun.output
    assert ("resuming from" in rerun.output) == (name == "student.pt")
    resumed, whole = _weights(out / "student.pt"), _weights(project / "cache/students/whole/student.pt")
    assert [k for k in whole if not torch.equal(resumed[k], whole[k])] == []
