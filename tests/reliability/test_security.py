"""Untrusted files: pickles never run code, every torch.load is weights_only, manifest paths and folder scans stay
under the root."""
from __future__ import annotations

import ast
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from pipeline.audio.decode import decode
from pipeline.corpus import Corpus
from pipeline.inference.checkpoint import read_checkpoint
from pipeline.prepare import PrepareConfig, prepare_corpus
from pipeline.students.pretrained import load_init
from pipeline.teachers.torchscript import ScriptedOptions, load_scripted
from pipeline.train.checkpoint import try_resume

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:'torch.load' received a zip file:UserWarning")]


class Payload:
    """Unpickling this runs a shell command that creates `marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def evil(tmp_path) -> tuple[dict[str, Path], Path]:
    """Malicious files in every format a loader might meet, and the marker they would create."""
    marker = tmp_path / "PWNED"
    payload = {"student": Payload(marker), "head": {}, "config": "{}", "model": Payload(marker),
               "run_fingerprint": Payload(marker)}
    files = {"zip": tmp_path / "zip.pt", "legacy": tmp_path / "legacy.pt", "script": tmp_path / "script.pt"}
    torch.save(payload, files["zip"])
    with open(files["legacy"], "wb") as f:
        pickle.dump(payload, f, protocol=2)
    # a genuine TorchScript archive whose pickled parts were swapped for the payload
    genuine = tmp_path / "genuine.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(4, 2)), str(genuine))
    with zipfile.ZipFile(genuine) as src, zipfile.ZipFile(files["script"], "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith(".pkl"):
                data = pickle.dumps(Payload(marker), protocol=2)
            dst.writestr(info, data)
    return files, marker


def test_student_checkpoint_resume_and_init_refuse_pickled_code(evil):
    files, marker = evil
    model = torch.nn.Linear(4, 2)
    # torch.load(weights_only=True) refuses a TorchScript archive outright (RuntimeError), before unpickling
    for name, error in (("zip", pickle.UnpicklingError), ("legacy", pickle.UnpicklingError), ("script", RuntimeError)):
        student = files[name].with_name("student.pt")
        os.replace(files[name], student)
        with pytest.raises(error):
            read_checkpoint(student)
        with pytest.raises(error):
            read_checkpoint(student.parent)  # a run folder means its student.pt
        with pytest.raises(error):
            try_resume(None, student, "any-run")  # fails in torch.load, before the runtime is touched
        with pytest.raises(error):
            load_init(model, student)
        os.replace(student, files[name])
    assert not marker.exists()


def test_torchscript_teacher_refuses_pickled_code(evil):
    files, marker = evil
    for name in ("zip", "legacy", "script"):
        with pytest.raises(RuntimeError):
            load_scripted(ScriptedOptions(path=str(files[name]), sample_rate=16000, embed_dim=2))
    assert not marker.exists()


def _calls(path: Path):
    """(call node, dotted callee) of every attribute call in a source file."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            yield node, ast.unparse(node.func)


def test_every_torch_load_is_weights_only():
    seen, unsafe = 0, []
    for path in sorted([*(ROOT / "pipeline").rglob("*.py"), *(ROOT / "stages").rglob("*.py")]):
        for node, name in _calls(path):
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if name == "torch.load":
                seen += 1
                flags = {k.arg: k.value for k in node.keywords}
                if not (isinstance(flags.get("weights_only"), ast.Constant) and flags["weights_only"].value is True):
                    unsafe.append(f"{where} torch.load without weights_only=True")
            elif name in ("pickle.load", "pickle.loads", "dill.load", "joblib.load"):
                unsafe.append(f"{where} {name}")
            elif name in ("np.load", "numpy.load") and any(k.arg == "allow_pickle" for k in node.keywords):
                unsafe.append(f"{where} np.load with allow_pickle")
    assert seen >= 4, "the scan found no torch.load at all: is it looking in the right place?"
    assert not unsafe, unsafe


def test_manifest_paths_cannot_climb_out_of_the_root(tmp_path, make_tone):
    root, elsewhere = tmp_path / "data", tmp_path / "elsewhere" / "sub"
    root.mkdir()
    elsewhere.mkdir(parents=True)
    sf.write(root / "inside.wav", make_tone(500.0, 0.3, 16000), 16000)
    sf.write(tmp_path / "outside.wav", make_tone(900.0, 0.3, 16000), 16000)
    sf.write(tmp_path / "elsewhere" / "inside.wav", make_tone(2000.0, 0.5, 16000), 16000)  # same name, other file
    os.symlink(elsewhere, root / "link")
    pd.DataFrame({"path": ["link/../inside.wav", "link/../../outside.wav", "../outside.wav",
                           str(tmp_path / "outside.wav"), "./../data/../outside.wav"],
                  "clip_id": ["dotdot_after_link", "climb_via_link", "climb", "absolute", "roundabout"]}
                 ).to_csv(root / "manifest.csv", index=False)
    cfg = PrepareConfig(input=str(root / "manifest.csv"), output=str(tmp_path / "corpus"), sample_rate=16000,
                        workers=1)
    prepare_corpus(cfg)
    rejected = pd.read_csv(tmp_path / "corpus" / "rejected.csv")
    assert dict(zip(rejected["clip_id"], rejected["reason"])) == {
        "climb_via_link": "outside_root", "climb": "outside_root", "absolute": "outside_root",
        "roundabout": "outside_root"}
    corpus = Corpus(tmp_path / "corpus" / "corpus.h5")
    # `link/..` is read as the manifest spells it (data/inside.wav), not as the OS would walk it (elsewhere/)
    assert corpus.manifest()["path"].tolist() == [str(root / "inside.wav")]
    assert len(corpus.clip(0)) == int(0.3 * 16000)


def test_audioset_ids_cannot_climb_out_of_the_root(tmp_path, make_tone):
    root = tmp_path / "audioset"
    root.mkdir()
    sf.write(root / "good.wav", make_tone(500.0, 0.3, 16000), 16000)
    sf.write(tmp_path / "secret.wav", make_tone(500.0, 0.3, 16000), 16000)
    (root / "segments.csv").write_text(
        "# YTID, start_seconds, end_seconds, positive_labels\n"
        'good, 0.000, 10.000, "/m/a"\n'
        '../secret, 0.000, 10.000, "/m/b"\n'
        f'{tmp_path}/secret, 0.000, 10.000, "/m/c"\n')
    cfg = PrepareConfig(input=str(root / "segments.csv"), output=str(tmp_path / "corpus"), sample_rate=16000,
                        workers=1)
    result = prepare_corpus(cfg)
    rejected = pd.read_csv(tmp_path / "corpus" / "rejected.csv")
    assert rejected["reason"].tolist() == ["outside_root", "outside_root"]
    assert result.corpus.n_clips == 1
    assert np.isfinite(Corpus(tmp_path / "corpus" / "corpus.h5").clip(0)).all()


@pytest.fixture
def linked_folder(tmp_path, make_tone) -> Path:
    """A folder to scan whose links lead out of it (to a file, an audio file, a folder) and round in loops."""
    root, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    (root / "sub").mkdir(parents=True)
    elsewhere.mkdir()
    sf.write(root / "sub" / "good.wav", make_tone(500.0, 0.3, 16000), 16000)
    sf.write(elsewhere / "real.wav", make_tone(900.0, 0.3, 16000), 16000)
    links = {"passwd.wav": "/etc/passwd", "outside.wav": elsewhere / "real.wav", "ext": elsewhere,
             "inner.wav": root / "sub" / "good.wav", "sub/up": root, "sub/again": root / "sub",
             "loop.wav": root / "loop.wav", "ring_a.wav": root / "ring_b.wav", "ring_b.wav": root / "ring_a.wav"}
    for name, target in links.items():
        os.symlink(target, root / name)
    os.symlink(elsewhere, elsewhere / "self")  # a loop outside, walked only when leaving the root is allowed
    return root


@pytest.mark.parametrize("allow", [False, True])
def test_folder_scans_stay_inside_the_root(tmp_path, linked_folder, monkeypatch, allow):
    """Links that leave the scanned folder are rejected, unopened, unless allowed; loops of links end."""
    decoded = []

    def recording_decode(path, rate):
        decoded.append(os.path.realpath(path))
        return decode(path, rate)

    monkeypatch.setattr("pipeline.prepare.decoding.decode", recording_decode)
    cfg = PrepareConfig(input=str(linked_folder), output=str(tmp_path / "corpus"), sample_rate=16000, workers=1,
                        allow_outside_root=allow)
    prepare_corpus(cfg)
    kept = Corpus(tmp_path / "corpus" / "corpus.h5").manifest()["clip_id"].tolist()
    rejected = pd.read_csv(tmp_path / "corpus" / "rejected.csv")
    reasons = dict(zip(rejected["clip_id"], rejected["reason"]))
    if allow:
        assert kept == ["ext/real", "inner", "outside", "sub/good"]
        assert reasons == {"passwd": "unreadable"}  # opened, since allowed, and found not to be audio
        return
    assert kept == ["inner", "sub/good"]
    assert reasons == {"ext": "outside_root", "outside": "outside_root", "passwd": "outside_root"}
    assert "allow_outside_root" in rejected["detail"].iat[0]
    assert all(Path(p).is_relative_to(linked_folder.resolve()) for p in decoded), decoded
