"""Notebook 01's exercise, solved: ``footprint_bytes``, the memory a model's parameters and buffers take as
stored, which is what ``get_memory_footprint()`` reports."""

import torch


def footprint_bytes(model: torch.nn.Module) -> int:
    """The bytes of every parameter and buffer of ``model``: numel() x element_size() each (a 4-bit weight
    is stored packed, two to a byte, so its numel() already counts bytes). ``parameters()`` and ``buffers()``
    list a tensor shared by two layers (tied embeddings) once."""
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)
