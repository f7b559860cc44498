"""ExecuTorch programs (fp32 and PT2E int8, lowered to XNNPACK) run by ExecuTorch's own runtime agree with the eager
student. Apart from tests/test_export.py: each lowering takes minutes, and a file of its own runs beside that one."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.export import ExportConfig, export_student
from pipeline.inference.model import load_student
from pipeline.inference.quantize import noise_audio
from student_setup import WINDOW, cosines, eager, fresh_student, student_with_calibration


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A trained tiny student and clips of its corpus (for int8 calibration)."""
    return student_with_calibration(tmp_path_factory.mktemp("train"))


def test_executorch_program_runs_in_executorch_runtime(trained, tmp_path):
    """The .pte is lowered to XNNPACK and executed by ExecuTorch's own runtime, not by torch."""
    pytest.importorskip("executorch.runtime")
    model, calibration = trained
    cfg = ExportConfig(student="tiny", formats=("pte",), quantize=False, check_batch=2)
    manifest = export_student(model, tmp_path, cfg, calibration)
    entry = manifest["files"]["student.pte"]
    assert manifest["passed"] and entry["min_cosine"] > 0.9999
    assert entry["bytes"] == (tmp_path / "student.pte").stat().st_size
    assert entry["refused_lengths"] == [WINDOW * 3 // 2]  # one window per call: the longer check input is refused
    from executorch.runtime import Runtime

    method = Runtime.get().load_program(str(tmp_path / "student.pte")).load_method("forward")
    audio = noise_audio(1, WINDOW, seed=3)
    out = method.execute([torch.from_numpy(audio)])[0].numpy()
    assert cosines(out, eager(model, audio)).min() > 0.9999


def test_pt2e_int8_runs_as_an_executorch_program(trained, tmp_path):
    """PT2E int8 (torchao, XNNPACK quantiser) lowered to XNNPACK: checked through ExecuTorch's runtime."""
    pytest.importorskip("executorch.runtime")
    pytest.importorskip("torchao.quantization.pt2e")
    model, calibration = trained
    cfg = ExportConfig(student="tiny", formats=(), int8_method="pt2e", min_cosine_int8=0.99, check_batch=2)
    manifest = export_student(model, tmp_path, cfg, calibration)
    entry = manifest["files"]["student.int8.pte"]
    assert manifest["passed"] and entry["format"] == "executorch-xnnpack-int8-pt2e" and entry["min_cosine"] >= 0.99
    from executorch.runtime import Runtime

    method = Runtime.get().load_program(str(tmp_path / "student.int8.pte")).load_method("forward")
    audio = noise_audio(1, WINDOW, seed=5)
    out, ref = method.execute([torch.from_numpy(audio)])[0].numpy(), eager(model, audio)
    assert cosines(out, ref).min() >= 0.99 and not np.allclose(out, ref, rtol=1e-6, atol=0)  # really quantised


def test_pt2e_keeps_the_front_end_float(tmp_path):
    """Only the backbone is quantised: no front-end (STFT, mel, log) operation reads a dequantised int8 value."""
    pytest.importorskip("torchao.quantization.pt2e")
    from pipeline.inference.quantize import quantize

    model = load_student(fresh_student(tmp_path / "s.pt"))
    converted = quantize(model.encoder, "pt2e", noise_audio(2, model.window_samples, seed=0))

    def under(node, prefix):
        return any(str(path).startswith(prefix) for path, _ in (node.meta.get("nn_module_stack") or {}).values())

    def reads_int8(node):
        return any("dequantize" in str(getattr(arg, "target", "")) for arg in node.all_input_nodes)

    front = [n for n in converted.graph.nodes if under(n, "frontend")]
    assert front and not any(reads_int8(n) for n in front)
    assert any(reads_int8(n) for n in converted.graph.nodes if under(n, "backbone"))
