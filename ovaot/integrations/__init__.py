"""ovaot inside other tools: onnx's backend interface (onnx_backend), a PEP 517 build backend that compiles a
project's models (build_backend), and ovaot.load of an ONNX model, compiled first (jit)."""
