"""config: the GRPO presets, ``make_config``, the checks TRL does not make, and save/load.

Notebook 05 builds ``GRPOConfig(**PRESETS[name], ...)`` and checks it equals ``make_config(name)``:

    config = make_config("basic", learning_rate=1e-5)        # preset + this machine's precision + changes
    validate_config(config, model, tokenizer, train_dataset, max_seq_length=1024)   # before GRPOTrainer(...)
    save_config(config)  ...  config = load_config()          # notebook 05 -> notebook 06

TRL's GRPOConfig refuses few mistakes and Unsloth's repairs the batch and accepts unknown names silently.
Checked here before GRPOConfig is built, all in one ``ConfigError``: unknown or old names, each field of
``FIELD_RULES`` (its rule and fix), what dr_grpo and cispo need, one weight per reward, prompt + completion
against the context, a saved file cut off or from another TRL version."""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import numbers
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from grpo_helpers.environment import (
    Hardware,
    bitsandbytes_installed,
    detect_hardware,
    quick_mode,
    run_dir,
    sixteen_bit_gpu,
)
from grpo_helpers.rewards import weights_by_name

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

_OWN = {
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
    # on 2 cores (benchmarks/cpu_learning.py, docs/benchmarks.md). Two prompts per step with 4
    # samples each (a step's reward averages two problems); 48 tokens (a short solution and the
    # answer tag; a cut-off ramble earns nothing, which teaches brevity fast); temperature 0.7 (1.0
    # drifts into rambling); no KL, DAPO's loss; the overlong penalty weighs 0 (when nearly every
    # completion is cut off it only hides the progress; reward_weights is GRPOConfig's list, in
    # tutorial_rewards' order, built here from the names).
    "quick_cpu": {
        "num_generations": 4,
        "temperature": 0.7,
        "max_completion_length": 48,
        "reward_weights": weights_by_name({"overlong_penalty": 0.0}),
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
# Quick mode (GRPO_QUICK=1, the tests and the GPU check) on any machine: quick_cpu's algorithm with the
# smallest batch that still has groups (2 prompts x 2 completions) and 2 steps: it checks that every
# cell runs, and nothing it prints means anything.
_OWN["smoke_test"] = {
    **_OWN["quick_cpu"],
    "num_generations": 2,
    "per_device_train_batch_size": 4,
    "max_completion_length": 16,
    "max_steps": 2,
}
# Each preset whole (COMMON with the preset's own values on top): GRPOConfig(**PRESETS[name], ...).
PRESETS = {name: {**COMMON, **own} for name, own in _OWN.items()}
PRESET_NAMES = tuple(PRESETS)

# On a CUDA GPU a GRPO step is nearly all generation, and decoding is bound by a fixed cost per
# token, not by the batch: 32 completions take little longer than 8. So on a GPU make_config
# generates once for every 4 optimizer steps (steps_per_generation = 4 x gradient_accumulation_steps):
# on an H100 this made a step 2.2x faster with Unsloth and 4.2x with plain TRL (docs/benchmarks.md).
# Steps 2-4 of a round learn from completions up to 3 updates old, which GRPO's clipped ratio
# accounts for. On a CPU a 4x batch costs nearly 4x the time, so it generates every step.
GPU_GENERATION_ROUNDS = 4


def precision_settings(hardware: Hardware, bitsandbytes: bool | None = None) -> dict:
    """bf16 where the GPU has it, fp16 on older GPUs (T4, V100), neither on a CPU (``use_cpu``: ``load_model``
    picks its weights' dtype; autocast was no faster); 8-bit Adam on CUDA with bitsandbytes (``bitsandbytes``:
    override)."""
    if not hardware.has_cuda:
        return {"bf16": False, "fp16": False, "use_cpu": True, "optim": "adamw_torch"}
    has_bnb = bitsandbytes_installed() if bitsandbytes is None else bitsandbytes
    return {
        "bf16": hardware.bf16,
        "fp16": not hardware.bf16,
        "use_cpu": False,
        "optim": "adamw_8bit" if has_bnb else "adamw_torch",
    }


def recommended_preset(hardware: Hardware) -> str:
    """``smoke_test`` in quick mode; else ``quick_cpu`` without a CUDA GPU, ``basic`` on a ``sixteen_bit_gpu``
    (bf16, 20 GiB or more), ``colab_t4`` on other GPUs."""
    if quick_mode():
        return "smoke_test"
    if not hardware.has_cuda:
        return "quick_cpu"
    return "basic" if sixteen_bit_gpu(hardware) else "colab_t4"


@dataclass(frozen=True)
class RunPlan:
    """What runs here, read by every notebook and scripts/train_grpo.py: the preset and the model-side lengths."""

    preset: str  # recommended_preset's
    max_seq_length: int  # prompt + completion tokens the model is loaded for (Unsloth sizes its kernels by it)
    max_prompt_length: int  # longer prompts are dropped from the data (notebook 04): TRL 1.x does not truncate


def run_plan(hardware: Hardware | None = None) -> RunPlan:
    """``RunPlan`` for this machine and mode; the config is ``make_config(plan.preset, ...)``."""
    hardware = hardware or detect_hardware()
    return RunPlan(recommended_preset(hardware), max_seq_length=512 if quick_mode() else 1024, max_prompt_length=256)


class ConfigWarning(UserWarning):
    """A GRPO setting that runs but is rarely what you want (the message says why and what to try)."""


LEARNING_RATE_RANGE = (1e-7, 2e-4)  # LoRA GRPO runs use 1e-6 .. 5e-5; outside this, a warning
_TRAINER = "it is an argument of GRPOTrainer(...), not of the config"
# Names from older guides (TRL 0.x, early Unsloth notebooks) and where that setting lives now.
OLD_CONFIG_NAMES = {
    "max_new_tokens": "use max_completion_length (the GRPOConfig name for the tokens each completion may have)",
    "max_prompt_length": "TRL 1.x no longer truncates prompts: filter over-long prompts out of the dataset "
    "(notebook 04) and let validate_config check that the longest prompt + max_completion_length fits the model",
    "max_seq_length": "pass it to the model loader (from_pretrained(..., max_seq_length=...)): it belongs to the model",
    "warmup_ratio": "use warmup_steps: a value below 1 is a fraction of max_steps (warmup_steps=0.1)",
    "kl_coef": "use beta (the KL coefficient)",
    "reward_fn": f"pass reward_funcs=[...] to GRPOTrainer: {_TRAINER}",
    "reward_funcs": f"pass reward_funcs=[...] to GRPOTrainer: {_TRAINER}",
    "tokenizer": f"pass processing_class=tokenizer to GRPOTrainer: {_TRAINER}",
    "resume_from_checkpoint": "call trainer.train(resume_from_checkpoint=path or True): the trainer never reads "
    "it from the config, so set there it would be ignored",
}
OLD_TRAINER_NAMES = {
    "tokenizer": "use processing_class=tokenizer",
    "reward_fn": "use reward_funcs=[your_reward, ...]",
    "reward_function": "use reward_funcs=[your_reward, ...]",
    "config": "use args=config",
    "resume_from_checkpoint": "the trainer does not take it: call trainer.train(resume_from_checkpoint=path or True)",
}


def _published_choices(name: str, whole_help: bool = True) -> tuple[str, ...]:
    """The quoted values in the installed TRL's help of field ``name`` (``whole_help=False``: its "Supported values
    are")."""
    from trl import GRPOConfig

    text = next(f for f in dataclasses.fields(GRPOConfig) if f.name == name).metadata.get("help", "")
    if not whole_help:
        sentence = re.search(r"Supported values are (.+?)\.\s", text, flags=re.S)
        text = sentence.group(1) if sentence else ""
    return tuple(dict.fromkeys(re.findall(r"[`']([a-z_]+)'", text)))


def accepted_loss_types() -> tuple[str, ...]:
    """The ``loss_type`` values the installed TRL documents ("Supported values are ...")."""
    return _published_choices("loss_type", whole_help=False) or ("grpo", "bnpo", "dr_grpo", "dapo")


def _enum_values(module: str, name: str) -> tuple[str, ...]:
    """The values of a transformers enum (``SchedulerType``, ``SaveStrategy``, ``OptimizerNames``)."""
    import importlib

    return tuple(member.value for member in getattr(importlib.import_module(module), name))


def _report_targets() -> tuple[str, ...]:
    """'none', 'all' and the experiment trackers installed here (a tracker not installed fails in GRPOTrainer)."""
    from transformers.integrations import get_available_reporting_integrations

    return ("none", "all", *get_available_reporting_integrations())


def _number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True)
class Rule:
    """What a value must be: ``text`` says it, ``ok(value)`` tests it; or ``choices()``, read from the installed TRL."""

    text: str = ""
    ok: Callable = bool
    choices: Callable | None = None

    def describe(self) -> str:
        if self.text:
            return self.text
        choices = self.choices()
        more = f" or {len(choices) - 12} more" if len(choices) > 12 else ""
        return "one of " + ", ".join(map(repr, choices[:12])) + more

    def allows(self, value) -> bool:
        return isinstance(value, str) and value in self.choices() if self.choices else self.ok(value)


def _or_none(rule: Rule) -> Rule:
    return Rule(f"{rule.text}, or None", lambda v: v is None or rule.ok(v))


POSITIVE = Rule("a finite number > 0", lambda v: _number(v) and v > 0)
NON_NEGATIVE = Rule("a finite number >= 0", lambda v: _number(v) and v >= 0)
FRACTION = Rule("a number in (0, 1]", lambda v: _number(v) and 0 < v <= 1)
DECAY = Rule("a number in [0, 1)", lambda v: _number(v) and 0 <= v < 1)
COUNT = Rule("a whole number >= 1", lambda v: _whole(v) and v >= 1)
INTERVAL = Rule(
    "a fraction in (0, 1) of max_steps, or a whole number >= 1",
    lambda v: _number(v) and (0 < v < 1 or (v >= 1 and float(v).is_integer())),
)
FLAG = Rule("True or False", lambda v: isinstance(v, bool))

# (field, rule, what to type instead) for every setting a learner sets; checked before GRPOTrainer, which accepts
# most bad values and fails minutes later or trains wrong (batch arithmetic and fp16 with bf16: TRL's own checks).
FIELD_RULES = (
    # GRPO: the group, sampling, the loss
    (
        "num_generations",
        Rule("a whole number >= 2", lambda v: _whole(v) and v >= 2),
        "num_generations=8: GRPO compares a group of completions of each prompt, so at least 2 (4 to 16 is usual)",
    ),
    (
        "temperature",
        POSITIVE,
        "temperature=0.9: GRPO compares different completions of one prompt, which only "
        "sampling gives; 0.7 to 1.0 is usual",
    ),
    ("top_p", FRACTION, "top_p=1.0 (every token) or 0.9 to 0.95 (trims the unlikely tail)"),
    ("max_completion_length", COUNT, "max_completion_length=256: tokens per completion; GSM8K reasoning needs 150-300"),
    ("beta", NON_NEGATIVE, "beta=0.04 (a gentle KL pull to the reference model) or beta=0.0 (no KL term)"),
    ("loss_type", Rule(choices=accepted_loss_types), "loss_type='grpo' (the paper's), 'dapo' or 'dr_grpo'"),
    (
        "scale_rewards",
        Rule(choices=lambda: _published_choices("scale_rewards") or ("group", "batch", "none")),
        "scale_rewards='group' (divide by the group's reward std), or 'none' (with loss_type='dr_grpo')",
    ),
    ("epsilon", POSITIVE, "epsilon=0.2: the clip range of the probability ratio"),
    ("epsilon_high", _or_none(POSITIVE), "epsilon_high=None (the same as epsilon) or 0.28 (DAPO's clip-higher bound)"),
    (
        "importance_sampling_level",
        Rule(choices=lambda: _published_choices("importance_sampling_level") or ("token", "sequence")),
        "importance_sampling_level='token' ('sequence' for GSPO)",
    ),
    ("num_iterations", COUNT, "num_iterations=1: updates per generated batch"),
    (
        "mask_truncated_completions",
        FLAG,
        "mask_truncated_completions=False (True leaves cut-off completions out of the loss)",
    ),
    (
        "reward_weights",
        Rule(
            "None or a list of finite numbers",
            lambda v: v is None or (isinstance(v, (list, tuple)) and all(_number(w) for w in v)),
        ),
        "reward_weights=None (every reward weighs 1.0) or one number per reward function, e.g. [1.0, 1.0, 0.5]",
    ),
    # the batch
    (
        "per_device_train_batch_size",
        COUNT,
        "per_device_train_batch_size=8: completions per micro-batch, a multiple of num_generations",
    ),
    ("gradient_accumulation_steps", COUNT, "gradient_accumulation_steps=1: micro-batches per optimizer step"),
    (
        "steps_per_generation",
        _or_none(COUNT),
        "steps_per_generation=None (make_config picks it) or a whole number >= 1",
    ),
    (
        "generation_batch_size",
        _or_none(COUNT),
        "generation_batch_size=None (from steps_per_generation), or a multiple "
        "of per_device_train_batch_size and of num_generations",
    ),
    # the optimizer and its schedule
    ("learning_rate", POSITIVE, "learning_rate=5e-6 (LoRA GRPO uses 1e-6 to 5e-5)"),
    ("adam_beta1", DECAY, "adam_beta1=0.9"),
    ("adam_beta2", DECAY, "adam_beta2=0.99"),
    ("weight_decay", NON_NEGATIVE, "weight_decay=0.1 (0.0 for none)"),
    ("max_grad_norm", NON_NEGATIVE, "max_grad_norm=0.1 (0.0 switches gradient clipping off)"),
    ("warmup_steps", NON_NEGATIVE, "warmup_steps=0.1 (below 1: a fraction of max_steps; from 1: a number of steps)"),
    (
        "lr_scheduler_type",
        Rule(choices=lambda: _enum_values("transformers.trainer_utils", "SchedulerType")),
        "lr_scheduler_type='cosine' or 'constant'",
    ),
    (
        "optim",
        Rule(choices=lambda: _enum_values("transformers.training_args", "OptimizerNames")),
        "optim='adamw_torch' (or 'adamw_8bit' on a GPU with bitsandbytes)",
    ),
    (
        "max_steps",
        Rule("a whole number >= 1, or -1 (train for num_train_epochs)", lambda v: _whole(v) and (v >= 1 or v == -1)),
        "max_steps=250: optimizer steps",
    ),
    # logging, saving, the run
    ("logging_steps", INTERVAL, "logging_steps=1 (a log line every step)"),
    (
        "save_strategy",
        Rule(choices=lambda: _enum_values("transformers.trainer_utils", "SaveStrategy")),
        "save_strategy='steps' or 'no'",
    ),
    ("save_steps", INTERVAL, "save_steps=50 (a checkpoint every 50 steps)"),
    (
        "report_to",
        Rule(
            "'none', 'all' or installed trackers (a name or a list)",
            lambda v: all(
                isinstance(t, str) and t in _report_targets() for t in (v if isinstance(v, (list, tuple)) else [v])
            ),
        ),
        "report_to='none' (no tracker), or install the tracker first (pip install tensorboard) and name it",
    ),
    ("log_completions", FLAG, "log_completions=True (log a table of completions) or False"),
    ("seed", Rule("a whole number in 0 to 2**32 - 1", lambda v: _whole(v) and 0 <= v < 2**32), "seed=3407"),
    (
        "output_dir",
        Rule(
            "a folder path (text), or None", lambda v: v is None or (isinstance(v, (str, os.PathLike)) and str(v) != "")
        ),
        "output_dir='runs/checkpoints' (make_config puts it in run_dir())",
    ),
    # precision and memory (make_config sets them for the machine)
    ("bf16", FLAG, "bf16=True on a GPU with bfloat16, else False (make_config picks it)"),
    ("fp16", FLAG, "fp16=True on an older GPU (T4, V100), else False (make_config picks it)"),
    ("use_cpu", FLAG, "use_cpu=True without a CUDA GPU, else False (make_config picks it)"),
    ("gradient_checkpointing", FLAG, "gradient_checkpointing=True (less memory, slower) or False"),
)
RULES = {name: (rule, fix) for name, rule, fix in FIELD_RULES}


class ConfigError(ValueError):
    """One error for every problem found; ``problems`` holds the lines, each ``"field: what is wrong: the fix"``."""

    def __init__(self, what: str, problems: list[str]):
        self.problems = list(problems)
        super().__init__(f"{what} has {len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems))


def field_problem(name: str, value) -> str | None:
    """The message for ``name = value`` when the table's rule refuses it, else None."""
    rule, fix = RULES[name]
    if rule.allows(value) or (name == "scale_rewards" and isinstance(value, bool)):  # TRL maps True/False itself
        return None
    close = (
        difflib.get_close_matches(value, rule.choices(), n=1, cutoff=0.8)
        if rule.choices and isinstance(value, str)
        else []
    )
    guess = "".join(f"did you mean {name}={c!r}? " for c in close)
    return f"{name}: {value!r} must be {rule.describe()}: {guess}type {fix}"


def old_names(names, old: dict = OLD_CONFIG_NAMES) -> list[str]:
    """An error for each name that older guides use, with where its setting lives now."""
    return [f"{name}: {old[name]}" for name in names if name in old]


def _defaults() -> dict:
    from trl import GRPOConfig

    return {f.name: f.default for f in dataclasses.fields(GRPOConfig) if f.default is not dataclasses.MISSING}


# What each loss type needs besides its name, the one table of them: config_problems refuses dr_grpo and cispo
# without theirs (below, with why), TRL warns for luspo; notebook 08 and the tests build every loss type with it.
LOSS_COMPANIONS = {
    "dr_grpo": {"scale_rewards": "none"},
    "cispo": {"epsilon_high": 5.0},
    "luspo": {"importance_sampling_level": "sequence"},
}


def config_problems(config) -> tuple[list[str], list[str]]:
    """``(errors, warnings)`` for a GRPOConfig, or for the settings (a dict) it will be built from:
    the table's rules, what each loss type needs, and the values that run but are rarely wanted."""
    values = {**_defaults(), **config} if isinstance(config, dict) else vars(config)
    errors = [e for name in RULES if name in values and (e := field_problem(name, values[name]))]
    bad, notes = {e.split(":", 1)[0] for e in errors}, []
    t, loss, lr, high = (values.get(k) for k in ("temperature", "loss_type", "learning_rate", "epsilon_high"))
    if "temperature" not in bad and not 0.3 <= t <= 1.5:
        notes.append(
            f"temperature: {t} makes completions "
            + ("nearly identical, so their rewards tie and teach nothing" if t < 0.3 else "close to random text")
            + ": try 0.7 to 1.0"
        )
    if loss == "dr_grpo" and values.get("scale_rewards") not in (LOSS_COMPANIONS["dr_grpo"]["scale_rewards"], False):
        errors.append(
            "scale_rewards: loss_type='dr_grpo' removes both of GRPO's biases, the length normalisation and "
            "the division by the group's reward std: set scale_rewards='none'"
        )
    if loss == "cispo" and "epsilon_high" not in bad and (high or 0) < 1:
        errors.append(
            f"epsilon_high: loss_type='cispo' caps each importance weight at epsilon_high itself, so "
            f"{high!r} would cap every weight below 1: set epsilon_high={LOSS_COMPANIONS['cispo']['epsilon_high']}"
        )
    if not isinstance(config, dict) and config.resume_from_checkpoint is not None:  # settings: old_names reports it
        errors += old_names(["resume_from_checkpoint"])
    low, top = LEARNING_RATE_RANGE
    if "learning_rate" not in bad and not low <= lr <= top:
        notes.append(
            f"learning_rate: {lr:g} is outside the usual {low:g} to {top:g} for LoRA GRPO: "
            + ("the adapters will barely move" if lr < low else "updates this large often collapse the policy")
        )
    return errors, notes


def _report(errors: list[str], notes: list[str], what: str) -> list[str]:
    """Raise ``ConfigError`` listing the errors; otherwise warn each note (``ConfigWarning``) and return them."""
    if errors:
        raise ConfigError(what, errors)
    for note in notes:
        warnings.warn(note, ConfigWarning, stacklevel=3)
    return notes


_BATCH = (
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "steps_per_generation",
    "generation_batch_size",
    "num_generations",
)


def _build(settings: dict, what: str, unknown_hint: str = ""):
    """``GRPOConfig(**settings)`` after the name and value checks (all reported at once), then TRL's own."""
    from trl import GRPOConfig  # Unsloth's subclass once Unsloth is imported

    known = {field.name for field in dataclasses.fields(GRPOConfig)}
    typos = [
        f"{name}: not a GRPOConfig setting"
        + "".join(f"; did you mean {close}?" for close in difflib.get_close_matches(name, known, n=1))
        + unknown_hint
        for name in settings
        if name not in known and name not in OLD_CONFIG_NAMES
    ]
    errors, notes = config_problems({k: v for k, v in settings.items() if k in known})
    _report(old_names(settings) + typos + errors, [], what)
    batch = ", ".join(f"{k}={settings.get(k, getattr(GRPOConfig, k, None))!r}" for k in _BATCH)
    try:
        config = GRPOConfig(**settings)
    except ValueError as error:  # TRL's batch arithmetic and precision checks, with the batch settings they concern
        raise ConfigError(
            what, [f"{error}" + (f" ({batch})" if any(k in str(error) for k in _BATCH) else "")]
        ) from error
    if repaired := [k for k in _BATCH if settings.get(k) is not None and getattr(config, k) != settings[k]]:
        # Unsloth's GRPOConfig changes a batch that holds no whole groups instead of refusing it (notebook 05)
        per_device = settings.get("per_device_train_batch_size", config.per_device_train_batch_size)
        asked = per_device * config.world_size * config.steps_per_generation
        raise ConfigError(
            what,
            [
                f"generation batch: {asked} completions (per_device_train_batch_size x processes x "
                f"steps_per_generation) must be divisible by num_generations ({config.num_generations}): "
                f"change either (Unsloth's GRPOConfig changed {', '.join(repaired)} by itself) ({batch})"
            ],
        )
    _report([], notes, what)
    return config


def make_config(preset: str = "basic", hardware: Hardware | None = None, bitsandbytes: bool | None = None, **overrides):
    """``GRPOConfig(**PRESETS[preset], <precision for hardware>, output_dir=run_dir()/"checkpoints",
    <steps_per_generation on a GPU>, **overrides)``, checked (``ValueError`` with the fix, or a
    ``ConfigWarning`` for unusual values). ``hardware`` is detected when not given."""
    if preset not in PRESETS:
        raise ValueError(f"preset={preset!r} is not a preset: use one of {', '.join(PRESET_NAMES)}")
    hardware = hardware or detect_hardware()
    settings = {
        **PRESETS[preset],
        **precision_settings(hardware, bitsandbytes),
        "output_dir": str(run_dir() / "checkpoints"),
        **overrides,
    }
    return _build({**settings, **generation_rounds(settings, hardware.has_cuda)}, f"make_config({preset!r})")


def generation_rounds(settings: dict, has_cuda: bool) -> dict:
    """``{"steps_per_generation": GPU_GENERATION_ROUNDS x gradient_accumulation_steps}`` on a CUDA GPU where
    ``settings`` set neither it nor ``generation_batch_size``; else ``{}`` (TRL: one generation per accumulation)."""
    accumulation = settings.get("gradient_accumulation_steps", 1)
    given = settings.get("steps_per_generation") is not None or settings.get("generation_batch_size") is not None
    return (
        {"steps_per_generation": GPU_GENERATION_ROUNDS * accumulation}
        if has_cuda and _whole(accumulation) and not given
        else {}
    )


def validate_config(
    config,
    model=None,
    tokenizer=None,
    dataset=None,
    *,
    max_seq_length: int | None = None,
    trainer_kwargs: dict | None = None,
) -> list[str]:
    """Check a built GRPOConfig before ``GRPOTrainer(...)``; returns the warnings, raises ``ValueError``.

    With ``dataset`` and ``tokenizer``: the longest prompt (``prompt_token_lengths``) plus
    ``max_completion_length`` must fit ``max_seq_length`` (the length you load the model with;
    else the model's ``max_position_embeddings``). With ``trainer_kwargs``: the arguments you will
    pass to GRPOTrainer (old names, config settings given to the trainer, one weight per reward)."""
    errors, notes = config_problems(config)
    if dataset is not None and not field_problem("max_completion_length", config.max_completion_length):
        errors += _length_problems(config.max_completion_length, model, tokenizer, dataset, max_seq_length)
    if trainer_kwargs:
        errors += old_names(trainer_kwargs, OLD_TRAINER_NAMES)
        errors += [
            f"{name}: this is a GRPOConfig setting, not a trainer argument: build the config with "
            f"make_config(..., {name}=...) and pass GRPOTrainer(args=config)"
            for name in trainer_kwargs
            if name in type(config).__dataclass_fields__ and name not in OLD_TRAINER_NAMES
        ]
        funcs = trainer_kwargs.get("reward_funcs")
        funcs = funcs if isinstance(funcs, (list, tuple)) or funcs is None else [funcs]
        if (weights := config.reward_weights) is not None and funcs is not None and len(weights) != len(funcs):
            names = [getattr(f, "__name__", str(f)) for f in funcs]
            errors.append(
                f"reward_weights: {len(weights)} weights {list(weights)} for {len(funcs)} reward functions "
                f"{names}: give one weight per function, in the same order, or set reward_weights=None"
            )
    return _report(errors, notes, "GRPO config")


def _length_problems(completion: int, model, tokenizer, dataset, max_seq_length) -> list[str]:
    """Prompt + completion must fit the model's context: TRL no longer truncates prompts."""
    from grpo_helpers.gsm8k import prompt_token_lengths

    if tokenizer is None:
        return ["tokenizer: needed to measure the dataset's prompts: pass tokenizer=tokenizer"]
    if "prompt" not in dataset.column_names:
        return [
            f"dataset: GRPOTrainer reads the prompts from a column named 'prompt', and this dataset has "
            f"{dataset.column_names}: map your data to a 'prompt' column first (notebook 04)"
        ]
    longest = max(prompt_token_lengths(dataset, tokenizer))
    source = "the max_seq_length you passed"
    if max_seq_length is None:
        max_seq_length = getattr(getattr(model, "config", None), "max_position_embeddings", None)
        source = "the model's max_position_embeddings (pass max_seq_length=, the length you load it with)"
    total = longest + completion
    if max_seq_length is None or total <= max_seq_length:
        return []
    fixes = [f"load the model with max_seq_length >= {total}"]
    if max_seq_length > longest:
        fixes.insert(0, f"lower max_completion_length to {max_seq_length - longest} or less")
    if max_seq_length > completion:
        fixes.append(f"drop prompts longer than {max_seq_length - completion} tokens (notebook 04 filters them)")
    return [
        f"max_completion_length: the longest prompt ({longest} tokens) + max_completion_length ({completion}) = "
        f"{total} tokens exceeds {source} ({max_seq_length}): {', or '.join(fixes)}"
    ]


def batch_arithmetic(settings) -> dict:
    """Completions and prompts per optimizer step for ``settings`` (a dict or a GRPOConfig)."""
    get = settings.get if isinstance(settings, dict) else lambda k, d=None: getattr(settings, k, d)
    per_device, accumulation = get("per_device_train_batch_size", 8), get("gradient_accumulation_steps", 1) or 1
    completions = per_device * accumulation
    return {
        "completions per step": completions,
        "prompts per step": completions / get("num_generations", 8),
        "steps per generation round": (get("steps_per_generation", None) or accumulation) / accumulation,
    }


def _band(value, bands, last):
    return next((text for limit, text in bands if value < limit), last)


_EXPLAIN = {
    "num_generations": lambda g, s: (
        f"{g} completions per prompt: "
        + _band(
            g,
            [
                (2, "no group to compare with, so no advantage"),
                (6, "a noisy baseline: many groups score all-equal"),
                (17, "a solid baseline (the group mean)"),
            ],
            "a very precise baseline, at a high price",
        )
        + "."
    ),
    "temperature": lambda t, s: (
        f"{t}: "
        + _band(
            t,
            [
                (1e-9, "must be > 0: GRPO needs different completions"),
                (0.5, "near-greedy: completions look alike, rewards tie"),
                (1.15, "varied but sensible: the group spans right and wrong answers"),
            ],
            "very random completions",
        )
        + "."
    ),
    "beta": lambda b, s: (
        f"{b}: "
        + _band(
            b,
            [
                (0, "must be >= 0"),
                (1e-12, "no KL penalty, no reference pass (faster); the policy may drift"),
                (0.1001, "a gentle pull towards the reference model"),
            ],
            "a strong pull to the reference: stable but slow",
        )
        + "."
    ),
    "loss_type": lambda loss, s: {
        "grpo": "grpo: each completion averaged over its own length: favours short right and long wrong answers.",
        "dapo": "dapo: every token of the accumulated batch weighs the same; pairs with epsilon_high=0.28.",
        "dr_grpo": "dr_grpo: divides by a constant, no length bias; needs scale_rewards='none'.",
        "bnpo": "bnpo: every token of the micro-batch weighs the same.",
        "cispo": "cispo: clips the importance weight itself at epsilon_high (e.g. 5.0).",
    }.get(loss, f"{loss}: see the TRL documentation of GRPOConfig.loss_type."),
    "learning_rate": lambda lr, s: (
        f"{lr:g}: "
        + _band(
            lr,
            [
                (1e-6, "tiny steps: the adapters barely move"),
                (2.01e-5, "the usual range for LoRA GRPO"),
                (2.01e-4, "fast: watch the reward for a collapse"),
            ],
            "very large for RL: the policy often collapses",
        )
        + "."
    ),
    "max_completion_length": lambda n, s: (
        f"{n} tokens: "
        + _band(
            n,
            [
                (48, "too short for worked reasoning; cut-off answers score 0"),
                (160, "a brief calculation fits"),
                (321, "room for GSM8K reasoning and the answer"),
            ],
            "generous; every step waits for the longest completion",
        )
        + "."
    ),
    "per_device_train_batch_size": lambda n, s: (
        f"{n} completions per forward/backward pass "
        f"({n / s.get('num_generations', 8):.3g} prompt(s)). Memory grows with it."
    ),
    "gradient_accumulation_steps": lambda n, s: (
        f"{n} micro-batch(es) per update: "
        f"{batch_arithmetic(s)['prompts per step']:.3g} prompt(s) per step, at no extra memory."
    ),
    "max_steps": lambda n, s: (
        f"{n} updates, {n * batch_arithmetic(s)['prompts per step']:.0f} prompts seen "
        "(GSM8K has 7,473 training problems)."
    ),
}
EXPLAINED_FIELDS = tuple(_EXPLAIN)


def explain(name: str, value, settings: dict | None = None) -> str:
    """One sentence on what ``name = value`` does in GRPO (``settings``: the other values, for context)."""
    if name not in _EXPLAIN:
        raise ValueError(f"explain: no note for {name!r}; notes exist for {', '.join(EXPLAINED_FIELDS)}")
    return _EXPLAIN[name](value, {**(settings or {}), name: value})


def default_config_path() -> Path:
    """``run_dir() / "grpo_config.json"``: where notebook 05 saves and notebook 06 looks."""
    return run_dir() / "grpo_config.json"


# Written always; with these, a default GRPOConfig resolves its other fields as the saved one did.
KEY_FIELDS = (
    "output_dir",
    "use_cpu",
    "bf16",
    "fp16",
    "per_device_train_batch_size",
    "num_generations",
    "gradient_accumulation_steps",
    "steps_per_generation",
)


def save_config(config, path: str | Path | None = None) -> Path:
    """Write ``config.to_dict()`` as JSON (enums as their values, the Hub token left out), keeping the key fields
    and what differs from a default config built with them, so the file is short: ``GRPOConfig(**json.load(file))``
    rebuilds ``config``. Returns the path. A config with problems raises ``ConfigError`` and writes nothing."""
    path = Path(path) if path is not None else default_config_path()
    _report(config_problems(config)[0], [], f"the config (not saved, {path} left as it was)")
    reference = type(config)(**{name: getattr(config, name) for name in KEY_FIELDS}).to_dict()
    settings = {k: v for k, v in config.to_dict().items() if k in KEY_FIELDS or v != reference.get(k)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=1, sort_keys=True) + "\n")
    return path


def load_config(path: str | Path | None = None, **overrides):
    """``GRPOConfig(**saved settings, **overrides)`` from ``path`` (default ``default_config_path()``),
    checked like ``make_config``."""
    path = Path(path) if path is not None else default_config_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"No saved GRPO config at {path}: run notebook 05 (it saves one there), "
            "or pass the path of your file, or build one with make_config()"
        )
    try:
        saved = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"the config in {path}",
            [
                f"the file is not complete JSON ({error}): it was cut off or edited "
                "by hand; save it again with save_config(config) (notebook 05)"
            ],
        ) from error
    if not isinstance(saved, dict):
        raise ConfigError(
            f"the config in {path}",
            [
                f"the file holds a {type(saved).__name__}, not the settings "
                "save_config writes: save it again with save_config(config) (notebook 05)"
            ],
        )
    return _build(
        {**saved, **overrides},
        f"the config in {path}",
        unknown_hint=" (saved by another TRL version? delete it from the file, or save the config again with this TRL)",
    )
