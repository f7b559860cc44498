"""Frozen teachers behind one protocol (`base.Teacher`), built by name through `registry.build_teacher`.

Teachers do not resample: the embed stage resamples each corpus window to `teacher.sample_rate`
(pipeline.audio.decode.resample, soxr HQ) before calling `embed`.
"""
