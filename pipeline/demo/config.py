"""Settings of the built-in offline demo corpus and its held-out evaluation tasks (params section `demo`)."""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.config import check

CORPUS_COUNTS = ("n_instrument", "n_speech", "n_noisy", "n_percussion", "n_events", "n_sentences", "n_scenes")


@dataclass(frozen=True)
class DemoConfig:
    """Sizes, seed and output folders of `ssondo demo-corpus`; every count is multiplied by `scale`."""

    seed: int = 0
    scale: float = 1.0
    n_instrument: int = 900
    n_speech: int = 400
    n_noisy: int = 300
    n_percussion: int = 500
    n_events: int = 1000
    n_sentences: int = 700
    n_scenes: int = 800
    n_task_clips: int = 320
    n_detection_clips: int = 24
    detection_seconds: float = 10.0
    sample_rate: int = 32000
    clip_seconds: tuple[float, float] = (2.0, 4.0)
    snr_db: tuple[float, float] = (-5.0, 20.0)
    task_snr_db: float = 0.0
    heldout_voices: float = 0.2
    valid_fraction: float = 0.1
    workers: int = 2

    def __post_init__(self):
        check(self.seed >= 0, "demo.seed", f"must be >= 0, got {self.seed}")
        check(0 < self.scale <= 100, "demo.scale", f"must be in (0, 100], got {self.scale}")
        for name in CORPUS_COUNTS + ("n_task_clips", "n_detection_clips"):
            check(getattr(self, name) >= 0, f"demo.{name}", f"must be >= 0, got {getattr(self, name)}")
        check(sum(getattr(self, name) for name in CORPUS_COUNTS) > 0, "demo", "the corpus needs at least one clip")
        check(8000 <= self.sample_rate <= 96000, "demo.sample_rate",
              f"must be in [8000, 96000], got {self.sample_rate}")
        lo, hi = self.clip_seconds
        check(1.0 <= lo <= hi <= 30.0, "demo.clip_seconds",
              f"must be [lo, hi] with 1 <= lo <= hi <= 30, got {[lo, hi]}")
        check(2.0 <= self.detection_seconds <= 60.0, "demo.detection_seconds",
              f"must be in [2, 60] s, got {self.detection_seconds}")
        check(self.snr_db[0] <= self.snr_db[1], "demo.snr_db",
              f"must be [lo, hi] with lo <= hi, got {list(self.snr_db)}")
        check(-30 <= self.task_snr_db <= 60, "demo.task_snr_db",
              f"must be in [-30, 60] dB, got {self.task_snr_db}")
        check(0.05 <= self.heldout_voices <= 0.5, "demo.heldout_voices",
              f"fraction of voice variants kept for tasks must be in [0.05, 0.5], got {self.heldout_voices}")
        check(0 <= self.valid_fraction < 1, "demo.valid_fraction", f"must be in [0, 1), got {self.valid_fraction}")
        check(self.workers >= 0, "demo.workers", f"must be >= 0 (0 = all cores), got {self.workers}")

    def count(self, name: str) -> int:
        """The scaled count `n_<name>` (a non-zero count never scales below one clip)."""
        n = getattr(self, f"n_{name}")
        return max(1, round(n * self.scale)) if n > 0 else 0
