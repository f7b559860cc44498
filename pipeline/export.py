"""Export a student's front-end + backbone as ONE graph: raw audio (batch, samples) -> (batch, dim).

Formats: `torch.export` (`student.pt2`, PyTorch's maintained graph format: an ExportedProgram with dynamic batch
and length, loaded by `torch.export.load(path).module()`), ONNX (`student.onnx`, written by the `torch.export`-based
exporter, dynamic batch and length; needs `onnx`, `onnxscript` and `onnxruntime`), an ExecuTorch program
(`student.pte`, XNNPACK-delegated, one window (1, window_samples) per call, run by ExecuTorch's own runtime; needs
`executorch`), TorchScript (`student.ts`, traced and frozen; deprecated in torch 2.13, not a default) and an int8
export: an ExecuTorch program (`student.int8.pte`) from PT2E quantisation with torchao's XNNPACK quantiser
(`int8_method: pt2e`), or TorchScript (`student.int8.ts`) from FX quantisation (`int8_method: dynamic | static`).
The frame-level graph (`student.frames.pt2`, `export.frames`): front-end + backbone frames for training-length
windows, (batch, window_samples) -> (batch, steps, dim), through `torch.export` with a dynamic batch.
Each file is reloaded and compared with the eager model on random audio of the window length, on a longer input
(the length axis is dynamic) and on calibration audio: max abs error, that error relative to the largest |eager|
value, and the lowest cosine over rows.
"""
from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch
from torch import nn

from pipeline import __version__
from pipeline.config import check
from pipeline.fingerprint import file_fingerprint
from pipeline.inference.model import FrameEncoder, StudentModel
from pipeline.inference.quantize import QUANTIZERS, noise_audio, quantize

Runner = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ExportConfig:
    """Settings of the `export` stage (params section `export`)."""

    student: str = "demo"
    formats: tuple[Literal["pt2", "torchscript", "onnx", "pte"], ...] = ("pt2", "onnx")
    frames: bool = True
    quantize: bool = True
    int8_method: str = "pt2e"
    calibration_clips: int = 64
    check_batch: int = 4
    min_cosine_fp32: float = 0.999
    max_rel_error_fp32: float = 1e-3
    min_cosine_int8: float = 0.99
    opset: int = 18
    seed: int = 0

    def __post_init__(self):
        check(len(self.formats) > 0 or self.quantize or self.frames, "export.formats",
              "nothing to export (no formats, no frames, no int8)")
        check(len(set(self.formats)) == len(self.formats), "export.formats", f"duplicates in {self.formats}")
        check(self.int8_method in QUANTIZERS, "export.int8_method",
              f"unknown {self.int8_method!r}; valid: {sorted(QUANTIZERS)}")
        check(self.calibration_clips >= 1, "export.calibration_clips", "must be >= 1")
        check(self.check_batch >= 1, "export.check_batch", "must be >= 1")
        check(self.opset >= 18, "export.opset", f"the torch.export-based ONNX exporter writes >= 18, got {self.opset}")
        for name in ("min_cosine_fp32", "min_cosine_int8"):
            check(-1.0 <= getattr(self, name) <= 1.0, f"export.{name}", "must be in [-1, 1]")


class ExportError(RuntimeError):
    """An export could not be written."""


class InputLengthError(ValueError):
    """An export refuses an input of this length (outside the range it was exported for)."""


class ExportCheckError(ExportError):
    """An exported file disagrees with the eager model beyond the configured tolerance."""


def save_torchscript(module: nn.Module, example: torch.Tensor, path: Path, opset: int = 0) -> None:
    """Trace (shapes stay symbolic: no Python branches on them), freeze weights in, save."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TracerWarnings, STFT real-output and TorchScript deprecation notices
        traced = torch.jit.freeze(torch.jit.trace(module.eval(), example, check_trace=False))
        torch.jit.save(traced, str(path))


def save_onnx(module: nn.Module, example: torch.Tensor, path: Path, opset: int = 18) -> None:
    """ONNX through the `torch.export`-based exporter (`dynamo=True`, needs onnxscript), batch and length
    dynamic as in `save_exported`; the graph is optimised by onnxscript and written as one file."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise ExportError("the onnx format needs onnx, onnxscript and onnxruntime: pip install -e '.[onnx]'") from exc
    auto = torch.export.Dim.AUTO
    try:
        with warnings.catch_warnings(), torch.no_grad(), _quiet_onnx_exporter():
            warnings.simplefilter("ignore")
            torch.onnx.export(module.eval(), (example.repeat(2, 2),), str(path), dynamo=True, opset_version=opset,
                              input_names=["audio"], output_names=["embedding"], external_data=False,
                              dynamic_shapes=({0: auto, 1: auto},), verbose=False)
    except Exception as exc:
        raise ExportError(f"ONNX export failed: {str(exc).splitlines()[0]}") from exc


@contextlib.contextmanager
def _quiet_onnx_exporter():
    """Silence the exporter's progress lines (stdout) and its notes about optional torchvision operators."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


def save_exported(module: nn.Module, example: torch.Tensor, path: Path, opset: int = 0) -> None:
    """`torch.export` with batch and length dynamic (`Dim.AUTO`: export keeps the range the graph holds for),
    traced on two rows of twice the example's length so that no axis of a feature map is 1 (export would
    specialise on it); saved as `.pt2`. A window shorter than the network's total stride leaves a one-step map
    that the exported range cannot include: such an export takes longer inputs only, and its check lists the
    lengths it refused."""
    auto = torch.export.Dim.AUTO
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.export.export(module.eval(), (example.repeat(2, 2),), dynamic_shapes=({0: auto, 1: auto},))
    except Exception as exc:
        raise ExportError(f"torch.export failed: {str(exc).splitlines()[0]}") from exc
    torch.export.save(program, str(path))


def exported_runner(path: str | Path) -> Runner:
    """A loaded `torch.export` program as numpy (batch, samples) -> numpy (batch, dim)."""
    module = torch.export.load(str(path)).module()

    def run(audio: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            try:
                return module(torch.from_numpy(audio)).numpy()
            except (RuntimeError, AssertionError) as exc:  # export's shape guards raise these
                if "Guard failed" not in str(exc):
                    raise
                raise InputLengthError(f"{Path(path).name}: length {audio.shape[1]} outside its range") from exc
    return run


def save_executorch(module: nn.Module, example: torch.Tensor, path: Path, opset: int = 0) -> None:
    """An ExecuTorch program of one window (1, samples), every operator XNNPACK can run delegated to it."""
    try:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower
    except ImportError as exc:
        raise ExportError("the pte format needs ExecuTorch: pip install --no-deps executorch==1.5.1 "
                          "torchao==0.18.0") from exc
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        # a PT2E-converted graph is already in eval form (and refuses .eval()); any other module is set to eval
        ready = module if isinstance(module, torch.fx.GraphModule) else module.eval()
        program = torch.export.export(ready, (example[:1].contiguous(),))
        lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch()
    path.write_bytes(lowered.buffer)


def executorch_runner(path: str | Path) -> Runner:
    """An ExecuTorch program run by ExecuTorch's runtime, row by row: numpy (batch, samples) -> (batch, dim);
    other lengths than the exported window are refused (InputLengthError)."""
    from executorch.runtime import Runtime

    method = Runtime.get().load_program(str(path)).load_method("forward")
    length = method.metadata.input_tensor_meta(0).sizes()[1]

    def run(audio: np.ndarray) -> np.ndarray:
        if audio.shape[1] != length:
            raise InputLengthError(f"{Path(path).name} takes (1, {length}) windows, got length {audio.shape[1]}")
        return np.stack([method.execute([torch.from_numpy(row[None])])[0][0].numpy() for row in audio])
    return run


def torchscript_runner(path: str | Path) -> Runner:
    """A loaded TorchScript export as numpy (batch, samples) -> numpy (batch, dim)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 steers towards torch.export; still works
        module = torch.jit.load(str(path), map_location="cpu")

    def run(audio: np.ndarray) -> np.ndarray:
        with torch.no_grad():  # not inference_mode: quantised TorchScript graphs refuse inference tensors
            return module(torch.from_numpy(audio)).numpy()
    return run


def onnx_runner(path: str | Path, threads: int = 1) -> Runner:
    """An onnxruntime CPU session as numpy (batch, samples) -> numpy (batch, dim)."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ImportError("ONNX export checks need onnxruntime: pip install onnx onnxruntime") from exc
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda audio: session.run(None, {"audio": audio})[0]


# format name -> (file name, writer, runner)
FORMATS: dict[str, tuple[str, Callable, Callable[[Path], Runner]]] = {
    "pt2": ("student.pt2", save_exported, exported_runner),
    "torchscript": ("student.ts", save_torchscript, torchscript_runner),
    "onnx": ("student.onnx", save_onnx, onnx_runner),
    "pte": ("student.pte", save_executorch, executorch_runner),
}
FRAMES_FILE = "student.frames.pt2"  # torch.export of FrameEncoder: (batch, window) -> (batch, steps, dim)
INT8_FILE = "student.int8.ts"
INT8_PTE_FILE = "student.int8.pte"  # int8_method pt2e: PT2E int8 lowered to XNNPACK, run by ExecuTorch


def int8_file(method: str) -> str:
    """The int8 export's file name for `method`: ExecuTorch for PT2E, TorchScript for the FX methods."""
    return INT8_PTE_FILE if method == "pt2e" else INT8_FILE


def runner_for(path: str | Path) -> Runner:
    """The runner of the format whose file suffix `path` has (TorchScript for any other, e.g. `.int8.ts`)."""
    suffix = Path(path).suffix
    runners = {Path(name).suffix: runner for name, _, runner in FORMATS.values()}
    return runners.get(suffix, torchscript_runner)(path)


def compare(outputs: list[np.ndarray], references: list[np.ndarray]) -> dict:
    """Max abs error, the same relative to the largest |reference|, and the lowest row cosine."""
    def rows(arrays: list[np.ndarray]) -> np.ndarray:  # frame outputs (batch, steps, dim) count each step as a row
        return np.concatenate([a.reshape(-1, a.shape[-1]) for a in arrays]).astype(np.float64)

    out, ref = rows(outputs), rows(references)
    err = float(np.abs(out - ref).max())
    norms = np.linalg.norm(out, axis=1) * np.linalg.norm(ref, axis=1)  # fresh students can output ~1e-13
    cos = (out * ref).sum(1) / np.maximum(norms, np.finfo(np.float64).tiny)
    return {"max_abs_error": err, "max_rel_error": err / max(float(np.abs(ref).max()), 1e-12),
            "min_cosine": float(cos.min())}


def check_inputs(model: StudentModel, cfg: ExportConfig, calibration: np.ndarray | None) -> list[np.ndarray]:
    """Random audio of the window length, a longer random input, and a few calibration clips."""
    window = model.window_samples
    inputs = [noise_audio(cfg.check_batch, window, cfg.seed), noise_audio(1, window * 3 // 2, cfg.seed + 1)]
    if calibration is not None:
        inputs.append(calibration[: cfg.check_batch])
    return inputs


def checked(path: Path, inputs: list[np.ndarray], refs: list[np.ndarray], min_cosine: float,
            max_rel_error: float | None) -> dict:
    """Size, content hash and agreement with the eager model of one exported file."""
    run, outputs, kept, refused = runner_for(path), [], [], []
    for x, ref in zip(inputs, refs):
        try:
            outputs.append(run(x))
            kept.append(ref)
        except InputLengthError:  # .pt2 / .pte: a length outside the range they were exported for
            refused.append(int(x.shape[1]))
    if not outputs:
        raise ExportCheckError(f"{path.name} refused every check input (lengths {refused})")
    scores = compare(outputs, kept)
    passed = scores["min_cosine"] >= min_cosine and (max_rel_error is None or scores["max_rel_error"] <= max_rel_error)
    extra = {"refused_lengths": refused} if path.suffix in (".pt2", ".pte") else {}
    return {"bytes": path.stat().st_size, "fingerprint": file_fingerprint(path, {}), **extra, **scores,
            "min_cosine_required": min_cosine, "max_rel_error_allowed": max_rel_error, "passed": bool(passed)}


def export_student(model: StudentModel, out_dir: str | Path, cfg: ExportConfig,
                   calibration: np.ndarray | None = None) -> dict:
    """Write the configured exports of `model` into `out_dir`, check each one; returns the manifest."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    encoder = copy.deepcopy(model.encoder).cpu().eval()  # leave the caller's model where and as it is
    inputs = check_inputs(model, cfg, calibration)
    with torch.no_grad():
        refs = [encoder(torch.from_numpy(x)).numpy() for x in inputs]
    example = torch.from_numpy(inputs[0][:1])
    files = {}
    for fmt in cfg.formats:
        name, save, _ = FORMATS[fmt]
        save(encoder, example, out / name, cfg.opset)
        files[name] = {"format": fmt, **checked(out / name, inputs, refs, cfg.min_cosine_fp32,
                                                  cfg.max_rel_error_fp32)}
    if cfg.frames:
        files[FRAMES_FILE] = export_frames(encoder, model.window_samples, inputs, cfg, out / FRAMES_FILE)
    if cfg.quantize:
        # noise as well as corpus clips: observer ranges must cover any audio the export is used (and checked) on
        noise = noise_audio(cfg.calibration_clips, model.window_samples, cfg.seed + 2)
        calib = noise if calibration is None else np.concatenate([calibration, noise])
        name = int8_file(cfg.int8_method)
        save_int8(encoder, cfg, calib, example, out / name)
        kind = "executorch-xnnpack-int8" if name == INT8_PTE_FILE else "torchscript-int8"
        files[name] = {"format": f"{kind}-{cfg.int8_method}",
                       **checked(out / name, inputs, refs, cfg.min_cosine_int8, None)}
    return manifest(model, cfg, files, "corpus+noise" if calibration is not None else "noise")


def export_frames(encoder: nn.Module, window: int, inputs: list[np.ndarray], cfg: ExportConfig, path: Path) -> dict:
    """The frame-level graph (`FrameEncoder`) through `torch.export` for training-length windows (batch dynamic),
    checked against the eager frames on the window-length check inputs."""
    frames = FrameEncoder(encoder).eval()
    windows = [x for x in inputs if x.shape[1] == window]
    with torch.no_grad():
        refs = [frames(torch.from_numpy(x)).numpy() for x in windows]
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            example = torch.from_numpy(noise_audio(2, window, cfg.seed + 3))  # two rows: batch stays dynamic
            program = torch.export.export(frames, (example,), dynamic_shapes=({0: torch.export.Dim.AUTO},))
    except Exception as exc:
        raise ExportError(f"torch.export of the frame graph failed: {str(exc).splitlines()[0]}") from exc
    torch.export.save(program, str(path))
    return {"format": "pt2-frames", "steps": int(refs[0].shape[1]),
            **checked(path, windows, refs, cfg.min_cosine_fp32, cfg.max_rel_error_fp32)}


def save_int8(encoder: nn.Module, cfg: ExportConfig, calibration: np.ndarray, example: torch.Tensor,
              path: Path) -> None:
    """Quantise and save (TorchScript, or ExecuTorch for PT2E); a student whose layers the quantiser cannot
    handle fails clearly."""
    try:
        quantized = quantize(encoder, cfg.int8_method, calibration)
        if path.suffix == ".pte":
            save_executorch(quantized, example, path)
        else:
            save_torchscript(quantized, example, path)
    except (RuntimeError, TypeError, ImportError, torch.fx.proxy.TraceError) as exc:
        raise ExportError(f"int8 ({cfg.int8_method}) export of {cfg.student!r} failed: {exc}; set "
                          f"export.int8_method to another of {sorted(QUANTIZERS)} or export.quantize: false") from exc


def manifest(model: StudentModel, cfg: ExportConfig, files: dict, calibration: str) -> dict:
    """What a consumer of the exports needs: input and output contract, sizes, provenance, check results."""
    meta = model.config.meta
    return {"student": cfg.student, "student_fingerprint": model.fingerprint, "sample_rate": model.sample_rate,
            "embedding_dim": model.embedding_dim, "window_samples": model.window_samples, "params": model.params,
            "input": "float32 audio (batch, samples) at sample_rate, mono, any length",
            "output": "float32 (batch, embedding_dim)",
            "frames_output": f"{FRAMES_FILE}: float32 (batch, steps, embedding_dim) for (batch, window_samples) input"
            if cfg.frames else None, "int8_method": cfg.int8_method if cfg.quantize else None,
            "calibration": calibration if cfg.quantize else None, "opset": cfg.opset,
            "teachers": meta.get("teachers"), "teacher_fingerprints": meta.get("teacher_fingerprints"),
            "corpus_fingerprint": meta.get("corpus_fingerprint"), "torch": torch.__version__,
            "pipeline": __version__, "files": files, "passed": all(f["passed"] for f in files.values())}


def require_passed(manifest_data: dict) -> None:
    """Raise ExportCheckError naming every export that failed its check."""
    bad = [f"{name}: cosine {f['min_cosine']:.5f} (need >= {f['min_cosine_required']}), "
           f"rel error {f['max_rel_error']:.2e}" for name, f in manifest_data["files"].items() if not f["passed"]]
    if bad:
        raise ExportCheckError("export check failed: " + "; ".join(bad))
