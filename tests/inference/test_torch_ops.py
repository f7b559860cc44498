"""Replaced operator objects stay alive, so their ids in TorchScript's built-in table never name a new object."""
import uuid

import torch
from torch.jit._builtins import _find_builtin

from pipeline.inference.torch_ops import RETIRED, retain_replaced_ops


def test_an_overload_added_later_does_not_free_the_op_torchscript_knows_by_id():
    retain_replaced_ops()
    retain_replaced_ops()  # idempotent: one wrapper, not two
    assert torch._ops._refresh_packet.retains_replaced_ops
    namespace = "ssondo_test_" + uuid.uuid4().hex[:8]
    lib = torch.library.Library(namespace, "DEF")
    lib.define("twice(Tensor x) -> Tensor")
    packet = getattr(getattr(torch.ops, namespace), "twice")
    old = packet._op
    old_id = id(old)
    assert _find_builtin(old) is not None  # TorchScript knows the op by this id
    lib.define("twice.scaled(Tensor x, float s) -> Tensor")  # a second overload: torch swaps the packet's op
    assert packet._op is not old
    del old
    # the id TorchScript still holds names the same (kept) object, never one allocated later
    assert any(id(op) == old_id for op in RETIRED)


def test_a_student_scripts_after_int8_quantisation_in_the_same_process():
    """The sequence that made tests/students' TorchScript checks fail at random: quantise, then script."""
    import numpy as np

    from pipeline.inference.quantize import quantize_static_int8
    from pipeline.students.registry import build_student

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = build_student("mobilenetv3", {"width": 0.2})

        def forward(self, audio: torch.Tensor) -> torch.Tensor:
            return self.backbone(audio.reshape(audio.shape[0], 64, -1))

    quantize_static_int8(Encoder(), np.random.default_rng(0).standard_normal((2, 64 * 40)).astype(np.float32))
    stale = [op for op in RETIRED if _find_builtin(op) is not None]
    assert stale, "quantisation defined no overload: this test no longer covers the refresh"
    model = build_student("dymn", {"width": 0.2}).eval()
    spec = torch.randn(2, 64, 30)
    torch.testing.assert_close(torch.jit.script(model)(spec), model(spec))
