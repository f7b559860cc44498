"""Downstream evaluation of frozen embeddings: tasks, cached clip embeddings, probes, CIs and the report.

tasks.py (TaskConfig, load_task) -> embeddings.py (task_embeddings, cached in Zarr) -> probes.py
(evaluate_probe over splits.py folds, scored by metrics.py) -> stats.py (mean_ci) -> report.py (write_report).
benchmark.py chains the middle steps for one model over many tasks.
"""
