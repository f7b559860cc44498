"""Balanced Data Sampling: out-of-core k-means on cached clip embeddings and a row-aligned sampling index.

Train code needs only `load_index` (weights and clusters, checked against the store) and the weight helpers.
"""
from pipeline.cluster.config import ClusterConfig, ClusterError
from pipeline.cluster.index import load_index
from pipeline.cluster.weights import balanced_weights, expected_per_cluster

__all__ = ["ClusterConfig", "ClusterError", "balanced_weights", "expected_per_cluster", "load_index"]
