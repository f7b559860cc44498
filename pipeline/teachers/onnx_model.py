"""Any ONNX model that maps (batch, samples) waveforms to (batch, dim) embeddings, through onnxruntime.

onnxruntime is an optional extra (`pip install .[onnx]`); it is imported only when this teacher loads.
The fingerprint hashes the model file, which holds both graph and weights.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.config import check
from pipeline.teachers.base import MissingRuntimeError
from pipeline.fingerprint import file_fingerprint
from pipeline.teachers.torchscript import check_output


@dataclass(frozen=True)
class OnnxOptions:
    """Options of the `onnx` teacher."""

    path: str
    sample_rate: int
    embed_dim: int
    # onnxruntime intra-op threads; 0 lets onnxruntime decide
    threads: int = 0

    def __post_init__(self):
        check(self.sample_rate > 0, "sample_rate", f"must be > 0, got {self.sample_rate}")
        check(self.embed_dim > 0, "embed_dim", f"must be > 0, got {self.embed_dim}")
        check(self.threads >= 0, "threads", f"must be >= 0, got {self.threads}")


def _runtime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise MissingRuntimeError("teacher 'onnx' needs onnxruntime: pip install 'onnxruntime>=1.17' "
                                  "(or the project's extra: pip install '.[onnx]')") from exc
    return onnxruntime


class OnnxTeacher:
    """An onnxruntime session behind the teacher protocol (CPU, or CUDA when that provider exists)."""

    name = "onnx"

    def __init__(self, options: OnnxOptions, fingerprint: str):
        self.options = options
        self.sample_rate, self.embed_dim = options.sample_rate, options.embed_dim
        self.fingerprint = fingerprint
        self.session = self._session("cpu")

    def _session(self, device_type: str) -> Any:
        ort = _runtime()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.options.threads
        providers = ["CPUExecutionProvider"]
        if device_type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        return ort.InferenceSession(self.options.path, opts, providers=providers)

    def to(self, device: torch.device | str) -> "OnnxTeacher":
        """Rebuild the session for `device` (falls back to CPU when no CUDA provider is installed)."""
        self.session = self._session(torch.device(device).type)
        return self

    def eval(self) -> "OnnxTeacher":
        """ONNX graphs are exported in inference mode already."""
        return self

    @torch.inference_mode()
    def embed(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, samples) -> (batch, embed_dim); the result lands on the waveforms' device."""
        feed = {self.session.get_inputs()[0].name: waveforms.detach().float().cpu().numpy()}
        out = torch.from_numpy(np.asarray(self.session.run(None, feed)[0]))
        return check_output(out, len(waveforms), self.embed_dim, self.options.path).to(waveforms.device)


def load_onnx(options: OnnxOptions) -> OnnxTeacher:
    """Open the ONNX file named by the options."""
    check(Path(options.path).is_file(), "path", f"ONNX file {options.path} not found")
    settings = {"sample_rate": options.sample_rate, "embed_dim": options.embed_dim}
    return OnnxTeacher(options, file_fingerprint(options.path, settings))
