"""Named GRPO configurations (seed 003's basic / aggressive / conservative, plus the two the
tutorial runs: quick_cpu for CI and Binder, colab_t4 for a free Colab GPU) and the precision
settings each machine gets.

A preset holds only what the algorithm is about (generation, policy optimisation, training
dynamics) and the bookkeeping shared by every run. Precision, the optimiser and the output folder
come from the hardware, so the same preset runs on a CPU, a T4 and an H100.
"""

from __future__ import annotations

from grpo_helpers.hardware import Hardware, bitsandbytes_installed

# Shared by every preset: Adam's second-moment decay of 0.99 (RL rewards are noisy, a shorter
# memory than the usual 0.999 follows them), weight decay on the LoRA weights, a log line every
# step (GRPO runs are short and each step matters), no external experiment tracker, a fixed seed.
COMMON = {
    "adam_beta1": 0.9,
    "adam_beta2": 0.99,
    "weight_decay": 0.1,
    "lr_scheduler_type": "cosine",
    "logging_steps": 1,
    "save_strategy": "steps",
    "save_steps": 50,
    "report_to": "none",
    "seed": 3407,
    "scale_rewards": "group",
    "epsilon": 0.2,
    "epsilon_high": None,
    "mask_truncated_completions": False,
    "gradient_checkpointing": True,
}

PRESETS = {
    # The GRPO of the DeepSeekMath paper: 8 samples per prompt, a KL pull towards the reference
    # model, the per-sequence mean loss. A good first run.
    "basic": {
        "num_generations": 8,
        "temperature": 0.9,
        "max_completion_length": 256,
        "beta": 0.04,
        "loss_type": "grpo",
        "learning_rate": 5e-6,
        "per_device_train_batch_size": 8,
        "gradient_accumulation_steps": 1,
        "max_steps": 250,
        "warmup_steps": 0.1,
        "max_grad_norm": 0.1,
    },
    # Learn fast, accept noise: fewer samples per prompt (more prompts per step), no KL term (no
    # reference pass), DAPO's token-level loss with its clip-higher bound, a 4x larger step.
    "aggressive": {
        "num_generations": 4,
        "temperature": 1.0,
        "max_completion_length": 256,
        "beta": 0.0,
        "loss_type": "dapo",
        "epsilon_high": 0.28,
        "learning_rate": 2e-5,
        "per_device_train_batch_size": 8,
        "gradient_accumulation_steps": 1,
        "max_steps": 150,
        "warmup_steps": 0.05,
        "max_grad_norm": 0.5,
    },
    # Stable and slow: 16 samples per prompt (a better baseline), a strong KL pull, Dr. GRPO's
    # unbiased loss (no length or difficulty bias), a small step, two prompts per update.
    "conservative": {
        "num_generations": 16,
        "temperature": 0.7,
        "max_completion_length": 256,
        "beta": 0.1,
        "loss_type": "dr_grpo",
        "scale_rewards": "none",
        "learning_rate": 1e-6,
        "per_device_train_batch_size": 16,
        "gradient_accumulation_steps": 2,
        "max_steps": 500,
        "warmup_steps": 0.1,
        "max_grad_norm": 0.1,
    },
    # What CI and Binder run on a CPU: SmolLM2-135M learning the answer format in under ten minutes
    # on 2 cores (benchmarks/cpu_learning.py; docs/benchmarks.md has the measured runs). Two
    # prompts per step with 4 samples each: a step's reward averages two problems, so the curve
    # shows the trend rather than one problem's luck, at the cost of 8 completions a step. 48
    # tokens: enough for a short solution and the answer tag, and a cut-off ramble earns nothing,
    # which teaches brevity fast. Temperature 0.7 (1.0 drifts into rambling); the largest LoRA step
    # the config checks accept; no KL, DAPO's token-level loss. reward_weights follow
    # tutorial_rewards' order and switch the overlong penalty off: when nearly every completion is
    # cut off it is a constant -0.5 that only hides the format rewards' progress.
    "quick_cpu": {
        "num_generations": 4,
        "temperature": 0.7,
        "max_completion_length": 48,
        "reward_weights": [1.0, 1.0, 1.0, 1.0, 0.0],
        "beta": 0.0,
        "loss_type": "dapo",
        "epsilon_high": 0.28,
        "learning_rate": 2e-4,
        "per_device_train_batch_size": 8,
        "gradient_accumulation_steps": 1,
        "max_steps": 14,
        "warmup_steps": 0,
        "lr_scheduler_type": "constant",
        "max_grad_norm": 0.1,
        "save_strategy": "no",
        "gradient_checkpointing": False,
    },
    # A free Colab T4 (15 GB, no bf16) with the 1.5B model in 4-bit: basic's algorithm with 6
    # samples per prompt and shorter completions, so a step takes well under a minute.
    "colab_t4": {
        "num_generations": 6,
        "temperature": 0.9,
        "max_completion_length": 200,
        "beta": 0.04,
        "loss_type": "grpo",
        "learning_rate": 5e-6,
        "per_device_train_batch_size": 6,
        "gradient_accumulation_steps": 1,
        "max_steps": 250,
        "warmup_steps": 0.1,
        "max_grad_norm": 0.1,
    },
}

PRESET_NAMES = tuple(PRESETS)

# The fields a preset sets: always written to a saved config, even where they equal TRL's default
# (defaults differ between TRL versions and Unsloth's config class).
PRESET_FIELDS = tuple(dict.fromkeys([*COMMON, *(k for p in PRESETS.values() for k in p)]))
PRECISION_FIELDS = ("bf16", "fp16", "use_cpu", "optim", "bf16_full_eval", "fp16_full_eval")


def preset_values(name: str) -> dict:
    """The settings of preset ``name`` (COMMON overlaid with the preset's own)."""
    if name not in PRESETS:
        raise ValueError(f"preset={name!r} is not a preset: use one of {', '.join(PRESET_NAMES)}")
    return {**COMMON, **PRESETS[name]}


def precision_settings(hardware: Hardware, bitsandbytes: bool | None = None) -> dict:
    """bf16 where the GPU has it, fp16 on older GPUs (T4, V100), full precision on the CPU
    (``use_cpu=True``); the 8-bit Adam of bitsandbytes only on CUDA with bitsandbytes installed.

    ``bitsandbytes`` overrides the check for the installed package (for tests and planning).
    """
    if not hardware.has_cuda:
        return {"bf16": False, "fp16": False, "use_cpu": True, "optim": "adamw_torch"}
    has_bnb = bitsandbytes_installed() if bitsandbytes is None else bitsandbytes
    return {
        "bf16": hardware.bf16,
        "fp16": not hardware.bf16,
        "use_cpu": False,
        "optim": "adamw_8bit" if has_bnb else "adamw_torch",
        # Evaluation in the training precision: Unsloth's trainer sets these to match bf16/fp16
        # when both are off, so setting them here keeps the config exactly as built.
        "bf16_full_eval": hardware.bf16,
        "fp16_full_eval": not hardware.bf16,
    }


# On a CUDA GPU a GRPO step is nearly all generation, and decoding is bound by a fixed cost per
# token (kernel launches, Python, 4-bit dequantisation), not by the batch: 32 completions take
# little longer than 8. So GPU configs generate once for every GPU_GENERATION_ROUNDS optimizer
# steps (TRL's steps_per_generation): on an H100 with the Qwen2.5-1.5B shape this made a step 2.2x
# faster with Unsloth and 4.2x with plain TRL (benchmarks/gpu_backends.py, docs/benchmarks.md).
# The later steps of a round learn from completions of a policy up to 3 updates old, which GRPO's
# clipped importance ratio accounts for; 8 rounds were faster still (4.4x) but staler. vLLM
# (Unsloth's fast_inference) would be faster again where it installs; it is not a dependency here.
GPU_GENERATION_ROUNDS = 4


def generation_settings(hardware: Hardware, settings: dict, overrides: dict) -> dict:
    """``steps_per_generation`` = GPU_GENERATION_ROUNDS x gradient_accumulation_steps on a CUDA GPU,
    unless ``overrides`` sets steps_per_generation or generation_batch_size; nothing on a CPU,
    where generating 4x the completions costs nearly 4x the time."""
    if not hardware.has_cuda or "steps_per_generation" in overrides or "generation_batch_size" in overrides:
        return {}
    return {"steps_per_generation": GPU_GENERATION_ROUNDS * settings.get("gradient_accumulation_steps", 1)}


def recommended_preset(hardware: Hardware) -> str:
    """``quick_cpu`` without a CUDA GPU, ``colab_t4`` on a GPU without bf16 or under 20 GiB,
    ``basic`` on a bigger GPU."""
    if not hardware.has_cuda:
        return "quick_cpu"
    if not hardware.bf16 or (hardware.vram_gib or 0) < 20:
        return "colab_t4"
    return "basic"
