"""`train.teachers`: names or {name, weight, loss} mappings, validated at load with errors naming the key."""
from __future__ import annotations

import pytest
from train_setup import tiny_config

from pipeline.config import ConfigError
from pipeline.train.config import TeacherSpec, parse_teachers
from pipeline.train.model import WeightedLoss, build_objective


def test_names_and_mappings_parse_with_equal_default_weights():
    cfg = tiny_config(loss="cosine")
    same, specs = parse_teachers(["aisfx", {"name": "crepe"}, {"name": "resemblyzer", "weight": 2, "loss": "mse"}], cfg)
    assert same == cfg
    assert specs == (TeacherSpec("aisfx", 0.25, "cosine"), TeacherSpec("crepe", 0.25, "cosine"),
                     TeacherSpec("resemblyzer", 0.5, "mse"))


def test_one_teacher_is_todays_run():
    cfg = tiny_config(loss="clap", loss_options={"temperature": 0.1})
    assert parse_teachers(["aisfx"], cfg) == (cfg, (TeacherSpec("aisfx", 1.0, "clap"),))
    own, _ = parse_teachers([{"name": "aisfx", "weight": 3.0, "loss": "mse"}], cfg)
    assert (own.loss, own.loss_options) == ("mse", {})  # its own loss is train.loss; the weight is moot


@pytest.mark.parametrize("value, match", [
    ([], r"train.teachers: expected a non-empty list"),
    ("aisfx", r"train.teachers: expected a non-empty list"),
    ([{"name": "aisfx", "wieght": 1.0}], r"train.teachers\[0\]: unknown key\(s\) \['wieght'\]"),
    (["aisfx", {"name": "crepe", "weight": 0}], r"train.teachers\[1\].weight: must be a finite number > 0"),
    (["aisfx", {"name": "crepe", "weight": "heavy"}], r"train.teachers\[1\].weight"),
    ([{"name": "aisfx", "loss": "hinge"}], r"train.teachers\[0\].loss: unknown loss 'hinge'"),
    ([{"weight": 1.0}], r"train.teachers\[0\].name: required key is missing"),
    (["aisfx", {"name": "aisfx"}], r"train.teachers: names a teacher twice"),
])
def test_bad_values_are_refused_naming_the_key(value, match):
    with pytest.raises(ConfigError, match=match):
        parse_teachers(value, tiny_config())


def test_the_objective_is_the_weighted_sum_of_per_teacher_losses():
    import torch
    cfg = tiny_config(loss="cosine")
    _, specs = parse_teachers([{"name": "a", "weight": 3.0}, {"name": "b", "loss": "mse"}], cfg)
    loss = build_objective(cfg, specs, [4, 2])
    assert isinstance(loss, WeightedLoss)
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(5, 6, generator=g), torch.randn(5, 6, generator=g)
    cos = torch.nn.functional.cosine_similarity(pred[:, :4], target[:, :4]).neg().add(1).mean()
    mse = torch.nn.functional.mse_loss(pred[:, 4:], target[:, 4:])
    assert float(loss(pred, target)) == pytest.approx(0.75 * float(cos) + 0.25 * float(mse), rel=1e-5)
