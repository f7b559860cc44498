"""The log-mel bank: the same examples as the loader path, computed once; refused where examples are not fixed."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from train_setup import BandTeacher, frontend_config, make_corpus, make_store, tiny_config

from pipeline.audio.logmel import LogMel
from pipeline.distributed import DistInfo
from pipeline.store import open_current
from pipeline.train.bank import logmel_bank
from pipeline.train.data import distill_data, epoch_plan
from pipeline.train.loop import fit

WINDOW = 8000  # 0.5 s at 16 kHz: the store's window


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("bank")
    corpus = make_corpus(root, n=24)
    make_store(corpus, root / "band", BandTeacher(), window_seconds=0.25)  # hop < clip: several windows a clip
    return root, corpus


def _data(world, cfg):
    root, corpus = world
    return distill_data(cfg, corpus, [open_current(str(root / "band"), corpus.fingerprint)], WINDOW // 2,
                        None, None)


def test_bank_holds_the_front_end_of_each_window(world):
    torch.set_num_threads(1)
    cfg = tiny_config(target="window", cache_logmels=True)
    data = _data(world, cfg)
    frontend = LogMel(frontend_config())
    bank = logmel_bank(cfg, data, frontend)
    plan = epoch_plan(cfg, data, 0, DistInfo())
    keys = plan["targets"][:5]
    waves = torch.stack([torch.from_numpy(data.corpus.segment(int(r), int(s), data.window))
                         for r, s in zip(plan["rows"][:5], plan["starts"][:5])])
    expected = frontend(waves)
    got = bank.get(keys)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=0.01 * float(expected.abs().max()))  # float16 storage
    with pytest.raises(KeyError, match="not computed"):
        bank.get(np.array([10 ** 9]))


def test_training_from_the_bank_matches_the_loader_path(world, tmp_path):
    torch.set_num_threads(1)
    common = dict(target="window", epochs=2, epoch_size=64, mixup_alpha=0.0, time_masks=0, freq_masks=0)
    plain = fit(tiny_config(**common), _data(world, tiny_config(**common)), frontend_config(), tmp_path / "a")
    banked_cfg = tiny_config(cache_logmels=True, **common)
    banked = fit(banked_cfg, _data(world, banked_cfg), frontend_config(), tmp_path / "b")
    assert banked["val_cosine"] == pytest.approx(plain["val_cosine"], abs=0.02)
    assert banked["val_rank"] > 1.0 and plain["val_rank"] > 1.0


def test_random_crops_are_refused(world):
    cfg = tiny_config(target="clip", cache_logmels=True)
    data = _data(world, cfg)  # clips of 0.5-1 s are longer than the 0.25 s window: cropped at random
    with pytest.raises(ValueError, match="train.cache_logmels"):
        logmel_bank(cfg, data, LogMel(frontend_config()))


def test_over_budget_is_refused(world):
    cfg = tiny_config(target="window", cache_logmels=True, memory_budget_gb=1e-6)
    with pytest.raises(ValueError, match="memory_budget_gb"):
        logmel_bank(cfg, _data(world, cfg), LogMel(frontend_config()))


def test_channels_last_student_trains_like_the_contiguous_one(world, tmp_path):
    torch.set_num_threads(1)
    common = dict(target="window", epochs=2, epoch_size=64, mixup_alpha=0.0, time_masks=0, freq_masks=0,
                  cache_logmels=True)
    plain = fit(tiny_config(**common), _data(world, tiny_config(**common)), frontend_config(), tmp_path / "a")
    fast_cfg = tiny_config(channels_last=True, **common)
    fast = fit(fast_cfg, _data(world, fast_cfg), frontend_config(), tmp_path / "b")
    assert fast["val_cosine"] == pytest.approx(plain["val_cosine"], abs=0.02)
    payload = torch.load(tmp_path / "b" / "student.pt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in payload["student"].values() if v.is_floating_point())
