"""``make_config``: a checked ``trl.GRPOConfig`` from a named preset and your changes, and
``validate_config``: the checks that need the model, the tokenizer and the dataset.

    config = make_config("basic", learning_rate=1e-5)          # raises ValueError on bad values
    validate_config(config, model, tokenizer, train_dataset)    # before GRPOTrainer(...)
"""

from __future__ import annotations

import warnings

from grpo_helpers.config_checks import (
    OLD_CONFIG_NAMES, ConfigWarning, Problems, check_reward_weights, check_trainer_kwargs, find_problems,
)
from grpo_helpers.hardware import Hardware, detect_hardware
from grpo_helpers.presets import generation_settings, precision_settings, preset_values
from grpo_helpers.settings import run_dir
from grpo_helpers.trl_api import config_fields, grpo_config_class

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
