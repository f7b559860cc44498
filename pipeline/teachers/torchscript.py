"""Any TorchScript file that maps (batch, samples) waveforms to (batch, dim) embeddings, as a teacher."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from pipeline.config import check
from pipeline.fingerprint import weights_fingerprint


@dataclass(frozen=True)
class ScriptedOptions:
    """Options of the `torchscript` teacher; the file itself cannot tell its rate or dimension."""

    path: str
    sample_rate: int
    embed_dim: int
    # call module(waveforms, lengths) for modules that mask their own pooling
    pass_lengths: bool = False

    def __post_init__(self):
        check(self.sample_rate > 0, "sample_rate", f"must be > 0, got {self.sample_rate}")
        check(self.embed_dim > 0, "embed_dim", f"must be > 0, got {self.embed_dim}")


def check_output(out: object, batch: int, dim: int, source: str) -> torch.Tensor:
    """Raise ValueError unless `out` is a (batch, dim) floating tensor; returns it as float32."""
    if not isinstance(out, torch.Tensor) or not out.is_floating_point():
        raise ValueError(f"{source} returned {type(out).__name__}, expected a floating (batch, dim) tensor")
    if tuple(out.shape) != (batch, dim):
        raise ValueError(f"{source} returned shape {tuple(out.shape)}, expected ({batch}, {dim}): "
                         "check the embed_dim option")
    return out.float()


class ScriptedTeacher(nn.Module):
    """Wraps a loaded TorchScript module; checks the output shape on every call."""

    name = "torchscript"

    def __init__(self, module: torch.jit.ScriptModule, options: ScriptedOptions, fingerprint: str):
        super().__init__()
        self.module, self.options = module, options
        self.sample_rate, self.embed_dim = options.sample_rate, options.embed_dim
        self.fingerprint = fingerprint
        self.eval()

    @torch.inference_mode()
    def embed(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, samples) -> (batch, embed_dim) through the scripted module."""
        if self.options.pass_lengths:
            if lengths is None:
                lengths = torch.full((len(waveforms),), waveforms.shape[1], dtype=torch.long)
            out = self.module(waveforms, lengths.to(waveforms.device))
        else:
            out = self.module(waveforms)
        return check_output(out, len(waveforms), self.embed_dim, self.options.path)


def load_scripted(options: ScriptedOptions) -> ScriptedTeacher:
    """Load the TorchScript file named by the options."""
    check(Path(options.path).is_file(), "path", f"TorchScript file {options.path} not found")
    module = torch.jit.load(options.path, map_location="cpu")
    settings = {"sample_rate": options.sample_rate, "embed_dim": options.embed_dim,
                "pass_lengths": options.pass_lengths}
    return ScriptedTeacher(module, options, weights_fingerprint(module.state_dict(), settings))
