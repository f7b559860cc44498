"""`ssondo cluster`: k-means on a teacher's cached clip embeddings -> balanced sampling index (BDS)."""
from __future__ import annotations

import click

from pipeline.cluster.build import build_index, save_outputs, summary
from pipeline.cluster.config import ClusterConfig, ClusterError
from pipeline.config import ConfigError, parse
from pipeline.corpus import Corpus, CorpusError
from pipeline.store import StoreError, open_current
from stages.params import params_option, read_params, section, set_threads


@click.command("cluster")
@params_option
@click.option("--k", type=int, default=None, help="Number of clusters (overrides cluster.k).")
@click.option("--teacher", default=None, help="Which teacher's store to cluster (overrides cluster.teacher).")
@click.option("--out", default=None, help="Output folder (default: cache/clusters/<teacher>-k<k>).")
def main(params_file: str, k: int | None, teacher: str | None, out: str | None) -> None:
    """Cluster the clip embeddings of one teacher's store and write row-aligned sampling weights."""
    params = read_params(params_file)
    set_threads(params)
    try:
        cfg = parse(ClusterConfig, section(params, "cluster", k=k, teacher=teacher), "cluster")
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    out = out or f"cache/clusters/{cfg.teacher}-k{cfg.k}"
    try:
        corpus = Corpus(f"{(params.get('prepare') or {}).get('output', 'cache/corpus')}/corpus.h5")
        manifest = corpus.manifest()
        store = open_current(f"cache/embeddings/{cfg.teacher}", corpus.fingerprint)
        result = build_index(store, manifest, cfg, corpus.fingerprint)
    except (CorpusError, StoreError, ClusterError) as exc:
        raise click.ClickException(str(exc)) from exc
    save_outputs(result, manifest, out)
    click.echo(f"cluster {cfg.teacher}: {summary(result)} -> {out}")


if __name__ == "__main__":
    main()
