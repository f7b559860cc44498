"""Resemblyzer's speaker encoder (GE2E, 256-d) as a teacher; its weights ship inside the `resemblyzer` wheel.

The network is a 3-layer LSTM (hidden 256) over 40-band mel power frames, whose last hidden state goes through
a linear layer and a ReLU and is L2-normalised. As the package's `embed_utterance` does, a window is cut into
partials of 160 frames (1.6 s) every round(16000 / rate / 160) frames (77 at the default rate 1.3 per second);
a last partial that covers less than `min_coverage` of its 1.6 s with real audio is dropped unless it is the only
one, and the rest are zero-padded. The window's embedding is the L2-normalised mean of its partial embeddings.
The adapter embeds a window as given: the package's webrtcvad silence trimming (`preprocess_wav`) is not applied,
its volume normalisation is. Neither resemblyzer nor librosa nor webrtcvad is imported.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.config import check
from pipeline.fingerprint import weights_fingerprint
from pipeline.teachers.base import MissingRuntimeError
from pipeline.teachers.pooling import mean_over_valid, row_lengths, valid_mask
from pipeline.teachers.resemblyzer_frontend import HOP, N_MELS, SAMPLE_RATE, ResemblyzerFrontEnd, normalise_volume

PARTIAL = 160
HIDDEN = 256
LAYERS = 3
EMBED_DIM = 256
INSTALL_HINT = "pip install --no-deps resemblyzer==0.1.4"


@dataclass(frozen=True)
class ResemblyzerOptions:
    """Options of the `resemblyzer` teacher."""

    # partials per second and the last partial's minimum real-audio share: embed_utterance's defaults
    rate: float = 1.3
    min_coverage: float = 0.75
    # partials per forward pass: bounds memory for long windows and big batches
    chunk: int = 64

    def __post_init__(self):
        check(self.rate > 0 and 1 <= self.step <= PARTIAL, "rate",
              f"must put 1 to {PARTIAL} frames between partials (0.625 <= rate < 200), got {self.rate}")
        check(0 < self.min_coverage <= 1, "min_coverage", f"must be in (0, 1], got {self.min_coverage}")
        check(self.chunk >= 1, "chunk", f"must be >= 1, got {self.chunk}")

    @property
    def step(self) -> int:
        """Frames between the starts of two partials."""
        return int(round(SAMPLE_RATE / self.rate / HOP))


def partial_counts(lengths: torch.Tensor, step: int, min_coverage: float) -> torch.Tensor:
    """Partials `embed_utterance` cuts from clips of `lengths` samples: (batch,) int64, at least one each."""
    frames = 1 + torch.div(lengths, HOP, rounding_mode="floor")
    stop = (frames - PARTIAL + step + 1).clamp(min=1)  # partials start at range(0, stop, step)
    counts = 1 + torch.div(stop - 1, step, rounding_mode="floor")
    covered = (lengths - (counts - 1) * step * HOP).double() / (PARTIAL * HOP)  # last partial's real share
    return counts - ((covered < min_coverage) & (counts > 1)).long()


def cut_partials(mel: torch.Tensor, count: int, step: int) -> torch.Tensor:
    """(batch, frames, mels) with frames >= (count-1)*step + 160 -> (batch, count, 160, mels)."""
    need = (count - 1) * step + PARTIAL
    return mel[:, :need].unfold(1, PARTIAL, step).transpose(2, 3)


class SpeakerEncoder(nn.Module):
    """GE2E speaker encoder: (n, 160, 40) mel power -> (n, 256) L2-normalised, non-negative embeddings."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(N_MELS, HIDDEN, LAYERS, batch_first=True)
        self.linear = nn.Linear(HIDDEN, EMBED_DIM)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        """The last layer's final hidden state, through linear + ReLU, L2-normalised."""
        _, (hidden, _) = self.lstm(mels)  # hidden: (layers, n, 256)
        return F.normalize(F.relu(self.linear(hidden[-1])), dim=1)


class ResemblyzerTeacher(nn.Module):
    """Resemblyzer's speaker encoder behind its own front-end, pooled over the partials of one window."""

    name = "resemblyzer"
    sample_rate = SAMPLE_RATE
    embed_dim = EMBED_DIM

    def __init__(self, net: SpeakerEncoder, options: ResemblyzerOptions, fingerprint: str):
        super().__init__()
        self.frontend, self.net, self.options = ResemblyzerFrontEnd(), net, options
        self.fingerprint = fingerprint
        self.eval()

    @torch.inference_mode()
    def embed(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, samples) at 16 kHz -> (batch, 256) L2-normalised mean partial embedding."""
        lengths = row_lengths(waveforms, lengths)
        step = self.options.step
        counts = partial_counts(lengths, step, self.options.min_coverage)  # (batch,)
        n = int(counts.max())
        x = normalise_volume(waveforms, lengths)  # zero past each row's length, as the package pads
        # the last partial may reach past the row: pad so its 160 frames exist
        x = F.pad(x, (0, max(0, ((n - 1) * step + PARTIAL) * HOP - x.shape[1])))
        # float32 even under bf16 autocast: the embeddings share one narrow cone (ReLU, then L2), so bf16's
        # error (cosine ~3e-4 on CPU) is a sizeable share of the distance between clips; the net is small
        with torch.autocast(waveforms.device.type, enabled=False):
            partials = cut_partials(self.frontend(x), n, step)  # (batch, n, 160, mels)
            mean = mean_over_valid(self.net, partials, valid_mask(counts, n), self.options.chunk)
        return F.normalize(mean, dim=1)


def weights_path() -> Path:
    """The resemblyzer wheel's `pretrained.pt` (found without importing resemblyzer, which needs webrtcvad)."""
    spec = importlib.util.find_spec("resemblyzer")
    path = None
    if spec is not None and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0]) / "pretrained.pt"
    if path is None or not path.is_file():
        raise MissingRuntimeError(f"teacher 'resemblyzer' needs the resemblyzer weights: {INSTALL_HINT}")
    return path


def load_encoder_state(path: Path) -> dict[str, torch.Tensor]:
    """The encoder's tensors from the training checkpoint, without GE2E's similarity scale and bias."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    keys = set(SpeakerEncoder().state_dict())
    return {k: v for k, v in checkpoint["model_state"].items() if k in keys}


def load_resemblyzer(options: ResemblyzerOptions) -> ResemblyzerTeacher:
    """Build the resemblyzer teacher from the weights in the installed wheel."""
    state = load_encoder_state(weights_path())
    net = SpeakerEncoder()
    net.load_state_dict(state, strict=True)
    settings = {**ResemblyzerFrontEnd.settings(), "partial": PARTIAL, "step": options.step,
                "min_coverage": options.min_coverage, "pooling": "mean_then_l2"}
    return ResemblyzerTeacher(net, options, weights_fingerprint(state, settings))
