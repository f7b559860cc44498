"""params.yaml (demo) and profiles/audioset.yaml (paper) validate through the typed configs the stages use."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.cluster.config import ClusterConfig
from pipeline.config import parse
from pipeline.demo.config import DemoConfig
from pipeline.evaluate.suite import EvaluateConfig
from pipeline.export import ExportConfig
from pipeline.prepare import PrepareConfig
from pipeline.teachers.registry import teacher_options
from pipeline.train.config import TrainConfig, parse_teachers
from stages.embed import embed_config
from stages.params import read_params, section
from stages.train import frontend_config

ROOT = Path(__file__).resolve().parents[1]
DEMO, PAPER, MULTI = ROOT / "params.yaml", ROOT / "profiles" / "audioset.yaml", ROOT / "profiles" / "multi-teacher.yaml"
FILES = pytest.mark.parametrize("path", [DEMO, PAPER, MULTI], ids=["params.yaml", "audioset.yaml", "multi-teacher.yaml"])


@FILES
def test_prepare_section(path):
    params = read_params(path)
    data = dict(section(params, "prepare"), sample_rate=section(params, "audio")["sample_rate"],
                output=params["paths"]["corpus"])  # as the stage, which dvc.yaml gives --output ${paths.corpus}
    cfg = parse(PrepareConfig, data, "prepare")
    assert cfg.sample_rate == 32000


@FILES
def test_embed_sections_validate_every_teacher_without_loading_it(path):
    params = read_params(path)
    embed = section(params, "embed")
    for name in embed["teachers"]:
        cfg = embed_config(params, name)
        teacher_options(cfg.teacher, cfg.teacher_options)
        assert cfg.window_seconds == params["audio"]["window_seconds"]
    for name, options in embed["options"].items():  # also teachers not listed yet (switching is one edit)
        teacher_options(name, options, f"embed.options.{name}")


@FILES
def test_cluster_train_frontend_and_demo_sections(path):
    params = read_params(path)
    cluster = parse(ClusterConfig, section(params, "cluster"), "cluster")
    data = section(params, "train")
    name, teachers = data.pop("name"), data.pop("teachers")  # popped by the train stage before parsing
    train, specs = parse_teachers(teachers, parse(TrainConfig, data, "train"))
    frontend = frontend_config(params, params["audio"]["sample_rate"])
    parse(DemoConfig, section(params, "demo"), "demo")
    export = parse(ExportConfig, section(params, "export"), "export")
    assert set(cluster.teachers) <= set(params["embed"]["teachers"])
    assert {s.name for s in specs} <= set(params["embed"]["teachers"])
    assert train.epoch_size >= train.batch_size and frontend.fmax <= frontend.sample_rate / 2
    assert name in params["evaluate"]["students"] and export.student == name
    threads = params["base"]["num_threads"]
    assert isinstance(threads, int) and threads >= 0


@FILES
def test_evaluate_section(path):
    params = read_params(path)
    data = section(params, "evaluate")
    data.setdefault("window_seconds", params["audio"]["window_seconds"])  # as the stage fills them in
    data.setdefault("teacher_options", params["embed"].get("options") or {})
    cfg = parse(EvaluateConfig, data, "evaluate")
    assert set(cfg.teachers) <= set(params["embed"]["teachers"])
    for name in cfg.teachers:
        teacher_options(name, cfg.teacher_options.get(name, {}))


def test_profile_has_every_key_of_params_yaml():
    demo, paper = read_params(DEMO), read_params(PAPER)
    assert set(demo) <= set(paper)
    for name, sec in demo.items():
        missing = set(sec) - set(paper[name])
        assert not missing, f"profiles/audioset.yaml section {name} lacks {sorted(missing)}"


def test_profile_documents_every_key():
    """Every `key: value` line carries a comment (where the value comes from, or `assumed`)."""
    lines = PAPER.read_text().splitlines()
    keyed = [ln for ln in lines if re.match(r"^\s*[A-Za-z_]\w*:", ln) or ln.lstrip().startswith("- {")]
    bare = [ln for ln in keyed if "#" not in ln and ln.strip() not in {"m2d:", "matpac:", "probe:"}
            and not re.match(r"^[a-z_]+:$", ln)]  # section headers and per-teacher groups
    assert not bare, f"keys without a comment: {bare}"


def test_profile_is_the_paper_setup():
    params = read_params(PAPER)
    audio, train = params["audio"], params["train"]
    assert (audio["sample_rate"], audio["window_seconds"], audio["hop_seconds"]) == (32000, 10.0, 10.0)
    assert params["cluster"]["k"] == 50 and train["sampler"] == "balanced" and train["loss"] == "cosine"
    assert train["target_norm"] == "none" and train["optimizer"] == "adam" and train["lr"] == 8e-4
    assert train["student"] == "mobilenetv3" and train["student_options"]["width"] == 1.0
    assert params["embed"]["teachers"] in (["m2d"], ["matpac"]) and params["prepare"]["codec"] == "mp3"
    assert params["evaluate"]["builtin_tasks"] is False and params["evaluate"]["tasks"]
    assert (params["embed"]["device"], train["device"], train["compile"]) == ("cuda", "cuda", True)


def test_multi_teacher_profile_is_params_yaml_with_three_teachers():
    demo, multi = read_params(DEMO), read_params(MULTI)
    assert {name: set(sec) for name, sec in demo.items()} == {name: set(sec) for name, sec in multi.items()}
    _, specs = parse_teachers(multi["train"]["teachers"], parse(TrainConfig, {}, "train"))
    assert [s.name for s in specs] == ["aisfx", "crepe", "resemblyzer"] and sum(s.weight for s in specs) == 1
    assert multi["embed"]["options"]["crepe"]["model"] == "tiny"
    assert parse(ClusterConfig, section(multi, "cluster"), "cluster").teachers == ["aisfx", "crepe", "resemblyzer"]
    lines = MULTI.read_text().splitlines()
    bare = [ln for ln in lines if re.match(r"^\s+(- )?[{A-Za-z_]", ln) and "#" not in ln and not ln.strip().endswith(":")]
    assert not bare, f"keys without a comment: {bare}"
