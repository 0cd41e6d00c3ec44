"""Code generation: turn each partition into the artifacts a loader runs."""
