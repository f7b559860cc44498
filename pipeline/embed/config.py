"""The embed stage's settings (`EmbedConfig`) and what one extraction returns (`EmbedResult`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pipeline.audio.views import ViewAugment
from pipeline.config import check


@dataclass(frozen=True)
class EmbedConfig:
    """Settings of one teacher's extraction (params section `embed` plus `audio` windows)."""

    teacher: str = "aisfx"
    teacher_options: dict = field(default_factory=dict)
    window_seconds: float = 2.0
    hop_seconds: float = 1.0
    last_window: Literal["pad", "drop"] = "pad"
    dtype: Literal["float16", "float32"] = "float16"
    batch_size: int = 16
    workers: int = 1
    chunk_rows: int = 1024
    shard_rows: int = 4096
    commit_seconds: float = 60.0
    claim_seconds: float = 120.0                  # expiry of a writer's claims on shards, as other writers judge it
    device: str = "auto"
    bf16: bool = True
    views: int = 0                                # augmented views per clip, embedded after its plain windows
    view_augment: ViewAugment = ViewAugment()     # what a view's augmentations are (pipeline/audio/views.py)

    def __post_init__(self):
        check(self.window_seconds > 0, "audio.window_seconds", f"must be > 0, got {self.window_seconds}")
        check(self.hop_seconds > 0, "audio.hop_seconds", f"must be > 0, got {self.hop_seconds}")
        check(self.batch_size >= 1, "embed.batch_size", f"must be >= 1, got {self.batch_size}")
        check(self.workers >= 0, "embed.workers", f"must be >= 0, got {self.workers}")
        check(self.chunk_rows >= 1, "embed.chunk_rows", f"must be >= 1, got {self.chunk_rows}")
        check(self.shard_rows >= self.chunk_rows and self.shard_rows % self.chunk_rows == 0, "embed.shard_rows",
              f"must be a multiple of chunk_rows ({self.chunk_rows}), got {self.shard_rows}")
        check(self.commit_seconds > 0, "embed.commit_seconds", f"must be > 0, got {self.commit_seconds}")
        check(self.claim_seconds > 0, "embed.claim_seconds", f"must be > 0, got {self.claim_seconds}")
        check(self.views >= 0, "embed.views", f"must be >= 0, got {self.views}")


@dataclass(frozen=True)
class EmbedResult:
    """Where the store is and what this run did."""

    url: str
    fingerprint: str
    reused: bool
    report: dict
