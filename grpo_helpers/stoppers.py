"""Trainer callbacks that end training early. This module imports transformers, so the package's
``__init__`` does not import it: use ``reward_plateau_stopper`` from ``grpo_helpers``.
"""

from __future__ import annotations

from transformers import TrainerCallback


class RewardPlateauStopper(TrainerCallback):
    """Stop when the training reward has stopped rising: no eval dataset needed.

    GRPO logs the mean reward of each step's completions (``reward``). One step's value is noisy,
    so the stopper follows its moving average over ``window`` logged values. Each time that average
    fails to beat the best so far by more than ``min_delta``, a counter goes up; when it reaches
    ``patience``, training stops (after ``min_steps`` at the earliest). ``stopped_at_step`` tells
    you where it stopped, ``history`` holds the averages it saw.
    """

    def __init__(self, patience: int = 10, min_delta: float = 0.01, window: int = 5, min_steps: int = 0, metric: str = "reward"):
        self.patience = patience
        self.min_delta = min_delta
        self.window = window
        self.min_steps = min_steps
        self.metric = metric
        self.values: list[float] = []
        self.history: list[tuple[int, float]] = []
        self.best: float | None = None
        self.bad_checks = 0
        self.stopped_at_step: int | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        value = (logs or {}).get(self.metric)
        if value is None:  # eval logs, the final summary, a log without rewards
            return
        self.values.append(float(value))
        if len(self.values) < self.window:
            return
        average = sum(self.values[-self.window :]) / self.window
        self.history.append((state.global_step, average))
        if self.best is None or average > self.best + self.min_delta:
            self.best, self.bad_checks = average, 0
        else:
            self.bad_checks += 1
        if self.bad_checks >= self.patience and state.global_step >= self.min_steps:
            control.should_training_stop = True
            self.stopped_at_step = state.global_step
            print(
                f"Reward plateau: the {self.window}-step average of {self.metric!r} has not beaten "
                f"{self.best:.4f} by more than {self.min_delta} for {self.patience} logs; stopping at step "
                f"{state.global_step}."
            )
