"""Which rows the suite probes for distilled students, which teacher each is measured against, and how each
embeds a detection task's segments."""
from __future__ import annotations

import json

import torch
from student_setup import fresh_student

from pipeline.evaluate.detection import DetectionConfig
from pipeline.evaluate.fusion import BEST
from pipeline.evaluate.segment_embeddings import segment_mode
from pipeline.evaluate.suite import EvaluateConfig, distilled_candidates, reference_teacher, student_candidates


def _student(folder, teachers: list[str], width: float = 0.1):
    path = fresh_student(folder / "student.pt", options={"width": width})
    payload = torch.load(path, weights_only=True)
    config = json.loads(payload["config"])
    payload["config"] = json.dumps(dict(config, teachers=teachers))
    torch.save(payload, path)


def test_each_student_is_measured_against_its_own_teacher_or_the_best_per_task():
    three = EvaluateConfig(teachers=("aisfx", "crepe", "resemblyzer"))
    assert reference_teacher(three, ["crepe"]) == "crepe"
    assert reference_teacher(three, ["aisfx", "crepe"]) == BEST
    assert reference_teacher(three, ["m2d"]) == "aisfx"  # its teacher was not probed: the first teacher
    assert reference_teacher(EvaluateConfig(teachers=("aisfx",)), ["aisfx", "crepe"]) == "aisfx"


def test_students_of_one_architecture_share_one_untrained_twin(tmp_path):
    _student(tmp_path / "fused", ["aisfx", "crepe"])
    _student(tmp_path / "fused-crepe", ["crepe"])
    _student(tmp_path / "wider", ["crepe"], width=0.2)
    cfg = EvaluateConfig(teachers=("aisfx", "crepe"), students=("fused", "fused-crepe", "wider"), projected=False,
                         detection=DetectionConfig(sliding_students=False))
    rows = [(c.embedder.name, c.kind, c.teacher, c.distilled_from) for c in distilled_candidates(cfg, tmp_path)]
    assert rows == [("fused", "student", BEST, ("aisfx", "crepe")), ("fused-untrained", "untrained", "aisfx", ()),
                    ("fused-crepe", "student", "crepe", ("crepe",)),
                    ("wider", "student", "crepe", ("crepe",)), ("wider-untrained", "untrained", "aisfx", ())]


def test_students_embed_segments_in_one_pass_and_also_by_sliding_windows(tmp_path):
    _student(tmp_path / "demo", ["aisfx"])
    cands = list(distilled_candidates(EvaluateConfig(), tmp_path))
    rows = [(c.embedder.name, c.kind, segment_mode(c.embedder), c.detection_only) for c in cands]
    assert rows == [("demo", "student", "frames", False), ("demo-windows", "student_windows", "windows", True),
                    ("demo-projected", "student_projected", "frames", False),
                    ("demo-untrained", "untrained", "frames", False)]
    projected = cands[2].embedder
    frames = projected.embed_frames(torch.randn(2, projected.frame_window) * 0.1)  # (batch, steps, teacher dim)
    assert frames.shape[0] == 2 and frames.shape[1] >= 1 and frames.shape[2] == projected.embed_dim == 512
    off = EvaluateConfig(detection=DetectionConfig(sliding_students=False))
    assert "demo-windows" not in [c.embedder.name for c in distilled_candidates(off, tmp_path)]


def test_a_student_without_frames_embeds_segments_by_sliding_windows(tmp_path):
    options = {"m_channels": 8, "num_blocks": [1, 1, 1, 1], "embed_dim": 16, "n_mels": 128}
    fresh_student(tmp_path / "flat" / "student.pt", options=options, name="eres2net")
    rows = [(c.embedder.name, segment_mode(c.embedder))
            for c in student_candidates(EvaluateConfig(), tmp_path / "flat", "student")]
    assert rows == [("flat", "windows"), ("flat-projected", "windows")]  # no separate sliding row: it would repeat
