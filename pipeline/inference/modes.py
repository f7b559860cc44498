"""Running a module for inference without disturbing how it was set up for training."""
from __future__ import annotations

import contextlib

import torch
from torch import nn


@contextlib.contextmanager
def evaluating(module: nn.Module):
    """Eval mode and no autograd for the duration, then the module's previous mode."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield module
    finally:
        module.train(was_training)
