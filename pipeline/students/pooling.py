"""Clip pooling of a student's last feature map: what survives of the (freq, time) map in the embedding.

`mean` is EfficientAT's global average: one value per channel. `meanstd` first averages over frequency,
then keeps the mean *and* the standard deviation over time of each channel, as log-mel statistics keep a
per-band std beside the mean: how a channel's activity varies in time (syllable rate, note onsets, noise
bursts) survives into the embedding, which a mean alone cannot carry. It doubles the embedding width.

`summary_bands` (0: off) appends a spectrum summary of the student's own input to the embedding: the mean
and std of each log-mel band over the window's frames that are not digital silence (the zero padding of a
short clip's last window is all at the front-end's floor, so it is left out, as log-mel statistics leave
it out by the clip's length). It has no parameters: whatever the spectrum summary knows about a window, the
embedding knows too, whatever the teacher taught the network to keep or drop.
"""
from __future__ import annotations

import torch

from pipeline.audio.logmel import band_statistics

POOLINGS = ("mean", "meanstd")
SILENCE_TOLERANCE = 1e-3  # a frame whose every band is within this of the window's minimum is silence


def pooled_dim(channels: int, pooling: str, summary_bands: int = 0) -> int:
    """Embedding width of `pooling` over a map of `channels` channels, plus the spectrum summary's."""
    return channels * (2 if pooling == "meanstd" else 1) + 2 * summary_bands


def learnt_columns(student) -> int:
    """How many leading columns of `student`'s embedding its network computes (the rest: appended statistics)."""
    return student.embed_dim - 2 * getattr(student, "summary_bands", 0)


def pool(features: torch.Tensor, pooling: str) -> torch.Tensor:
    """(batch, channels, freq, time) -> (batch, pooled_dim)."""
    if pooling == "mean":
        return features.mean(dim=(2, 3))
    over_time = features.mean(dim=2)  # (batch, channels, time)
    # unbiased=False: a one-frame map (a very short input) gives std 0, not NaN
    return torch.cat([over_time.mean(dim=2), over_time.std(dim=2, unbiased=False)], dim=1)


def live_frames(logmels: torch.Tensor, tolerance: float = SILENCE_TOLERANCE) -> torch.Tensor:
    """(batch, 1, frames) float mask of the frames above the window's silence floor; all frames where none is."""
    floor = logmels.amin(dim=(1, 2), keepdim=True)  # (batch, 1, 1)
    live = (logmels.amax(dim=1, keepdim=True) > floor + tolerance).float()  # (batch, 1, frames)
    return torch.where(live.sum(dim=-1, keepdim=True) > 0, live, torch.ones_like(live))


def band_summary(logmels: torch.Tensor) -> torch.Tensor:
    """(batch, n_mels, frames) log-mels -> (batch, 2 * n_mels): band means then stds over the live frames."""
    return band_statistics(logmels, live_frames(logmels))


def check_bands(logmels: torch.Tensor, summary_bands: int) -> None:
    """The input must have the bands the summary was sized for."""
    if logmels.shape[1] != summary_bands:
        # concatenation, not an f-string: TorchScript compiles this function
        raise ValueError("summary_bands=" + str(summary_bands) + " but the input has " + str(logmels.shape[1])
                         + " mel bands")


def embedding(features: torch.Tensor, logmels: torch.Tensor, pooling: str, summary_bands: int) -> torch.Tensor:
    """The pooled map, followed by the input's spectrum summary when `summary_bands` is set."""
    pooled = pool(features, pooling)
    if summary_bands == 0:
        return pooled
    check_bands(logmels, summary_bands)
    return torch.cat([pooled, band_summary(logmels)], dim=1)


def frame_embedding(features: torch.Tensor, logmels: torch.Tensor, pooling: str,
                    summary_bands: int) -> torch.Tensor:
    """(batch, channels, freq, steps) map -> (batch, steps, dim): the clip embedding's rule applied per time step.

    Each step is the frequency mean of the map at that step (for `mean` pooling, the clip embedding is exactly
    the mean of these over steps); with `summary_bands`, followed by the band statistics of the input frames
    under that step (the frames split into `steps` near-equal blocks, silence left out as in the clip summary).
    `meanstd` has no per-step meaning (a std over time needs time), so it is refused.
    """
    if pooling != "mean":
        raise ValueError("frame embeddings need pooling: mean (a std over time has no value at one step), got "
                         + pooling)
    steps = features.mean(dim=2)  # (batch, channels, steps)
    if summary_bands == 0:
        return steps.transpose(1, 2)
    check_bands(logmels, summary_bands)
    n = steps.shape[-1]
    live = live_frames(logmels)  # (batch, 1, frames)
    count = torch.nn.functional.adaptive_avg_pool1d(live, n).clamp_min(1e-6)  # share of live frames per block
    mean = torch.nn.functional.adaptive_avg_pool1d(logmels * live, n) / count
    square = torch.nn.functional.adaptive_avg_pool1d(logmels ** 2 * live, n) / count
    std = (square - mean ** 2).clamp_min(0.0).sqrt()
    return torch.cat([steps, mean, std], dim=1).transpose(1, 2)
