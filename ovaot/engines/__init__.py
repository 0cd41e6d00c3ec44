"""The two engines both sides run models on: OpenVINO through its C API (ov_c; the loader, the export worker)
and onnx.reference with ovaot's fixes (reference; the fallback, folding, validation), how a compiled
model's ports bind to tensor names (ports), and whether an exported blob computes what its compiled model does
(blob_check; the export worker, ovaot verify)."""
