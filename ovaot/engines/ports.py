"""How a compiled model's ports bind to the tensors a partition consumes and produces."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from ovaot.errors import DeviceError


def port_binding(ports: Sequence[Collection[str]], tensors: list[str], recorded: Sequence[str] = ()) -> list[str]:
    """The tensor each port takes or gives, in port order: by tensor name, else as recorded at compile time.

    OpenVINO renames a parameter that feeds a result directly (an identity Einsum): the imported blob's port
    carries only the output's name. The compiler records the binding it saw before export
    (Partition.input_ports); OpenVINO may also drop parameters nothing reads.
    """
    binding = []
    for position, names in enumerate(ports):
        named = [name for name in tensors if name in names]
        if named:
            binding.append(named[0])
        elif len(recorded) == len(ports):
            binding.append(recorded[position])
        else:
            raise DeviceError(f"compiled partition port {sorted(names)} matches none of {tensors}")
    return binding
