"""`ssondo prepare`: decode a folder or manifest of audio into the HDF5 corpus."""
from __future__ import annotations

from pathlib import Path

import click

from pipeline.config import ConfigError, parse
from pipeline.corpus import CorpusError
from pipeline.prepare import PrepareConfig, prepare_corpus, summarize_rejections
from stages.params import audio_config, params_option, read_params, section, write_json


@click.command("prepare")
@params_option
@click.option("--input", "input_", default=None,
              help="Folder to scan or manifest CSV/Parquet (overrides prepare.input).")
@click.option("--output", required=True, help="Corpus folder to write (corpus.h5, manifest.parquet, rejected.csv).")
@click.option("--workers", type=int, default=None, help="Decode (and encode) processes (0 = all cores).")
def main(params_file: str, input_: str | None, output: str, workers: int | None) -> None:
    """Decode audio files into one HDF5 corpus at the corpus sample rate."""
    params = read_params(params_file)
    data = section(params, "prepare", input=input_, output=output, workers=workers)
    if "sample_rate" in data:
        raise click.ClickException("prepare.sample_rate: set the corpus rate in audio.sample_rate instead")
    data["sample_rate"] = audio_config(params).sample_rate
    try:
        cfg = parse(PrepareConfig, data, "prepare")
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    out = Path(cfg.output)
    # the folder persists through `dvc repro` (its committed parts resume a killed run): drop the last run's report
    (out / "metrics.json").unlink(missing_ok=True)
    try:
        result = prepare_corpus(cfg)
    except (FileNotFoundError, ValueError, RuntimeError, CorpusError) as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:  # a full disk or a read-only output: the corpus is published whole or not at all
        raise click.ClickException(f"prepare: {exc}; no corpus was published in {cfg.output}") from exc
    size_gb = Path(result.corpus.path).stat().st_size / 1e9
    click.echo(f"prepare: {result.corpus.n_clips} clips, {result.seconds / 3600:.2f} h at {cfg.sample_rate} Hz, "
               f"{cfg.codec} {size_gb:.3f} GB -> {result.corpus.path} (fingerprint {result.corpus.fingerprint})")
    click.echo(f"prepare: {summarize_rejections(out / 'rejected.csv')}")
    click.echo(f"prepare: {result.reused} input(s) reused from an interrupted run, {result.decoded} decoded now")
    write_json(out / "metrics.json", {"clips": result.corpus.n_clips, "hours": result.seconds / 3600,
                                      "rejected": result.n_rejected, "fingerprint": result.corpus.fingerprint,
                                      "codec": cfg.codec, "size_gb": size_gb, "reused": result.reused,
                                      "decoded": result.decoded})


if __name__ == "__main__":
    main()
