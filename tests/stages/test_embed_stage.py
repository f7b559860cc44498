"""Smoke test of `ssondo embed` through click, with a small TorchScript teacher on a tiny corpus."""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
import zarr
from click.testing import CliRunner

from pipeline.audio.decode import resample
from pipeline.store import EmbeddingStore, open_current, verify_store
from stages import embed as embed_stage
from stages.embed import main

from frame_net import FrameNet

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:DeprecationWarning")




def write_params(tmp_path, **embed) -> str:
    model = tmp_path / "frame_net.pt"
    torch.jit.save(torch.jit.script(FrameNet().eval()), str(model))
    params = {"base": {"num_threads": 1},
              "audio": {"window_seconds": 1.0, "hop_seconds": 1.0, "last_window": "pad"},
              "embed": {"teachers": ["torchscript"], "dtype": "float16", "batch_size": 4, "workers": 1,
                        "chunk_rows": 4, "shard_rows": 8, "device": "cpu",
                        "options": {"torchscript": {"path": str(model), "sample_rate": 8000, "embed_dim": 6}},
                        **embed}}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return str(path)


def test_embed_stage(tiny_corpus, tmp_path):
    params, out = write_params(tmp_path), str(tmp_path / "emb" / "torchscript")
    args = ["--params", params, "--corpus", tiny_corpus.path, "--stores", str(tmp_path / "emb"), "--out", out]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "written: 12 clips" in first.output and "NaN rows 0" in first.output
    store = open_current(out, tiny_corpus.fingerprint)
    report = json.loads((tmp_path / "emb" / "torchscript" / "report.json").read_text())
    assert (report["clips"], report["dim"], report["windows"], report["teacher"]) == \
        (12, 6, store.layout.n_windows, "torchscript")
    assert verify_store(store.url, tiny_corpus.fingerprint) == []
    # clip rows = mean over the clip's 1 s windows of FrameNet on 8 kHz audio, computed here directly
    net, clip = FrameNet().eval(), store.array("clip")[:].astype(np.float64)
    for row in (0, 11):
        wave = resample(tiny_corpus.clip(row), 16000, 8000)
        starts = range(0, len(wave) if len(wave) > 8000 else 1, 8000)
        windows = np.stack([np.pad(wave[s: s + 8000], (0, 8000 - len(wave[s: s + 8000]))) for s in starts])
        with torch.no_grad():
            want = net(torch.from_numpy(windows.astype(np.float32))).numpy().mean(0)
        np.testing.assert_allclose(clip[row], want, rtol=5e-3, atol=2e-3)

    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and "reused (already complete): 12 clips" in again.output


def test_disk_full_is_a_clear_error_and_the_rerun_says_what_it_reused(tiny_corpus, tmp_path, monkeypatch):
    params, out = write_params(tmp_path), str(tmp_path / "emb" / "torchscript")
    args = ["--params", params, "--corpus", tiny_corpus.path, "--stores", str(tmp_path / "emb"), "--out", out]
    real_set, writes = zarr.storage.LocalStore.set, []

    async def disk_fills(self, key, value):
        if key.startswith("window/c/"):
            writes.append(key)
            if len(writes) == 3:  # the first commit of shard 1 (rows 8:12)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return await real_set(self, key, value)

    monkeypatch.setattr(zarr.storage.LocalStore, "set", disk_fills)
    full = CliRunner().invoke(main, args)
    assert full.exit_code == 1 and isinstance(full.exception, SystemExit), full.output
    assert f"{out}/" in full.output and "cannot write rows 8:12: No space left on device" in full.output
    monkeypatch.undo()
    store = EmbeddingStore.open(next(p for p in Path(out).iterdir() if p.is_dir()).as_posix())
    kept, n = store.info()["windows_committed"], store.layout.n_windows
    assert 8 <= kept < n
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert f"{n} windows ({kept} reused from an interrupted run, {n - kept} embedded now)" in again.output
    assert json.loads((Path(out) / "report.json").read_text())["windows_reused"] == kept
    assert verify_store(store.url, tiny_corpus.fingerprint) == []


def test_disk_full_after_the_store_is_complete(tiny_corpus, tmp_path, monkeypatch):
    """store.json cannot be written: a clear error, the old pointer kept whole, and the rerun reuses the store."""
    params, out = write_params(tmp_path), str(tmp_path / "emb" / "torchscript")
    args = ["--params", params, "--corpus", tiny_corpus.path, "--stores", str(tmp_path / "emb"), "--out", out]
    Path(out).mkdir(parents=True)
    (Path(out) / "store.json").write_text('{"store": "stores/older"}')

    def disk_full(*_, **__):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def then_disk_full(*a):  # the store is finished; JSON writes fail from now on, after their file was opened
        result = real_extract(*a)
        monkeypatch.setattr(json, "dump", disk_full)
        return result

    real_extract = embed_stage.extract
    monkeypatch.setattr(embed_stage, "extract", then_disk_full)
    full = CliRunner().invoke(main, args)
    assert full.exit_code == 1 and isinstance(full.exception, SystemExit), full.output
    assert f"cannot write {out}/store.json or report.json: [Errno 28] No space left on device" in full.output
    assert json.loads((Path(out) / "store.json").read_text()) == {"store": "stores/older"}
    monkeypatch.undo()
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and "reused (already complete)" in again.output, again.output
    assert verify_store(open_current(out).url, tiny_corpus.fingerprint) == []


def test_embed_stage_errors(tiny_corpus, tmp_path):
    params, stores = write_params(tmp_path), ["--stores", str(tmp_path / "emb"), "--out", str(tmp_path / "o")]
    unlisted = CliRunner().invoke(main, ["--params", params, "--teacher", "aisfx", "--corpus", tiny_corpus.path,
                                         *stores])
    assert unlisted.exit_code != 0 and "'aisfx' is not listed" in unlisted.output
    missing = CliRunner().invoke(main, ["--params", params, "--corpus", str(tmp_path / "none.h5"), *stores])
    assert missing.exit_code != 0 and "does not exist; run `ssondo prepare` first" in missing.output
    bad = CliRunner().invoke(main, ["--params", write_params(tmp_path, shard_rows=6), "--corpus", tiny_corpus.path,
                                    *stores])
    assert bad.exit_code != 0 and "embed.shard_rows" in bad.output


@pytest.mark.parametrize("key,value", [("window_seconds", "ten"), ("hop_seconds", -1.0), ("last_window", "wrap")])
def test_bad_audio_window_is_named_in_audio(tiny_corpus, tmp_path, key, value):
    """The window keys are written in `audio`; a bad one is reported there, not under `embed`."""
    path = write_params(tmp_path)
    params = yaml.safe_load(open(path))
    params["audio"][key] = value
    open(path, "w").write(yaml.safe_dump(params))
    result = CliRunner().invoke(main, ["--params", path, "--corpus", tiny_corpus.path, "--stores", str(tmp_path),
                                       "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and f"audio.{key}" in result.output and "embed." not in result.output, result.output


def test_store_root_as_a_url_with_the_pointer_kept_locally(tiny_corpus, tmp_path):
    """`--stores file://...`: the store goes there, the local store.json names it by URL, and readers follow it."""
    params, root = write_params(tmp_path), f"file://{tmp_path / 'shared'}"
    args = ["--params", params, "--corpus", tiny_corpus.path, "--stores", root, "--out", str(tmp_path / "local")]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    pointer = json.loads((tmp_path / "local" / "store.json").read_text())
    assert pointer["store"].startswith(f"{root}/torchscript/")
    assert [p.name for p in (tmp_path / "local").iterdir() if p.is_dir()] == []
    assert (tmp_path / "shared" / "torchscript" / pointer["store_fingerprint"] / "zarr.json").is_file()
    store = open_current(str(tmp_path / "local"), tiny_corpus.fingerprint)
    assert store.url == pointer["store"] and verify_store(store.url, tiny_corpus.fingerprint) == []
    other = CliRunner().invoke(main, args[:-1] + [str(tmp_path / "another-checkout")])
    assert other.exit_code == 0 and "reused (already complete)" in other.output


def test_two_user_teachers_of_one_kind_sit_side_by_side(tiny_corpus, tmp_path, monkeypatch):
    """Two instances of the `python` kind, named in params: each its own store, its own name from params to the
    store to the student's heads (the factory's own name, `energy`, gives way)."""
    from stages import cli

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "teachers"))  # entry_helper
    monkeypatch.chdir(tmp_path)
    params = {"base": {"num_threads": 1}, "audio": {"sample_rate": 16000, "window_seconds": 1.0, "hop_seconds": 1.0},
              "frontend": {"n_mels": 32, "fmax": 8000.0},
              "embed": {"teachers": ["coarse", "fine"], "batch_size": 4, "workers": 0, "chunk_rows": 4,
                        "shard_rows": 8, "device": "cpu",
                        "options": {"coarse": {"kind": "python", "entry": "entry_helper:make_energy",
                                               "kwargs": {"dim": 4}},
                                    "fine": {"kind": "python", "entry": "entry_helper:make_energy",
                                             "kwargs": {"dim": 8}}}},
              "train": {"teachers": ["coarse", "fine"], "student": "mobilenetv3", "student_options": {"width": 0.1},
                        "head_hidden": [], "sampler": "uniform", "epochs": 1, "epoch_size": 16, "batch_size": 8,
                        "warmup_epochs": 0.0, "workers": 0, "device": "cpu", "val_max_rows": 8}}
    Path("params.yaml").write_text(yaml.safe_dump(params))
    stores = {}
    for name in ("coarse", "fine"):
        result = CliRunner().invoke(cli.main, ["embed", "--teacher", name, "--corpus", tiny_corpus.path,
                                               "--stores", "stores", "--out", f"emb/{name}"])
        assert result.exit_code == 0, result.output
        stores[name] = open_current(f"emb/{name}", tiny_corpus.fingerprint)
        assert stores[name].attrs["teacher"] == name and f"stores/{name}/" in stores[name].url
    assert (stores["coarse"].dim, stores["fine"].dim) == (4, 8)
    assert stores["coarse"].fingerprint != stores["fine"].fingerprint
    result = CliRunner().invoke(cli.main, ["train", "--corpus", tiny_corpus.path, "--embeddings", "emb",
                                           "--out", "students/both"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    config = json.loads(torch.load("students/both/student.pt", weights_only=True)["config"])
    assert config["teachers"] == ["coarse", "fine"] and config["teacher_dims"] == [4, 8]
