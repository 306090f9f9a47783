"""``CompletionRecorder``: keep, for each logging step, every prompt, its G completions, each
reward function's score and the group-relative advantage, for the completion browser.

    from grpo_helpers.completion_log import record_completions

    recorder = record_completions(trainer)   # adds itself to the trainer's callbacks
    trainer.train()
    recorder.completions(step=5)             # -> list of Completion

Where the data comes from: ``trl.GRPOTrainer`` (TRL 1.15 and 1.16 alike) fills ``trainer._logs``
with the latest generation batch, whatever ``log_completions`` says: ``prompt``, ``completion``,
``rewards`` (``{reward function name: scores}``, the values the reward functions returned, None
as NaN) and ``advantages`` (after group normalisation). At each logging step the recorder copies
it. ``_logs`` is TRL's internal attribute, not a public API: if a TRL version renames it the
recorder says so when it is created. A generation batch reused across several optimizer steps
(``steps_per_generation > 1``) is recorded once, at the first step that logged it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from transformers import TrainerCallback

LOG_KEYS = ("prompt", "completion", "rewards", "advantages")
TOTAL = "total"


@dataclass(frozen=True)
class Completion:
    """One completion: ``group`` is its prompt's index in the step, ``index`` its place among the
    G completions of that prompt; ``rewards`` maps each reward function to its score (None when
    the function returned None); ``total`` is the weighted sum GRPO uses."""

    step: int
    group: int
    index: int
    prompt: str
    completion: str
    rewards: dict
    total: float | None
    advantage: float

    def score(self, reward: str = TOTAL) -> float | None:
        """The score of reward function ``reward``, or the weighted total for ``"total"``."""
        if reward == TOTAL:
            return self.total
        if reward not in self.rewards:
            raise KeyError(f"no reward function named {reward!r}: choose one of {', '.join([TOTAL, *self.rewards])}")
        return self.rewards[reward]


def as_text(value) -> str:
    """A prompt or completion as text: a string as is, chat messages as ``role: content`` lines
    (a completion's single assistant message as its content)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(m, dict) for m in value):
        if len(value) == 1 and value[0].get("role") == "assistant":
            return str(value[0].get("content", ""))
        return "\n".join(f"{m.get('role', '?')}: {m.get('content', '')}" for m in value)
    return str(value)


def _score(value) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def build_completions(step: int, logs: dict, num_generations: int, weights: dict) -> list[Completion]:
    """``Completion`` records from a copy of ``trainer._logs`` (``weights``: reward name -> weight)."""
    prompts, completions, advantages = list(logs["prompt"]), list(logs["completion"]), list(logs["advantages"])
    rewards = {name: list(values) for name, values in logs["rewards"].items()}
    if not len(prompts) == len(completions) == len(advantages) or any(len(v) != len(prompts) for v in rewards.values()):
        raise ValueError("trainer._logs holds lists of different lengths: this TRL version stores completions differently")
    out = []
    for i, (prompt, completion, advantage) in enumerate(zip(prompts, completions, advantages)):
        scores = {name: _score(values[i]) for name, values in rewards.items()}
        known = [(weights.get(name, 1.0), s) for name, s in scores.items() if s is not None]
        total = sum(w * s for w, s in known) if known else None
        out.append(Completion(step, i // num_generations, i % num_generations, as_text(prompt), as_text(completion),
                              scores, total, float(advantage)))
    return out


class CompletionRecorder(TrainerCallback):
    """Copies ``trainer._logs`` at each logging step; see the module docstring.

    ``keep``: how many logged steps to keep (oldest dropped first; None keeps all). Listeners
    added with ``subscribe(function)`` are called with the step number after each new step
    (the browser uses this to follow a run live).
    """

    def __init__(self, trainer, keep: int | None = None):
        logs = getattr(trainer, "_logs", None)
        if not isinstance(logs, dict) or any(key not in logs for key in LOG_KEYS):
            raise TypeError(
                f"{type(trainer).__name__} has no TRL completion log (trainer._logs with {', '.join(LOG_KEYS)}): "
                "the completion browser needs trl.GRPOTrainer from TRL 1.15 or 1.16 (or Unsloth's wrapper of it)."
            )
        if keep is not None and (not isinstance(keep, int) or keep < 1):
            raise ValueError(f"keep must be a positive number of steps (e.g. 50) or None for all, got {keep!r}")
        self.trainer = trainer
        self.keep = keep
        self.num_generations = int(trainer.num_generations)
        names = list(getattr(trainer, "reward_func_names", []))
        weights = getattr(trainer, "reward_weights", None)
        weights = [float(w) for w in weights.tolist()] if weights is not None else [1.0] * len(names)
        self.weights = dict(zip(names, weights))
        self.steps: dict[int, list[Completion]] = {}
        self._last_batch = None
        self._listeners = []

    def subscribe(self, listener) -> None:
        """Call ``listener(step)`` each time a new step is recorded."""
        self._listeners.append(listener)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero:
            return
        trainer_logs = self.trainer._logs
        batch = (tuple(map(repr, trainer_logs["prompt"])), tuple(map(repr, trainer_logs["completion"])))
        if not batch[0] or batch == self._last_batch:
            return  # nothing generated yet, or the same generation batch as the last logged step
        self._last_batch = batch
        step = state.global_step
        self.steps[step] = build_completions(step, trainer_logs, self.num_generations, self.weights)
        while self.keep is not None and len(self.steps) > self.keep:
            del self.steps[min(self.steps)]
        for listener in self._listeners:
            listener(step)

    def reward_names(self) -> list[str]:
        """``"total"`` and the reward function names, as the browser offers them."""
        return [TOTAL, *self.weights]

    def completions(self, step: int | None = None, reward: str = TOTAL, low: float | None = None,
                    high: float | None = None) -> list[Completion]:
        """The recorded completions of ``step`` (None: every step), keeping those whose ``reward``
        score lies in ``[low, high]`` (either bound None: open; a None score is left out when a
        bound is given)."""
        if reward not in self.reward_names():
            raise KeyError(f"no reward named {reward!r}: choose one of {', '.join(self.reward_names())}")
        if step is not None and step not in self.steps:
            recorded = ", ".join(map(str, sorted(self.steps))) or "none yet"
            raise KeyError(f"step {step} was not recorded; recorded steps: {recorded}")
        records = self.steps[step] if step is not None else [c for s in sorted(self.steps) for c in self.steps[s]]
        if low is None and high is None:
            return list(records)
        kept = []
        for record in records:
            score = record.score(reward)
            if score is not None and (low is None or score >= low) and (high is None or score <= high):
                kept.append(record)
        return kept


def record_completions(trainer, keep: int | None = None) -> CompletionRecorder:
    """A ``CompletionRecorder`` for ``trainer``, already added to its callbacks."""
    recorder = CompletionRecorder(trainer, keep=keep)
    trainer.add_callback(recorder)
    return recorder
