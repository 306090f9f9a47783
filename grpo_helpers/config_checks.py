"""The checks a GRPO configuration goes through before any training starts.

Each check looks at plain settings (a dict of GRPOConfig field values) and says, for every
problem, which field is wrong and what to change it to. Errors stop ``make_config``; warnings
(values that run but rarely do what you want) are shown and kept. The same checks run live in
the config widget and on a finished config in ``validate_config``.
"""

from __future__ import annotations

import difflib
import importlib.util
import math
from dataclasses import dataclass, field

from grpo_helpers.hardware import Hardware, bitsandbytes_installed
from grpo_helpers.trl_api import accepted_loss_types, config_fields, field_default, trainer_arguments

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
