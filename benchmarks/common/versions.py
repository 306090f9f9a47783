"""The versions a benchmark result depends on, recorded in every summary."""

from __future__ import annotations

import importlib.metadata as metadata
import platform

PACKAGES = ("torch", "transformers", "trl", "peft", "accelerate", "bitsandbytes", "unsloth", "unsloth_zoo", "vllm")


def package_versions() -> dict:
    """Python's version and that of each of ``PACKAGES`` that is installed."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found
