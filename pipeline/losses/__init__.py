"""Distillation losses between projected student embeddings and cached teacher embeddings.

Every loss is an nn.Module called as `loss(student, teacher) -> scalar` on (..., dim) tensors.
"""
from pipeline.losses.registry import LOSSES, build_loss, loss_options

__all__ = ["LOSSES", "build_loss", "loss_options"]
