"""onnxoptimizer's passes that are safe for inference, each a switchable ovaot pass with a level."""

from __future__ import annotations

from dataclasses import dataclass

import onnxoptimizer
from onnx import ModelProto

from ovaot.passes.base import PassResult
from ovaot.passes.weights import set_weights_aside

# Passes that read the values of large weights; the others only read small constants (pads, axes, shapes).
_READ_WEIGHTS = {"fuse_bn_into_conv", "fuse_add_bias_into_conv", "eliminate_duplicate_initializer"}


@dataclass(frozen=True)
class OnnxOptimizerPass:
    name: str
    opt_level: int
    description: str
    requires: tuple[str, ...] = ()

    def __call__(self, model: ModelProto) -> PassResult:
        before = graph_signature(model)
        if self.name in _READ_WEIGHTS:
            optimized = onnxoptimizer.optimize(model, [self.name])
        else:
            # onnxoptimizer copies the whole model in and out; large weights it does not read wait outside.
            # Like every pass, this consumes its input: only the result gets the weights back.
            stash = set_weights_aside(model)
            try:
                optimized = onnxoptimizer.optimize(model, [self.name])
            except BaseException:
                stash.restore(model)
                raise
            stash.restore(optimized)
        return PassResult(optimized, graph_signature(optimized) != before)


def graph_signature(model: ModelProto) -> tuple[bytes, ...]:
    """What a pass can change that matters: the nodes, the initializers and the outputs (not value_info)."""
    graph = model.graph
    return (
        *(n.SerializeToString(deterministic=True) for n in graph.node),
        b"|",
        *(f"{t.name}:{t.data_type}:{list(t.dims)}".encode() for t in graph.initializer),
        b"|",
        *(o.name.encode() for o in graph.output),
    )


_BASIC = {
    "eliminate_identity": "remove Identity nodes",
    "eliminate_nop_cast": "remove Cast to the type the tensor already has",
    "eliminate_nop_flatten": "remove Flatten that keeps the shape",
    "eliminate_nop_transpose": "remove Transpose with the identity permutation",
    "eliminate_nop_pad": "remove Pad with all-zero pads",
    "eliminate_nop_concat": "remove Concat of a single input",
    "eliminate_nop_split": "remove Split into a single output",
    "eliminate_nop_expand": "remove Expand to a shape the tensor already has",
    "eliminate_nop_reshape": "remove Reshape to the shape the tensor already has",
    "eliminate_nop_monotone_argmax": "remove a monotone op (Exp, Log, Softmax...) before ArgMax",
    "eliminate_if_with_const_cond": "replace If on a constant condition by the branch taken",
    "eliminate_deadend": "remove nodes whose outputs nothing uses",
    "eliminate_unused_initializer": "remove initializers nothing reads",
    "eliminate_duplicate_initializer": "merge initializers with equal contents",
}
_EXTENDED = {
    "fuse_bn_into_conv": "fold BatchNormalization into the Conv before it",
    "fuse_add_bias_into_conv": "fold an Add of a constant into the Conv's bias",
    "fuse_matmul_add_bias_into_gemm": "turn MatMul + Add of a constant into Gemm",
    "fuse_transpose_into_gemm": "fold a Transpose of a Gemm input into transA/transB",
    "fuse_consecutive_transposes": "merge two Transposes into one",
    "fuse_pad_into_conv": "fold a constant Pad into the Conv's pads",
    "fuse_pad_into_pool": "fold a constant Pad into the pooling op's pads",
    "fuse_consecutive_squeezes": "merge two Squeezes",
    "fuse_consecutive_unsqueezes": "merge two Unsqueezes",
    "fuse_consecutive_concats": "merge a Concat feeding a Concat on the same axis",
    "fuse_consecutive_log_softmax": "turn Log(Softmax(x)) into LogSoftmax",
    "fuse_consecutive_reduce_unsqueeze": "fold Unsqueeze after a keepdims=0 reduction into keepdims=1",
    "fuse_consecutive_slices": "merge consecutive Slices on different axes",
    "fuse_concat_into_reshape": "turn a Concat of constants that feeds Reshape's shape into a constant",
    "eliminate_shape_gather": "fold Gather of a static Shape into a constant",
    "eliminate_slice_after_shape": "fold Slice of a static Shape into a constant",
    "eliminate_shape_op": "fold Shape of a statically shaped tensor into a constant",
}
_ALL = {
    "replace_einsum_with_matmul": "turn Einsum patterns that are matrix products into MatMul",
}

ONNXOPTIMIZER_PASSES = [
    *(OnnxOptimizerPass(name, 1, text) for name, text in _BASIC.items()),
    *(OnnxOptimizerPass(name, 2, text) for name, text in _EXTENDED.items()),
    *(OnnxOptimizerPass(name, 3, text) for name, text in _ALL.items()),
]
