"""EfficientAT tensor names -> ours, checked against names written out by hand from EfficientAT's modules."""
from __future__ import annotations

import torch

from pipeline.students.efficientat import convert, dynamic_kernel, is_builtin_constant, looks_like, our_name

# EfficientAT name (models/mn/model.py + block_types.py, models/dymn/model.py + dy_block.py) -> our name
KNOWN = {
    "features.0.0.weight": "features.0.0.weight",
    "features.0.1.running_var": "features.0.1.running_var",
    "features.4.block.2.conc_se_layers.0.fc1.weight": "features.4.block.2.fc1.weight",
    "features.4.block.2.conc_se_layers.0.fc2.bias": "features.4.block.2.fc2.bias",
    "features.4.block.2.conc_se_layers.1.fc1.weight": "features.4.block.2.conc_se_layers.1.fc1.weight",  # f-SE
    "features.16.1.num_batches_tracked": "features.16.1.num_batches_tracked",
    "in_c.0.weight": "stem.0.weight",
    "in_c.1.bias": "stem.1.bias",
    "out_c.1.running_mean": "last.1.running_mean",
    "layers.3.context_gen.joint_conv.weight": "blocks.3.context.joint.0.weight",
    "layers.3.context_gen.joint_norm.running_mean": "blocks.3.context.joint.1.running_mean",
    "layers.3.context_gen.conv_f.bias": "blocks.3.context.to_freq.bias",
    "layers.3.context_gen.conv_t.weight": "blocks.3.context.to_time.weight",
    "layers.3.exp_conv.weight": "blocks.3.expand.weight",
    "layers.3.exp_conv.residuals.0.weight": "blocks.3.expand.attention.weight",
    "layers.3.exp_norm.weight": "blocks.3.expand_norm.0.weight",
    "layers.3.depth_conv.weight": "blocks.3.depth.weight",
    "layers.3.depth_conv.residuals.0.bias": "blocks.3.depth.attention.bias",
    "layers.3.depth_norm.running_var": "blocks.3.depth_norm.running_var",
    "layers.3.depth_act.coef_net.0.weight": "blocks.3.depth_act.coefs.weight",
    "layers.3.proj_conv.weight": "blocks.3.project.weight",
    "layers.3.proj_conv.residuals.0.weight": "blocks.3.project.attention.weight",
    "layers.3.proj_norm.bias": "blocks.3.project_norm.bias",
    "layers.12.block.0.0.weight": "blocks.12.block.0.0.weight",  # a plain block of a replace_se DyMN: no match
}


def test_names_map_as_written_by_hand():
    assert {k: our_name(k) for k in KNOWN} == KNOWN


def test_only_efficientat_names_are_recognised():
    assert looks_like({"classifier.5.bias": torch.zeros(1)})
    assert looks_like({"features.4.block.2.conc_se_layers.0.fc1.weight": torch.zeros(1)})
    assert looks_like({"in_c.0.weight": torch.zeros(1)})
    assert not looks_like({"features.4.block.2.fc1.weight": torch.zeros(1), "stem.0.weight": torch.zeros(1)})


def test_dynamic_kernel_is_reshaped_in_memory_order():
    ours = torch.randn(4, 8, 3, 1, 1)  # (K, out, in, k, k)
    theirs = ours.reshape(1, 1, 4, -1)  # EfficientAT's storage with att_groups = 1
    assert torch.equal(dynamic_kernel("blocks.1.expand.weight", theirs, ours.shape), ours)
    grouped = ours.reshape(1, 2, 2, -1)  # att_groups = 2: another layout, left for the shape check to report
    assert dynamic_kernel("blocks.1.expand.weight", grouped, ours.shape).shape == grouped.shape
    assert dynamic_kernel("stem.0.weight", theirs, ours.shape).shape == theirs.shape


def test_dyrelu_constants_are_ignored_only_with_the_built_in_values():
    assert is_builtin_constant("layers.0.depth_act.lambdas", torch.tensor([1.0, 1.0, 0.5, 0.5]))
    assert is_builtin_constant("layers.0.depth_act.init_v", torch.tensor([1.0, 0.0, 0.0, 0.0]))
    assert not is_builtin_constant("layers.0.depth_act.lambdas", torch.tensor([1.0, 1.0, 0.3, 0.3]))
    state = {"classifier.2.weight": torch.zeros(2, 2), "layers.0.depth_act.lambdas": torch.tensor([1.0, 0.5]),
             "layers.0.depth_act.init_v": torch.tensor([0.0, 1.0]), "in_c.0.weight": torch.zeros(1)}
    tensors, ignored = convert(state, {})
    assert ignored == ("classifier.2.weight", "layers.0.depth_act.lambdas")
    assert set(tensors) == {"blocks.0.depth_act.init_v", "stem.0.weight"}  # odd init_v kept: reported unexpected
