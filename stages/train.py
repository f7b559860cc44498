"""`ssondo train`: train a student on cached teacher targets (or labels, for the supervised baseline)."""
from __future__ import annotations

from pathlib import Path

import click

from pipeline import distributed
from pipeline.audio.logmel import LogMelConfig
from pipeline.config import ConfigError, parse
from pipeline.corpus import Corpus, CorpusError
from pipeline.store import StoreError, open_current, teacher_dir
from pipeline.train.config import TeacherSpec, TrainConfig, check_frontend_fit, default_teachers, parse_teachers
from pipeline.train.data import distill_data, supervised_data
from pipeline.train.loop import fit
from stages.params import audio_config, params_option, read_params, section, set_threads, write_json


def frontend_config(params: dict, sample_rate: int) -> LogMelConfig:
    """The student front-end: `frontend` section at the corpus sample rate (the rate the student hears)."""
    return parse(LogMelConfig, dict(params.get("frontend") or {}, sample_rate=sample_rate), "frontend")


def load_data(cfg: TrainConfig, params: dict, teachers: tuple[TeacherSpec, ...], corpus: Corpus,
              pointers: str | None, index: str | None):
    """Corpus + targets (the store `<pointers>/<teacher>/store.json` names, per teacher) + the index at `index`."""
    audio = audio_config(params)
    window = audio.samples(audio.window_seconds, corpus.sample_rate)
    if cfg.objective == "supervised":
        return supervised_data(cfg, corpus, window)
    if pointers is None:
        raise ValueError("train: distillation reads teacher targets: pass --pointers (the embed stage's folder of "
                         "store pointers)")
    opened = [open_current(teacher_dir(pointers, t.name), corpus.fingerprint).require_audio(audio)
              for t in teachers]
    return distill_data(cfg, corpus, opened, window, index, pointers, teachers)


def single_teacher(teachers: list, name: str) -> list:
    """`train.teachers` narrowed to `name`: its own entry (so its loss) without the weight, or just the name."""
    for entry in teachers:
        if entry == name:
            return [name]
        if isinstance(entry, dict) and entry.get("name") == name:
            return [{k: v for k, v in entry.items() if k != "weight"}]
    return [name]


@click.command("train")
@params_option
@click.option("--corpus", required=True, help="Prepared corpus folder (or its corpus.h5).")
@click.option("--pointers", "--embeddings", "pointers", default=None,
              help="Folder of the embed stage's <teacher>/store.json store pointers (--embeddings: the older name).")
@click.option("--index", default=None, help="Balanced sampling index folder (`ssondo cluster --out`).")
@click.option("--out", required=True, help="Output folder of the student (student.pt, checkpoint.pt, metrics).")
@click.option("--objective", type=click.Choice(["distill", "supervised"]), default=None,
              help="distill from cached targets, or supervised on corpus labels (baseline).")
@click.option("--epochs", type=int, default=None, help="Override train.epochs.")
@click.option("--teacher", default=None,
              help="Distil from this teacher alone, with train's recipe (compare.single_teachers, dvc.yaml train-single).")
def main(params_file: str, corpus: str, pointers: str | None, index: str | None, out: str, objective: str | None,
         epochs: int | None, teacher: str | None) -> None:
    """Train a student + projection head on cached teacher embeddings; no teacher is loaded."""
    params = read_params(params_file)
    set_threads(params)
    data = section(params, "train", objective=objective, epochs=epochs)
    if data.get("objective") == "supervised":  # the baseline's own recipe, so a distillation study leaves it be
        data.update(section(params, "supervised", epochs=epochs))
    data.pop("name", None)  # names the output folder in dvc.yaml; the folder arrives as --out
    teachers = data.pop("teachers", default_teachers())
    if teacher is not None:
        teachers = single_teacher(teachers, teacher)
    try:
        source = Corpus(corpus)
        cfg, specs = parse_teachers(teachers, parse(TrainConfig, data, "train"))
        train_data = load_data(cfg, params, specs, source, pointers, index)
        frontend = frontend_config(params, source.sample_rate)
        check_frontend_fit(cfg, frontend.n_mels)
    except (ConfigError, CorpusError, StoreError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    info = distributed.discover()
    distributed.init(info, distributed.pick_device(cfg.device))
    try:
        metrics = fit(cfg, train_data, frontend, out, info, log=live_logger(out) if info.is_main else None)
        if info.is_main:
            write_json(Path(out) / "metrics.json", metrics)
    except OSError as exc:  # a full disk or a read-only output: checkpoints and the student are written whole
        raise click.ClickException(f"train: {exc}; once {out} has space and is writable, run again: it resumes "
                                   f"from the last complete checkpoint") from exc
    finally:
        distributed.shutdown()
    if info.is_main:
        click.echo(f"train: {Path(out).name}: val cosine {_num(metrics['val_cosine'])} (untrained "
                   f"{_num(metrics['val_cosine_untrained'])}), {metrics['params']:,} params, "
                   f"{_num(metrics['samples_per_s'], '.0f')} samples/s -> {out}/student.pt")


def _num(x: float | None, fmt: str = ".3f") -> str:
    return "n/a" if x is None else format(x, fmt)


def live_logger(out: str):
    """Per-epoch metrics through dvclive (plots under <out>/live)."""
    from dvclive import Live

    live = Live(dir=str(Path(out) / "live"), save_dvc_exp=False, dvcyaml=None, report=None)

    def log(row: dict) -> None:
        for key in ("train_loss", "val_loss", "val_cosine", "val_cosine_raw", "val_rank", "val_top_share",
                    "samples_per_s", *sorted(k for k in row if k.startswith("val_cosine_") and k != "val_cosine_raw")):
            if row.get(key) is not None:
                live.log_metric(key, row[key])
        live.next_step()
    return log


if __name__ == "__main__":
    main()
