"""Switches read from environment variables, in one place.

- ``GRPO_QUICK=1``: quick mode. Every notebook shrinks its work (fewer examples, fewer tokens,
  fewer steps) so that the whole learning path runs in CI in minutes. Same code, smaller numbers.
- ``GRPO_CACHE_DIR``: where converted models are cached (default ``~/.cache/grpo_helpers``).
- ``GRPO_RUN_DIR``: where notebooks write what they produce (plots, metrics, adapters);
  ``make run`` sets it to ``runs/<timestamp>/``. Default: ``runs/latest`` under the current folder.
- ``GRPO_MODEL``: the model every notebook uses (a Hub id or a local folder) instead of the
  default (SmolLM2-135M-Instruct on a CPU, Qwen2.5-1.5B-Instruct on a CUDA GPU).
- ``GRPO_BACKEND``: force a backend (``unsloth``, ``bitsandbytes`` or ``transformers``) instead
  of the one chosen from the hardware.
"""

from __future__ import annotations

import os
from pathlib import Path

QUICK_ENV = "GRPO_QUICK"
CACHE_ENV = "GRPO_CACHE_DIR"
RUN_DIR_ENV = "GRPO_RUN_DIR"
BACKEND_ENV = "GRPO_BACKEND"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def quick_mode() -> bool:
    """True when ``GRPO_QUICK`` asks for the small, fast version of every notebook."""
    value = os.environ.get(QUICK_ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{QUICK_ENV}={value!r} is not understood: set it to 1 (quick mode) or 0 (full run).")


_UNSET = object()


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def pick(full, quick, cpu=_UNSET):
    """``quick`` in quick mode, else ``full``: ``N_EXAMPLES = pick(full=200, quick=8)``.

    ``cpu``, when given, replaces ``full`` on a machine without a CUDA GPU, for the numbers that
    would take hours there (``pick(full=200, quick=4, cpu=30)``): a full run on a laptop stays
    within minutes per notebook.
    """
    if quick_mode():
        return quick
    if cpu is not _UNSET and not _has_cuda():
        return cpu
    return full


def cache_dir() -> Path:
    """The folder that holds converted models; created on first use."""
    path = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "grpo_helpers").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_dir() -> Path:
    """The folder this run's outputs go to; created on first use."""
    path = Path(os.environ.get(RUN_DIR_ENV) or Path("runs") / "latest").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
