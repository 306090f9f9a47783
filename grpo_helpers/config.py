"""config: merged from trl_api, presets, config_checks, config_notes, config, config_io.

[trl_api] What the installed TRL accepts, read from TRL itself rather than written down here.

The tutorial runs on two TRL versions (1.16 in the CPU environment, 1.15 with Unsloth on a GPU)
and Unsloth replaces ``trl.GRPOConfig`` with its own subclass when it is imported. So the config
code asks the installed classes: which fields ``GRPOConfig`` has, which loss types its
documentation lists, which arguments ``GRPOTrainer`` takes.


[presets] Named GRPO configurations (seed 003's basic / aggressive / conservative, plus the two the
tutorial runs: quick_cpu for CI and Binder, colab_t4 for a free Colab GPU) and the precision
settings each machine gets.

A preset holds only what the algorithm is about (generation, policy optimisation, training
dynamics) and the bookkeeping shared by every run. Precision, the optimiser and the output folder
come from the hardware, so the same preset runs on a CPU, a T4 and an H100.


[config_checks] The checks a GRPO configuration goes through before any training starts.

Each check looks at plain settings (a dict of GRPOConfig field values) and says, for every
problem, which field is wrong and what to change it to. Errors stop ``make_config``; warnings
(values that run but rarely do what you want) are shown and kept. The same checks run live in
the config widget and on a finished config in ``validate_config``.


[config_notes] What each GRPO setting changes in the algorithm, in a sentence that depends on its value.

``explain(name, value, settings)`` is what the config widget shows next to each control;
``batch_arithmetic(settings)`` turns the batch settings into prompts and completions per step.


[config] ``make_config``: a checked ``trl.GRPOConfig`` from a named preset and your changes, and
``validate_config``: the checks that need the model, the tokenizer and the dataset.

    config = make_config("basic", learning_rate=1e-5)          # raises ValueError on bad values
    validate_config(config, model, tokenizer, train_dataset)    # before GRPOTrainer(...)


[config_io] Save a GRPOConfig to a JSON file and load it back (notebook 05 saves, notebook 06 loads).

The file holds the settings that make this config what it is: every field that differs from
TRL's own default (not Unsloth's, so the file means the same in both environments), plus the fields the presets set and the precision (written even when they equal
the default, because defaults differ between TRL versions and Unsloth's config class). Loading
builds ``GRPOConfig(**settings)`` again, so the loaded config equals the saved one.

Nothing is left out quietly: a secret (``hub_token``) is not written and the save says so; a
value that JSON cannot hold is an error naming the field.
"""

from __future__ import annotations

import dataclasses
import re
from functools import lru_cache
from grpo_helpers.environment import Hardware, bitsandbytes_installed
import difflib
import importlib.util
import math
from dataclasses import dataclass, field
import warnings
from grpo_helpers.environment import Hardware, detect_hardware
from grpo_helpers.environment import run_dir
import enum
import json
from pathlib import Path


# ---- trl_api

# The four loss types seed 003 teaches. Used only if TRL's documentation of ``loss_type`` can no
# longer be parsed (the API-drift test in tests/test_config.py fails first in that case).
SEED_LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo")


def grpo_config_class():
    """``trl.GRPOConfig`` as it is now (Unsloth's subclass when Unsloth has patched TRL)."""
    from trl import GRPOConfig

    return GRPOConfig


def plain_grpo_config_class():
    """TRL's own GRPOConfig, even after Unsloth has put its subclass in ``trl.GRPOConfig``."""
    from trl.trainer.grpo_config import GRPOConfig

    return GRPOConfig


def trl_version() -> str:
    import trl

    return trl.__version__


def config_fields() -> dict:
    """``{name: dataclasses.Field}`` for every field ``GRPOConfig(...)`` accepts."""
    return {f.name: f for f in dataclasses.fields(grpo_config_class()) if f.init}


def field_default(name: str):
    """The class-level default of a ``GRPOConfig`` field (before ``__post_init__`` resolves it)."""
    field = config_fields()[name]
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    raise ValueError(f"GRPOConfig.{name} has no default: give it a value")


@lru_cache(maxsize=4)
def _loss_types_of(help_text: str, class_doc: str) -> tuple[str, ...]:
    found: list[str] = []
    sentence = re.search(r"Supported values are (.+?)\.\s", help_text, flags=re.S)
    if sentence:
        found += re.findall(r"'([a-z_]+)'", sentence.group(1))
    # The class docstring lists them as bullets: - `"grpo"`: ...
    block = class_doc.split("loss_type (", 1)[-1].split("mask_truncated_completions (", 1)[0] if class_doc else ""
    found += re.findall(r'- `"([a-z_]+)"`', block)
    return tuple(dict.fromkeys(found))


def accepted_loss_types() -> tuple[str, ...]:
    """The ``loss_type`` values the installed TRL documents, in its order."""
    cls = grpo_config_class()
    help_text = config_fields()["loss_type"].metadata.get("help", "")
    found = _loss_types_of(help_text, cls.__doc__ or "")
    return found or SEED_LOSS_TYPES


def trainer_arguments() -> tuple[str, ...]:
    """The keyword arguments ``GRPOTrainer(...)`` accepts.

    Unsloth's trainer subclass takes ``**kwargs`` and hands them to TRL's, so the classes are read
    along the inheritance chain until one ``__init__`` names all it takes.
    """
    import inspect

    from trl import GRPOTrainer

    names: dict[str, None] = {}
    for cls in GRPOTrainer.__mro__:
        if "__init__" not in vars(cls):
            continue
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
        names.update((p.name, None) for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return tuple(names)


# ---- presets

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


# ---- config_checks

LEARNING_RATE_RANGE = (1e-7, 2e-4)  # LoRA GRPO runs use 1e-6 .. 5e-5; outside this, a warning

_TRAINER = "GRPOTrainer(...)"
_TO_TRAINER = "it is an argument of the trainer, not of the config"

# Names from older guides (TRL 0.x, early Unsloth notebooks) and where that setting lives now.
OLD_CONFIG_NAMES = {
    "max_new_tokens": "use max_completion_length (the GRPOConfig name for the tokens each completion may have)",
    "max_prompt_length": "TRL 1.x no longer truncates prompts, so this setting is gone: filter over-long prompts "
    "out of the dataset (notebook 04) and let validate_config(config, model, tokenizer, dataset) check that the "
    "longest prompt + max_completion_length fits the model's max_seq_length",
    "max_seq_length": "pass it to load_model(model_name, max_seq_length=...): it belongs to the model",
    "warmup_ratio": "use warmup_steps: a value below 1 is a fraction of max_steps (warmup_ratio=0.1 -> warmup_steps=0.1)",
    "evaluation_strategy": "use eval_strategy",
    "kl_coef": "use beta (the KL coefficient)",
    "reward_fn": f"pass reward_funcs=[...] to {_TRAINER}: {_TO_TRAINER}",
    "reward_funcs": f"pass reward_funcs=[...] to {_TRAINER}: {_TO_TRAINER}",
    "reward_function": f"pass reward_funcs=[...] to {_TRAINER}: {_TO_TRAINER}",
    "tokenizer": f"pass processing_class=tokenizer to {_TRAINER}: {_TO_TRAINER}",
    "processing_class": f"pass processing_class=tokenizer to {_TRAINER}: {_TO_TRAINER}",
    "model": f"load it with load_model(...) and pass model=model to {_TRAINER}",
    "model_name": "pass it to load_model(model_name)",
    "resume_from_checkpoint": "pass it to trainer.train(resume_from_checkpoint=path or True): the trainer never "
    "reads it from the config, so set there it would be ignored",
}

OLD_TRAINER_NAMES = {
    "tokenizer": "use processing_class=tokenizer",
    "reward_fn": "use reward_funcs=[your_reward, ...]",
    "reward_function": "use reward_funcs=[your_reward, ...]",
    "reward_functions": "use reward_funcs=[your_reward, ...]",
    "config": "use args=config",
    "resume_from_checkpoint": "the trainer does not take it: call trainer.train(resume_from_checkpoint=path or True)",
    "max_seq_length": "pass it to load_model(model_name, max_seq_length=...)",
}


class ConfigWarning(UserWarning):
    """A GRPO setting that runs but is rarely what you want (the message says why and what to try)."""


@dataclass
class Problems:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def error(self, name: str, text: str) -> None:
        self.errors.append(f"{name}: {text}")

    def warn(self, name: str, text: str) -> None:
        self.warnings.append(f"{name}: {text}")

    def extend(self, other: Problems) -> None:
        self.errors += other.errors
        self.warnings += other.warnings

    def raise_errors(self, what: str = "GRPO config") -> None:
        if self.errors:
            lines = "\n".join(f"  - {e}" for e in self.errors)
            raise ValueError(f"{what} has {len(self.errors)} problem(s):\n{lines}")


def check_names(names, problems: Problems | None = None) -> Problems:
    """Every name must be a GRPOConfig field; old names say where their setting lives now."""
    problems = problems or Problems()
    fields = config_fields()
    for name in names:
        if name in OLD_CONFIG_NAMES:
            problems.error(name, f"not a GRPOConfig setting in this TRL: {OLD_CONFIG_NAMES[name]}")
        elif name not in fields:
            close = difflib.get_close_matches(name, fields, n=3)
            hint = f"did you mean {' or '.join(close)}?" if close else "see the GRPOConfig documentation for the names"
            problems.error(name, f"GRPOConfig has no field of this name: {hint}")
    return problems


def check_trainer_kwargs(kwargs) -> Problems:
    """Arguments meant for ``GRPOTrainer(...)``: old names and config settings given to the trainer."""
    problems = Problems()
    accepted = trainer_arguments()
    fields = config_fields()
    for name in kwargs:
        if name in OLD_TRAINER_NAMES:
            problems.error(name, f"GRPOTrainer has no argument of this name: {OLD_TRAINER_NAMES[name]}")
        elif name in accepted:
            continue
        elif name in fields:
            problems.error(
                name,
                f"this is a GRPOConfig setting, not a trainer argument: build the config with "
                f"make_config(..., {name}=...) and pass GRPOTrainer(args=config)",
            )
        else:
            problems.error(name, f"GRPOTrainer has no argument of this name; it takes {', '.join(accepted)}")
    return problems


def check_reward_weights(reward_weights, reward_funcs) -> Problems:
    """One weight per reward function (TRL refuses a mismatch only when the trainer is built)."""
    problems = Problems()
    if reward_weights is None or reward_funcs is None:
        return problems
    funcs = reward_funcs if isinstance(reward_funcs, (list, tuple)) else [reward_funcs]
    if len(reward_weights) != len(funcs):
        names = [getattr(f, "__name__", str(f)) for f in funcs]
        problems.error(
            "reward_weights",
            f"{len(reward_weights)} weights {list(reward_weights)} for {len(funcs)} reward functions {names}: give one "
            "weight per function, in the same order, or set reward_weights=None (every function weighs 1)",
        )
    return problems


class _Settings:
    """Looks up a setting, falling back to GRPOConfig's default for fields not given."""

    def __init__(self, settings: dict):
        self.settings = settings

    def __getitem__(self, name):
        return self.settings[name] if name in self.settings else field_default(name)


def _is_int(value, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_batch(s, problems: Problems, num_processes: int = 1) -> None:
    """GRPO compares the completions of one prompt, so every generation batch must hold whole
    groups of ``num_generations`` completions."""
    g, per_device, accumulation = s["num_generations"], s["per_device_train_batch_size"], s["gradient_accumulation_steps"]
    errors_before = len(problems.errors)
    if not _is_int(g, 2):
        problems.error(
            "num_generations",
            f"{g!r} completions per prompt cannot give an advantage (each reward is compared with the "
            "others of its group): use at least 2, typically 4 to 16",
        )
    if not _is_int(per_device, 1):
        problems.error("per_device_train_batch_size", f"{per_device!r} must be a whole number >= 1")
    if not _is_int(accumulation, 1):
        problems.error("gradient_accumulation_steps", f"{accumulation!r} must be a whole number >= 1")
    if len(problems.errors) > errors_before:
        return  # the divisibility check needs whole numbers
    generation_batch, steps = s["generation_batch_size"], s["steps_per_generation"]
    if generation_batch is not None and steps is not None:
        problems.error(
            "generation_batch_size", "set either generation_batch_size or steps_per_generation, not both: set one to None"
        )
        return
    if generation_batch is not None:
        if generation_batch % (per_device * num_processes):
            problems.error(
                "generation_batch_size",
                f"{generation_batch} must be a multiple of per_device_train_batch_size x GPUs "
                f"= {per_device * num_processes}",
            )
        what = f"generation_batch_size ({generation_batch})"
    else:
        generation_batch = per_device * (steps or accumulation) * num_processes
        source = "steps_per_generation" if steps else "gradient_accumulation_steps"
        what = (
            f"the generation batch = per_device_train_batch_size x {source} x GPUs = "
            f"{per_device} x {steps or accumulation} x {num_processes} = {generation_batch}"
        )
    if generation_batch % g:
        step = g // math.gcd(g, generation_batch // per_device)
        fixes = [f"per_device_train_batch_size to a multiple of {step} (e.g. {step * math.ceil(per_device / step)})"]
        divisors = [d for d in range(2, generation_batch + 1) if generation_batch % d == 0]
        if divisors:
            best = min(divisors, key=lambda d: (abs(d - g), -d))
            fixes.append(f"num_generations to a divisor of {generation_batch} (e.g. {best})")
        problems.error(
            "num_generations",
            f"{what} is not divisible by num_generations={g}, so a prompt's group would be split across batches. "
            f"Set {' or '.join(fixes)}",
        )


def check_sampling(s, problems: Problems) -> None:
    temperature, top_p, length = s["temperature"], s["top_p"], s["max_completion_length"]
    if not _is_number(temperature) or temperature <= 0:
        problems.error(
            "temperature",
            f"{temperature!r} must be > 0: GRPO needs different completions for the same prompt, which "
            "only sampling gives. Use 0.7 to 1.0",
        )
    elif temperature > 1.5:
        problems.warn("temperature", f"{temperature} makes completions close to random text: try 0.7 to 1.2")
    elif temperature < 0.3:
        problems.warn(
            "temperature",
            f"{temperature} makes the completions of a group nearly identical, so their rewards tie and the "
            "advantages are zero (no learning signal): try 0.7 to 1.0",
        )
    if not _is_number(top_p) or not 0 < top_p <= 1:
        problems.error("top_p", f"{top_p!r} must be in (0, 1]; 1.0 keeps every token")
    if not _is_int(length, 1):
        problems.error(
            "max_completion_length",
            f"{length!r} must be a positive number of tokens: GSM8K reasoning needs about 150 to 300 (e.g. 256)",
        )
    elif length < 32:
        problems.warn("max_completion_length", f"{length} tokens is too few to write a worked answer: use 64 or more")


def check_optimisation(s, problems: Problems) -> None:
    beta, lr, epsilon, iterations = s["beta"], s["learning_rate"], s["epsilon"], s["num_iterations"]
    if not _is_number(beta) or beta < 0:
        problems.error(
            "beta",
            f"{beta!r} must be >= 0: it weighs the KL penalty that keeps the policy near the reference "
            "model (0 turns it off, 0.04 is the GRPO paper's value)",
        )
    elif beta > 1:
        problems.warn("beta", f"{beta} holds the policy so close to the reference that it barely learns: try 0.0 to 0.1")
    if not _is_number(lr) or lr <= 0:
        problems.error("learning_rate", f"{lr!r} must be a positive number, e.g. 5e-6")
    elif not LEARNING_RATE_RANGE[0] <= lr <= LEARNING_RATE_RANGE[1]:
        low, high = LEARNING_RATE_RANGE
        effect = "the adapters will barely move" if lr < low else "updates this large often collapse the policy"
        problems.warn("learning_rate", f"{lr:g} is outside the usual {low:g} to {high:g} for LoRA GRPO: {effect}")
    if not _is_number(epsilon) or epsilon <= 0:
        problems.error("epsilon", f"{epsilon!r} must be > 0: it is the clipping range of the policy ratio (0.2 is usual)")
    if not _is_int(iterations, 1):
        problems.error("num_iterations", f"{iterations!r} must be a whole number >= 1 (1 = one update per batch)")
    if s["max_steps"] <= 0 and s["num_train_epochs"] <= 0:
        problems.error("max_steps", "set max_steps > 0 (or num_train_epochs > 0), or training does nothing")


def check_loss_type(s, problems: Problems) -> None:
    """Each loss type with the settings it needs (its companions)."""
    loss, level = s["loss_type"], s["importance_sampling_level"]
    accepted = accepted_loss_types()
    if loss not in accepted:
        problems.error("loss_type", f"{loss!r} is not a loss type of this TRL: use one of {', '.join(accepted)}")
        return
    if level not in ("token", "sequence"):
        problems.error("importance_sampling_level", f"{level!r} must be 'token' or 'sequence'")
    scale = {True: "group", False: "none"}.get(s["scale_rewards"], s["scale_rewards"])
    if scale not in ("group", "batch", "none"):
        problems.error("scale_rewards", f"{scale!r} must be 'group', 'batch' or 'none'")
    if loss == "dr_grpo":
        if scale != "none":
            problems.error(
                "scale_rewards",
                "loss_type='dr_grpo' removes both of GRPO's biases: the length normalisation (in the loss) and the "
                "division by the group's reward std (in the advantage). Set scale_rewards='none' "
                "(Unsloth would otherwise switch it for you)",
            )
    elif loss == "cispo":
        high = s["epsilon_high"]
        if high is None or high < 1:
            problems.error(
                "epsilon_high",
                f"loss_type='cispo' caps each importance weight at epsilon_high itself, so {high!r} "
                "(None means epsilon=0.2) would cap every weight below 1: set epsilon_high=5.0 (ScaleRL's value)",
            )
    elif loss == "luspo" and level != "sequence":
        problems.error("importance_sampling_level", "loss_type='luspo' is a sequence-level loss: set importance_sampling_level='sequence'")
    elif loss == "vespo":
        if level != "token":
            problems.error(
                "importance_sampling_level",
                "loss_type='vespo' builds its sequence weights from token ratios: set importance_sampling_level='token'",
            )
        if s["use_vllm"] and s["vllm_importance_sampling_correction"] and not str(
            s["vllm_importance_sampling_mode"]
        ).startswith("token_"):
            problems.error("vllm_importance_sampling_mode", "loss_type='vespo' with vLLM needs 'token_truncate' or 'token_mask'")
    elif loss == "sapo":
        for name in ("sapo_temperature_pos", "sapo_temperature_neg"):
            if not _is_number(s[name]) or s[name] <= 0:
                problems.error(name, f"{s[name]!r} must be > 0 for loss_type='sapo' (defaults 1.0 and 1.05)")
    if level == "sequence" and loss in ("bnpo", "dr_grpo", "dapo", "cispo"):
        problems.warn(
            "importance_sampling_level",
            f"'sequence' with loss_type={loss!r} weights each sequence by its length; for GSPO use loss_type='grpo'",
        )
    if loss == "dapo" and s["beta"] not in (0, 0.0) and _is_number(s["beta"]):
        problems.warn("beta", "the DAPO paper trains without the KL term: beta=0.0 matches it")


def check_precision(s, problems: Problems, hardware: Hardware, bitsandbytes: bool | None = None) -> None:
    bf16, fp16, use_cpu, optim = s["bf16"], s["fp16"], s["use_cpu"], str(getattr(s["optim"], "value", s["optim"]))
    where = hardware.gpu_name or "this CPU"
    if bf16 and fp16:
        problems.error("bf16", "bf16 and fp16 are both True: keep one (bf16 on Ampere or newer GPUs, fp16 on a T4 or V100)")
    if bf16 and not (hardware.bf16 and not use_cpu):
        fix = "set bf16=False, fp16=True (fp16 mixed precision)" if hardware.has_cuda else "set bf16=False (the CPU path trains in float32)"
        problems.error("bf16", f"bf16 is requested but {where} has no bfloat16 support: {fix}")
    if fp16 and (not hardware.has_cuda or use_cpu):
        problems.error("fp16", "fp16 mixed precision needs a CUDA GPU: set fp16=False on the CPU")
    if not hardware.has_cuda and not use_cpu:
        problems.error("use_cpu", "this machine has no CUDA GPU: set use_cpu=True (make_config does this for you)")
    if hardware.has_cuda and use_cpu:
        problems.warn("use_cpu", f"use_cpu=True trains on the CPU although {where} is here: set use_cpu=False")
    if "8bit" in optim or "bnb" in optim:
        has_bnb = bitsandbytes_installed() if bitsandbytes is None else bitsandbytes
        if not (hardware.has_cuda and has_bnb and not use_cpu):
            why = "this machine has no CUDA GPU" if not hardware.has_cuda else "bitsandbytes is not installed"
            problems.error("optim", f"{optim!r} needs bitsandbytes on a CUDA GPU and {why}: set optim='adamw_torch'")
    if s["use_vllm"] and importlib.util.find_spec("vllm") is None:
        problems.error("use_vllm", "vLLM is not installed: set use_vllm=False (generation then uses transformers)")


def find_problems(
    settings: dict, hardware: Hardware | None = None, num_processes: int = 1, bitsandbytes: bool | None = None
) -> Problems:
    """Every problem of ``settings`` (GRPOConfig field values; missing fields take TRL's defaults).

    ``hardware`` enables the precision checks; ``num_processes`` is the number of GPUs training
    together (the generation batch spans all of them).
    """
    problems = check_names(settings)  # the value checks below read known fields only
    s = _Settings(settings)
    check_batch(s, problems, num_processes)
    check_sampling(s, problems)
    check_optimisation(s, problems)
    check_loss_type(s, problems)
    if hardware is not None:
        check_precision(s, problems, hardware, bitsandbytes)
    return problems


# ---- config_notes

LOSS_TYPE_NOTES = {
    "grpo": "the GRPO paper's loss: each completion's token losses are averaged over its own length, then "
    "completions are averaged. A short correct answer gets a larger push per token than a long one, and a "
    "long wrong answer a smaller penalty per token (length bias).",
    "bnpo": "token losses summed over the micro-batch and divided by its number of tokens: every token weighs "
    "the same, but the result depends on the micro-batch size (with 1 completion per micro-batch it is grpo).",
    "dr_grpo": "Dr. GRPO: token losses summed and divided by a constant (completions x max_completion_length), "
    "and rewards not divided by the group's std: no length bias and no bias towards easy or hard questions.",
    "dapo": "DAPO (TRL's default): token losses summed over the whole accumulated batch and divided by its "
    "number of tokens: every token weighs the same whatever the batch split; pairs with epsilon_high=0.28.",
    "cispo": "CISPO (MiniMax-M1): clips the importance weight itself (at epsilon_high, e.g. 5.0) rather than "
    "the update, so no token is dropped from the gradient; normalised like dapo.",
    "sapo": "SAPO: a smooth, temperature-controlled gate replaces hard clipping; normalised per sequence like grpo.",
    "luspo": "LUSPO: a sequence-level loss (GSPO with each sequence scaled by its length); needs "
    "importance_sampling_level='sequence'.",
    "vespo": "VESPO: a smooth asymmetric weighting of sequence-level importance ratios instead of clipping.",
}


def batch_arithmetic(settings, num_processes: int = 1) -> dict:
    """Completions and prompts per optimizer step for ``settings`` (a dict or a GRPOConfig), and
    how many optimizer steps one generation round feeds (``steps_per_generation`` or
    ``generation_batch_size`` larger than an optimizer step's batch)."""
    get = settings.get if isinstance(settings, dict) else lambda k, d=None: getattr(settings, k, d)
    per_device = get("per_device_train_batch_size", 8)
    accumulation = get("gradient_accumulation_steps", 1) or 1
    generation_batch = get("generation_batch_size", None)
    if generation_batch:
        generation_steps = generation_batch / (per_device * num_processes)
    else:
        generation_steps = get("steps_per_generation", None) or accumulation
    completions = per_device * accumulation * num_processes
    g = get("num_generations", 8)
    return {
        "completions per step": completions,
        "prompts per step": completions / g,
        "completions per micro-batch": per_device,
        "micro-batches per step": accumulation,
        "steps per generation round": generation_steps / accumulation,
    }


def _num_generations(g, s) -> str:
    if g < 2:
        return f"{g}: no group to compare with, so no advantage: use at least 2."
    quality = (
        "a noisy baseline: with few samples, many groups score all-equal and teach nothing"
        if g < 6
        else "a solid baseline (the group mean) for each completion's advantage"
        if g <= 16
        else "a very precise baseline, at a high price"
    )
    return f"{g} completions per prompt: {quality}. Generation time and memory grow with it."


def _temperature(t, s) -> str:
    if t <= 0:
        return f"{t}: must be > 0. GRPO needs different completions for one prompt."
    if t < 0.5:
        return f"{t}: near-greedy. The group's completions look alike, rewards tie, advantages vanish."
    if t <= 1.1:
        return f"{t}: varied but sensible completions: the group spans right and wrong answers to learn from."
    return f"{t}: very random completions; above ~1.3 most are nonsense and score 0."


def _beta(b, s) -> str:
    if b < 0:
        return f"{b}: must be >= 0 (a negative KL weight pushes the policy away from the reference)."
    if b == 0:
        return "0: no KL penalty and no reference-model pass (faster, less memory). The policy may drift; watch for reward hacking."
    if b <= 0.1:
        return f"{b}: a gentle pull towards the reference model: keeps language fluent while rewards rise."
    return f"{b}: a strong pull to the reference model: stable, but rewards rise slowly."


def _loss_type(loss, s) -> str:
    return LOSS_TYPE_NOTES.get(loss, f"{loss}: see the TRL documentation of GRPOConfig.loss_type.")


def _learning_rate(lr, s) -> str:
    if lr <= 0:
        return f"{lr:g}: must be positive."
    if lr < 1e-6:
        return f"{lr:g}: tiny steps: stable, but the adapters barely move in a short run."
    if lr <= 2e-5:
        return f"{lr:g}: the usual range for LoRA GRPO (Unsloth's notebooks use 5e-6)."
    if lr <= 2e-4:
        return f"{lr:g}: fast. Watch the reward and KL curves for a collapse."
    return f"{lr:g}: very large for RL: the policy often collapses into one repeated answer."


def _max_completion_length(n, s) -> str:
    if n < 48:
        return f"{n} tokens: too short for worked GSM8K reasoning; truncated answers score 0."
    if n < 160:
        return f"{n} tokens: short: a brief calculation and the answer fit, longer reasoning is cut off (and scores 0)."
    if n <= 320:
        return f"{n} tokens: room for the reasoning and the final answer of a GSM8K problem."
    return f"{n} tokens: generous; every step waits for the longest completion, so steps get slower."


def _per_device_train_batch_size(n, s) -> str:
    g = s.get("num_generations", 8) if s else 8
    return (
        f"{n} completions per forward/backward pass (not prompts: {n / g:.3g} prompt(s) x {g} completions). "
        "Memory grows with it."
    )


def _gradient_accumulation_steps(n, s) -> str:
    arithmetic = batch_arithmetic(s or {"gradient_accumulation_steps": n})
    return (
        f"{n} micro-batch(es) per update: {arithmetic['completions per step']} completions "
        f"= {arithmetic['prompts per step']:.3g} prompt(s) per step, at no extra memory."
    )


def _max_steps(n, s) -> str:
    prompts = batch_arithmetic(s)["prompts per step"] if s else 1
    return (
        f"{n} updates, {n * prompts:.0f} prompts seen; one pass over GSM8K's 7,473 training problems "
        f"takes {7473 / max(prompts, 1e-9):.0f} steps."
    )


_EXPLAIN = {
    "num_generations": _num_generations,
    "temperature": _temperature,
    "beta": _beta,
    "loss_type": _loss_type,
    "learning_rate": _learning_rate,
    "max_completion_length": _max_completion_length,
    "per_device_train_batch_size": _per_device_train_batch_size,
    "gradient_accumulation_steps": _gradient_accumulation_steps,
    "max_steps": _max_steps,
}
EXPLAINED_FIELDS = tuple(_EXPLAIN)


def explain(name: str, value, settings: dict | None = None) -> str:
    """One sentence on what ``name = value`` does in GRPO (``settings``: the other values, for context)."""
    if name not in _EXPLAIN:
        raise ValueError(f"explain: no note for {name!r}; notes exist for {', '.join(EXPLAINED_FIELDS)}")
    return _EXPLAIN[name](value, settings or {})


# ---- config

OUTPUT_SUBDIR = "checkpoints"


def config_settings(preset: str = "basic", hardware: Hardware | None = None, bitsandbytes: bool | None = None, **overrides) -> dict:
    """The GRPOConfig keyword arguments ``make_config`` would use, unchecked: the preset, the
    hardware's precision and optimiser, ``output_dir`` under ``run_dir()``, then ``overrides``,
    then on a GPU the generation rounds (``generation_settings``) unless the overrides set them."""
    hardware = hardware or detect_hardware()
    settings = preset_values(preset)
    settings.update(precision_settings(hardware, bitsandbytes))
    if "output_dir" not in overrides:
        settings["output_dir"] = str(run_dir() / OUTPUT_SUBDIR)
    settings.update(overrides)
    settings.update(generation_settings(hardware, settings, overrides))
    return settings


def report_problems(problems: Problems, what: str, stacklevel: int = 1) -> list[str]:
    """Raise ``ValueError`` listing the errors; otherwise issue each warning and return them."""
    problems.raise_errors(what)
    for message in problems.warnings:
        warnings.warn(message, ConfigWarning, stacklevel=stacklevel + 1)
    return list(problems.warnings)


def build_config(settings: dict, hardware: Hardware):
    """``GRPOConfig(**settings)``, with the machine named if transformers refuses it here."""
    try:
        return grpo_config_class()(**settings)
    except ValueError as error:
        raise ValueError(
            f"GRPOConfig refused these settings on this machine: {error}\n"
            f"The settings were chosen for {hardware.gpu_name or hardware.device}; build the config on that "
            "machine, or leave hardware= out so make_config uses this one."
        ) from error


def make_config(
    preset: str = "basic",
    hardware: Hardware | None = None,
    num_processes: int = 1,
    bitsandbytes: bool | None = None,
    **overrides,
):
    """A ``trl.GRPOConfig`` from preset ``preset`` (basic, aggressive, conservative, quick_cpu,
    colab_t4) with ``overrides`` (any GRPOConfig field, by keyword) applied on top.

    Precision follows ``hardware`` (detected when not given): bf16 where the GPU supports it, fp16
    on a T4/V100, ``use_cpu=True`` on a CPU; ``optim="adamw_8bit"`` only with bitsandbytes on CUDA.
    ``num_processes`` is the number of GPUs training together. Raises ``ValueError`` listing every
    invalid or old-style setting with its fix; warns (``ConfigWarning``) about unusual values.
    """
    hardware = hardware or detect_hardware()
    settings = config_settings(preset, hardware, bitsandbytes, **overrides)
    report_problems(find_problems(settings, hardware, num_processes, bitsandbytes), f"make_config({preset!r})", stacklevel=2)
    return build_config(settings, hardware)


def config_values(config) -> dict:
    """The field values of a built GRPOConfig, as settings the checks read."""
    names = config_fields()
    values = {name: getattr(config, name) for name in names if hasattr(config, name)}
    # Fields TRL still has but ignores (resume_from_checkpoint) count only when they are set.
    for name in OLD_CONFIG_NAMES:
        if values.get(name, "absent") is None:
            del values[name]
    # TRL has resolved both; the generation batch is what the checks need.
    values["steps_per_generation"] = None
    return values


def longest_prompt_tokens(dataset, tokenizer, column: str = "prompt") -> int:
    """The token count of the longest prompt in ``dataset[column]``, as the trainer will see it
    (chat prompts through the chat template, with the generation prompt)."""
    if column not in dataset.column_names:
        raise ValueError(
            f"dataset: GRPOTrainer reads the prompts from a column named {column!r}, and this dataset has "
            f"{dataset.column_names}: map your data to a 'prompt' column first (notebook 04)"
        )
    prompts = list(dataset[column])
    if not prompts:
        raise ValueError("dataset: it has no rows, so there is nothing to train on")
    if isinstance(prompts[0], list):  # conversational: [{"role": ..., "content": ...}, ...]
        prompts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
    lengths = [len(ids) for ids in tokenizer(prompts, add_special_tokens=False)["input_ids"]]
    return max(lengths)


def _model_max_length(model) -> tuple[int | None, str]:
    length = getattr(model, "max_seq_length", None)
    if length:
        return int(length), "the model's max_seq_length (set by load_model)"
    length = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    return length, "the model's max_position_embeddings (load it with load_model to set max_seq_length)"


def check_lengths(config, model, tokenizer, dataset, max_seq_length, longest_prompt, problems: Problems) -> None:
    """Prompt + completion must fit the model's context: TRL no longer truncates prompts."""
    if longest_prompt is None and dataset is not None:
        if tokenizer is None:
            problems.error("tokenizer", "needed to measure the dataset's prompts: pass tokenizer=tokenizer")
            return
        try:
            longest_prompt = longest_prompt_tokens(dataset, tokenizer)
        except ValueError as error:
            problems.errors.append(str(error))
            return
    if longest_prompt is None:
        return
    source = "the max_seq_length you passed"
    if max_seq_length is None and model is not None:
        max_seq_length, source = _model_max_length(model)
    if max_seq_length is None:
        problems.warn("max_seq_length", "prompt lengths were given but no model or max_seq_length: pass one to check they fit")
        return
    completion = config.max_completion_length
    total = longest_prompt + completion
    if total <= max_seq_length:
        return
    fixes = [f"load the model with max_seq_length >= {total}"]
    if max_seq_length > longest_prompt:
        fixes.insert(0, f"lower max_completion_length to {max_seq_length - longest_prompt} or less")
    if max_seq_length > completion:
        fixes.append(f"drop prompts longer than {max_seq_length - completion} tokens (notebook 04 filters them)")
    problems.error(
        "max_completion_length",
        f"the longest prompt ({longest_prompt} tokens) + max_completion_length ({completion}) = {total} tokens "
        f"exceeds {source} ({max_seq_length}): {', or '.join(fixes)}",
    )


def validate_config(
    config,
    model=None,
    tokenizer=None,
    dataset=None,
    *,
    hardware: Hardware | None = None,
    max_seq_length: int | None = None,
    longest_prompt: int | None = None,
    trainer_kwargs: dict | None = None,
    num_processes: int | None = None,
    bitsandbytes: bool | None = None,
) -> list[str]:
    """Check a built GRPOConfig before training; returns the warnings (also issued as ``ConfigWarning``).

    Runs ``make_config``'s checks again (the config may have been edited or loaded from a file),
    then, when given: prompt + completion against the model's ``max_seq_length`` (``model`` or
    ``max_seq_length``; prompts measured from ``dataset`` with ``tokenizer``, or ``longest_prompt``),
    and the keyword arguments you are about to pass to ``GRPOTrainer`` (``trainer_kwargs``).
    Raises ``ValueError`` listing every problem with its fix.
    """
    hardware = hardware or detect_hardware()
    processes = num_processes or getattr(config, "world_size", 1) or 1
    problems = find_problems(config_values(config), hardware, processes, bitsandbytes)
    check_lengths(config, model, tokenizer, dataset, max_seq_length, longest_prompt, problems)
    if trainer_kwargs:
        problems.extend(check_trainer_kwargs(trainer_kwargs))
        problems.extend(check_reward_weights(getattr(config, "reward_weights", None), trainer_kwargs.get("reward_funcs")))
    return report_problems(problems, "GRPO config", stacklevel=2)


# ---- config_io

CONFIG_FILE = "grpo_config.json"
FORMAT = "grpo_helpers/grpo_config"
FORMAT_VERSION = 1
SECRET_FIELDS = ("hub_token",)
# Resolved by GRPOConfig from other fields; written only when they were chosen on purpose.
DERIVED_FIELDS = ("generation_batch_size", "steps_per_generation")


def default_config_path() -> Path:
    """``run_dir() / "grpo_config.json"``: where notebook 05 saves and notebook 06 looks."""
    return run_dir() / CONFIG_FILE


def _to_json(name: str, value):
    if name == "report_to" and value == []:
        return "none"  # what TRL reads back as "no tracker"; [] means the same
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _to_json(f"{name}.{k}", v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(name, v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_json(f"{name}.{k}", v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Path):
        return str(value)
    raise ValueError(
        f"{name}: a {type(value).__name__} cannot be written to JSON; set it to a plain value (number, text, "
        "list, dict) or set it again after load_config"
    )


def _changed(name, value, reference) -> bool:
    if hasattr(reference, name):
        return value != getattr(reference, name)
    return value != field_default(name)  # a field of Unsloth's config class only


def config_to_settings(config) -> dict:
    """The settings that rebuild ``config``: fields that differ from TRL's default GRPOConfig built
    for the same device, plus the preset and precision fields."""
    values = {name: getattr(config, name) for name in config_fields() if hasattr(config, name)}
    reference = plain_grpo_config_class()(**{k: values[k] for k in ("output_dir", "bf16", "fp16", "use_cpu")})
    keep = set(PRESET_FIELDS) | set(PRECISION_FIELDS) | {"output_dir"}
    settings = {
        name: value
        for name, value in values.items()
        if name not in DERIVED_FIELDS and (name in keep or _changed(name, value, reference))
    }
    if config.steps_per_generation != config.gradient_accumulation_steps:
        settings["steps_per_generation"] = config.steps_per_generation  # one of the two, never both
    return settings


def save_config(config, path: str | Path | None = None, note: str = "") -> Path:
    """Write ``config`` to ``path`` (default ``run_dir() / "grpo_config.json"``) as JSON; returns the path."""
    path = Path(path) if path is not None else default_config_path()
    settings = config_to_settings(config)
    for name in SECRET_FIELDS:
        if settings.pop(name, None) is not None:
            warnings.warn(
                f"{name} is a secret and was not written to {path}: set it again after load_config "
                "(or log in with `huggingface-cli login` instead)",
                ConfigWarning,
                stacklevel=2,
            )
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "trl_version": trl_version(),
        "note": note,
        "settings": {name: _to_json(name, value) for name, value in sorted(settings.items())},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def load_config(path: str | Path | None = None, hardware: Hardware | None = None, check: bool = True, **overrides):
    """Build the GRPOConfig saved at ``path`` (default ``run_dir() / "grpo_config.json"``).

    ``overrides`` replace saved settings (``load_config(max_steps=10)``). With ``check`` (the
    default) the settings go through make_config's checks for this machine (``hardware``, detected
    when not given), so a config saved on a GPU and loaded on a CPU says what to change.
    """
    path = Path(path) if path is not None else default_config_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"No saved GRPO config at {path}: run notebook 05 (it saves one there), or pass the path of "
            "your file, or build one with make_config()"
        )
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}): save it again with save_config(config, path)") from error
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"{path} is not a config written by save_config (no \"format\": \"{FORMAT}\")")
    if document.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has format_version {document.get('format_version')!r}; this grpo_helpers reads "
            f"{FORMAT_VERSION}: save it again with this version"
        )
    problems = check_names(overrides)
    problems.raise_errors("load_config overrides")
    settings = {**document["settings"], **overrides}
    unknown = sorted(set(settings) - set(config_fields()))
    if unknown:
        raise ValueError(
            f"{path} has settings this TRL ({trl_version()}) does not know: {unknown}. It was saved with TRL "
            f"{document.get('trl_version')}: remove them from the file, or install that TRL version"
        )
    if not check:
        return grpo_config_class()(**settings)
    hardware = hardware or detect_hardware()
    report_problems(find_problems(settings, hardware), f"the config in {path}", stacklevel=2)
    return build_config(settings, hardware)
