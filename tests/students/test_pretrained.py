"""Loading a student's initial weights from a local file."""
from __future__ import annotations

import torch

from pipeline.students import build_student
from pipeline.students.pretrained import load_init

OPTS = {"width": 0.1}


def test_round_trip_copies_every_tensor(tmp_path):
    source = build_student("mobilenetv3", OPTS)
    path = tmp_path / "init.pt"
    torch.save({"state_dict": source.state_dict(), "epoch": 3}, path)
    target = build_student("mobilenetv3", OPTS)
    report = load_init(target, path)
    assert report.missing == report.unexpected == report.mismatched == ()
    for key, value in source.state_dict().items():
        torch.testing.assert_close(target.state_dict()[key], value)


def test_partial_file_reports_missing_unexpected_and_mismatched(tmp_path):
    target = build_student("mobilenetv3", OPTS)
    state = {k: v.clone() for k, v in target.state_dict().items()}
    first = next(iter(state))
    mismatched = [k for k in state if k.endswith("weight") and state[k].dim() == 4][1]
    missing = state.pop(first)
    state[mismatched] = torch.zeros(1)
    state["classifier.weight"] = torch.zeros(3, 3)
    torch.save(state, tmp_path / "partial.pt")
    before = target.state_dict()[mismatched].clone()
    report = load_init(target, tmp_path / "partial.pt")
    assert report.missing == (first,)
    assert report.unexpected == ("classifier.weight",)
    assert report.mismatched == (mismatched,)
    torch.testing.assert_close(target.state_dict()[mismatched], before)
    assert missing.shape == target.state_dict()[first].shape
