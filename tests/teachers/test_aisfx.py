"""aisfx teacher: protocol, masking, and agreement with the aisfx package's own (librosa) computation."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from pipeline.teachers.aisfx import (AisfxOptions, block_counts, checkpoint_globals, checkpoint_path,
                                    fold_batch_norms, load_aisfx, load_embedding_state, package_net)
from pipeline.teachers.aisfx_frontend import SAMPLE_RATE, mel_filters_unit_sum
from pipeline.teachers.base import Teacher


def test_follows_protocol(aisfx_teacher, make_signal):
    t = aisfx_teacher
    assert isinstance(t, Teacher)
    assert (t.name, t.sample_rate, t.embed_dim) == ("aisfx", 44100, 512)
    assert len(t.fingerprint) == 16 and int(t.fingerprint, 16) >= 0
    x = torch.from_numpy(np.stack([make_signal(2.5, SAMPLE_RATE, s) for s in range(3)]))
    out = t.embed(x)
    assert out.shape == (3, 512) and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert torch.equal(out, t.embed(x))
    # rows are independent of each other and of the batch they come in
    torch.testing.assert_close(t.embed(x[1:2])[0], out[1], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(out[0], out[1])


def test_fingerprint_tracks_weights_and_settings(aisfx_teacher):
    again = load_aisfx(AisfxOptions(chunk=7))
    assert again.fingerprint == aisfx_teacher.fingerprint
    assert load_aisfx(AisfxOptions(drop_partial_block=True)).fingerprint != aisfx_teacher.fingerprint


def test_padding_with_lengths_equals_unpadded_clip(aisfx_teacher, make_signal):
    clips = [make_signal(s, SAMPLE_RATE, i) for i, s in enumerate((0.7, 2.9, 3.5))]
    window = int(4.0 * SAMPLE_RATE)
    padded = torch.zeros(len(clips), window)
    for i, c in enumerate(clips):
        padded[i, : len(c)] = torch.from_numpy(c)
    lengths = torch.tensor([len(c) for c in clips])
    masked = aisfx_teacher.embed(padded, lengths)
    for i, c in enumerate(clips):
        alone = aisfx_teacher.embed(torch.from_numpy(c)[None])[0]
        torch.testing.assert_close(masked[i], alone, rtol=1e-4, atol=1e-5)
    # without lengths the silent tail counts as audio, so the masking is doing real work
    unmasked = aisfx_teacher.embed(padded)
    assert (unmasked[0] - masked[0]).abs().max() > 1e-3


def test_weights_load_without_unsafe_unpickling():
    state = load_embedding_state(checkpoint_path())
    assert "conv_block1.conv1.weight" in state and not any(k.startswith("fc.") for k in state)
    assert sum(v.numel() for k, v in state.items() if "num_batches" not in k and "running" not in k) == 4686144


def _package_rule(frames: int, drop: bool) -> int:
    """aisfx.preprocessing.blocking's block count, restated."""
    n = int(np.ceil((frames - 100) / 50 + 1))
    if (frames - 100) % 50 != 0 and drop:
        n -= 1
    return max(n, 1)


def test_folded_network_computes_the_packages_function():
    """Batch norms folded into the convolutions and channels-last memory: the same outputs up to float rounding."""
    pytest.importorskip("aisfx")
    package = package_net(load_embedding_state(checkpoint_path()))
    folded = load_aisfx(AisfxOptions()).net
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    blocks = torch.randn(5, 100, 96, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        want, got = package(blocks), folded(blocks)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    assert fold_batch_norms(package) is package  # in place, as load_aisfx uses it
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in package.modules())


def test_block_counts_follow_the_package_rule():
    frames = torch.arange(1, 700)
    for drop in (False, True):
        expected = torch.tensor([_package_rule(int(f), drop) for f in frames])
        assert torch.equal(block_counts(frames, drop), expected)


def test_mel_filters_are_unit_sum_htk_triangles():
    fb = mel_filters_unit_sum(44100, 2048, 96, 0.0, 22050.0)
    assert fb.shape == (96, 1025) and (fb >= 0).all()
    np.testing.assert_allclose(fb.sum(axis=1), 1.0, rtol=1e-5)
    # peaks climb monotonically, bands overlap only with neighbours
    peaks = fb.argmax(axis=1)
    assert (np.diff(peaks) >= 0).all() and peaks[-1] > 950  # last band peaks near 21 kHz
    assert not (fb[0] * fb[2]).any()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_mel_filters_match_librosa():
    librosa = pytest.importorskip("librosa")
    ref = librosa.filters.mel(sr=44100, n_fft=2048, n_mels=96, fmin=0.0, fmax=22050.0, htk=True, norm=1.0)
    np.testing.assert_allclose(mel_filters_unit_sum(44100, 2048, 96, 0.0, 22050.0), ref, rtol=1e-5, atol=1e-8)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # librosa imports audioread
@pytest.mark.parametrize("seconds", [1.3, 4.0, 5.3])
def test_matches_aisfx_reference_pipeline(aisfx_teacher, make_signal, tmp_path, seconds):
    pytest.importorskip("librosa")
    from aisfx.inference import load_bestModel
    from aisfx.preprocessing import blocking, spectrogram_normalize
    from aisfx.spectrogram.spectrogram_librosa import compute_spectrogram

    with torch.serialization.safe_globals(checkpoint_globals()):
        weights, datasets = torch.load(checkpoint_path(), map_location="cpu", weights_only=True)
    crossnet = load_bestModel(weights, datasets, "cpu")
    wave = make_signal(seconds, SAMPLE_RATE, 4)
    path = tmp_path / "clip.wav"
    sf.write(path, wave, SAMPLE_RATE, subtype="FLOAT")
    spec = compute_spectrogram(str(path), sr=SAMPLE_RATE, block_size=2048, hop_size=1024, n_mels=96,
                               f_min=0.0, f_max=22050.0)
    # the package's librosa path returns (mels, frames); its blocking expects (frames, mels)
    spec = spectrogram_normalize(spec.T)
    for drop in (False, True):
        with torch.no_grad():
            blocks = torch.tensor(blocking(spec, 100, 50, drop), dtype=torch.float32)
            ref = crossnet.get_embedding(blocks).mean(dim=0)
        teacher = load_aisfx(AisfxOptions(drop_partial_block=drop)) if drop else aisfx_teacher
        got = teacher.embed(torch.from_numpy(wave)[None])[0]
        assert (got - ref).norm() / ref.norm() < 1e-4
        assert (got - ref).abs().max() / ref.abs().max() < 1e-4
