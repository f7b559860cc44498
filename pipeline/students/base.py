"""The protocol every student follows."""
from __future__ import annotations

import torch
from torch import nn


class Student(nn.Module):
    """A network mapping log-mels (batch, n_mels, frames) to embeddings (batch, embed_dim).

    Subclasses set the int attribute `embed_dim`. `forward` is `embed`, so an exported student takes
    log-mels and returns embeddings.
    """

    def embed(self, logmels: torch.Tensor) -> torch.Tensor:
        """(batch, n_mels, frames) log-mels -> (batch, embed_dim) embeddings."""
        raise NotImplementedError

    def forward(self, logmels: torch.Tensor) -> torch.Tensor:
        """Same as `embed`."""
        return self.embed(logmels)

    def frames(self, logmels: torch.Tensor) -> torch.Tensor:
        """(batch, n_mels, frames) log-mels -> (batch, steps, embed_dim): one embedding per step of the last
        feature map's time axis (students that keep one); the clip embedding pools over these steps."""
        raise NotImplementedError(f"{type(self).__name__} gives no frame-level embeddings")

    def set_epoch(self, epoch: int) -> None:
        """Per-epoch schedule hook, called by the training loop; a no-op unless overridden."""
