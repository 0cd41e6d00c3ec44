"""Every optimisation pass ovaot offers, in the order they run."""

from __future__ import annotations

from ovaot.passes.base import Pass
from ovaot.passes.eliminate import (
    EliminateCommonSubexpression,
    EliminateConsecutiveIdempotentOps,
    EliminateNopDropout,
    EliminateNopWithUnit,
)
from ovaot.passes.folding import FoldConstants, FoldShapes
from ovaot.passes.ml import ML_LOWERING_PASSES
from ovaot.passes.normalize import NORMALIZE_PASSES
from ovaot.passes.onnxoptimizer_passes import ONNXOPTIMIZER_PASSES
from ovaot.passes.openvino_defects import OPENVINO_DEFECT_PASS
from ovaot.passes.qoperator import QOPERATOR_LOWERING_PASS


def optimisation_passes(fold_limit_bytes: int = 1 << 20) -> list[Pass]:
    basic = [p for p in ONNXOPTIMIZER_PASSES if p.opt_level == 1]
    later = [p for p in ONNXOPTIMIZER_PASSES if p.opt_level > 1]
    own_basic = [EliminateNopDropout(), EliminateNopWithUnit(), EliminateConsecutiveIdempotentOps()]
    # Constant folding runs last: fusions such as fuse_bn_into_conv leave constant arithmetic for it to fold.
    return [
        FoldShapes(),
        *basic,
        *own_basic,
        *ML_LOWERING_PASSES,
        QOPERATOR_LOWERING_PASS,
        OPENVINO_DEFECT_PASS,
        EliminateCommonSubexpression(),
        *later,
        FoldConstants(limit_bytes=fold_limit_bytes),
    ]


def describe_passes() -> list[dict[str, object]]:
    """The passes as `ovaot passes --json` lists them; normalisations always run (level "always")."""
    always = [{"name": p.name, "level": "always", "description": p.description} for p in NORMALIZE_PASSES]
    names = {0: "every", 1: "basic", 2: "extended", 3: "all"}
    return always + [
        {"name": p.name, "level": names[p.opt_level], "description": p.description} for p in optimisation_passes()
    ]
