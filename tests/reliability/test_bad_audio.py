"""One corpus salted with every kind of bad audio through `ssondo prepare`, and a fuzz of the decoder."""
from __future__ import annotations

import io
import math
import struct
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.audio.codecs import CODEC_NAMES
from pipeline.audio.decode import DecodeError, decode
from pipeline.corpus import Corpus
from pipeline.prepare.decoding import _decode_one
from stages.prepare import main

RATE = 16000  # corpus rate
# clip id -> reason it must be rejected with
BAD = {"corrupt_header": "unreadable", "truncated": "unreadable", "zero_length": "unreadable",
       "text_as_mp3": "unreadable", "png_as_flac": "unreadable", "random_as_ogg": "unreadable",
       "header_only": "empty", "ten_ms": "too_short", "nan_float": "non_finite", "inf_float": "non_finite"}


def tone(freq: float, seconds: float, rate: int, amp: float = 0.5) -> np.ndarray:
    """A sine tone as float32."""
    t = np.arange(int(round(seconds * rate))) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def salted_folder(d: Path) -> dict[str, np.ndarray]:
    """Write the good and bad files into `d`; returns each good clip id's expected mono waveform at its own rate."""
    d.mkdir()
    good = {"eight_channels": (np.stack([tone(200.0 * (c + 1), 0.5, 44100, 0.1) for c in range(8)], 1), 44100),
            "rate_8k": (tone(1000.0, 0.7, 8000), 8000),
            "rate_96k": (tone(1000.0, 0.3, 96000), 96000),
            "silence": (np.zeros(RATE // 2, np.float32), RATE),
            "clipped": (np.sign(tone(300.0, 0.5, RATE)) + (tone(300.0, 0.5, RATE) == 0), RATE)}  # +-1 square
    for name, (wave, rate) in good.items():
        sf.write(d / f"{name}.{'flac' if rate == 96000 else 'wav'}", wave, rate, subtype="PCM_16")
    # ten minutes at 8 kHz mono int16 (9.6 MB): a quiet tone with a loud burst to find again
    long = np.tile(tone(500.0, 1.0, 8000, 0.05), 600)
    long[8000 * 300: 8000 * 301] *= 10
    sf.write(d / "ten_minutes.wav", long, 8000, subtype="PCM_16")
    good["ten_minutes"] = (long, 8000)

    wav = (d / "rate_8k.wav").read_bytes()
    (d / "corrupt_header.wav").write_bytes(wav[:12] + b"fmt \xff\xff\xff\x7fgarbage-garbage" + wav[36:])
    (d / "truncated.flac").write_bytes((d / "rate_96k.flac").read_bytes()[:3000])
    (d / "zero_length.wav").write_bytes(b"")
    (d / "text_as_mp3.mp3").write_text("ID3? no, just a text file\n" * 50)
    (d / "png_as_flac.flac").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    (d / "random_as_ogg.ogg").write_bytes(np.random.default_rng(0).bytes(5000))
    sf.write(d / "header_only.wav", np.zeros((0, 1), np.float32), RATE)
    sf.write(d / "ten_ms.wav", tone(440.0, 0.01, RATE), RATE)
    for name, bad_value in (("nan_float", np.nan), ("inf_float", np.inf)):
        wave = tone(440.0, 0.3, RATE)
        wave[123] = bad_value
        sf.write(d / f"{name}.wav", wave, RATE, subtype="FLOAT")
    return {name: (w.mean(axis=1) if w.ndim == 2 else w, rate) for name, (w, rate) in good.items()}


def test_prepare_rejects_every_bad_file_and_keeps_every_good_one(tmp_path, monkeypatch):
    good = salted_folder(tmp_path / "audio")
    monkeypatch.chdir(tmp_path)
    params = {"audio": {"sample_rate": RATE}, "prepare": {"input": "audio", "min_seconds": 0.1, "workers": 1}}
    Path("params.yaml").write_text(yaml.safe_dump(params))
    result = CliRunner().invoke(main, ["--params", "params.yaml", "--output", "corpus"])
    assert result.exit_code == 0, result.output
    assert f"prepare: {len(BAD)} input(s) rejected" in result.output

    rejected = pd.read_csv("corpus/rejected.csv", keep_default_na=False)
    assert dict(zip(rejected["clip_id"], rejected["reason"])) == BAD
    assert (rejected["detail"] != "").all()
    corpus = Corpus("corpus/corpus.h5")
    ids = corpus.manifest()["clip_id"].tolist()
    assert sorted(ids) == sorted(good)
    for name, (wave, rate) in good.items():
        clip = corpus.clip(ids.index(name))
        assert abs(len(clip) - len(wave) * RATE / rate) <= 1, name
        assert np.isfinite(clip).all()
    clip = {name: corpus.clip(ids.index(name)) for name in good}
    assert not clip["silence"].any()
    assert np.abs(clip["clipped"]).max() > 0.99  # full scale survives (no normalisation, no overflow)
    ten = clip["ten_minutes"]
    burst = np.argmax(np.abs(ten) > 0.2)  # first sample of the loud second, at the corpus rate
    assert len(ten) == 600 * RATE and abs(burst - 300 * RATE) < 0.002 * RATE
    eight = clip["eight_channels"]  # the 8 channels are averaged, not the first one kept
    reference = good["eight_channels"][0]
    assert np.abs(eight).max() == pytest.approx(np.abs(reference).max(), rel=0.1)


# --- fuzz: hostile bytes never raise anything but DecodeError; `_decode_one` never raises at all

def wav_header(fmt: int, channels: int, rate: int, bits: int, data_bytes: int) -> bytes:
    """A 44-byte RIFF/WAVE header with the given fields (values wrapped to their field widths)."""
    block = max(1, channels * bits // 8)
    chunk = struct.pack("<HHIIHH", fmt, channels, rate, (rate * block) & 0xFFFFFFFF, block & 0xFFFF, bits)
    return (b"RIFF" + struct.pack("<I", (36 + data_bytes) & 0xFFFFFFFF) + b"WAVEfmt " + struct.pack("<I", 16)
            + chunk + b"data" + struct.pack("<I", data_bytes & 0xFFFFFFFF))


def flac_prefix() -> bytes:
    """A real FLAC file's first bytes: the `fLaC` marker, STREAMINFO and the start of the first frame."""
    buffer = io.BytesIO()
    sf.write(buffer, tone(300.0, 0.2, 22050), 22050, format="FLAC")
    return buffer.getvalue()[:120]


FLAC = flac_prefix()
RATES = (1, 8000, 16000, 22050, 44100, 48000, 96000, 384000)


@st.composite
def wavs(draw) -> bytes:
    """A plausible WAV header (or, about one time in four, an absurd one) in front of random sample bytes."""
    payload = draw(st.binary(min_size=draw(st.sampled_from([0, 64])), max_size=512))
    if draw(st.integers(0, 3)):
        fmt, bits = draw(st.sampled_from([(1, 8), (1, 16), (1, 24), (1, 32), (3, 32), (3, 64)]))
        channels, rate, size = draw(st.integers(1, 8)), draw(st.sampled_from(RATES)), len(payload)
    else:
        fmt, bits, channels = draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFF))
        rate, size = draw(st.integers(1, 2 ** 31 - 1)), draw(st.integers(0, 2 ** 32 - 1))
    return wav_header(fmt, channels, rate, bits, size) + payload


HOSTILE = (st.binary(max_size=2048) | wavs() | st.binary(max_size=512).map(lambda b: FLAC + b)
           | st.tuples(st.integers(0, len(FLAC) - 1), st.integers(0, 255)).map(
               lambda p: FLAC[:p[0]] + bytes([p[1]]) + FLAC[p[0] + 1:]))


def check_decoded(wave: np.ndarray) -> None:
    """What `decode` promises: float32 mono, never empty, all finite."""
    assert isinstance(wave, np.ndarray) and wave.dtype == np.float32 and wave.ndim == 1
    assert wave.size > 0 and np.isfinite(wave).all()


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf - inf in a downmix
@settings(max_examples=1000, deadline=None, derandomize=True)
@given(data=HOSTILE, rate=st.sampled_from([8000, 16000, 32000]))
def test_decode_raises_only_decode_error(data, rate):
    try:
        wave = decode(data, rate)
    except DecodeError as exc:
        assert exc.reason in {"unreadable", "empty", "non_finite", "no_channels"}
        return
    check_decoded(wave)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=HOSTILE, min_s=st.floats(0, 0.05), max_s=st.none() | st.floats(0.06, 2.0),
       codec=st.sampled_from(CODEC_NAMES), level=st.none() | st.floats(0, 1))
def test_decode_one_never_raises(data, min_s, max_s, codec, level):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.wav"
        path.write_bytes(data)
        clip, reason, detail = _decode_one((str(path), RATE, min_s, max_s, codec, None if codec == "pcm16" else level))
    if clip is None:
        assert reason and detail
        return
    assert reason == detail == ""
    if codec == "pcm16":
        check_decoded(clip)
        assert max_s is None or len(clip) <= math.ceil(max_s * RATE)
    else:
        encoded, n = clip
        assert isinstance(encoded, bytes) and n > 0
