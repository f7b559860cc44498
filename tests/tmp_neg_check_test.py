import pytest
from test_train import *  # noqa
from pipeline.losses.clap import ClapLoss

def test_neg(world, tmp_path, monkeypatch):
    monkeypatch.setattr(ClapLoss, "load_state_dict", lambda self, *a, **k: None)
    test_resume_after_stop_is_bit_identical(world, tmp_path, "clap", {"learnable": True})
