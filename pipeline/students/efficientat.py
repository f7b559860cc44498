"""EfficientAT checkpoint names -> this package's student names (names only: no EfficientAT code is used).

EfficientAT (github.com/fschmid56/EfficientAT) releases its weights (mn10_im.pt, mn10_as_mAP_471.pt,
dymn10_im.pt, ...) as plain state dicts of two classes:

- `MN` (models/mn/model.py, blocks in models/mn/block_types.py): `features.0` stem, `features.1-15` inverted
  residuals `features.<i>.block.<j>`, `features.16` last conv, each conv/norm/act a torchvision
  ConvNormActivation (`.0` conv, `.1` BatchNorm). Our MobileNetV3 keeps this layout and these indices; only the
  squeeze-excitation differs: EfficientAT wraps it in a ConcurrentSEBlock whose `conc_se_layers.0` is the
  channel SE (se_dims="c", the released setting), ours is the SE module itself.
- `DyMN` (models/dymn/model.py, blocks in models/dymn/dy_block.py): `in_c` stem, `layers.<i>` dynamic blocks,
  `out_c` last conv, renamed throughout (`DYMN_BLOCK` below). A DynamicConv kernel is stored as
  (1, att_groups, K, out * in/groups * k * k), built from (K, out, in/groups, k, k) by a reshape; with
  att_groups = 1 it is the same memory order as our (K, out, in/groups, k, k), so it is reshaped back.

Both end in a `classifier` (MLP or conv head) that our students do not have: those tensors are ignored. DyMN's
DyReLU stores two constant buffers (`lambdas` = [1]*M + [0.5]*M, `init_v` = [1, 0, ...]) that our DyReLU builds
in (`slope_init`, the 0.5 intercept scale); they are ignored when they hold those values.
"""
from __future__ import annotations

import math
import re
from typing import Mapping

import torch

# EfficientAT MN: channel SE inside a ConcurrentSEBlock -> our SqueezeExcite at the same block index
MN_SE = re.compile(r"^(features\.\d+\.block\.\d+)\.conc_se_layers\.0\.")

# EfficientAT DyMN top-level modules -> ours
DYMN_TOP = (("in_c.", "stem."), ("out_c.", "last."))
DYMN_LAYER = re.compile(r"^layers\.(\d+)\.(.+)$")  # -> blocks.<i>.<renamed rest>

# EfficientAT DY_Block sub-module prefix -> our DyBlock prefix (first match wins)
DYMN_BLOCK = (
    ("context_gen.joint_conv.", "context.joint.0."),
    ("context_gen.joint_norm.", "context.joint.1."),
    ("context_gen.conv_f.", "context.to_freq."),
    ("context_gen.conv_t.", "context.to_time."),
    ("exp_conv.residuals.0.", "expand.attention."),
    ("exp_conv.weight", "expand.weight"),
    ("exp_norm.", "expand_norm.0."),
    ("depth_conv.residuals.0.", "depth.attention."),
    ("depth_conv.weight", "depth.weight"),
    ("depth_norm.", "depth_norm."),
    ("depth_act.coef_net.0.", "depth_act.coefs."),
    ("proj_conv.residuals.0.", "project.attention."),
    ("proj_conv.weight", "project.weight"),
    ("proj_norm.", "project_norm."),
)
DYNAMIC_KERNELS = (".expand.weight", ".depth.weight", ".project.weight")
DYRELU_CONSTANT = re.compile(r"^layers\.\d+\.depth_act\.(lambdas|init_v)$")
CLASSIFIER = "classifier."
MARKERS = (CLASSIFIER, "in_c.", "out_c.", "layers.")


def looks_like(state: Mapping[str, torch.Tensor]) -> bool:
    """Whether a plain state dict carries EfficientAT names (a classifier, DyMN modules or a ConcurrentSEBlock)."""
    return any(k.startswith(MARKERS) or ".conc_se_layers." in k for k in state)


def our_name(key: str) -> str:
    """EfficientAT tensor name -> our name (unchanged where the two layouts agree)."""
    key = MN_SE.sub(r"\1.", key)
    for theirs, ours in DYMN_TOP:
        if key.startswith(theirs):
            return ours + key[len(theirs):]
    match = DYMN_LAYER.match(key)
    if match is None:
        return key
    rest = match[2]
    for theirs, ours in DYMN_BLOCK:
        if rest.startswith(theirs):
            rest = ours + rest[len(theirs):]
            break
    return f"blocks.{match[1]}.{rest}"


def is_builtin_constant(key: str, value: torch.Tensor) -> bool:
    """A DyReLU `lambdas` / `init_v` buffer holding the values our DyReLU builds in."""
    if DYRELU_CONSTANT.match(key) is None or value.dim() != 1 or value.numel() % 2:
        return False
    m = value.numel() // 2
    expected = [1.0] * m + [0.5] * m if key.endswith("lambdas") else [1.0] + [0.0] * (2 * m - 1)
    return torch.equal(value.float(), torch.tensor(expected))


def dynamic_kernel(name: str, value: torch.Tensor, shape: torch.Size | None) -> torch.Tensor:
    """EfficientAT's (1, 1, K, out*in*k*k) dynamic-conv kernel as our (K, out, in, k, k); anything else unchanged."""
    fits = (shape is not None and name.endswith(DYNAMIC_KERNELS) and value.dim() == 4 and len(shape) == 5
            and tuple(value.shape[:3]) == (1, 1, shape[0]) and value.numel() == math.prod(shape))
    return value.reshape(shape) if fits else value


def convert(state: Mapping[str, torch.Tensor], target_shapes: Mapping[str, torch.Size]
            ) -> tuple[dict[str, torch.Tensor], tuple[str, ...]]:
    """An EfficientAT state dict in our names: (tensors, ignored EfficientAT names: classifier and constants)."""
    out, ignored = {}, []
    for key, value in state.items():
        if key.startswith(CLASSIFIER) or is_builtin_constant(key, value):
            ignored.append(key)
            continue
        name = our_name(key)
        out[name] = dynamic_kernel(name, value, target_shapes.get(name))
    return out, tuple(sorted(ignored))
