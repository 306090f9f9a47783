"""grpo_helpers: the plumbing and UI of the GRPO tutorial, so the notebooks can teach the algorithm.

Importing this package is light: it does not import torch, transformers, TRL or Unsloth, so a
notebook can still import Unsloth first (Unsloth patches transformers when it is imported).
"""

from grpo_helpers.default_model import DEFAULT_MODEL, GPU_MODEL, OfflineModelUnavailable, resolve_model, tutorial_model
from grpo_helpers.generation import chat_generate
from grpo_helpers.gsm8k import load_gsm8k
from grpo_helpers.hardware import Hardware, choose_backend, detect_hardware, hardware_report, print_hardware_report
from grpo_helpers.install import ensure_environment
from grpo_helpers.modeling import LORA_TARGET_MODULES, add_lora, count_parameters, load_model
from grpo_helpers.settings import cache_dir, pick, quick_mode, run_dir

__all__ = [
    "DEFAULT_MODEL",
    "GPU_MODEL",
    "LORA_TARGET_MODULES",
    "Hardware",
    "OfflineModelUnavailable",
    "add_lora",
    "cache_dir",
    "chat_generate",
    "choose_backend",
    "count_parameters",
    "detect_hardware",
    "ensure_environment",
    "hardware_report",
    "load_gsm8k",
    "load_model",
    "pick",
    "print_hardware_report",
    "quick_mode",
    "resolve_model",
    "run_dir",
    "tutorial_model",
]
