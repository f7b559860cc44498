"""`PrepareConfig`: the `prepare` params section (plus `audio.sample_rate` and the stage's --output)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipeline.audio.codecs import CODEC_NAMES
from pipeline.config import check
from pipeline.corpus import CorpusWriter

PARTS_FOLDER = "parts"  # inside the corpus folder: the committed parts of an unfinished run (pipeline.prepare.parts)


@dataclass(frozen=True)
class PrepareConfig:
    """Settings of the `prepare` stage (params section `prepare` plus `audio.sample_rate`)."""

    input: str                        # folder to scan, or a manifest / AudioSet CSV
    output: str                       # corpus folder: corpus.h5, manifest.parquet, rejected.csv
    sample_rate: int = 32000
    sample_format: Literal["int16", "float16"] = "int16"
    min_seconds: float = 0.1
    max_seconds: float | None = None
    fail_on_reject: bool = False
    workers: int = 0
    root: str | None = None
    allow_outside_root: bool = False
    path_template: str = "{ytid}.wav"
    codec: str = "pcm16"
    compression_level: float | None = None
    commit_seconds: float = 60.0
    commit_clips: int = 4096

    def __post_init__(self):
        check(self.sample_rate >= 1000, "audio.sample_rate", f"must be >= 1000 Hz, got {self.sample_rate}")
        check(math.isfinite(self.min_seconds) and self.min_seconds >= 0, "prepare.min_seconds",
              f"must be a finite number >= 0, got {self.min_seconds}")
        check(self.max_seconds is None or (math.isfinite(self.max_seconds) and self.max_seconds > self.min_seconds),
              "prepare.max_seconds",
              f"must be null or a finite number greater than min_seconds ({self.min_seconds}), got {self.max_seconds}")
        check(self.workers >= 0, "prepare.workers", f"must be >= 0 (0 = all cores), got {self.workers}")
        check(_formats(self.path_template), "prepare.path_template",
              f"must be a format string using only {{ytid}}, {{start}}, {{end}}, got {self.path_template!r}")
        check(self.codec in CODEC_NAMES, "prepare.codec", f"{self.codec!r} is not one of {list(CODEC_NAMES)}")
        check(self.codec == "pcm16" or self.sample_format == "int16", "prepare.sample_format",
              f"codec {self.codec} stores 16-bit audio; sample_format must be int16, got {self.sample_format!r}")
        check(self.compression_level is None or (self.codec != "pcm16" and 0 <= self.compression_level <= 1),
              "prepare.compression_level",
              f"must be null, or in [0, 1] with a compressed codec (codec is {self.codec}), "
              f"got {self.compression_level}")
        check(math.isfinite(self.commit_seconds) and self.commit_seconds >= 0, "prepare.commit_seconds",
              f"must be a finite number >= 0, got {self.commit_seconds}")
        check(self.commit_clips >= 1, "prepare.commit_clips", f"must be >= 1, got {self.commit_clips}")

    def decode_settings(self) -> dict:
        """The settings that change decoded samples (they enter the corpus fingerprint)."""
        return {"sample_rate": self.sample_rate, "sample_format": self.sample_format,
                "max_seconds": self.max_seconds, "codec": self.codec,
                "compression_level": self.compression_level}

    def writer(self, path: Path) -> CorpusWriter:
        """A corpus writer with these settings (for the corpus and for each of its parts)."""
        return CorpusWriter(path, self.sample_rate, self.sample_format, self.decode_settings(), codec=self.codec,
                            compression_level=self.compression_level)


def _formats(template: str) -> bool:
    try:
        template.format(ytid="x", start=0.0, end=10.0)
    except (KeyError, IndexError, ValueError, AttributeError, TypeError):
        return False
    return True
