"""Which rows the suite probes for distilled students, and which teacher each is measured against."""
from __future__ import annotations

import json

import torch
from student_setup import fresh_student

from pipeline.evaluate.fusion import BEST
from pipeline.evaluate.suite import EvaluateConfig, distilled_candidates, reference_teacher


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
    cfg = EvaluateConfig(teachers=("aisfx", "crepe"), students=("fused", "fused-crepe", "wider"), projected=False)
    rows = [(c.embedder.name, c.kind, c.teacher, c.distilled_from) for c in distilled_candidates(cfg, tmp_path)]
    assert rows == [("fused", "student", BEST, ("aisfx", "crepe")), ("fused-untrained", "untrained", "aisfx", ()),
                    ("fused-crepe", "student", "crepe", ("crepe",)),
                    ("wider", "student", "crepe", ("crepe",)), ("wider-untrained", "untrained", "aisfx", ())]
