"""Int8 versions of a student encoder for CPU deployment.

`dynamic` quantises only nn.Linear weights (activations are quantised on the fly); in the CNN students
the only Linear layers are the small squeeze-excitation gates, so it changes little. `static` is FX
graph-mode post-training quantisation of the backbone: int8 convolutions and linears with activation
ranges calibrated on real audio; the log-mel front-end stays float32 because STFT and log need the range.
"""
from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from pipeline.corpus import Corpus, CorpusError
from pipeline.inference.torch_ops import retain_replaced_ops

retain_replaced_ops()  # the FX path below defines quantised ops overload by overload


def quantize_dynamic_int8(encoder: nn.Module, calibration: np.ndarray) -> nn.Module:
    """Linear layers with int8 weights; `calibration` is unused (dynamic ranges)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao deprecation notice, the API still works
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(encoder).eval(), {nn.Linear}, dtype=torch.qint8)


def quantize_static_int8(encoder: nn.Module, calibration: np.ndarray, batch_size: int = 8) -> nn.Module:
    """Backbone convolutions and linears in int8 after observing `calibration` (n, samples) audio."""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    engine = torch.backends.quantized.engine
    mapping = get_default_qconfig_mapping(engine).set_module_name("frontend", None)
    example = torch.from_numpy(calibration[:1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = prepare_fx(copy.deepcopy(encoder).eval(), mapping, (example,))
        with torch.no_grad():
            for i in range(0, len(calibration), batch_size):
                prepared(torch.from_numpy(calibration[i: i + batch_size]))
        return contiguous_means(convert_fx(prepared))


def contiguous_means(graph: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """Copy every `.mean` input to standard strides: quantised mean fails on channels-last (batch, C, 1, 1) maps.

    `.contiguous()` would be a no-op there (size-1 dims count as contiguous either way), hence a clone.
    """
    for node in list(graph.graph.nodes):
        if node.op == "call_method" and node.target == "mean":
            with graph.graph.inserting_before(node):
                flat = graph.graph.call_method("clone", (node.args[0],), {"memory_format": torch.contiguous_format})
            node.replace_input_with(node.args[0], flat)
    graph.recompile()
    return graph


def quantize_pt2e_int8(encoder: nn.Module, calibration: np.ndarray) -> nn.Module:
    """PT2E post-training quantisation (torchao) for XNNPACK: the encoder exported for one window (1, samples),
    the backbone's convolutions and linears annotated int8 (weights per channel, symmetric), activation ranges
    observed on each calibration row. The log-mel front-end stays float: its STFT and mel matmuls span the power
    spectrum's whole dynamic range, which one int8 scale cannot hold (quantised, a trained demo student kept cosine
    0.13-0.75 to eager on its learnt dimensions; float, >= 0.997). The result holds quantise/dequantise pairs around
    float ops: it runs int8 once lowered to XNNPACK (ExecuTorch, pipeline.export's `pte-int8`), and as a float
    reference in torch."""
    try:
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                             get_symmetric_quantization_config)
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    except ImportError as exc:
        raise ImportError("PT2E int8 needs torchao and executorch: pip install --no-deps executorch==1.5.1 "
                          "torchao==0.18.0") from exc
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    quantizer.set_filter_function(in_backbone)
    example = torch.from_numpy(calibration[:1])
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        prepared = prepare_pt2e(torch.export.export(copy.deepcopy(encoder).eval(), (example,)).module(), quantizer)
        for row in calibration:
            prepared(torch.from_numpy(row[None]))
        return convert_pt2e(prepared)


def in_backbone(node: torch.fx.Node) -> bool:
    """Whether an exported graph's node comes from the encoder's backbone (not its front-end)."""
    stack = node.meta.get("nn_module_stack") or {}
    return any(str(path).startswith("backbone") for path, _ in stack.values())


QUANTIZERS: dict[str, Callable[[nn.Module, np.ndarray], nn.Module]] = {
    "dynamic": quantize_dynamic_int8,
    "static": quantize_static_int8,
    "pt2e": quantize_pt2e_int8,
}


def quantize(encoder: nn.Module, method: str, calibration: np.ndarray) -> nn.Module:
    """Int8 copy of `encoder` by `method` (the original is left untouched)."""
    if method not in QUANTIZERS:
        raise ValueError(f"unknown int8 method {method!r}; valid: {sorted(QUANTIZERS)}")
    model = QUANTIZERS[method](encoder, calibration)
    return model if isinstance(model, torch.fx.GraphModule) else model.eval()


def noise_audio(n: int, samples: int, seed: int, amplitude: float = 0.1) -> np.ndarray:
    """(n, samples) float32 Gaussian noise: check input, and calibration when no corpus is at hand."""
    return (amplitude * np.random.default_rng(seed).standard_normal((n, samples))).astype(np.float32)


def corpus_audio(corpus: Corpus, n: int, samples: int) -> np.ndarray:
    """(n, samples) float32: the first `samples` of `n` clips spread evenly over the corpus (zero-padded)."""
    rows = np.unique(np.linspace(0, len(corpus) - 1, min(n, len(corpus))).round().astype(int))
    return np.stack([corpus.segment(int(r), 0, samples) for r in rows])


def corpus_calibration(path: str | Path | None, n: int, sample_rate: int, samples: int) -> np.ndarray | None:
    """`corpus_audio` of the corpus at `path`; None when there is none, or it is unreadable or at another rate."""
    if path is None:
        return None
    try:
        corpus = Corpus(path)
    except CorpusError:
        return None
    return corpus_audio(corpus, n, samples) if corpus.sample_rate == sample_rate else None
