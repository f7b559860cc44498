"""`ssondo embed-audio`: embed audio files or folders with a trained student (a user tool, not a DVC stage)."""
from __future__ import annotations

from pathlib import Path

import click
import torch

from pipeline.inference.files import embed_files, find_audio
from pipeline.inference.model import load_student
from pipeline.inference.writers import check_output, sidecar, write_embeddings


@click.command("embed-audio")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--student", required=True, help="Student folder (with student.pt) or a student.pt file.")
@click.option("--out", required=True, help="Output file: .parquet, .npy or .zarr (by extension).")
@click.option("--segments", is_flag=True, help="One row per segment (window) instead of one per file.")
@click.option("--batch-size", type=int, default=32, show_default=True, help="Segments per forward pass.")
@click.option("--workers", type=int, default=0, show_default=True, help="Decoding processes (0 = in this one).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:1 ...")
@click.option("--threads", type=int, default=0, help="torch threads (0 = torch default).")
def main(paths: tuple[str, ...], student: str, out: str, segments: bool, batch_size: int, workers: int,
         device: str, threads: int) -> None:
    """Embed audio files (folders are searched recursively) with a trained student."""
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        out_path = check_output(out)
        model = load_student(student).to(device)
        files = find_audio(paths)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if not files:
        raise click.ClickException(f"no audio files under {', '.join(paths)}")
    result = embed_files(model, files, per_segment=segments, batch_size=batch_size, workers=workers)
    meta = {"student": str(Path(student)), "student_fingerprint": model.fingerprint,
            "sample_rate": model.sample_rate, "window_samples": model.window_samples,
            "embedding_dim": model.embedding_dim, "rows": "segment" if segments else "file"}
    write_embeddings(out_path, result, meta)
    click.echo(f"embed-audio: {len(files) - len(result.errors)}/{len(files)} files -> {len(result.rows)} rows "
               f"x {model.embedding_dim} -> {out_path}; {len(result.errors)} failed"
               + (f" (see {sidecar(out_path, 'errors')})" if len(result.errors) else ""))
    if len(result.errors) == len(files):
        raise click.ClickException("no file could be decoded")


if __name__ == "__main__":
    main()
