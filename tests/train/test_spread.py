"""The spread terms on the learnt channels: zero for a whitened batch, large for a collapsed one, and trainable."""
import pytest
import torch
from torch import nn

from pipeline.evaluate.rank import effective_rank
from pipeline.train.model import teacher_objective
from pipeline.train.spectrum import WithSpectrumLoss
from pipeline.train.spread import WithSpread, covariance_term, variance_term


def test_a_whitened_batch_costs_nothing():
    torch.manual_seed(0)
    z = torch.randn(4096, 8) * 1.5  # every channel spread wider than 1, channels independent
    assert float(variance_term(z)) == 0.0
    assert float(covariance_term(z)) < 0.02


def test_quiet_and_duplicated_channels_are_penalised():
    torch.manual_seed(0)
    z = torch.randn(256, 4)
    z = (z - z.mean(dim=0)) / z.std(dim=0) * 1.2  # channels spread wider than 1
    quiet = z * torch.tensor([1.0, 1.0, 1.0, 0.01])  # one channel nearly constant
    assert float(variance_term(quiet)) == pytest.approx((1 - 0.01) / 4, abs=0.01)
    copied = torch.cat([z[:, :2], z[:, :2]], dim=1)  # two pairs of identical channels
    assert float(covariance_term(copied)) > 0.5 > float(covariance_term(z))


def test_the_wrapper_scores_the_last_columns_and_passes_the_rest_on():
    torch.manual_seed(0)
    inner = WithSpectrumLoss(nn.MSELoss(), 0.5, spectrum_dim=2)
    loss = WithSpread(inner, variance_weight=2.0, covariance_weight=0.1, columns=3)
    pred, target = torch.randn(16, 8), torch.randn(16, 5)  # 3 teacher + 2 spectrum columns, then 3 learnt
    z = pred[:, 5:]
    expected = inner(pred[:, :5], target) + 2.0 * variance_term(z) + 0.1 * covariance_term(z)
    assert torch.allclose(loss(pred, target), expected)
    assert teacher_objective(loss) is inner.teacher_loss  # validation scores the teachers' heads alone


def test_the_terms_spread_a_collapsed_encoder():
    torch.manual_seed(0)
    x = torch.randn(2048, 16)
    encoder = nn.Linear(16, 8)
    with torch.no_grad():  # every output channel starts as (nearly) the same direction, at a small scale
        encoder.weight.copy_(0.05 * encoder.weight[:1].repeat(8, 1) + 1e-5 * torch.randn(8, 16))
    before = effective_rank(encoder(x).detach().numpy())
    opt = torch.optim.Adam(encoder.parameters(), lr=1e-2)
    for _ in range(300):
        z = encoder(x[torch.randint(0, len(x), (64,))])
        loss = variance_term(z) + 0.04 * covariance_term(z)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = encoder(x).detach()
    assert before < 1.5 and effective_rank(after.numpy()) > 6.0
    assert float(after.std(dim=0).min()) > 0.9
