"""Keep the operator objects torch replaces alive, so TorchScript never mistakes a new object for an operator.

TorchScript recognises a built-in operator by the `id()` of its Python object (`torch.jit._builtins`, a table
built at `import torch`). When a library adds an overload to an operator that already has a Python packet
(the int8 quantisation path defines `quantized_decomposed::quantize_per_tensor` one overload after another),
torch swaps the packet's op object for a new one and registers the new id, but the old id stays in the table
and the old object is freed. The next object Python allocates at that address (a module, a list attribute of a
Conv2d, anything) is then taken for an operator by `torch.jit.script`, which fails with "builtin cannot be used
as a value" on code that compiles everywhere else: an error that depends on what ran before in the process and
on where the allocator puts things. Holding every replaced op keeps its address taken for good.
"""
from __future__ import annotations

import torch
import torch._ops

RETIRED: list = []  # op objects replaced by a packet refresh, kept alive on purpose


def retain_replaced_ops() -> None:
    """From now on, keep each op object a packet refresh replaces (idempotent; process-wide)."""
    refresh = torch._ops._refresh_packet
    if getattr(refresh, "retains_replaced_ops", False):
        return

    def refresh_keeping_old(packet) -> None:
        RETIRED.append(packet._op)
        refresh(packet)

    refresh_keeping_old.retains_replaced_ops = True
    torch._ops._refresh_packet = refresh_keeping_old
