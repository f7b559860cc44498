"""`ssondo export`: TorchScript / ONNX / int8 exports of a trained student, each checked against the eager model."""
from __future__ import annotations

from pathlib import Path

import click

from pipeline.config import ConfigError, parse
from pipeline.export import ExportConfig, ExportError, export_student, require_passed
from pipeline.inference.model import load_student
from pipeline.inference.quantize import corpus_calibration
from stages.params import params_option, read_params, section, set_threads, write_json


@click.command("export")
@params_option
@click.option("--student", required=True, help="Student folder (with student.pt) to export.")
@click.option("--corpus", default=None, help="Prepared corpus folder whose clips calibrate static int8 "
                                             "(random noise without one).")
@click.option("--out", required=True, help="Output folder of the exports.")
def main(params_file: str, student: str, corpus: str | None, out: str) -> None:
    """Export front-end + backbone as one graph: raw audio (batch, samples) -> (batch, dim)."""
    params = read_params(params_file)
    set_threads(params)
    try:
        cfg = parse(ExportConfig, section(params, "export"), "export")
        model = load_student(student)
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    calibration = corpus_calibration(corpus, cfg.calibration_clips, model.sample_rate,
                                     model.window_samples) if cfg.quantize else None
    out = Path(out)
    try:
        manifest = export_student(model, out, cfg, calibration)
    except ExportError as exc:
        raise click.ClickException(str(exc)) from exc
    write_json(out / "manifest.json", manifest)
    for name, f in manifest["files"].items():
        click.echo(f"export: {name}: {f['bytes'] / 1024:.0f} KiB, max abs error {f['max_abs_error']:.2e}, "
                   f"cosine {f['min_cosine']:.6f} {'ok' if f['passed'] else 'FAILED'}")
    try:
        require_passed(manifest)
    except ExportError as exc:
        raise click.ClickException(str(exc)) from exc


if __name__ == "__main__":
    main()
