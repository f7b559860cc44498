"""Fixtures for cluster tests; the synthetic-store helpers live in cluster_synth.py (importable by tests)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402

from cluster_synth import write_store  # noqa: E402
from pipeline.store import EmbeddingStore  # noqa: E402


@pytest.fixture
def make_store(tmp_path: Path):
    """Factory: write_store into a fresh folder under tmp_path."""
    count = iter(range(1000))

    def make(x: np.ndarray, **kwargs) -> EmbeddingStore:
        return write_store(str(tmp_path / f"store{next(count)}"), x, **kwargs)
    return make
