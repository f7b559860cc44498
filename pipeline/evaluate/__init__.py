"""Downstream evaluation of frozen embeddings: tasks, cached clip embeddings, probes, CIs and the report.

tasks.py (TaskConfig, load_task) -> embeddings.py (task_embeddings, cached in Zarr) -> probes.py
(evaluate_probe over splits.py folds, scored by metrics.py) -> stats.py (mean_ci) -> report.py (write_report).
Detection tasks take a side road: detection.py (load_detection_task: one row per clip segment) ->
segment_embeddings.py (segment_embeddings: one pass over each clip, or a window centred on each segment) -> probes.py.
benchmark.py chains the middle steps for one model over many tasks.
"""
