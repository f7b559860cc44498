"""Golden values for every distillation loss: numpy formulas computed here, and stored literal fixtures."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.config import ConfigError
from pipeline.losses import LOSSES, build_loss

GOLDEN = json.loads((Path(__file__).parent / "golden.json").read_text())
# (name, options) pairs the fixtures were computed for
CASES = [("cosine", {}), ("mse", {}), ("l1", {}), ("kl", {"temperature": 1.0}), ("kl", {"temperature": 2.5}),
         ("clap", {"temperature": 0.07}), ("clap", {"temperature": 0.5})]


def fixed_pair() -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (4, 6) student and teacher embeddings, no RNG involved."""
    i, j = np.meshgrid(np.arange(4), np.arange(6), indexing="ij")
    student = np.sin(0.7 * i + 0.3 * j + 0.1) * (1.0 + 0.1 * j)
    teacher = np.cos(0.5 * i - 0.2 * j) + 0.05 * j
    return student, teacher


def log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def reference(name: str, options: dict, s: np.ndarray, t: np.ndarray) -> float:
    """Independent numpy formula for each loss."""
    if name == "cosine":
        cos = (s * t).sum(1) / (np.linalg.norm(s, axis=1) * np.linalg.norm(t, axis=1))
        return float(np.mean(1.0 - cos))
    if name == "mse":
        return float(np.mean((s - t) ** 2))
    if name == "l1":
        return float(np.mean(np.abs(s - t)))
    if name == "kl":
        temp = options["temperature"]
        log_p, log_q = log_softmax(t / temp), log_softmax(s / temp)
        return float(np.mean((np.exp(log_p) * (log_p - log_q)).sum(1)) * temp ** 2)
    temp = options["temperature"]
    sn = s / np.linalg.norm(s, axis=1, keepdims=True)
    tn = t / np.linalg.norm(t, axis=1, keepdims=True)
    logits = sn @ tn.T / temp
    return float(-0.5 * (np.mean(np.diag(log_softmax(logits))) + np.mean(np.diag(log_softmax(logits.T)))))


def key(name: str, options: dict) -> str:
    return name + "".join(f"_{k}={v}" for k, v in sorted(options.items()))


@pytest.mark.parametrize("name,options", CASES, ids=[key(*c) for c in CASES])
def test_loss_matches_numpy_formula_and_stored_golden_value(name, options):
    s, t = fixed_pair()
    expected = reference(name, options, s, t)
    loss = build_loss(name, options)
    got64 = float(loss(torch.from_numpy(s), torch.from_numpy(t)))
    got32 = float(loss(torch.from_numpy(s).float(), torch.from_numpy(t).float()))
    # 1e-7, not tighter: clap keeps its temperature in a float32 tensor
    assert got64 == pytest.approx(expected, rel=1e-7)
    assert got64 == pytest.approx(GOLDEN[key(name, options)], rel=1e-7)
    assert got32 == pytest.approx(GOLDEN[key(name, options)], rel=1e-5)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_leading_dimensions_are_flattened(name):
    s, t = (torch.from_numpy(a) for a in fixed_pair())
    loss = build_loss(name)
    torch.testing.assert_close(loss(s.reshape(2, 2, 6), t.reshape(2, 2, 6)), loss(s, t))


def test_zero_at_perfect_match():
    _, t = (torch.from_numpy(a) for a in fixed_pair())
    assert float(build_loss("cosine")(3.0 * t, t)) == pytest.approx(0.0, abs=1e-12)
    assert float(build_loss("mse")(t, t)) == 0.0
    assert float(build_loss("kl", {"temperature": 2.0})(t, t)) == pytest.approx(0.0, abs=1e-12)
    # distinct, well-separated rows at a very low temperature: only the diagonal survives
    eye = torch.eye(4, dtype=torch.float64)
    assert float(build_loss("clap", {"temperature": 0.01})(eye, eye)) < 1e-30


def test_clap_learnable_temperature_gets_a_gradient():
    s, t = (torch.from_numpy(a).float() for a in fixed_pair())
    loss = build_loss("clap", {"learnable": True})
    assert [n for n, _ in loss.named_parameters()] == ["log_scale"]
    loss(s, t).backward()
    assert loss.log_scale.grad is not None and float(loss.log_scale.grad) != 0.0
    assert list(build_loss("clap").parameters()) == []


def test_registry_errors_list_valid_names():
    with pytest.raises(ConfigError, match="clap.*cosine.*kl.*l1.*mse"):
        build_loss("huber")
    with pytest.raises(ConfigError, match="allowed"):
        build_loss("kl", {"temp": 2.0})
    with pytest.raises(ConfigError, match="temperature"):
        build_loss("kl", {"temperature": 0.0})
