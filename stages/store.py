"""`ssondo store verify|info PATH`: re-check an embedding store from its files, or summarise it."""
from __future__ import annotations

import json

import click
import fsspec

from pipeline.config import ConfigError
from pipeline.corpus import Corpus, CorpusError
from pipeline.embed import reembed_check
from pipeline.store import POINTER, EmbeddingStore, StoreError, current_url, verify_store
from pipeline.teachers.registry import build_teacher
from stages.params import params_option, read_params, set_threads


def resolve(path: str) -> str:
    """A store folder, or an embed output folder whose store.json names the current store."""
    fs, root = fsspec.core.url_to_fs(path)
    return current_url(path) if fs.exists(f"{root}/{POINTER}") else path


@click.group("store")
def main() -> None:
    """Inspect embedding stores written by `ssondo embed`."""


@main.command("verify")
@click.argument("path")
@params_option
@click.option("--corpus", default=None, help="Prepared corpus folder (or corpus.h5) the store must match; "
                                             "needed to re-embed.")
@click.option("--sample", default=32, show_default=True, help="Random valid rows to re-embed and compare.")
@click.option("--no-reembed", is_flag=True, help="Skip re-embedding (needs neither teacher nor corpus).")
@click.option("--tolerance", default=2e-2, show_default=True, help="Max relative L2 error of a re-embedded row.")
@click.option("--seed", default=0, show_default=True, help="Seed of the re-embedded sample.")
def verify(path: str, params_file: str, corpus: str | None, sample: int, no_reembed: bool, tolerance: float,
           seed: int) -> None:
    """Re-check ledger, shapes, checksums, NaN counts and (a sample of) the embeddings; non-zero exit on problems."""
    url = resolve(path)
    reembed = not no_reembed and sample > 0
    params = read_params(params_file) if reembed else {}
    if reembed and corpus is None:
        raise click.ClickException("store verify: re-embedding needs the corpus: pass --corpus (the prepared corpus "
                                   "folder), or --no-reembed to skip it")
    try:
        source = Corpus(corpus) if corpus else None
    except CorpusError as exc:
        raise click.ClickException(f"{exc} (pass --corpus, or --no-reembed to skip re-embedding)") from exc
    problems = verify_store(url, source.fingerprint if source else None)
    summary = {}
    if reembed and problems:
        problems.append("re-embedding skipped because of the problems above")
    elif reembed:
        set_threads(params)
        found, summary = _reembed(EmbeddingStore.open(url), params, source, sample, seed, tolerance)
        problems += found
    if problems:
        click.echo(f"store verify: {url}: {len(problems)} problem(s)")
        click.echo("\n".join(f"  - {p}" for p in problems))
        raise SystemExit(1)
    extra = "" if not summary else (f"; re-embedded {summary['reembedded_rows']} rows, max relative error "
                                     f"{summary['max_relative_error']:.2e}")
    click.echo(f"store verify: {url}: OK{extra}")


def _reembed(store: EmbeddingStore, params: dict, corpus: Corpus, n: int, seed: int, tolerance: float):
    name = store.attrs["teacher"]
    options = ((params.get("embed") or {}).get("options") or {}).get(name, {})
    try:
        teacher = build_teacher(name, options, f"embed.options.{name}")
    except ConfigError as exc:
        return [f"re-embedding: cannot build teacher {name!r}: {exc}"], {}
    return reembed_check(store, teacher, corpus, n, seed, tolerance)


@main.command("info")
@click.argument("path")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of aligned text.")
def info(path: str, as_json: bool) -> None:
    """Summarise a store: teacher, corpus, shapes, progress, invalid rows, size on disk."""
    try:
        summary = EmbeddingStore.open(resolve(path)).info()
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    width = max(len(k) for k in summary)
    click.echo("\n".join(f"{k.ljust(width)}  {v}" for k, v in summary.items()))


if __name__ == "__main__":
    main()
