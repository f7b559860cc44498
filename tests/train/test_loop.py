"""The training loop: it learns, resumes bit-exactly, refuses foreign checkpoints, and DDP averages gradients."""
from __future__ import annotations

import json
from dataclasses import replace
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from train_setup import BandTeacher, frontend_config, make_corpus, make_store, tiny_config

from pipeline.audio.logmel import LogMel
from pipeline.config import ConfigError, to_dict
from pipeline.distributed import DistInfo
from pipeline.inference.checkpoint import read_checkpoint
from pipeline.inference.model import StudentModel
from pipeline.store import open_current
from pipeline.train.config import TrainConfig, parse_teachers
from pipeline.train.data import distill_data, epoch_plan, supervised_data
from pipeline.train.loop import fit, lr_at
from pipeline.train.model import build_models, build_objective, make_optimizer
from pipeline.train.sampling import epoch_draws
from pipeline.train.targets import ChunkTargets
from pipeline.train.validate import mean_target_cosine

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "tests" / "helpers" / "train_run.py"
WINDOW = 8000  # 0.5 s at 16 kHz
TWO = [{"name": "band", "weight": 2.0}, {"name": "band2", "loss": "mse"}]  # two teachers, one head each


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A 40-clip, 4-class corpus at 16 kHz and two band-teacher stores (0.5 s windows; band2 another projection)."""
    root = tmp_path_factory.mktemp("train")
    corpus = make_corpus(root, n=40)
    make_store(corpus, root / "band", BandTeacher())
    make_store(corpus, root / "band2", BandTeacher(dim=8, seed=3, name="band2"))
    return root, corpus


def _names(teachers: list | None) -> list[str]:
    return [t["name"] for t in teachers] if teachers else ["band"]


def _data(world, cfg: TrainConfig, teachers: list | None = None):
    """The band store's data, or that of `teachers` (a `train.teachers` value), one head each."""
    root, corpus = world
    stores = [open_current(str(root / name), corpus.fingerprint) for name in _names(teachers)]
    return distill_data(cfg, corpus, stores, WINDOW, None, None, parse_teachers(teachers, cfg)[1] if teachers else ())


def _weights(out: Path) -> dict:
    payload = torch.load(out / "student.pt", weights_only=True)
    return {f"{part}.{k}": v for part in ("student", "head") for k, v in payload[part].items()}


def _assert_identical(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"{len(differ)} tensors differ, e.g. {differ[:3]}"


def _spec(world, cfg: TrainConfig, out: Path, teachers: list | None = None) -> Path:
    root, corpus = world
    spec = {"corpus": corpus.path, "stores": [str(root / name) for name in _names(teachers)], "teachers": teachers,
            "out": str(out), "config": to_dict(cfg), "frontend": to_dict(frontend_config()), "window": WINDOW}
    path = out.with_suffix(".json")
    path.write_text(json.dumps(spec))
    return path


def _env() -> dict:
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))


@pytest.mark.parametrize("norm", ["none", "center"])
def test_distillation_beats_the_untrained_student_and_the_mean_target(world, tmp_path, norm):
    cfg = tiny_config(epochs=6, epoch_size=192, mixup_alpha=0.0, target_norm=norm)
    data = _data(world, cfg)
    metrics = fit(cfg, data, frontend_config(), tmp_path)
    assert metrics["val_cosine_mean_target"] == pytest.approx(mean_target_cosine(data, cfg.val_max_rows))
    if norm == "none":  # raw targets: beat the untrained student and the constant mean-target predictor
        assert metrics["val_cosine"] > metrics["val_cosine_untrained"] + 0.3
        assert metrics["val_cosine"] > metrics["val_cosine_mean_target"] + 0.1
    else:  # centred targets: any constant guess scores ~0 in normalised space
        assert metrics["val_cosine"] > metrics["val_cosine_untrained"] + 0.2
        assert metrics["val_cosine_raw"] > metrics["val_cosine_raw_untrained"]
    payload = torch.load(tmp_path / "student.pt", weights_only=True)
    config = json.loads(payload["config"])
    assert config["out_dim"] == 16 and config["window_samples"] == WINDOW
    assert config["frontend"]["sample_rate"] == 16000
    assert config["store_fingerprints"] == data.meta["store_fingerprints"]


def test_the_spectrum_head_is_trained_and_left_out_of_the_student(world, tmp_path):
    cfg = tiny_config(epochs=6, epoch_size=192, mixup_alpha=0.0, spectrum_weight=1.0)
    plain = build_models(replace(cfg, spectrum_weight=0.0), 16, cfg.seed, n_mels=frontend_config().n_mels)
    with_head = build_models(cfg, 16, cfg.seed, n_mels=frontend_config().n_mels)
    assert plain.spectrum is None and with_head.spectrum.dim == 2 * frontend_config().n_mels
    for name, value in plain.state_dict().items():  # the head is built last: the rest starts identical
        assert torch.equal(value, with_head.state_dict()[name]), name
    metrics = fit(cfg, _data(world, cfg), frontend_config(), tmp_path)
    assert metrics["val_cosine"] > metrics["val_cosine_untrained"] + 0.2
    payload = torch.load(tmp_path / "student.pt", weights_only=True)
    assert set(payload) >= {"student", "head"} and not any("spectrum" in k for k in payload["head"])
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["model"]
    assert int(state["spectrum.target.seen"]) == 6 * (192 // cfg.batch_size)  # one running update per step


def test_supervised_objective_learns(world, tmp_path):
    _, corpus = world
    cfg = tiny_config(objective="supervised", epochs=6, epoch_size=128, lr=1e-2, mixup_alpha=0.0, time_masks=0,
                      freq_masks=0)
    metrics = fit(cfg, supervised_data(cfg, corpus, WINDOW), frontend_config(), tmp_path)
    history = json.loads(torch.load(tmp_path / "student.pt", weights_only=True)["history"])
    losses = [h["train_loss"] for h in history[1:]]
    assert losses[-1] < 0.5 * losses[0]
    assert history[-1]["val_loss"] < 0.5 * history[0]["val_loss"]
    assert history[-1]["val_loss"] < 0.56  # below BCE of the best constant (class prior 1/4): ~0.562
    assert metrics["val_cosine_mean_target"] is None


def test_window_targets_read_by_chunks_train(world, tmp_path):
    cfg = tiny_config(target="window", memory_budget_gb=0.0, epochs=1, epoch_size=32)
    data = _data(world, cfg)
    assert isinstance(data.targets.raw, ChunkTargets)
    plan = epoch_plan(cfg, data, 0, DistInfo())
    assert np.array_equal(data.window_clip[plan["targets"]], plan["rows"])
    metrics = fit(cfg, data, frontend_config(), tmp_path)
    assert np.isfinite(metrics["val_cosine"])


@pytest.mark.parametrize("loss, options, spectrum", [("cosine", {}, 0.0), ("clap", {"learnable": True}, 0.0),
                                                     ("clap", {}, 1.0)], ids=["cosine", "clap", "clap-spectrum"])
def test_resume_after_stop_is_bit_identical(world, tmp_path, loss, options, spectrum):
    cfg = tiny_config(epochs=3, epoch_size=32, loss=loss, loss_options=options, workers=1, spectrum_weight=spectrum)
    data = _data(world, cfg)
    fit(cfg, data, frontend_config(), tmp_path / "whole")
    assert fit(cfg, data, frontend_config(), tmp_path / "split", stop_after_epoch=1) == {"stopped_after_epoch": 1}
    assert not (tmp_path / "split" / "student.pt").exists()
    fit(cfg, data, frontend_config(), tmp_path / "split")
    _assert_identical(_weights(tmp_path / "whole"), _weights(tmp_path / "split"))


@pytest.mark.slow
@pytest.mark.parametrize("teachers", [None, TWO], ids=["one-teacher", "two-teachers"])
def test_resume_after_sigkill_is_bit_identical(world, tmp_path, teachers):
    cfg = tiny_config(epochs=6, epoch_size=32)
    out = tmp_path / "killed"
    spec = _spec(world, cfg, out, teachers)
    proc = subprocess.Popen([sys.executable, str(HELPER), str(spec)], env=_env(), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (out / "checkpoint.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    epoch = torch.load(out / "checkpoint.pt", weights_only=True)["epoch"]
    assert epoch < cfg.epochs - 1 and not (out / "student.pt").exists()  # it really was cut short
    data = _data(world, cfg, teachers)
    fit(cfg, data, frontend_config(), out)  # the re-run picks up the killed process's checkpoint
    fit(cfg, data, frontend_config(), tmp_path / "whole")
    _assert_identical(_weights(tmp_path / "whole"), _weights(out))


def test_changed_config_starts_over(world, tmp_path):
    old, new = tiny_config(epochs=2, epoch_size=32), tiny_config(epochs=2, epoch_size=32, lr=1e-3)
    fit(old, _data(world, old), frontend_config(), tmp_path / "run", stop_after_epoch=1)
    fit(new, _data(world, new), frontend_config(), tmp_path / "run")
    fit(new, _data(world, new), frontend_config(), tmp_path / "fresh")
    _assert_identical(_weights(tmp_path / "fresh"), _weights(tmp_path / "run"))
    history = json.loads(torch.load(tmp_path / "run" / "student.pt", weights_only=True)["history"])
    assert [h["epoch"] for h in history] == [0, 1, 2]


def test_an_epoch_smaller_than_a_batch_is_refused():
    with pytest.raises(ConfigError, match="epoch_size"):
        tiny_config(epoch_size=8, batch_size=16)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _reference_step(cfg: TrainConfig, data, plans: list[dict], weight: float) -> dict:
    """One single-process SGD step on the ranks' first batches with loss = weight * sum of per-batch losses.

    Each batch goes through the model separately, so BatchNorm statistics come from one rank's batch as under
    DDP; weight = 1 / ranks is what DDP's gradient averaging should equal.
    """
    model = build_models(cfg, data.targets.dim, cfg.seed)
    frontend, objective = LogMel(frontend_config()), build_objective(cfg)
    optimizer = make_optimizer(cfg, list(model.parameters()))
    model.train()
    loss = torch.zeros(())
    for plan in plans:
        rows, starts, targets = (plan[k][: cfg.batch_size] for k in ("rows", "starts", "targets"))
        waves = torch.stack([torch.from_numpy(data.corpus.segment(int(r), int(s), WINDOW))
                             for r, s in zip(rows, starts)])  # (batch, samples)
        loss = loss + weight * objective(model(frontend(waves)), data.targets.get(targets))
    optimizer.zero_grad()
    loss.backward()
    for group in optimizer.param_groups:
        group["lr"] = lr_at(cfg, 0, 1)
    optimizer.step()
    return {k: v.detach() for k, v in model.named_parameters()}


def _max_diff(state: dict, params: dict) -> float:
    return max(float((state[k] - v).abs().max()) for k, v in params.items())


@pytest.mark.slow
def test_two_rank_ddp_step_equals_one_step_on_both_batches(world, tmp_path):
    cfg = tiny_config(epochs=1, epoch_size=32, batch_size=16, optimizer="sgd", lr=0.05, weight_decay=0.0,
                      grad_clip=0.0, mixup_alpha=0.0, time_masks=0, freq_masks=0)
    out = tmp_path / "ddp"
    spec = _spec(world, cfg, out)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
           str(HELPER), str(spec)]
    run = subprocess.run(cmd, env=_env(), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    data = _data(world, cfg)
    plans = [dict(np.load(out / f"plan-rank{r}.npz")) for r in range(2)]
    draws = epoch_draws(data.weights, cfg.epoch_size, cfg.seed, 0)
    for r, plan in enumerate(plans):
        assert np.array_equal(plan["targets"], draws[r::2])  # disjoint slices that cover the global draw
    trained = torch.load(out / "checkpoint.pt", weights_only=True)["model"]  # after its one step
    worst = _max_diff(trained, _reference_step(cfg, data, plans, 0.5))
    assert worst < 1e-6
    # the check can fail: summed gradients, or rank 0's batch alone, land measurably elsewhere
    assert _max_diff(trained, _reference_step(cfg, data, plans, 1.0)) > 100 * max(worst, 1e-8)
    assert _max_diff(trained, _reference_step(cfg, data, plans[:1], 1.0)) > 100 * max(worst, 1e-8)


def test_two_teachers_train_one_head_each_and_report_both_cosines(world, tmp_path):
    cfg = tiny_config(epochs=6, epoch_size=192, mixup_alpha=0.0)
    data = _data(world, cfg, TWO)
    assert [h.name for h in data.heads] == ["band", "band2"] and data.targets.dims == [16, 8]
    assert [h.weight for h in data.heads] == pytest.approx([2 / 3, 1 / 3])  # normalised to sum 1
    metrics = fit(cfg, data, frontend_config(), tmp_path)
    history = json.loads(torch.load(tmp_path / "student.pt", weights_only=True)["history"])
    for name in ("band", "band2"):
        assert metrics[f"val_cosine_{name}"] > history[0][f"val_cosine_{name}"] + 0.1  # each head learns
        assert metrics[f"val_cosine_raw_{name}"] is not None
    assert metrics["val_cosine"] == pytest.approx(2 / 3 * metrics["val_cosine_band"] + 1 / 3 * metrics["val_cosine_band2"])
    config = json.loads(torch.load(tmp_path / "student.pt", weights_only=True)["config"])
    assert config["teacher_dims"] == [16, 8] and config["teacher_losses"] == ["cosine", "mse"]
    assert config["teachers"] == ["band", "band2"] and config["out_dim"] == 24


def test_heads_on_the_learnt_channels_and_the_spread_terms_train_and_load(world, tmp_path):
    bands = frontend_config().n_mels
    cfg = tiny_config(epochs=6, epoch_size=192, mixup_alpha=0.0, variance_weight=1.0,
                      covariance_weight=0.04, student_options={"width": 0.1, "summary_bands": bands})
    model = build_models(cfg, 16, cfg.seed, n_mels=bands)
    learnt = model.student.embed_dim - 2 * bands
    assert model.head.inputs == learnt == model.spread_columns  # learnt: the default
    assert build_models(replace(cfg, head_input="all"), 16, cfg.seed, n_mels=bands).head.inputs == 0
    assert model(torch.randn(4, bands, 40)).shape == (4, 16 + learnt)  # the learnt channels follow the head's output
    metrics = fit(cfg, _data(world, cfg), frontend_config(), tmp_path)
    assert metrics["val_cosine"] > metrics["val_cosine_untrained"] + 0.2
    config = json.loads(torch.load(tmp_path / "student.pt", weights_only=True)["config"])
    assert config["head_inputs"] == learnt
    student = StudentModel.from_checkpoint(read_checkpoint(tmp_path))  # strict: the narrower head loads
    emb = student.encoder.backbone(torch.randn(2, bands, 40))
    summary_changed = torch.cat([emb[:, :learnt], torch.randn(2, 2 * bands)], dim=1)
    torch.testing.assert_close(student.project_embedding(emb), student.project_embedding(summary_changed))


def test_without_appended_statistics_every_column_is_learnt():
    model = build_models(tiny_config(head_input="learnt"), 16, 0, n_mels=frontend_config().n_mels)
    assert model.head.inputs == 0 and model.student.embed_dim == model.head.mlp[0].in_features
