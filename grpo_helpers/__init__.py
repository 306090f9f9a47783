"""grpo_helpers: the plumbing and UI of the GRPO tutorial, so the notebooks can teach the algorithm.

Importing this package is light: it does not import torch, transformers, TRL or Unsloth, so a
notebook can still import Unsloth first (Unsloth patches transformers when it is imported).
"""

from grpo_helpers.answers import answers_match, extract_all_answers, extract_answer, extract_gsm8k_answer, normalize_answer
from grpo_helpers.config import make_config, validate_config
from grpo_helpers.config_checks import ConfigWarning, check_trainer_kwargs, find_problems
from grpo_helpers.config_io import default_config_path, load_config, save_config
from grpo_helpers.config_notes import batch_arithmetic, explain
from grpo_helpers.config_widget import ConfigWidget, config_widget
from grpo_helpers.default_model import DEFAULT_MODEL, GPU_MODEL, OfflineModelUnavailable, resolve_model, tutorial_model
from grpo_helpers.estimate import T4, calibration, estimate_step
from grpo_helpers.evaluate import EvalResult, changed_examples, compare_results, evaluate_gsm8k, gsm8k_subset
from grpo_helpers.export import (
    ExportUnavailable,
    check_reload,
    hub_token,
    load_adapter,
    push_to_hub,
    save_adapter,
    save_gguf,
    save_merged,
)
from grpo_helpers.generation import chat_generate
from grpo_helpers.gsm8k import load_gsm8k
from grpo_helpers.hardware import Hardware, choose_backend, detect_hardware, hardware_report, print_hardware_report
from grpo_helpers.health import HealthWarning, check_health
from grpo_helpers.install import ensure_environment
from grpo_helpers.modeling import LORA_TARGET_MODULES, add_lora, count_parameters, load_model
from grpo_helpers.prepare import filter_long_prompts, format_chat, format_grpo, length_stats, prepare_gsm8k, prompt_token_lengths
from grpo_helpers.presets import PRESET_NAMES, recommended_preset
from grpo_helpers.reward_checks import RewardFunctionError, check_reward_functions, sample_completions
from grpo_helpers.reward_model import EXAMPLE_REWARD_MODEL, RewardModelUnavailable, make_reward_model_reward
from grpo_helpers.reward_playground import RewardPlayground, reward_playground
from grpo_helpers.rewards import (
    ANSWER_FORMAT,
    ANSWER_INSTRUCTION,
    SYSTEM_PROMPT,
    completion_text,
    correctness_reward,
    format_answer,
    integer_answer_reward,
    make_overlong_penalty,
    score_completion,
    soft_format_reward,
    strict_format_reward,
    tutorial_rewards,
)
from grpo_helpers.settings import cache_dir, pick, quick_mode, run_dir
from grpo_helpers.training_control import (
    checkpoint_settings,
    drive_output_dir,
    early_stopping_callback,
    early_stopping_settings,
    latest_checkpoint,
    reward_plateau_stopper,
    train_with_interrupt_save,
)
from grpo_helpers.trl_api import accepted_loss_types

__all__ = [
    "ConfigWarning",
    "ConfigWidget",
    "DEFAULT_MODEL",
    "ExportUnavailable",
    "GPU_MODEL",
    "LORA_TARGET_MODULES",
    "Hardware",
    "HealthWarning",
    "OfflineModelUnavailable",
    "PRESET_NAMES",
    "T4",
    "EvalResult",
    "accepted_loss_types",
    "add_lora",
    "batch_arithmetic",
    "cache_dir",
    "calibration",
    "changed_examples",
    "chat_generate",
    "check_health",
    "check_reload",
    "check_trainer_kwargs",
    "checkpoint_settings",
    "choose_backend",
    "compare_results",
    "config_widget",
    "count_parameters",
    "default_config_path",
    "detect_hardware",
    "drive_output_dir",
    "early_stopping_callback",
    "early_stopping_settings",
    "ensure_environment",
    "estimate_step",
    "evaluate_gsm8k",
    "explain",
    "find_problems",
    "gsm8k_subset",
    "hardware_report",
    "hub_token",
    "latest_checkpoint",
    "load_adapter",
    "load_config",
    "load_gsm8k",
    "load_model",
    "make_config",
    "pick",
    "print_hardware_report",
    "push_to_hub",
    "quick_mode",
    "recommended_preset",
    "resolve_model",
    "reward_plateau_stopper",
    "run_dir",
    "save_adapter",
    "save_config",
    "save_gguf",
    "save_merged",
    "train_with_interrupt_save",
    "tutorial_model",
    "validate_config",
    "ANSWER_FORMAT",
    "ANSWER_INSTRUCTION",
    "EXAMPLE_REWARD_MODEL",
    "RewardFunctionError",
    "RewardModelUnavailable",
    "RewardPlayground",
    "SYSTEM_PROMPT",
    "answers_match",
    "check_reward_functions",
    "completion_text",
    "correctness_reward",
    "extract_all_answers",
    "extract_answer",
    "extract_gsm8k_answer",
    "filter_long_prompts",
    "format_answer",
    "format_chat",
    "format_grpo",
    "integer_answer_reward",
    "length_stats",
    "make_overlong_penalty",
    "make_reward_model_reward",
    "normalize_answer",
    "prepare_gsm8k",
    "prompt_token_lengths",
    "reward_playground",
    "sample_completions",
    "score_completion",
    "soft_format_reward",
    "strict_format_reward",
    "tutorial_rewards",
]
