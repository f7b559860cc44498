"""resemblyzer teacher: protocol, partials, masking, fingerprints, and agreement with the package's own path."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types
import warnings

import numpy as np
import pytest
import torch

import pipeline.teachers.resemblyzer as adapter
from pipeline.config import ConfigError
from pipeline.teachers.base import MissingRuntimeError, Teacher, check_teacher
from pipeline.teachers.registry import build_teacher
from pipeline.teachers.resemblyzer import (ResemblyzerOptions, load_encoder_state, load_resemblyzer,
                                          partial_counts, weights_path)
from pipeline.teachers.resemblyzer_frontend import (SAMPLE_RATE, ResemblyzerFrontEnd, mel_filters_slaney,
                                                   normalise_volume)


@pytest.fixture(scope="module")
def teacher():
    """The resemblyzer teacher with default options, loaded from the wheel."""
    torch.set_num_threads(1)
    return build_teacher("resemblyzer", {})


@pytest.fixture(scope="module")
def package():
    """The resemblyzer package itself, imported with webrtcvad stubbed (its VAD is never called here)."""
    pytest.importorskip("librosa")
    before = set(sys.modules)
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        # audio.py imports scipy.ndimage.morphology (deprecated) and librosa (audioread)
        warnings.simplefilter("ignore", DeprecationWarning)
        mp.setitem(sys.modules, "webrtcvad", types.ModuleType("webrtcvad"))
        import resemblyzer
    # the stub-bound modules must not serve a later plain `import resemblyzer`
    for name in [m for m in sys.modules if m.split(".")[0] == "resemblyzer" and m not in before]:
        del sys.modules[name]
    return resemblyzer


def test_follows_protocol(teacher, make_signal):
    assert isinstance(teacher, Teacher) and check_teacher(teacher, "here") is teacher
    assert (teacher.name, teacher.sample_rate, teacher.embed_dim) == ("resemblyzer", 16000, 256)
    assert len(teacher.fingerprint) == 16 and int(teacher.fingerprint, 16) >= 0
    x = torch.from_numpy(np.stack([make_signal(2.0, SAMPLE_RATE, s) for s in range(3)]))
    out = teacher.embed(x)
    assert out.shape == (3, 256) and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert torch.equal(out, teacher.embed(x))
    # ReLU then L2: unit vectors in the positive orthant
    assert (out >= 0).all()
    torch.testing.assert_close(out.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(teacher.embed(x[1:2])[0], out[1], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(out[0], out[1])


def test_silence_gives_a_finite_embedding(teacher):
    out = teacher.embed(torch.zeros(2, SAMPLE_RATE))
    assert torch.isfinite(out).all()


def test_fingerprint_tracks_weights_and_settings(teacher, tmp_path, monkeypatch):
    assert load_resemblyzer(ResemblyzerOptions(chunk=3)).fingerprint == teacher.fingerprint
    # 1.305 per second rounds to the same 77-frame step, so the embeddings are the same
    assert load_resemblyzer(ResemblyzerOptions(rate=1.305)).fingerprint == teacher.fingerprint
    assert load_resemblyzer(ResemblyzerOptions(rate=2.0)).fingerprint != teacher.fingerprint
    assert load_resemblyzer(ResemblyzerOptions(min_coverage=0.5)).fingerprint != teacher.fingerprint
    state = load_encoder_state(weights_path())
    state["linear.bias"] = state["linear.bias"] + 1e-6
    path = tmp_path / "pretrained.pt"
    torch.save({"model_state": state}, path)
    monkeypatch.setattr(adapter, "weights_path", lambda: path)
    assert load_resemblyzer(ResemblyzerOptions()).fingerprint != teacher.fingerprint


def test_weights_load_without_unsafe_unpickling():
    state = load_encoder_state(weights_path())
    # GE2E's similarity scale and bias serve only the training loss
    assert "similarity_weight" not in state and len(state) == 14
    assert sum(v.numel() for v in state.values()) == 1423616


def test_padding_with_lengths_equals_unpadded_clip(teacher, make_signal):
    # a quiet clip too, whose volume gain must come from its real samples only
    clips = [make_signal(0.7, SAMPLE_RATE, 0), 0.01 * make_signal(2.3, SAMPLE_RATE, 1),
             make_signal(3.4, SAMPLE_RATE, 2)]
    padded = torch.zeros(len(clips), 4 * SAMPLE_RATE)
    for i, c in enumerate(clips):
        padded[i, : len(c)] = torch.from_numpy(c)
    lengths = torch.tensor([len(c) for c in clips])
    masked = teacher.embed(padded, lengths)
    for i, c in enumerate(clips):
        torch.testing.assert_close(masked[i], teacher.embed(torch.from_numpy(c)[None])[0], rtol=1e-4, atol=1e-5)
    # without lengths the silent tail counts as audio, so the masking is doing real work
    assert (teacher.embed(padded)[0] - masked[0]).abs().max() > 1e-3


def test_volume_is_raised_to_minus_30_dbfs_and_never_lowered():
    x = torch.stack([torch.full((1000,), 0.001), torch.full((1000,), 0.5), torch.zeros(1000)])
    x[0, 500:] = 0.7  # past the length: ignored, and zeroed
    out = normalise_volume(x, torch.tensor([500, 1000, 1000]))
    torch.testing.assert_close(out[0, :500], torch.full((500,), 10 ** (-30 / 20)))
    assert not out[0, 500:].any()
    assert torch.equal(out[1], x[1]) and torch.equal(out[2], x[2])


def test_bad_options_fail_at_config_time():
    with pytest.raises(ConfigError, match="rate"):
        build_teacher("resemblyzer", {"rate": 0.5})  # partials would leave gaps
    with pytest.raises(ConfigError, match="min_coverage"):
        build_teacher("resemblyzer", {"min_coverage": 0})


def _spec_at(folder):
    """A module spec for a `resemblyzer` package whose files live in `folder`."""
    spec = importlib.machinery.ModuleSpec("resemblyzer", None, is_package=True)
    spec.submodule_search_locations = [str(folder)]
    return spec


@pytest.mark.parametrize("found", ["nothing", "package_without_weights"])
def test_missing_wheel_names_the_install_command(monkeypatch, tmp_path, found):
    real = importlib.util.find_spec
    fake = None if found == "nothing" else _spec_at(tmp_path)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: fake if name == "resemblyzer" else real(name, *a))
    with pytest.raises(MissingRuntimeError, match="pip install --no-deps resemblyzer==0.1.4"):
        build_teacher("resemblyzer", {})


def test_mel_filters_match_librosa():
    librosa = pytest.importorskip("librosa")
    ref = librosa.filters.mel(sr=16000, n_fft=400, n_mels=40)  # what resemblyzer's melspectrogram call uses
    ours = mel_filters_slaney(16000, 400, 40, 0.0, 8000.0)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-9)


def test_partial_counts_follow_the_package_rule(package):
    encoder = package.VoiceEncoder
    lengths = torch.arange(1, 60000, 97)
    for rate, coverage in ((1.3, 0.75), (0.7, 1.0), (4.0, 0.3)):
        options = ResemblyzerOptions(rate=rate, min_coverage=coverage)
        got = partial_counts(lengths, options.step, coverage)
        for n, count in zip(lengths.tolist(), got.tolist()):
            _, mel_slices = encoder.compute_partial_slices(n, rate, coverage)
            assert count == len(mel_slices), (n, rate, coverage)
            # partials start every `step` frames, as cut_partials takes them
            assert [s.start for s in mel_slices] == [i * options.step for i in range(count)]


def test_frontend_matches_package_mel(package, make_signal):
    wave = make_signal(1.37, SAMPLE_RATE, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ref = package.wav_to_mel_spectrogram(wave)  # (frames, mels)
    ours = ResemblyzerFrontEnd()(torch.from_numpy(wave)[None])[0].numpy()
    assert ours.shape == ref.shape == (1 + len(wave) // 160, 40)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-6 * ref.max())


@pytest.mark.parametrize("seconds, scale", [(0.5, 1.0), (1.9, 0.01), (4.3, 1.0), (10.0, 1.0)])
def test_matches_package_embed_utterance(teacher, package, make_signal, seconds, scale):
    # 0.5 s: one zero-padded partial; 1.9 s, quiet: volume gain, last partial dropped; 10 s: the default window
    wave = scale * make_signal(seconds, SAMPLE_RATE, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        encoder = package.VoiceEncoder("cpu", verbose=False)
        # preprocess_wav without its webrtcvad trimming (no resampling: already 16 kHz)
        ref = encoder.embed_utterance(package.normalize_volume(wave, -30, increase_only=True))
    got = teacher.embed(torch.from_numpy(wave)[None])[0].numpy()
    # float32 round-off between numpy's and torch's FFTs: ~2e-7 measured on embeddings of magnitude ~0.2
    assert np.abs(got - ref).max() < 1e-5
    assert got @ ref / (np.linalg.norm(got) * np.linalg.norm(ref)) > 1 - 1e-6
