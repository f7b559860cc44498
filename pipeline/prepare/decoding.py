"""Decoding (and encoding, for compressed codecs) of input files in worker processes, in input order."""
from __future__ import annotations

import multiprocessing as mp
import os
from typing import Iterator, Union

import numpy as np
from tqdm import tqdm

from pipeline.audio.codecs import CodecError
from pipeline.audio.decode import DecodeError, decode
from pipeline.corpus import encode_clip
from pipeline.prepare.config import PrepareConfig

# a decoded clip: float32 samples (pcm16), or (encoded bytes, samples) for compressed codecs
Clip = Union[np.ndarray, tuple[bytes, int]]


def _decode_one(args: tuple[str, int, float, float | None, str, float | None]) -> tuple[Clip | None, str, str]:
    path, rate, min_s, max_s, codec, level = args
    try:
        wave = decode(path, rate)
    except DecodeError as exc:
        return None, exc.reason, exc.detail
    except Exception as exc:  # libsndfile/soxr edge cases on hostile input must not kill the stage
        return None, "unreadable", f"{type(exc).__name__}: {exc}"
    if len(wave) < min_s * rate:
        return None, "too_short", f"{len(wave) / rate:.3f}s < min_seconds={min_s}"
    if max_s is not None:
        wave = wave[: int(round(max_s * rate))]
    if codec == "pcm16":
        return wave, "", ""
    try:
        # encoding here keeps the (slow) encoder in the worker processes; the main process only writes bytes
        return (encode_clip(wave, rate, codec, level), len(wave)), "", ""
    except CodecError as exc:
        return None, "unencodable", str(exc)


def decode_all(paths: list[str], cfg: PrepareConfig) -> Iterator[tuple[Clip | None, str, str]]:
    """Decode (and encode, for compressed codecs) files in worker processes, yielding results in input order."""
    jobs = [(p, cfg.sample_rate, cfg.min_seconds, cfg.max_seconds, cfg.codec, cfg.compression_level) for p in paths]
    workers = min(cfg.workers or os.cpu_count() or 1, len(jobs))
    bar = tqdm(total=len(jobs), desc="prepare", unit="clip", mininterval=1.0)
    if workers == 1 or len(jobs) < 2:
        for job in jobs:
            bar.update()
            yield _decode_one(job)
    else:
        with mp.get_context("spawn").Pool(workers) as pool:
            for result in pool.imap(_decode_one, jobs, chunksize=8):
                bar.update()
                yield result
    bar.close()
