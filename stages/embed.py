"""`ssondo embed`: run a teacher once over the corpus into a cached, resumable embedding store."""
from __future__ import annotations

from pathlib import Path

import click

from pipeline import distributed
from pipeline.config import DEFAULT_TEACHERS, ConfigError, check, parse
from pipeline.corpus import Corpus, CorpusError
from pipeline.embed import EmbedConfig, extract
from pipeline.store import EmbeddingStore, StoreError, teacher_dir, write_pointer
from pipeline.store.claims import ClaimLost
from pipeline.teachers.registry import build_teacher, teacher_options
from stages.params import params_option, read_params, set_threads, write_json


AUDIO_KEYS = ("window_seconds", "hop_seconds", "last_window")  # EmbedConfig fields set from the `audio` section


def embed_config(params: dict, teacher: str) -> EmbedConfig:
    """Merge `audio` windows, `embed` settings and the teacher's options into one typed config."""
    embed = dict(params.get("embed") or {})
    teachers, options = checked_teachers(embed.pop("teachers", list(DEFAULT_TEACHERS)), embed.pop("options", None))
    if teacher not in teachers:
        raise ConfigError(f"embed.teachers: {teacher!r} is not listed ({teachers})")
    audio = params.get("audio") or {}
    windows = {k: audio[k] for k in AUDIO_KEYS if k in audio}
    try:
        return parse(EmbedConfig, dict(embed, teacher=teacher, teacher_options=options.get(teacher) or {}, **windows),
                     "embed")
    except ConfigError as exc:  # the window keys live in `audio`: name them where the user wrote them
        message = str(exc)
        for key in AUDIO_KEYS:
            message = message.replace(f"embed.{key}", f"audio.{key}")
        raise ConfigError(message) from None


def checked_teachers(teachers: object, options: object) -> tuple[list, dict]:
    """`embed.teachers` (a list of names) and `embed.options` (name -> options, every entry validated now)."""
    check(isinstance(teachers, list), "embed.teachers", f"expected a list of teacher names, got {teachers!r}")
    for i, name in enumerate(teachers):
        check(isinstance(name, str), f"embed.teachers[{i}]", f"expected a teacher name, got {name!r}")
    options = {} if options is None else options
    check(isinstance(options, dict), "embed.options", f"expected a mapping of teacher name -> options, got {options!r}")
    for name, opts in options.items():  # a typo in any teacher's options fails here, not at that teacher's first run
        teacher_options(name, opts, f"embed.options.{name}")
    return teachers, options


@click.command("embed")
@params_option
@click.option("--teacher", default=None, help="Teacher name from embed.teachers (default: the first).")
@click.option("--corpus", required=True, help="Prepared corpus folder (or its corpus.h5).")
@click.option("--stores", required=True,
              help="Store root (folder or fsspec URL, may be shared); the store goes to <stores>/<teacher>/<fingerprint>.")
@click.option("--out", required=True, help="Local folder for store.json (which store this run used) and report.json.")
def main(params_file: str, teacher: str | None, corpus: str, stores: str, out: str) -> None:
    """Run one teacher over every window of the corpus into a sharded Zarr store (resumable, DDP-aware)."""
    params = read_params(params_file)
    set_threads(params)
    teacher = teacher or ((params.get("embed") or {}).get("teachers") or DEFAULT_TEACHERS)[0]
    try:
        cfg = embed_config(params, teacher)
        model = build_teacher(cfg.teacher, cfg.teacher_options)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        corpus = Corpus(corpus)
    except CorpusError as exc:
        raise click.ClickException(str(exc)) from exc
    info = distributed.discover()
    distributed.init(info, distributed.pick_device(cfg.device))
    try:
        result = extract(cfg, model, corpus, teacher_dir(stores, teacher), info)
    except (StoreError, ClaimLost) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        distributed.shutdown()
    if info.is_main:
        try:
            write_pointer(out, EmbeddingStore.open(result.url))
            write_json(Path(out) / "report.json", result.report)  # also when reused: it may point at another store now
        except OSError as exc:  # the store is complete; a rerun reuses it and writes these two files again
            raise click.ClickException(f"cannot write {out}/store.json or report.json: {exc}; free space and re-run "
                                       f"`ssondo embed` (the finished store is reused)") from exc
        report = result.report
        state = "reused (already complete)" if result.reused else "written"
        reused = 0 if result.reused else report["windows_reused"]
        resumed = f" ({reused} reused from an interrupted run, {report['windows'] - reused} embedded now)" if reused \
            else ""
        click.echo(f"embed: store {result.url} {state}: {report.get('clips')} clips, {report.get('windows')} "
                   f"windows{resumed}, NaN rows {report.get('nan_rows')}")


if __name__ == "__main__":
    main()
