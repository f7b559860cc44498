"""Corpus codecs: how one clip's 16-bit samples become the bytes stored in the corpus, and back.

`pcm16` keeps raw samples in the corpus's sample array (sample-level random access). The compressed codecs
encode each clip with libsndfile (through soundfile) and the corpus stores the encoded bytes; DataLoader
workers decode them. Every codec decodes to int16 samples of exactly the clip's original length:

    flac   lossless: the decoded samples are bit-identical to the pcm16 corpus.
    mp3    MPEG Layer III, VBR (libsndfile + LAME). MPEG takes 8-48 kHz rates.
    opus   Ogg/Opus. libopus only takes 8/12/16/24/48 kHz, so other corpus rates are resampled (soxr HQ) up to
           the next rate it takes (32 kHz -> 48 kHz) before encoding and back down after decoding.

libsndfile (1.2) already removes the mp3/opus encoder delay (priming samples) on decode: measured lag 0 and
exact lengths at the encode rate. The corpus stores each clip's length anyway and `decode` trims or zero-pads to
it, so resampling rounding, the opus tail padding (see CODECS) or a decoder that keeps the delay cannot change
clip lengths.
Lossy codecs are checked against an SNR floor in tests/test_codecs.py (tonal test audio).
"""
from __future__ import annotations

import io
from dataclasses import dataclass, replace

import numpy as np
import soundfile as sf

from pipeline.audio.decode import resample

INT16_SCALE = 32767.0
RAW_CODECS = ("pcm16", "pcm")  # "pcm": attribute written by corpora from before codecs existed
MPEG_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


class CodecError(Exception):
    """A codec name is unknown or a clip could not be encoded or decoded."""


def to_int16(waveform: np.ndarray) -> np.ndarray:
    """float32 in [-1, 1] -> int16 (values outside clip to full scale)."""
    return np.round(np.clip(waveform, -1.0, 1.0) * INT16_SCALE).astype(np.int16)


def from_int16(samples: np.ndarray) -> np.ndarray:
    """int16 -> float32 in [-1, 1]."""
    return samples.astype(np.float32) / np.float32(INT16_SCALE)


@dataclass(frozen=True)
class SoundFileCodec:
    """A libsndfile format used as a per-clip codec."""

    name: str
    format: str
    subtype: str
    lossless: bool
    rates: tuple[int, ...] = ()  # rates the encoder accepts; () = any
    compression_level: float | None = None  # libsndfile scale: 0 = best quality / largest, 1 = smallest
    tail_seconds: float = 0.0  # silence appended before encoding, trimmed after decoding

    def encode_rate(self, sample_rate: int) -> int:
        """The rate clips are encoded at: the corpus rate if the format takes it, else the next one above."""
        if not self.rates or sample_rate in self.rates:
            return sample_rate
        return min((r for r in self.rates if r > sample_rate), default=max(self.rates))

    def encode(self, samples: np.ndarray, sample_rate: int) -> bytes:
        """int16 samples (n,) at the corpus rate -> encoded bytes."""
        rate = self.encode_rate(sample_rate)
        # lossless formats take the int16 samples as they are (bit-exact); lossy ones are fed floats
        data = samples if self.lossless else resample(from_int16(samples), sample_rate, rate)
        data = np.concatenate([data, np.zeros(int(round(self.tail_seconds * rate)), dtype=data.dtype)])
        buf = io.BytesIO()
        try:
            sf.write(buf, data, rate, format=self.format, subtype=self.subtype,
                     compression_level=self.compression_level)
        except (sf.SoundFileError, RuntimeError, ValueError) as exc:
            raise CodecError(f"{self.name}: cannot encode {len(samples)} samples at {rate} Hz: {exc}") from exc
        return buf.getvalue()

    def decode(self, data: bytes, sample_rate: int, length: int) -> np.ndarray:
        """Encoded bytes -> int16 samples (length,) at the corpus rate."""
        try:
            if self.lossless:
                samples, rate = sf.read(io.BytesIO(data), dtype="int16")
            else:
                wave, rate = sf.read(io.BytesIO(data), dtype="float32")
                samples = to_int16(resample(wave, rate, sample_rate))
        except (sf.SoundFileError, RuntimeError, ValueError) as exc:
            raise CodecError(f"{self.name}: cannot decode {len(data)} bytes: {exc}") from exc
        if self.lossless and rate != sample_rate:
            raise CodecError(f"{self.name}: stored at {rate} Hz, expected {sample_rate} Hz")
        return fit_length(samples, length)


def fit_length(samples: np.ndarray, length: int) -> np.ndarray:
    """Trim or zero-pad (n,) samples to exactly `length` (encoder delay and resampling rounding)."""
    if len(samples) >= length:
        return samples[:length]
    return np.concatenate([samples, np.zeros(length - len(samples), dtype=samples.dtype)])


# default levels, 32 kHz mono (benchmarks/scale.py): mp3 VBR ~45-55 kbit/s depending on content, opus ~58 kbit/s
CODECS: dict[str, SoundFileCodec] = {
    "flac": SoundFileCodec("flac", "FLAC", "PCM_16", lossless=True),
    "mp3": SoundFileCodec("mp3", "MP3", "MPEG_LAYER_III", lossless=False, rates=MPEG_RATES, compression_level=0.5),
    # libsndfile does not flush the opus encoder's 6.5 ms look-ahead: without a tail the last 10 ms decode at ~5 dB SNR
    "opus": SoundFileCodec("opus", "OGG", "OPUS", lossless=False, rates=OPUS_RATES, compression_level=0.8,
                           tail_seconds=0.02),
}
CODEC_NAMES = ("pcm16", *CODECS)


def get_codec(name: str, compression_level: float | None = None) -> SoundFileCodec | None:
    """The compressed codec called `name` (at `compression_level`, None = its default), or None for raw PCM."""
    if name in RAW_CODECS:
        return None
    if name not in CODECS:
        raise CodecError(f"unknown codec {name!r}; valid: {list(CODEC_NAMES)}")
    codec = CODECS[name]
    return codec if compression_level is None else replace(codec, compression_level=compression_level)
