"""Compressed corpus codecs: flac bit-exact to pcm16, mp3/opus above an SNR floor at exact length, end to end."""
from __future__ import annotations

import io
import json

import h5py
import numpy as np
import pytest
import soundfile as sf
import yaml
from click.testing import CliRunner
from torch.utils.data import DataLoader

from pipeline.audio.codecs import CODEC_NAMES, CodecError, from_int16, get_codec, to_int16
from pipeline.config import ConfigError
from pipeline.corpus import Corpus, CorpusError, CorpusWriter, encode_clip
from pipeline.prepare import PrepareConfig, prepare_corpus
from pipeline.train.data import PlanDataset
from stages.prepare import main as prepare_stage

# Measured with these test signals (libsndfile 1.2.2, default levels): whole-clip SNR 29.9-35.6 dB,
# worst 10 ms block 22.9-31.3 dB over 16/32/44.1 kHz; the floors leave >= 5 dB of margin.
SNR_FLOOR_DB = 25.0
BLOCK_SNR_FLOOR_DB = 15.0


def harmonic(n: int, rate: int, seed: int) -> np.ndarray:
    """A decaying harmonic tone (random f0, 7 partials) with a little noise, peak 0.4."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    f0 = rng.uniform(110, 440)
    env = np.minimum(1, t * 20) * np.exp(-t * rng.uniform(0.5, 2))
    x = env * sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6)) / h for h in range(1, 8))
    x = x + 0.003 * rng.standard_normal(n)
    return (0.4 * x / np.abs(x).max()).astype(np.float32)


def snr_db(ref: np.ndarray, test: np.ndarray) -> float:
    """10 log10(signal energy / error energy)."""
    ref = ref.astype(np.float64)
    return float(10 * np.log10((ref ** 2).sum() / ((ref - test) ** 2).sum()))


def _write(path, clips, codec, rate=16000, **kw):
    writer = CorpusWriter(path, rate, codec=codec, **kw)
    for i, c in enumerate(clips):
        writer.append(f"c{i}", c)
    return Corpus(writer.close().path)


def _clips(rate: int) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    clips = [harmonic(n, rate, i) for i, n in enumerate((int(0.3 * rate), rate, int(1.37 * rate) + 3))]
    return clips + [rng.uniform(-1.3, 1.3, 17).astype(np.float32), np.full(1, 0.25, dtype=np.float32)]


def test_flac_decodes_bit_exact_to_pcm16(tmp_path):
    clips = _clips(16000)
    pcm, flac = _write(tmp_path / "pcm.h5", clips, "pcm16"), _write(tmp_path / "flac.h5", clips, "flac")
    assert (pcm.codec, flac.codec) == ("pcm16", "flac")
    np.testing.assert_array_equal(flac.lengths, [len(c) for c in clips])
    for row in range(len(clips)):
        np.testing.assert_array_equal(flac.clip(row), pcm.clip(row))
    np.testing.assert_array_equal(flac.segment(2, 1000, 300), pcm.segment(2, 1000, 300))
    with h5py.File(flac.path) as f:
        assert "audio" not in f and f["bytes"].dtype == np.uint8
        assert f["byte_length"][:].sum() == f["bytes"].shape[0]
        assert f["bytes"][f["byte_offset"][1]:][:4].tobytes() == b"fLaC"


@pytest.mark.parametrize("codec", ["mp3", "opus"])
@pytest.mark.parametrize("rate", [16000, 32000, 44100])
def test_lossy_codecs_keep_length_and_snr(codec, rate):
    spec = get_codec(codec)
    for seed, n in enumerate((int(0.3 * rate), rate, int(1.37 * rate) + 3)):
        ref = from_int16(to_int16(harmonic(n, rate, seed)))  # what the pcm16 corpus would return
        out = from_int16(spec.decode(spec.encode(to_int16(ref), rate), rate, n))
        assert out.shape == (n,)
        assert snr_db(ref, out) > SNR_FLOOR_DB, (codec, rate, n)
        # a dropped encoder flush or a misaligned delay shows up in one block (start or end) before the total
        k = rate // 100
        worst = min(snr_db(ref[j:j + k], out[j:j + k]) for j in range(0, n - k + 1, k))
        assert worst > BLOCK_SNR_FLOOR_DB, (codec, rate, n, worst)


def test_opus_encodes_at_a_rate_libopus_takes():
    opus = get_codec("opus")
    assert [opus.encode_rate(r) for r in (16000, 22050, 32000, 44100, 48000, 96000)] == \
        [16000, 24000, 48000, 48000, 48000, 48000]
    data = encode_clip(harmonic(3200, 32000, 0), 32000, "opus")
    assert sf.info(io.BytesIO(data)).samplerate == 48000


def test_compressed_corpus_reads_and_pads_segments(tmp_path):
    clips = _clips(32000)
    corpus = _write(tmp_path / "mp3.h5", clips, "mp3", rate=32000)
    whole = corpus.clip(1)
    assert whole.dtype == np.float32 and len(whole) == len(clips[1])
    np.testing.assert_array_equal(corpus.segment(1, 500, 700), whole[500:1200])
    tail = corpus.segment(1, len(whole) - 10, 40)
    np.testing.assert_array_equal(tail[:10], whole[-10:])
    assert not tail[10:].any() and not corpus.segment(0, 10 ** 6, 5).any()
    np.testing.assert_array_equal(corpus.clip(3)[:0], [])
    assert len(corpus.clip(4)) == 1 and len(corpus.clip(3)) == 17


def test_fingerprint_covers_codec_and_level(tmp_path):
    clips = _clips(16000)[:2]
    fps = {name: _write(tmp_path / f"{name}.h5", clips, name).fingerprint for name in CODEC_NAMES}
    assert len(set(fps.values())) == len(CODEC_NAMES)
    assert _write(tmp_path / "again.h5", clips, "mp3").fingerprint == fps["mp3"]
    assert _write(tmp_path / "lvl.h5", clips, "mp3", compression_level=0.9).fingerprint != fps["mp3"]


def test_unknown_codec_and_bad_settings_fail_with_names(tmp_path):
    with pytest.raises(CodecError, match=r"valid: \['pcm16', 'flac', 'mp3', 'opus'\]"):
        get_codec("aac")
    with pytest.raises(CorpusError, match="unknown codec 'aac'"):
        CorpusWriter(tmp_path / "x.h5", 16000, codec="aac")
    with pytest.raises(CorpusError, match="must be int16"):
        CorpusWriter(tmp_path / "x.h5", 16000, "float16", codec="flac")
    with pytest.raises(ConfigError, match="prepare.codec: 'aac' is not one of"):
        PrepareConfig(input="in", output="out", codec="aac")
    with pytest.raises(ConfigError, match="prepare.sample_format"):
        PrepareConfig(input="in", output="out", codec="mp3", sample_format="float16")
    with pytest.raises(ConfigError, match="prepare.compression_level"):
        PrepareConfig(input="in", output="out", compression_level=0.5)


def test_corrupt_bytes_raise_corpus_error(tmp_path):
    corpus = _write(tmp_path / "flac.h5", _clips(16000)[:2], "flac")
    with h5py.File(corpus.path, "r+") as f:
        f["bytes"][int(f["byte_offset"][1]):] = 7
    assert len(Corpus(corpus.path).clip(0)) == len(_clips(16000)[0])
    with pytest.raises(CorpusError, match="row 1"):
        Corpus(corpus.path).clip(1)


@pytest.mark.parametrize("codec,workers", [("flac", 2), ("mp3", 1)])
def test_prepare_end_to_end(tmp_path, audio_folder, codec, workers):
    def run(name, codec):
        cfg = PrepareConfig(input=str(audio_folder), output=str(tmp_path / name), sample_rate=16000,
                            workers=workers, codec=codec)
        return prepare_corpus(cfg), Corpus(tmp_path / name / "corpus.h5")

    (_, pcm), (result, packed) = run("pcm", "pcm16"), run(codec, codec)
    assert packed.codec == codec == result.corpus.codec and len(packed) == 12
    assert packed.fingerprint == result.corpus.fingerprint != pcm.fingerprint
    np.testing.assert_array_equal(packed.lengths, pcm.lengths)
    assert packed.manifest()["clip_id"].tolist() == pcm.manifest()["clip_id"].tolist()
    for row in range(len(pcm)):
        if codec == "flac":
            np.testing.assert_array_equal(packed.clip(row), pcm.clip(row))
        else:  # tones plus white noise at -26 dB: the noise is what mp3 cannot keep sample-exact
            assert snr_db(pcm.clip(row), packed.clip(row)) > 10
    assert (tmp_path / codec / "corpus.h5").stat().st_size < (tmp_path / "pcm" / "corpus.h5").stat().st_size


def test_clip_dataset_decodes_in_two_workers(tmp_path):
    clips = [harmonic(4000 + 37 * i, 16000, i) for i in range(8)]
    corpus = _write(tmp_path / "opus.h5", clips, "opus")
    direct = [corpus.clip(r) for r in range(len(corpus))]
    seen, rows = [], np.arange(len(corpus))
    window = int(corpus.lengths.max())
    for wave, row in DataLoader(PlanDataset(corpus, {"rows": rows, "starts": np.zeros_like(rows)}, window), batch_size=None,
                                num_workers=2):
        seen.append(int(row))
        wave = wave[: int(corpus.lengths[row])]  # the segment is zero-padded to the longest clip
        np.testing.assert_array_equal(wave.numpy(), direct[row])
        assert snr_db(from_int16(to_int16(clips[row])), wave.numpy()) > SNR_FLOOR_DB
    assert seen == list(range(8))


def test_prepare_stage_with_codec_from_params(tmp_path, audio_folder):
    out = tmp_path / "out"
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"audio": {"sample_rate": 16000}, "prepare": {
        "input": str(audio_folder), "workers": 1, "codec": "opus", "compression_level": 0.6}}))
    result = CliRunner().invoke(prepare_stage, ["--params", str(params), "--output", str(out)])
    assert result.exit_code == 0, result.output
    corpus = Corpus(out / "corpus.h5")
    assert corpus.codec == "opus" and len(corpus) == 12 and corpus.spec.compression_level == 0.6
    assert json.loads((out / "metrics.json").read_text())["codec"] == "opus"
    params.write_text(yaml.safe_dump({"prepare": {"input": str(audio_folder), "codec": "wav"}}))
    result = CliRunner().invoke(prepare_stage, ["--params", str(params), "--output", str(out)])
    assert result.exit_code != 0
    assert "prepare.codec: 'wav' is not one of ['pcm16', 'flac', 'mp3', 'opus']" in result.output
