"""Device selection: ``device="auto"`` means CUDA when present, else CPU."""
from __future__ import annotations

import torch


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto"``/``None``/a name into a :class:`torch.device`.

    ``"auto"`` picks ``cuda`` when a GPU is visible, then ``mps``, else ``cpu``.
    Asking for ``"cuda"`` on a machine without one raises a clear error.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' was requested but no CUDA GPU is visible; use device='auto' or 'cpu'")
    return device


def device_name(device: str | torch.device | None = "auto") -> str:
    """A human-readable name of the device, for tables ("NVIDIA H100", "CPU (2 threads)")."""
    device = resolve_device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    n = torch.get_num_threads()
    return f"{device.type.upper()} ({n} thread{'' if n == 1 else 's'})"
