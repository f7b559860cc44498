"""benchmarks.probe_depths: each layer of a student's stack pooled on its own, as the embedding pools the last."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.probe_depths import DepthEmbedder, depth_features, pool_map
from pipeline.audio.logmel import LogMelConfig
from pipeline.evaluate.embedders import StudentEmbedder
from pipeline.students import build_student


@pytest.fixture(scope="module")
def student():
    torch.manual_seed(0)
    return build_student("mobilenetv3", {"width": 0.1, "pooling": "meanstd"}).eval()


def test_the_last_layer_pooled_as_the_embedding_is_the_embedding(student):
    logmels = torch.randn(2, 128, 100)
    last = len(student.features) - 1
    with torch.no_grad():
        (pooled,) = depth_features(student.features, logmels, (last,), keep_frequency=False)
        torch.testing.assert_close(pooled, student(logmels))


def test_keeping_frequency_gives_a_mean_per_channel_and_bin():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    out = pool_map(x, keep_frequency=True)
    assert out.shape == (2, 12)
    torch.testing.assert_close(out[:, 0], x[:, 0, 0].mean(dim=-1))


def test_depths_out_of_the_stack_are_refused(student):
    with pytest.raises(ValueError, match="depths must lie in"):
        depth_features(student.features, torch.zeros(1, 128, 50), (len(student.features),), False)


def test_the_embedder_splits_its_row_by_depth(student):
    own = StudentEmbedder("s", student, LogMelConfig(n_mels=128))
    depth = DepthEmbedder(own, (4, 1), keep_frequency=True)
    assert depth.depths == (1, 4) and depth.embed_dim == sum(depth.widths)
    with torch.no_grad():
        row = depth.embed_batch(torch.randn(2, 32000), torch.full((2,), 32000)).numpy()
    parts = depth.split(row)
    assert list(parts) == [1, 4] and [p.shape[1] for p in parts.values()] == depth.widths
    np.testing.assert_array_equal(np.hstack(list(parts.values())), row)
    assert DepthEmbedder(own, (1, 4), keep_frequency=False).fingerprint != depth.fingerprint
