"""Health warnings for a GRPO run, read from its log history, each with the usual fix.

    warnings = check_health(trainer.state.log_history)
    for warning in warnings:
        print(warning)

``check_health`` is a pure function over a list of dicts such as ``trainer.state.log_history``
(one dict per logging step, with TRL's metric names: ``reward``, ``frac_reward_zero_std``,
``kl``, ``completions/clipped_ratio``). The live dashboard calls it at every logging step.
Each check looks at the most recent ``window`` logged values, so a warning goes away once the
run recovers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

REWARD = "reward"
ZERO_STD = "frac_reward_zero_std"
KL = "kl"
CLIPPED = "completions/clipped_ratio"

# Keys that mark a dict of the log history as a training logging step (the end-of-training
# summary has ``train_runtime`` and ``train_loss`` instead).
TRAINING_KEYS = (REWARD, "loss")


@dataclass(frozen=True)
class HealthWarning:
    """One problem seen in the log history: ``code`` names the check, ``step`` is the last step
    it looked at, ``message`` says what was seen and ``fix`` what usually cures it."""

    code: str
    step: int
    message: str
    fix: str

    def __str__(self) -> str:
        return f"[step {self.step}] {self.message} Fix: {self.fix}"


def training_logs(log_history) -> list[dict]:
    """The training logging steps of ``log_history`` (dicts with a reward or a loss), in order."""
    if not isinstance(log_history, (list, tuple)):
        raise TypeError(
            f"log_history must be a list of dicts such as trainer.state.log_history, got {type(log_history).__name__}"
        )
    rows = []
    for index, entry in enumerate(log_history):
        if not isinstance(entry, dict):
            raise TypeError(f"log_history[{index}] must be a dict of metric values, got {type(entry).__name__}")
        if any(key in entry for key in TRAINING_KEYS):
            rows.append(entry)
    return rows


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else float(value)


def recent(rows: list[dict], key: str, window: int) -> list[tuple[int, float]]:
    """The last ``window`` (step, value) pairs of ``key`` (steps where it is missing or None are skipped)."""
    pairs = [(int(row.get("step", i + 1)), _number(row.get(key))) for i, row in enumerate(rows)]
    pairs = [(step, value) for step, value in pairs if value is not None]
    return pairs[-window:]


def _check_window(name: str, window: int) -> None:
    if not isinstance(window, int) or isinstance(window, bool) or window < 1:
        raise ValueError(f"{name} must be a positive number of logging steps (e.g. 10), got {window!r}")


def check_health(
    log_history,
    flat_window: int = 10,
    zero_std_window: int = 5,
    zero_std_fraction: float = 0.99,
    kl_window: int = 3,
    kl_limit: float = 1.0,
    clipped_window: int = 5,
    clipped_fraction: float = 0.99,
) -> list[HealthWarning]:
    """The health warnings for ``log_history``; an empty list when the run looks healthy.

    - ``reward_flat_zero``: the total reward was 0 at each of the last ``flat_window`` logging steps.
    - ``zero_std``: at least ``zero_std_fraction`` of the groups had identical rewards (so zero
      advantage, nothing to learn) at each of the last ``zero_std_window`` logging steps.
    - ``kl_runaway``: the mean KL of the last ``kl_window`` logging steps is above ``kl_limit``.
    - ``always_clipped``: at least ``clipped_fraction`` of the completions hit
      ``max_completion_length`` at each of the last ``clipped_window`` logging steps.

    Log steps without a ``step`` key are numbered 1, 2, ... in order (``trainer.state.log_history``
    has ``step``).
    """
    for name, window in (("flat_window", flat_window), ("zero_std_window", zero_std_window),
                         ("kl_window", kl_window), ("clipped_window", clipped_window)):
        _check_window(name, window)
    for name, fraction in (("zero_std_fraction", zero_std_fraction), ("clipped_fraction", clipped_fraction)):
        if not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
            raise ValueError(f"{name} must be a fraction in (0, 1], e.g. 0.99, got {fraction!r}")
    if not isinstance(kl_limit, (int, float)) or not kl_limit > 0:
        raise ValueError(f"kl_limit must be a positive KL value (e.g. 1.0), got {kl_limit!r}")

    rows = training_logs(log_history)
    warnings = []

    rewards = recent(rows, REWARD, flat_window)
    if len(rewards) == flat_window and all(abs(value) < 1e-9 for _, value in rewards):
        warnings.append(HealthWarning(
            "reward_flat_zero", rewards[-1][0],
            f"The total reward has been 0 for the last {flat_window} logging steps.",
            "Look at a few completions (completion browser): if the model never writes the format the reward "
            "looks for, loosen the format reward or show the format in the system prompt; if completions are cut "
            "off, raise max_completion_length; check that the dataset column your reward reads (e.g. `answer`) "
            "exists and is passed to the reward function by that name.",
        ))

    zero_std = recent(rows, ZERO_STD, zero_std_window)
    if len(zero_std) == zero_std_window and all(value >= zero_std_fraction for _, value in zero_std):
        warnings.append(HealthWarning(
            "zero_std", zero_std[-1][0],
            f"Every group's completions got the same reward for the last {zero_std_window} logging steps, "
            "so every advantage is 0 and the model learns nothing.",
            "Raise temperature (e.g. 1.0) or num_generations (e.g. 8) so completions differ, or give partial "
            "credit in a reward so that different completions score differently.",
        ))

    kl = recent(rows, KL, kl_window)
    kl_mean = sum(value for _, value in kl) / kl_window
    if len(kl) == kl_window and kl_mean > kl_limit:
        warnings.append(HealthWarning(
            "kl_runaway", kl[-1][0],
            f"The KL to the reference model averaged {kl_mean:.3g} over the last {kl_window} logging steps "
            f"(above {kl_limit:g}): the policy is drifting far from where it started.",
            "Lower learning_rate (e.g. halve it), raise beta (e.g. 0.04 -> 0.1), or clip gradients harder "
            "(max_grad_norm=0.1); then restart from an earlier checkpoint.",
        ))

    clipped = recent(rows, CLIPPED, clipped_window)
    if len(clipped) == clipped_window and all(value >= clipped_fraction for _, value in clipped):
        warnings.append(HealthWarning(
            "always_clipped", clipped[-1][0],
            f"Almost every completion hit max_completion_length for the last {clipped_window} logging steps, "
            "so answers are cut off before they end.",
            "Raise max_completion_length (keeping prompt + completion within max_seq_length), or ask for "
            "shorter reasoning in the system prompt.",
        ))
    return warnings
