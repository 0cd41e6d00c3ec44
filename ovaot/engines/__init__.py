"""The two engines both sides run models on: OpenVINO through its C API (ov_c; the loader, the export worker)
and onnx.reference with ovaot's fixes (reference; the fallback, folding, validation), and how a compiled
model's ports bind to tensor names (ports)."""
