"""Loading a student's initial weights from a local file: EfficientAT releases, student.pt, checkpoint.pt."""
from __future__ import annotations

import hashlib
import pickle
import re

import pytest
import torch

from pipeline.config import ConfigError
from pipeline.students import build_student
from pipeline.students.head import HeadOptions, ProjectionHead
from pipeline.students.pretrained import Mismatch, file_sha256, init_student, load_init
from pipeline.train.config import TrainConfig
from pipeline.train.model import Distiller, build_models

OPTS = {"width": 0.1}

# our DyBlock prefix -> EfficientAT DY_Block prefix (models/dymn/dy_block.py), written out independently
DYMN_INVERSE = {
    "context.joint.0.": "context_gen.joint_conv.", "context.joint.1.": "context_gen.joint_norm.",
    "context.to_freq.": "context_gen.conv_f.", "context.to_time.": "context_gen.conv_t.",
    "expand.attention.": "exp_conv.residuals.0.", "expand.weight": "exp_conv.weight", "expand_norm.0.": "exp_norm.",
    "depth.attention.": "depth_conv.residuals.0.", "depth.weight": "depth_conv.weight", "depth_norm.": "depth_norm.",
    "depth_act.coefs.": "depth_act.coef_net.0.", "project.attention.": "proj_conv.residuals.0.",
    "project.weight": "proj_conv.weight", "project_norm.": "proj_norm.",
}
MN_CLASSIFIER = {"classifier.2.weight": (12, 6), "classifier.2.bias": (12,), "classifier.5.weight": (5, 12),
                 "classifier.5.bias": (5,)}


def mn_to_efficientat(state: dict) -> dict:
    """Our MobileNetV3 state in EfficientAT MN names: the channel SE sits in a ConcurrentSEBlock."""
    return {re.sub(r"^(features\.\d+\.block\.\d+)\.(fc[12]\.)", r"\1.conc_se_layers.0.\2", k): v
            for k, v in state.items()}


def dymn_to_efficientat(state: dict) -> dict:
    """Our DyMN state in EfficientAT names, kernels in EfficientAT's (1, 1, K, -1) storage, plus its constants."""
    out = {}
    for key, value in state.items():
        if key.endswith((".temperature", ".slope_init")):  # not stored by EfficientAT
            continue
        key = key.replace("stem.", "in_c.", 1) if key.startswith("stem.") else key
        key = key.replace("last.", "out_c.", 1) if key.startswith("last.") else key
        match = re.match(r"^blocks\.(\d+)\.(.+)$", key)
        if match:
            rest = next((theirs + match[2][len(ours):] for ours, theirs in DYMN_INVERSE.items()
                         if match[2].startswith(ours)), match[2])
            key = f"layers.{match[1]}.{rest}"
        if value.dim() == 5:
            value = value.reshape(1, 1, value.shape[0], -1)
        out[key] = value
    for i in {int(k.split(".")[1]) for k in out if k.startswith("layers.")}:
        out[f"layers.{i}.depth_act.lambdas"] = torch.tensor([1.0, 1.0, 0.5, 0.5])
        out[f"layers.{i}.depth_act.init_v"] = torch.tensor([1.0, 0.0, 0.0, 0.0])
    return out


def fresh(name: str = "mobilenetv3", seed: int = 1, opts: dict = OPTS):
    torch.manual_seed(seed)
    return build_student(name, opts)


def assert_same(model, state: dict) -> None:
    got = model.state_dict()
    assert set(got) == set(state)
    for key, value in state.items():
        assert torch.equal(got[key], value), key


def test_efficientat_mn_file_loads_every_backbone_tensor(tmp_path):
    source = fresh(seed=0)
    theirs = mn_to_efficientat(source.state_dict())
    theirs.update({k: torch.randn(shape) for k, shape in MN_CLASSIFIER.items()})
    torch.save(theirs, tmp_path / "mn01_im.pt")
    target = fresh(seed=1)
    report = load_init(target, tmp_path / "mn01_im.pt")
    assert report.kind == "efficientat" and report.clean
    assert report.ignored == tuple(sorted(MN_CLASSIFIER))
    assert_same(target, source.state_dict())
    assert len(report.loaded) == len(source.state_dict())


def test_efficientat_dymn_file_loads_every_backbone_tensor(tmp_path):
    source = fresh("dymn", seed=0)
    theirs = dymn_to_efficientat(source.state_dict())
    theirs["classifier.5.weight"] = torch.zeros(5, 12)
    torch.save(theirs, tmp_path / "dymn_im.pt")
    target = fresh("dymn", seed=1)
    report = load_init(target, tmp_path / "dymn_im.pt")
    assert report.kind == "efficientat" and not report.unexpected and not report.mismatched
    assert all(k.endswith((".temperature", ".slope_init")) for k in report.missing)  # built by our student
    assert "classifier.5.weight" in report.ignored and "layers.1.depth_act.lambdas" in report.ignored
    assert_same(target, source.state_dict())
    x = torch.randn(2, 32, 40)
    source.eval(), target.eval()
    assert torch.equal(source(x), target(x))


def test_student_pt_round_trip(tmp_path):
    source = fresh(seed=0)
    head = ProjectionHead(source.embed_dim, 7, HeadOptions(hidden=(16,)))
    payload = {"student": source.state_dict(), "head": head.state_dict(), "config": "{}", "metrics": "{}"}
    torch.save(payload, tmp_path / "student.pt")
    target = fresh(seed=1)
    report = load_init(target, tmp_path / "student.pt")
    assert report.kind == "student" and report.clean
    assert report.ignored == tuple(sorted(f"head.{k}" for k in head.state_dict()))
    assert_same(target, source.state_dict())


def test_training_checkpoint_round_trip(tmp_path):
    student = fresh(seed=0)
    model = Distiller(student, ProjectionHead(student.embed_dim, 7, HeadOptions(hidden=(16,))))
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(2, 32, 40)).sum().backward()
    optimizer.step()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3, "step": 9,
                "torch_rng": torch.get_rng_state(), "history": "[]"}, tmp_path / "checkpoint.pt")
    target = fresh(seed=1)
    report = load_init(target, tmp_path / "checkpoint.pt")
    assert report.kind == "checkpoint" and report.clean
    assert report.ignored and all(k.startswith("head.") for k in report.ignored)
    assert_same(target, model.student.state_dict())


def test_plain_state_dict_under_a_wrapper_key(tmp_path):
    source = fresh(seed=0)
    torch.save({"state_dict": source.state_dict(), "epoch": 3}, tmp_path / "init.pt")
    target = fresh(seed=1)
    report = load_init(target, tmp_path / "init.pt")
    assert report.kind == "state_dict" and report.clean and not report.ignored
    assert_same(target, source.state_dict())


def test_mis_shaped_missing_and_unexpected_are_named_and_skipped(tmp_path):
    target = fresh(seed=1)
    state = {k: v.clone() + 1 for k, v in fresh(seed=0).state_dict().items() if v.is_floating_point()}
    first = next(iter(state))
    odd = [k for k in state if k.endswith("weight") and state[k].dim() == 4][1]
    file_shape = (3, *state[odd].shape[1:])
    del state[first]
    state[odd] = torch.zeros(file_shape)
    state["extra.weight"] = torch.zeros(3, 3)
    torch.save(state, tmp_path / "partial.pt")
    before = target.state_dict()
    report = load_init(target, tmp_path / "partial.pt")
    assert first in report.missing
    assert report.unexpected == ("extra.weight",)
    assert report.mismatched == (Mismatch(odd, file_shape, tuple(before[odd].shape)),)
    assert torch.equal(target.state_dict()[odd], before[odd])  # skipped, not half-copied
    assert torch.equal(target.state_dict()[first], before[first])
    text = report.describe("train.init")
    for name in (first, odd, "extra.weight", str(list(file_shape)), str(list(before[odd].shape))):
        assert name in text


class NotATensor:
    """Any class outside torch's weights_only allow-list."""


def test_a_pickled_object_is_refused(tmp_path):
    torch.save({"state_dict": fresh().state_dict(), "extra": NotATensor()}, tmp_path / "evil.pt")
    with pytest.raises(pickle.UnpicklingError):
        load_init(fresh(), tmp_path / "evil.pt")


def test_report_records_the_file_content_hash(tmp_path):
    path = tmp_path / "init.pt"
    torch.save(fresh(seed=0).state_dict(), path)
    first = load_init(fresh(), path).sha256
    assert first == file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    torch.save(fresh(seed=2).state_dict(), path)  # same path, other content
    assert load_init(fresh(), path).sha256 != first


def test_init_student_warns_with_the_full_account(tmp_path):
    state = mn_to_efficientat(fresh(seed=0).state_dict())
    state["classifier.5.bias"] = torch.zeros(5)
    torch.save(state, tmp_path / "mn.pt")
    with pytest.warns(UserWarning, match=r"(?s)train\.init: .*mn\.pt \(efficientat.*classifier\.5\.bias"):
        init_student(fresh(), tmp_path / "mn.pt", "train.init")


def config(**kw) -> TrainConfig:
    return TrainConfig(student="mobilenetv3", student_options=OPTS, head_hidden=(16,), **{"spectrum_weight": 0.0, **kw})


def test_init_null_leaves_initialisation_unchanged():
    model = build_models(config(), 7, seed=3)
    torch.manual_seed(3)  # the initialisation before train.init existed
    student = build_student("mobilenetv3", OPTS)
    reference = Distiller(student, ProjectionHead(student.embed_dim, 7, HeadOptions(hidden=(16,))))
    assert_same(model, reference.state_dict())


def test_train_init_loads_the_backbone_and_keeps_the_seeded_head(tmp_path):
    source = fresh(seed=0)
    torch.save({"student": source.state_dict(), "head": {}}, tmp_path / "student.pt")
    with pytest.warns(UserWarning, match="train.init"):
        model = build_models(config(init=str(tmp_path / "student.pt")), 7, seed=3)
    assert_same(model.student, source.state_dict())
    assert_same(model.head, build_models(config(), 7, seed=3).head.state_dict())


def test_train_init_missing_or_useless_file_fails_naming_it(tmp_path):
    missing = tmp_path / "nowhere" / "mn10_im.pt"
    with pytest.raises(FileNotFoundError, match=rf"train\.init: .*{re.escape(str(missing))}"):
        build_models(config(init=str(missing)), 7, seed=0)
    other = fresh("eres2net", opts={"m_channels": 4, "num_blocks": [1, 1, 1, 1], "n_mels": 32})
    torch.save(other.state_dict(), tmp_path / "other.pt")  # another architecture: no tensor fits
    with pytest.raises(ConfigError, match=r"train\.init: .*other\.pt"):
        build_models(config(init=str(tmp_path / "other.pt")), 7, seed=0)
    with pytest.raises(ConfigError, match="train.init"):
        config(init="  ")
