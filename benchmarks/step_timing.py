"""Clocks for a GRPO run: the end time of each optimizer step, and the seconds and tokens of each
generation call (TRL logs neither)."""

from __future__ import annotations

import time


def timed_generation(trainer) -> list[dict]:
    """Wrap ``trainer._generate`` so each call appends ``{"started", "seconds", "tokens",
    "completions"}`` to the returned list (started: ``time.perf_counter()`` at the call; tokens:
    the completion tokens generated, EOS included)."""
    calls: list[dict] = []
    generate = trainer._generate

    def _generate(*args, **kwargs):
        started = time.perf_counter()
        result = generate(*args, **kwargs)
        completion_ids = result[1]
        calls.append({"started": started, "seconds": time.perf_counter() - started,
                      "tokens": sum(len(ids) for ids in completion_ids), "completions": len(completion_ids)})
        return result

    trainer._generate = _generate
    return calls


def step_clock():
    """A TrainerCallback whose ``ends`` holds ``time.perf_counter()`` at the start of training and
    at the end of every optimizer step."""
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def __init__(self):
            self.ends: list[float] = []

        def on_train_begin(self, args, state, control, **kwargs):
            self.ends = [time.perf_counter()]

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())

    return StepClock()
