"""Clip pooling: mean as before, mean + std over time of the frequency-averaged map, in the students that offer it."""
import pytest
import torch

from pipeline.config import ConfigError
from pipeline.students.pooling import pool, pooled_dim
from pipeline.students.registry import build_student


def test_mean_is_the_global_average():
    x = torch.randn(3, 5, 4, 7)
    assert torch.allclose(pool(x, "mean"), x.mean(dim=(2, 3)))
    assert pooled_dim(5, "mean") == 5


def test_meanstd_keeps_how_each_channel_varies_in_time():
    x = torch.randn(3, 5, 4, 7)
    out = pool(x, "meanstd")
    over_time = x.mean(dim=2)  # (batch, channels, time), by hand
    assert out.shape == (3, pooled_dim(5, "meanstd")) == (3, 10)
    assert torch.allclose(out[:, :5], over_time.mean(dim=2), atol=1e-6)
    assert torch.allclose(out[:, 5:], over_time.std(dim=2, unbiased=False), atol=1e-6)
    steady, moving = torch.ones(1, 2, 4, 6), torch.ones(1, 2, 4, 6)
    moving[..., ::2] = 0.0  # same mean (0.5 against 1.0 aside), a std the mean pooling cannot see
    assert pool(steady, "meanstd")[0, 2:].abs().max() == 0 and pool(moving, "meanstd")[0, 2:].min() > 0.4


def test_one_frame_gives_zero_std_not_nan():
    assert torch.isfinite(pool(torch.randn(2, 3, 4, 1), "meanstd")).all()


@pytest.mark.parametrize("name", ["mobilenetv3", "dymn"])
def test_students_double_their_embedding_with_meanstd(name):
    torch.manual_seed(0)
    mean = build_student(name, {"width": 0.2})
    torch.manual_seed(0)
    both = build_student(name, {"width": 0.2, "pooling": "meanstd"})
    assert both.embed_dim == 2 * mean.embed_dim
    assert mean.state_dict().keys() == both.state_dict().keys()  # same weights: checkpoints and init files fit
    x = torch.randn(2, 64, 100)
    mean.eval(), both.eval()
    with torch.no_grad():
        out_mean, out_both = mean(x), both(x)
    assert out_both.shape == (2, both.embed_dim)
    assert torch.allclose(out_both[:, :mean.embed_dim], out_mean, atol=1e-5)


def test_unknown_pooling_names_the_choices():
    with pytest.raises((ConfigError, ValueError), match="meanstd"):
        build_student("mobilenetv3", {"width": 0.2, "pooling": "max"})
