"""The default teacher: the aisfx sound-effects CNN (ISMIR 2022), whose weights ship inside the `aisfx` wheel.

The window's log-mel is cut into blocks of 100 frames (~2.3 s) every 50 frames, as the package does;
each block goes through `EmbeddingNet` (512-d) and the window's embedding is the mean over blocks that
overlap real audio. `drop_partial_block=False` (default) keeps a last, zero-padded block so the whole
window is seen; `True` drops it like the package's own default.

The network runs with each batch norm folded into the convolution before it (inference only: the same function,
equal to the package's up to float rounding) and in channels-last memory, which oneDNN's convolutions run faster
on CPU (`python -m benchmarks.teacher_runtime`); the fingerprint is the weights' and settings', as before.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from pipeline.config import check
from pipeline.teachers.aisfx_frontend import HOP, SAMPLE_RATE, AisfxFrontEnd
from pipeline.teachers.base import MissingRuntimeError
from pipeline.fingerprint import weights_fingerprint
from pipeline.teachers.pooling import centred_frames, mean_over_valid, row_lengths, valid_mask

BLOCK, BLOCK_HOP = 100, 50
EMBED_DIM = 512
PREFIX = "embedding_net."
INSTALL_HINT = "pip install --no-deps aisfx==0.1.2"


@dataclass(frozen=True)
class AisfxOptions:
    """Options of the `aisfx` teacher."""

    drop_partial_block: bool = False
    # blocks per forward pass: bounds memory for long windows and big batches
    chunk: int = 64

    def __post_init__(self):
        check(self.chunk >= 1, "chunk", f"must be >= 1, got {self.chunk}")


def block_counts(frames: torch.Tensor, drop_partial: bool) -> torch.Tensor:
    """Blocks the aisfx package cuts from a spectrogram of `frames` frames (always at least one)."""
    over = (frames - BLOCK).clamp(min=0)
    whole = torch.div(over, BLOCK_HOP, rounding_mode="floor")
    if drop_partial:
        return 1 + whole
    return 1 + whole + (over % BLOCK_HOP > 0).long()


def cut_blocks(spec: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """(batch, frames, mels) -> (batch, max(counts), 100, mels), zero-padded at the end in time."""
    n = int(counts.max())
    need = (n - 1) * BLOCK_HOP + BLOCK
    spec = F.pad(spec, (0, 0, 0, max(0, need - spec.shape[1])))[:, :need]
    return spec.unfold(1, BLOCK, BLOCK_HOP).transpose(2, 3)  # (batch, n, block, mels)


class AisfxTeacher(nn.Module):
    """aisfx EmbeddingNet behind its own front-end, pooled over the blocks of one window."""

    name = "aisfx"
    sample_rate = SAMPLE_RATE
    embed_dim = EMBED_DIM

    def __init__(self, net: nn.Module, options: AisfxOptions, fingerprint: str):
        super().__init__()
        self.frontend, self.net, self.options = AisfxFrontEnd(), net, options
        self.fingerprint = fingerprint
        self.eval()

    @torch.inference_mode()
    def embed(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, samples) at 44.1 kHz -> (batch, 512) mean block embedding."""
        spec = self.frontend(waveforms)  # (batch, frames, mels)
        frames = centred_frames(row_lengths(waveforms, lengths), HOP)  # (batch,)
        # frames past the real audio become exact silence, as the package's block padding is
        spec = spec * valid_mask(frames, spec.shape[1])[:, :, None]
        counts = block_counts(frames, self.options.drop_partial_block)
        blocks = cut_blocks(spec, counts)
        return mean_over_valid(self.net, blocks, valid_mask(counts, blocks.shape[1]), self.options.chunk)


def fold_batch_norms(net: nn.Module) -> nn.Module:
    """`net` (eval mode) with every ConvBlock's conv -> batch-norm pairs folded into one convolution each."""
    net.eval()
    for block in net.modules():
        for conv, bn in (("conv1", "bn1"), ("conv2", "bn2")):
            if isinstance(getattr(block, conv, None), nn.Conv2d) and isinstance(getattr(block, bn, None),
                                                                                   nn.BatchNorm2d):
                setattr(block, conv, fuse_conv_bn_eval(getattr(block, conv), getattr(block, bn)))
                setattr(block, bn, nn.Identity())
    return net


def checkpoint_globals() -> list:
    """The numpy globals the checkpoint's dataset dict (numpy int64 scalars) needs, and nothing more."""
    core = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    return [(core.scalar, "numpy.core.multiarray.scalar"), np.dtype, np.dtypes.Int64DType]


def checkpoint_path() -> Path:
    """Where the aisfx wheel keeps its weights (found without importing the package)."""
    spec = importlib.util.find_spec("aisfx")
    if spec is None or not spec.submodule_search_locations:
        raise MissingRuntimeError(f"teacher 'aisfx' needs the aisfx package: {INSTALL_HINT}")
    return Path(list(spec.submodule_search_locations)[0]) / "models" / "checkpoint.pth"


def load_embedding_state(path: Path) -> dict[str, torch.Tensor]:
    """EmbeddingNet's tensors from the CrossNet checkpoint (state_dict, dataset dict), safely unpickled."""
    with torch.serialization.safe_globals(checkpoint_globals()):
        state, _datasets = torch.load(path, map_location="cpu", weights_only=True)
    return {k[len(PREFIX):]: v for k, v in state.items() if k.startswith(PREFIX)}


def package_net(state: dict[str, torch.Tensor]) -> nn.Module:
    """The package's own EmbeddingNet holding `state` (batch norms unfolded), in eval mode."""
    try:
        from aisfx.models.cnn2d import EmbeddingNet
    except ImportError as exc:
        raise MissingRuntimeError(f"teacher 'aisfx' needs the aisfx package: {INSTALL_HINT}") from exc
    net = EmbeddingNet("max", 3, 1, 64)
    net.load_state_dict(state, strict=True)
    return net.eval()


def load_aisfx(options: AisfxOptions) -> AisfxTeacher:
    """Build the aisfx teacher from the weights in the installed wheel."""
    state = load_embedding_state(checkpoint_path())
    net = fold_batch_norms(package_net(state)).to(memory_format=torch.channels_last)
    settings = {**AisfxFrontEnd.settings(), "block": BLOCK, "block_hop": BLOCK_HOP,
                "drop_partial_block": options.drop_partial_block}
    return AisfxTeacher(net, options, weights_fingerprint(state, settings))
