"""Determinism and correctness of SpecAugment masking and mixup."""
from __future__ import annotations

import pytest
import torch

from pipeline.audio.augment import mixup, spec_augment


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def runs(flags: torch.Tensor) -> int:
    """Number of contiguous True runs in a 1-D bool tensor."""
    padded = torch.cat([torch.zeros(1, dtype=torch.bool), flags])
    return int((padded[1:] & ~padded[:-1]).sum())


def test_spec_augment_is_deterministic_and_seed_dependent():
    x = torch.randn(4, 32, 50)
    a = spec_augment(x, 2, 8, 2, 6, gen(1))
    b = spec_augment(x, 2, 8, 2, 6, gen(1))
    c = spec_augment(x, 2, 8, 2, 6, gen(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_time_masks_are_full_height_bands_of_bounded_width():
    x = torch.randn(16, 32, 50) + 10.0  # no natural zeros
    out = spec_augment(x, time_masks=2, time_width=7, freq_masks=0, freq_width=5, generator=gen(3))
    masked = out == 0.0
    assert masked.any()
    for row in masked:
        columns = row.all(dim=0)
        assert torch.equal(row, columns.expand_as(row))  # whole columns only
        assert int(columns.sum()) <= 2 * 7 and runs(columns) <= 2
    assert torch.equal(out[~masked], x[~masked])


def test_freq_masks_are_full_width_bands_and_off_switch():
    x = torch.randn(16, 32, 50) + 10.0
    out = spec_augment(x, time_masks=0, time_width=0, freq_masks=3, freq_width=4, generator=gen(4), value=-1.0)
    masked = out == -1.0
    for row in masked:
        bands = row.all(dim=1)
        assert torch.equal(row, bands[:, None].expand_as(row))
        assert int(bands.sum()) <= 3 * 4 and runs(bands) <= 3
    assert torch.equal(spec_augment(x, 0, 10, 0, 10, gen(4)), x)


def test_mixup_mixes_inputs_and_targets_with_the_same_weights():
    inputs = torch.randn(8, 16, 20, dtype=torch.float64)
    projection = torch.randn(16 * 20, 5, dtype=torch.float64)
    targets = inputs.flatten(1) @ projection  # a linear function of the inputs
    mixed_in, mixed_t, lam = mixup(inputs, targets, alpha=0.4, generator=gen(5))
    # linearity: the mixed targets must be the same function of the mixed inputs
    torch.testing.assert_close(mixed_t, mixed_in.flatten(1) @ projection)
    assert lam.shape == (8,) and bool(((lam >= 0.5) & (lam <= 1.0)).all())
    assert not torch.allclose(mixed_in, inputs)


def test_mixup_rows_are_convex_combinations_of_a_permutation():
    eye = torch.eye(6, dtype=torch.float64)
    targets = torch.arange(6, dtype=torch.float64)[:, None]
    mixed_in, mixed_t, lam = mixup(3.0 * eye, targets, alpha=1.0, generator=gen(6))
    partners = []
    for i in range(6):
        others = set(torch.nonzero(mixed_in[i]).flatten().tolist()) - {i}
        assert len(others) <= 1
        partner = others.pop() if others else i
        partners.append(partner)
        torch.testing.assert_close(mixed_in[i], 3.0 * (lam[i] * eye[i] + (1 - lam[i]) * eye[partner]))
        assert float(mixed_t[i, 0]) == pytest.approx(float(lam[i] * i + (1 - lam[i]) * partner))
    assert sorted(partners) == list(range(6))


def test_mixup_determinism_and_off_switch():
    x, y = torch.randn(5, 100), torch.randn(5, 7)
    first = mixup(x, y, 0.3, gen(7))
    second = mixup(x, y, 0.3, gen(7))
    for a, b in zip(first, second):
        assert torch.equal(a, b)
    same_x, same_y, lam = mixup(x, y, 0.0, gen(7))
    assert same_x is x and same_y is y and torch.equal(lam, torch.ones(5))


def test_mixup_lambda_distribution():
    lam = mixup(torch.zeros(4000, 1), torch.zeros(4000, 1), alpha=1.0, generator=gen(8))[2]
    # alpha=1: Beta(1,1) is uniform, folded to max(u, 1-u) with mean 0.75
    assert float(lam.mean()) == pytest.approx(0.75, abs=0.01)
