"""Clip pooling: mean as before, mean + std over time of the frequency-averaged map, and the input's spectrum
summary appended, in the students that offer them."""
import pytest
import torch

from pipeline.config import ConfigError
from pipeline.audio.logmel import LogMel, LogMelConfig, band_statistics
from pipeline.students.pooling import band_summary, live_frames, pool, pooled_dim
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


def test_live_frames_drop_the_padding_floor_only():
    x = torch.randn(2, 8, 10)
    x[0, :, 6:] = x[0].min() - 3.0  # row 0: its last 4 frames are padding, every band at one floor value
    live = live_frames(x)
    assert live[0, 0].tolist() == [1.0] * 6 + [0.0] * 4 and live[1].min() == 1.0
    assert live_frames(torch.full((1, 8, 5), -4.0)).min() == 1.0  # nothing above the floor: every frame counts


def test_band_summary_of_a_padded_window_is_the_statistics_of_its_sounding_frames():
    """Zero padding after a short sound is left out, as the log-mel baseline leaves it out by the clip's length."""
    torch.manual_seed(0)
    frontend = LogMel(LogMelConfig(sample_rate=16000, n_mels=32, fmax=8000.0))
    wave = torch.zeros(1, 16000)
    wave[0, :8000] = torch.randn(8000) * 0.1  # half a second of sound, then zero padding
    mel = frontend(wave)
    sounding = int(live_frames(mel).sum())
    # the frames whose FFT window reaches the sound: the baseline's count of frames, plus the one straddling the end
    baseline_frames = 1 + 8000 // frontend.hop_length
    assert baseline_frames <= sounding <= baseline_frames + frontend.cfg.n_fft // frontend.hop_length
    summary = band_summary(mel)
    assert torch.allclose(summary, band_statistics(mel[..., :sounding]), atol=1e-5)
    assert (band_statistics(mel) - summary).abs().max() > 1.0  # with the padding in, far off


@pytest.mark.parametrize("name", ["mobilenetv3", "dymn"])
def test_students_append_the_spectrum_summary_without_new_weights(name):
    torch.manual_seed(0)
    plain = build_student(name, {"width": 0.2})
    torch.manual_seed(0)
    summed = build_student(name, {"width": 0.2, "summary_bands": 64})
    assert summed.embed_dim == plain.embed_dim + 128
    assert plain.state_dict().keys() == summed.state_dict().keys()
    x = torch.randn(2, 64, 100)
    plain.eval(), summed.eval()
    with torch.no_grad():
        out_plain, out_summed = plain(x), summed(x)
    assert torch.allclose(out_summed[:, :plain.embed_dim], out_plain, atol=1e-5)
    assert torch.allclose(out_summed[:, plain.embed_dim:], band_summary(x), atol=1e-6)
    with pytest.raises(ValueError, match="summary_bands=64 but the input has 32"):
        summed(torch.randn(1, 32, 100))
    with pytest.raises((ConfigError, ValueError), match="summary_bands"):
        build_student(name, {"width": 0.2, "summary_bands": -1})
