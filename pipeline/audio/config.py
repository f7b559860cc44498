"""`AudioConfig`: what one row of a store is, in time (params section `audio`), parsed once at the boundary."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipeline.config import check


@dataclass(frozen=True)
class AudioConfig:
    """Corpus sample rate, teacher window and hop (seconds), and what happens to a clip's trailing partial window."""

    sample_rate: int = 32000
    window_seconds: float = 2.0
    hop_seconds: float = 1.0
    last_window: Literal["pad", "drop"] = "pad"

    def __post_init__(self):
        check(isinstance(self.sample_rate, int) and not isinstance(self.sample_rate, bool) and self.sample_rate > 0,
              "audio.sample_rate", f"expected a positive integer, got {self.sample_rate!r}")
        check(self.window_seconds > 0, "audio.window_seconds", f"must be > 0, got {self.window_seconds}")
        check(self.hop_seconds > 0, "audio.hop_seconds", f"must be > 0, got {self.hop_seconds}")

    def samples(self, seconds: float, rate: int | None = None) -> int:
        """`seconds` in whole samples at `rate` (default: the corpus rate)."""
        return int(round(seconds * (self.sample_rate if rate is None else rate)))
