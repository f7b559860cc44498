"""`ssondo export` through click's CliRunner on a tiny trained student."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from stages.export import main
from student_setup import trained_student


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny training run shared by the tests: (student.pt, corpus folder)."""
    ckpt, corpus = trained_student(tmp_path_factory.mktemp("train"))
    return ckpt, Path(corpus.path).parent


@pytest.fixture
def project(trained, tmp_path, monkeypatch):
    """A project folder with the student at cache/students/tiny."""
    (tmp_path / "cache" / "students" / "tiny").mkdir(parents=True)
    shutil.copy(trained[0], tmp_path / "cache" / "students" / "tiny" / "student.pt")
    monkeypatch.chdir(tmp_path)
    return tmp_path, trained[1]


def write_params(project, **export) -> None:
    root, corpus = project
    params = {"base": {"num_threads": 1},
              "export": {"student": "tiny", "check_batch": 2, "calibration_clips": 8, **export}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def folders(project, student: str = "tiny") -> list[str]:
    """The stage's path options, as dvc.yaml passes them."""
    root, corpus = project
    return ["--student", str(root / "cache" / "students" / student), "--corpus", str(corpus),
            "--out", str(root / "cache" / "export" / student)]


def test_export_stage_writes_checked_files(project):
    root, _ = project
    # dynamic int8 (TorchScript): the default PT2E lowering to ExecuTorch takes minutes and has tests of its own
    # (tests/test_export_executorch.py); the stage's wiring is the same for every method
    write_params(project, int8_method="dynamic")
    result = CliRunner().invoke(main, ["--params", "params.yaml", *folders(project)])
    assert result.exit_code == 0, result.output
    out = root / "cache" / "export" / "tiny"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["passed"] and manifest["calibration"] == "corpus+noise"
    for name in ("student.pt2", "student.onnx", "student.frames.pt2", "student.int8.ts"):
        assert manifest["files"][name]["bytes"] == (out / name).stat().st_size
        assert f"export: {name}" in result.output
    program = torch.export.load(str(out / "student.pt2")).module()  # dynamic batch and length
    for shape in ((2, 12345), (5, 40000)):
        assert program(torch.zeros(*shape)).shape == (shape[0], manifest["embedding_dim"])


def test_export_stage_fails_when_a_check_fails(project):
    root, _ = project
    write_params(project, formats=["torchscript"], int8_method="static", min_cosine_int8=0.999999)
    result = CliRunner().invoke(main, ["--params", "params.yaml", *folders(project)])
    assert result.exit_code != 0
    assert "FAILED" in result.output and "student.int8.ts" in result.output
    assert not json.loads((root / "cache/export/tiny/manifest.json").read_text())["passed"]


def test_export_stage_rejects_bad_params_and_missing_student(project):
    root, _ = project
    write_params(project, int8_method="fp4")
    result = CliRunner().invoke(main, ["--params", "params.yaml", *folders(project)])
    assert result.exit_code != 0 and "valid" in result.output
    write_params(project)
    result = CliRunner().invoke(main, ["--params", "params.yaml", *folders(project, "nobody")])
    assert result.exit_code != 0 and "ssondo train" in result.output
