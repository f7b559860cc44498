"""The log-mel statistics head: exact statistics, running standardisation, and a loss that adds to the teacher's."""
import pytest
import torch
from torch import nn

from pipeline.audio.logmel import band_statistics
from pipeline.train.model import teacher_objective
from pipeline.train.spectrum import SpectrumHead, SpectrumTarget, WithSpectrumLoss


def test_statistics_are_per_band_mean_then_std():
    x = torch.randn(2, 3, 50) * torch.tensor([1.0, 2.0, 3.0])[:, None] + 5.0
    stats = band_statistics(x)
    assert stats.shape == (2, 6)
    assert torch.allclose(stats[:, :3], x.mean(dim=-1)) and torch.allclose(stats[:, 3:], x.std(dim=-1, unbiased=False))


def test_running_standardisation_starts_from_the_first_batch_and_then_moves_slowly():
    target = SpectrumTarget(4, "standardize", momentum=0.1)
    first = torch.randn(64, 4, 30) * 3 + 2
    out = target(first)
    assert torch.allclose(out.mean(dim=0), torch.zeros(8), atol=1e-4)
    assert torch.allclose(out.var(dim=0, unbiased=False), torch.ones(8), atol=1e-2)
    mean = target.mean.clone()
    target(first + 10.0)  # a shifted batch moves the running mean by momentum x the shift (means only)
    assert torch.allclose(target.mean[:4], mean[:4] + 1.0, atol=1e-4) and int(target.seen) == 2
    target.eval()
    before = target.mean.clone()
    target(first + 100.0)
    assert torch.equal(target.mean, before)  # evaluation never moves them


def test_whitening_gives_correlated_statistics_unit_covariance():
    torch.manual_seed(0)
    level = torch.randn(4096, 1, 1) * 3.0  # one loud factor moves every band: the statistics are correlated
    x = level + torch.randn(4096, 6, 40) * torch.linspace(0.5, 2.0, 6)[:, None] + torch.randn(4096, 6, 1)
    white, plain = SpectrumTarget(6, "whiten", floor=0.0), SpectrumTarget(6, "standardize")
    out, std = white(x), plain(x)
    eye = torch.eye(12)
    assert torch.allclose(torch.cov(out.T), eye, atol=0.05)
    assert (torch.cov(std.T) - eye).abs().max() > 0.5  # standardising alone leaves the level's correlation


def test_the_whitening_floor_caps_tiny_components():
    torch.manual_seed(0)
    x = torch.randn(512, 4, 30)
    x[:, 3] = x[:, 2] + 1e-4 * torch.randn(512, 30)  # two bands nearly equal: one component of ~zero variance
    out = SpectrumTarget(4, "whiten", floor=0.01)(x)
    assert torch.isfinite(out).all() and out.std(dim=0).max() < 2.0  # no component blown up to noise


def test_an_unknown_target_mode_names_the_choices():
    with pytest.raises(ValueError, match="whiten"):
        SpectrumTarget(4, "pca")


def test_the_loss_adds_the_weighted_error_of_the_last_columns():
    teacher = nn.MSELoss()
    loss = WithSpectrumLoss(teacher, 0.5, spectrum_dim=2)
    pred, target = torch.randn(4, 5), torch.randn(4, 5)
    expected = teacher(pred[:, :3], target[:, :3]) + 0.5 * nn.functional.mse_loss(pred[:, 3:], target[:, 3:])
    assert torch.allclose(loss(pred, target), expected)
    assert teacher_objective(loss) is teacher and teacher_objective(teacher) is teacher


def test_head_maps_the_embedding_to_both_statistics():
    head = SpectrumHead(embed_dim=7, n_mels=16)
    assert head(torch.randn(3, 7)).shape == (3, 32) == (3, head.dim)


def test_a_student_trained_with_the_head_learns_to_predict_the_statistics():
    torch.manual_seed(0)
    n_mels, head = 8, SpectrumHead(embed_dim=16, n_mels=8)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(n_mels * 20, 16))
    opt = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=1e-2)
    data = torch.randn(256, n_mels, 20) * torch.rand(256, n_mels, 1) * 3 + torch.randn(256, n_mels, 1)
    errors = []
    for step in range(300):
        x = data[torch.randint(0, 256, (32,))]
        err = nn.functional.mse_loss(head(encoder(x)), head.target(x))
        opt.zero_grad()
        err.backward()
        opt.step()
        errors.append(float(err.detach()))
    assert sum(errors[-20:]) / 20 < 0.5 * sum(errors[:20]) / 20
