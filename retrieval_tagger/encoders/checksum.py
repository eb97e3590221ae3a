"""Checksums of model weights, so an index can tell whether it is queried with the
exact encoder that built it."""

from __future__ import annotations

import hashlib

import torch


def state_dict_sha256(module: torch.nn.Module) -> str:
    """sha256 over parameter and buffer names, dtypes, shapes and bytes, in a stable order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        tensor = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        if tensor.numel():
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
