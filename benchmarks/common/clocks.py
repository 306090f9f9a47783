"""Clocks for a GRPO run that TRL does not log: the end time of each optimizer step, and the
seconds and tokens of each generation call."""

from __future__ import annotations

import time


def timed_generation(trainer) -> list[dict]:
    """Wrap ``trainer._generate`` so each call appends ``{"started", "seconds", "cpu_seconds",
    "tokens", "completions"}`` to the returned list (started: ``time.perf_counter()`` at the call;
    cpu_seconds: this process's CPU time; tokens: the completion tokens generated, EOS included)."""
    calls: list[dict] = []
    generate = trainer._generate

    def _generate(*args, **kwargs):
        started, cpu = time.perf_counter(), time.process_time()
        result = generate(*args, **kwargs)
        completion_ids = result[1]
        calls.append(
            {
                "started": started,
                "seconds": time.perf_counter() - started,
                "cpu_seconds": time.process_time() - cpu,
                "tokens": sum(len(ids) for ids in completion_ids),
                "completions": len(completion_ids),
            }
        )
        return result

    trainer._generate = _generate
    return calls


def step_clock():
    """A TrainerCallback whose ``ends`` holds ``time.perf_counter()`` at the start of training and
    at the end of every optimizer step (``cpu_ends``: the same for ``time.process_time()``)."""
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def __init__(self):
            self.ends: list[float] = []
            self.cpu_ends: list[float] = []

        def on_train_begin(self, args, state, control, **kwargs):
            self.ends, self.cpu_ends = [time.perf_counter()], [time.process_time()]

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())
            self.cpu_ends.append(time.process_time())

    return StepClock()
