"""Exports (TorchScript, ONNX, int8) agree with the eager student; the checks can fail; config is validated."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from pipeline.audio.logmel import LogMelConfig
from pipeline.config import ConfigError, parse
from pipeline.export import (ExportCheckError, ExportConfig, ExportError, compare, export_student, require_passed,
                             save_int8)
from pipeline.inference.model import load_student
from pipeline.inference.quantize import noise_audio
from student_setup import WINDOW, cosines, eager, fresh_student, student_with_calibration


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A trained tiny student and clips of its corpus (for int8 calibration)."""
    return student_with_calibration(tmp_path_factory.mktemp("train"))


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    """torch.export + TorchScript + ONNX + static int8 exports, with their manifest."""
    model, calibration = trained
    out = tmp_path_factory.mktemp("export")
    cfg = ExportConfig(student="tiny", check_batch=2, int8_method="static", formats=("pt2", "torchscript", "onnx"))
    return out, export_student(model, out, cfg, calibration)


def test_manifest_describes_files(exported, trained):
    out, manifest = exported
    model, _ = trained
    assert manifest["passed"]
    assert set(manifest["files"]) == {"student.pt2", "student.ts", "student.onnx", "student.frames.pt2", "student.int8.ts"}
    # this tiny student's 0.5 s window leaves its last map one step long, which export specialises on: the .pt2
    # takes inputs from 8192 samples (two steps) up, and the longer check input was compared
    assert set(manifest["files"]["student.pt2"]["refused_lengths"]) == {WINDOW} and WINDOW < 8192
    for name, entry in manifest["files"].items():
        assert entry["bytes"] == (out / name).stat().st_size > 0
    assert manifest["sample_rate"] == 16000 and manifest["embedding_dim"] == 96
    assert manifest["window_samples"] == WINDOW and manifest["params"] == model.params
    assert manifest["student_fingerprint"] == model.fingerprint and manifest["calibration"] == "corpus+noise"
    assert manifest["teachers"] == ["band"]


def test_fp32_exports_match_eager_on_new_shapes(exported, trained):
    out, _ = exported
    model, _ = trained
    audio = noise_audio(3, int(2.3 * WINDOW), seed=7)  # batch and length never seen at export time
    ref = eager(model, audio)
    scripted = torch.jit.load(str(out / "student.ts"))
    program = torch.export.load(str(out / "student.pt2")).module()
    with torch.no_grad():
        for graph in (scripted, program):
            np.testing.assert_allclose(graph(torch.from_numpy(audio)).numpy(), ref, rtol=1e-4,
                                       atol=1e-5 * np.abs(ref).max())
    session = ort.InferenceSession(str(out / "student.onnx"), providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {"audio": audio})[0]
    np.testing.assert_allclose(onnx_out, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    assert cosines(onnx_out, ref).min() > 0.99999


def test_int8_export_close_to_eager(exported, trained):
    out, manifest = exported
    model, _ = trained
    audio = noise_audio(4, WINDOW, seed=11)
    with torch.no_grad():
        int8 = torch.jit.load(str(out / "student.int8.ts"))(torch.from_numpy(audio)).numpy()
    ref = eager(model, audio)
    assert cosines(int8, ref).min() >= 0.99
    assert not np.allclose(int8, ref, rtol=1e-6, atol=0)  # it really is quantised
    assert manifest["files"]["student.int8.ts"]["bytes"] < manifest["files"]["student.ts"]["bytes"]


def test_dynamic_int8_and_strict_thresholds_fail(trained, tmp_path):
    model, _ = trained
    cfg = ExportConfig(formats=(), int8_method="dynamic", min_cosine_int8=0.99, check_batch=2)
    manifest = export_student(model, tmp_path, cfg)
    assert manifest["passed"] and manifest["calibration"] == "noise"
    require_passed(manifest)
    manifest["files"]["student.int8.ts"].update(min_cosine=0.5, passed=False)
    with pytest.raises(ExportCheckError, match="student.int8.ts"):
        require_passed(manifest)


def test_static_int8_fails_an_impossible_threshold(trained, tmp_path):
    model, calibration = trained
    cfg = ExportConfig(formats=(), int8_method="static", min_cosine_int8=0.999999, check_batch=2,
                       calibration_clips=4)
    manifest = export_student(model, tmp_path, cfg, calibration[:4])
    assert not manifest["passed"]
    with pytest.raises(ExportCheckError, match="cosine"):
        require_passed(manifest)


def test_compare_golden():
    ref = np.array([[1.0, 0.0], [0.0, 2.0]])
    out = np.array([[1.0, 1.0], [0.0, 2.5]])
    scores = compare([out], [ref])
    assert scores["max_abs_error"] == pytest.approx(1.0)
    assert scores["max_rel_error"] == pytest.approx(0.5)
    assert scores["min_cosine"] == pytest.approx(1 / np.sqrt(2))


def test_onnx_comes_from_the_torch_export_based_exporter(exported):
    import onnx

    out, _ = exported
    graph = onnx.load(str(out / "student.onnx"))
    assert max(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")) >= 18
    # nodes carry the FX node they were translated from: only the torch.export-based exporter writes that
    fx_nodes = [m for n in graph.graph.node for m in n.metadata_props if m.key == "pkg.torch.onnx.fx_node"]
    assert len(fx_nodes) > 0
    dims = graph.graph.input[0].type.tensor_type.shape.dim
    assert len(dims) == 2 and all(d.dim_param and not d.dim_value for d in dims)  # batch and length dynamic


def test_config_validation():
    with pytest.raises(ConfigError, match="valid"):
        parse(ExportConfig, {"int8_method": "fp8"}, "export")
    with pytest.raises(ConfigError, match="formats"):
        parse(ExportConfig, {"formats": ["tflite"]}, "export")
    with pytest.raises(ConfigError, match="nothing to export"):
        parse(ExportConfig, {"formats": [], "quantize": False, "frames": False}, "export")
    assert parse(ExportConfig, {"formats": ["onnx"]}, "export").formats == ("onnx",)
    with pytest.raises(ConfigError, match="export.opset"):
        parse(ExportConfig, {"opset": 17}, "export")



def test_dymn_exports_agree(tmp_path):
    frontend = LogMelConfig(sample_rate=16000, n_mels=64, fmax=8000.0)
    path = fresh_student(tmp_path / "s.pt", frontend, 0.5, {"width": 0.1}, out_dim=8, name="dymn")
    # ONNX alone: its exporter runs torch.export first, so this covers both (each DyMN trace takes a minute)
    cfg = ExportConfig(formats=("onnx",), frames=False, quantize=False, check_batch=2)
    manifest = export_student(load_student(path), tmp_path, cfg)
    assert manifest["passed"] and list(manifest["files"]) == ["student.onnx"]
    assert manifest["files"]["student.onnx"]["min_cosine"] > 0.9999


class BiasFreeFunctionalConv(torch.nn.Module):
    """A functional conv without bias, as DyMN's dynamic convs: FX static int8 cannot pack it."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(4, 1, 1, 5))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.conv2d(audio[:, None, None, :], self.weight).mean(dim=(2, 3))


def test_unquantisable_student_fails_clearly(tmp_path):
    audio = noise_audio(2, 400, seed=0)
    with pytest.raises(ExportError, match="int8_method"):
        save_int8(BiasFreeFunctionalConv(), ExportConfig(student="odd", int8_method="static"), audio,
                  torch.from_numpy(audio[:1]), tmp_path / "x.ts")


def test_frame_graph_export_matches_eager_frames(exported, trained):
    out, manifest = exported
    model, _ = trained
    entry = manifest["files"]["student.frames.pt2"]
    assert manifest["passed"] and entry["format"] == "pt2-frames" and entry["min_cosine"] > 0.9999
    audio = noise_audio(3, WINDOW, seed=11)  # a batch size the export never saw
    with torch.no_grad():
        ref = model.frames(torch.from_numpy(audio)).numpy()
        out = torch.export.load(str(out / "student.frames.pt2")).module()(torch.from_numpy(audio)).numpy()
    assert out.shape == ref.shape == (3, entry["steps"], model.embedding_dim)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())
