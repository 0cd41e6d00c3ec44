"""The onnx wheel's light models as the benchmarks use them: seeded weights of the real shapes."""

from __future__ import annotations

import onnx

from tests.helpers import LIGHT_DIR, with_random_weights


def light_model(name: str, seed: int = 7) -> tuple[onnx.ModelProto, str]:
    """light_<name>.onnx with seeded weights and only its own output (with_random_weights exposes the logits
    too), and the name of its one input."""
    model = with_random_weights(onnx.load(LIGHT_DIR / f"light_{name}.onnx"), seed=seed)
    del model.graph.output[1:]
    weights = {t.name for t in model.graph.initializer}
    [input_name] = [i.name for i in model.graph.input if i.name not in weights]
    return model, input_name
