"""A student with a fresh classification head, for fine-tuning on labelled audio."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from pipeline.inference.modes import evaluating

if TYPE_CHECKING:
    from pipeline.inference.model import StudentModel


class StudentClassifier(nn.Module):
    """Raw audio (batch, samples) at the student's rate -> (batch, n_classes) logits."""

    def __init__(self, student: "StudentModel", classifier: nn.Module, n_classes: int):
        super().__init__()
        self.student, self.classifier, self.n_classes = student, classifier, n_classes

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Logits of a batch of segments; train this with any classification loss."""
        return self.classifier(self.student(waveforms))

    def freeze_backbone(self) -> "StudentClassifier":
        """Train only the classification head (the backbone keeps its batch-norm statistics)."""
        self.student.freeze_backbone()
        return self

    def unfreeze_backbone(self) -> "StudentClassifier":
        """Train the backbone too."""
        self.student.unfreeze_backbone()
        return self

    def predict(self, waveform: np.ndarray | torch.Tensor, sample_rate: int,
                batch_size: int = 16) -> np.ndarray | torch.Tensor:
        """Clip logits (n_classes,): segment logits averaged, weighted by each segment's real samples."""
        with evaluating(self):
            return self.student.reduce_segments(self, waveform, sample_rate, batch_size)
