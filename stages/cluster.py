"""`ssondo cluster`: k-means on a teacher's cached clip embeddings -> balanced sampling index (BDS)."""
from __future__ import annotations

import click

from pipeline.cluster.build import build_index, save_outputs, summary
from pipeline.cluster.config import ClusterConfig, ClusterError
from pipeline.config import ConfigError, parse
from pipeline.corpus import Corpus, CorpusError
from pipeline.store import StoreError, open_current, teacher_dir
from stages.params import audio_config, params_option, read_params, section, set_threads


@click.command("cluster")
@params_option
@click.option("--k", type=int, default=None, help="Number of clusters (overrides cluster.k).")
@click.option("--teacher", default=None, help="Which teacher's store to cluster (overrides cluster.teacher).")
@click.option("--corpus", required=True, help="Prepared corpus folder (or its corpus.h5).")
@click.option("--pointers", "--embeddings", "pointers", required=True,
              help="Folder of the embed stage's <teacher>/store.json store pointers (--embeddings: the older name).")
@click.option("--out", required=True, help="Output folder of the index.")
def main(params_file: str, k: int | None, teacher: str | None, corpus: str, pointers: str, out: str) -> None:
    """Cluster the clip embeddings of one teacher's store (or of several, cluster.joint_teachers) and write
    row-aligned sampling weights."""
    params = read_params(params_file)
    set_threads(params)
    try:
        cfg = parse(ClusterConfig, section(params, "cluster", k=k, teacher=teacher), "cluster")
        audio = audio_config(params)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        source = Corpus(corpus)
        manifest = source.manifest()
        stores = [open_current(teacher_dir(pointers, t), source.fingerprint).require_audio(audio)
                  for t in cfg.teachers]
        result = build_index(stores, manifest, cfg, source.fingerprint)
    except (CorpusError, StoreError, ClusterError) as exc:
        raise click.ClickException(str(exc)) from exc
    save_outputs(result, manifest, out)
    click.echo(f"cluster {' + '.join(cfg.teachers)}: {summary(result)} -> {out}")


if __name__ == "__main__":
    main()
