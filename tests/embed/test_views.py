"""Augmented views in the store: layout, clip means, exact replay in training, resume after SIGKILL, verification."""
from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
import torch
from embed_run import CFG, TEACHER_RATE, launch, wait_for
from toy_teacher import ToyTeacher
from train_setup import make_corpus

from pipeline.audio.decode import resample
from pipeline.audio.views import ViewAugment
from pipeline.config import parse
from pipeline.corpus import Corpus
from pipeline.embed import EmbedConfig, WindowDataset, extract, reembed_check
from pipeline.store import EmbeddingStore, StoreError, store_contents, verify_store
from pipeline.train.config import TrainConfig
from pipeline.train.data import PlanDataset, distill_data, epoch_plan
from pipeline.distributed import DistInfo

RATE, K = 16000, 3
VIEWS = dict(CFG, teacher="toy", views=K)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    """12 prepared clips of 4 sound classes at 16 kHz (with the manifest training reads)."""
    return make_corpus(tmp_path_factory.mktemp("corpus"), n=12)


def _extract(corpus: Corpus, out, **cfg):
    return extract(parse(EmbedConfig, dict(VIEWS, **cfg), "embed"), ToyTeacher(sample_rate=TEACHER_RATE), corpus,
                   str(out))


@pytest.fixture(scope="module")
def stores(corpus, tmp_path_factory):
    """(plain store, store with K views, float32 store with K views) of the same corpus and teacher."""
    root = tmp_path_factory.mktemp("views")
    return (EmbeddingStore.open(_extract(corpus, root / "plain", views=0).url),
            EmbeddingStore.open(_extract(corpus, root / "views").url),
            EmbeddingStore.open(_extract(corpus, root / "f32", dtype="float32").url))


def test_views_follow_each_clips_windows_and_leave_clip_embeddings_alone(corpus, stores):
    plain, views, _ = stores
    assert views.views == K and plain.views == 0 and views.fingerprint != plain.fingerprint
    index = views.row_index()
    assert views.layout.n_windows == plain.layout.n_windows + len(corpus) * K
    assert np.all(np.diff(index["window_clip"]) >= 0)  # still in corpus order: each clip's views after its windows
    plain_rows = index["window_view"] < 0
    np.testing.assert_array_equal(index["window_start"][plain_rows], plain.read("window_start"))
    for clip in range(len(corpus)):
        own = index["window_view"][index["window_clip"] == clip]
        assert list(own[own >= 0]) == list(range(K)) and own[: len(own) - K].max() == -1
    np.testing.assert_array_equal(views.read("window")[plain_rows], plain.read("window"))
    np.testing.assert_array_equal(views.read("clip"), plain.read("clip"))  # views are not the clip's own audio
    partners = index["view_partner"][~plain_rows]
    assert (partners >= 0).any() and (partners != index["window_clip"][~plain_rows]).all()
    assert verify_store(views.url) == [] and views.info()["views"] == K


def test_draws_depend_on_corpus_and_settings_not_on_k(corpus, stores, tmp_path):
    """The first K views of a K+2 store are the views of a K store, and another teacher's store holds them too."""
    more = EmbeddingStore.open(_extract(corpus, tmp_path / "more", views=K + 2).url).row_index()
    fewer = stores[1].row_index()
    keep = (more["window_view"] < K)
    for name in fewer:
        np.testing.assert_array_equal(more[name][keep], fewer[name])
    other = ViewAugment(gain_db=3.0)
    changed = EmbeddingStore.open(_extract(corpus, tmp_path / "other", view_augment={"gain_db": 3.0}).url)
    assert changed.attrs["view_augment"] == other.settings()
    assert not np.array_equal(changed.read("view_params"), stores[1].read("view_params"))


def test_training_replays_exactly_what_the_teacher_embedded(corpus, stores):
    """train.target=view rebuilds each view's waveform bit for bit; the teacher on it gives the stored row."""
    store = stores[2]  # float32: the stored rows are the teacher's outputs, unrounded
    window = int(CFG["window_seconds"] * RATE)
    cfg = TrainConfig(target="view", sampler="uniform", target_norm="none", val_fraction=0.0, epoch_size=64,
                      batch_size=8)
    data = distill_data(cfg, corpus, [store], window, None, None)
    assert data.targets.valid.sum() == store.layout.n_windows  # windows and views alike
    plan = epoch_plan(cfg, data, 0, DistInfo())
    drawn_views = plan["targets"][store.read("window_view")[plan["targets"]] >= 0]
    assert len(drawn_views) > 0
    dataset = PlanDataset(corpus, plan, window, data.render)
    embedder = WindowDataset(corpus, store.row_index(), window, TEACHER_RATE)  # what embed fed the teacher
    teacher = ToyTeacher(sample_rate=TEACHER_RATE)
    stored = store.read("window")
    for i in np.flatnonzero(store.read("window_view")[plan["targets"]] >= 0)[:12]:
        row = int(plan["targets"][i])
        wave = dataset[int(i)][0].numpy()
        np.testing.assert_array_equal(embedder.render(row), wave)  # the same samples, bit for bit
        fed, real, _ = embedder[row]
        np.testing.assert_array_equal(fed.numpy(), _padded(resample(wave, RATE, TEACHER_RATE), len(fed)))
        again = teacher.embed(fed[None], torch.tensor([real]))[0].numpy()
        np.testing.assert_allclose(again, stored[row], rtol=1e-5, atol=1e-6)


def _padded(wave: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.float32)
    out[: min(n, len(wave))] = wave[:n]
    return out


def test_window_targets_never_draw_views_and_view_targets_need_views(corpus, stores):
    window = int(CFG["window_seconds"] * RATE)
    cfg = TrainConfig(target="window", sampler="uniform", val_fraction=0.0)
    data = distill_data(cfg, corpus, [stores[1]], window, None, None)
    plan = epoch_plan(cfg, data, 0, DistInfo())
    assert (stores[1].read("window_view")[plan["targets"]] == -1).all()
    with pytest.raises(ValueError, match="embed.views"):
        distill_data(TrainConfig(target="view", sampler="uniform"), corpus, [stores[0]], window, None, None)


def test_a_sigkill_during_a_views_embed_resumes_bit_identically(corpus, stores, tmp_path):
    out = tmp_path / "out"
    proc = launch(tmp_path, corpus, out, sleep=0.02, hang_after=25, cfg={"views": K})  # past the plain rows' shards
    wait_for((out / "hung").exists, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    result = _extract(corpus, out)
    assert not result.reused and result.report["windows_reused"] == 50
    assert store_contents(result.url) == store_contents(stores[1].url)


def test_verify_catches_a_tampered_view(corpus, tmp_path):
    store = EmbeddingStore.open(_extract(corpus, tmp_path / "v", dtype="float32").url, mode="r+")
    teacher = ToyTeacher(sample_rate=TEACHER_RATE)
    assert reembed_check(store, teacher, corpus, n=store.layout.n_windows)[0] == []
    view_rows = np.flatnonzero(store.read("window_view") >= 0)
    params = store.read("view_params")
    params[view_rows[4], 1] += 6.0  # the recorded gain no longer says what the teacher heard
    store.group["view_params"][:] = params
    problems, summary = reembed_check(store, teacher, corpus, n=store.layout.n_windows)
    assert problems and "differ from the stored rows" in problems[0]
    view = store.read("window_view")
    view[view_rows[0]] = K  # a view index past embed.views
    store.group["window_view"][:] = view
    assert any("window_view" in p for p in verify_store(store.url))


def test_views_are_validated():
    with pytest.raises(Exception, match="embed.view_augment.names"):
        parse(EmbedConfig, dict(VIEWS, view_augment={"names": ["reverb"]}), "embed")
    with pytest.raises(Exception, match="embed.views"):
        parse(EmbedConfig, dict(VIEWS, views=-1), "embed")


def test_stores_without_views_cannot_mix_with_stores_that_have_them(corpus, stores):
    from pipeline.train.targets import load_targets
    with pytest.raises(StoreError, match="views"):
        load_targets([stores[0], stores[1]], "window")


def test_train_views_takes_the_first_views_of_each_clip(corpus, stores):
    window = int(CFG["window_seconds"] * RATE)
    view = stores[1].read("window_view")
    data = distill_data(TrainConfig(target="view", views=1, sampler="uniform", val_fraction=0.0), corpus,
                        [stores[1]], window, None, None)
    assert set(view[data.targets.valid]) == {-1, 0}
    with pytest.raises(ValueError, match="train.views"):
        distill_data(TrainConfig(target="view", views=K + 1, sampler="uniform"), corpus, [stores[1]], window, None,
                     None)


@pytest.mark.slow
def test_two_torchrun_ranks_write_the_same_views_store(corpus, stores, tmp_path):
    out = tmp_path / "out"
    proc = launch(tmp_path, corpus, out, sleep=0.0, torchrun=True, cfg={"views": K})
    log, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, log
    url = json.loads(next(line for line in log.splitlines() if "RESULT" in line).split("RESULT", 1)[1])["url"]
    assert store_contents(url) == store_contents(stores[1].url)  # views, view table and ledger, bit for bit
    assert {int(p.stem.split("-")[1]) for p in out.glob("wrote-*.json")} == {0, 1}  # both ranks wrote shards
