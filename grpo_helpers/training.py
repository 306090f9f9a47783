"""training: trainer callbacks for notebooks 06 and 07, through transformers' public ``TrainerCallback`` API.

- ``SaveOnInterrupt``: the stop button ends training after the current step, with a resumable checkpoint.
- ``RewardPlateauStopper``: stop when the training reward stops rising (on an eval metric: transformers'
  ``EarlyStoppingCallback``).
- ``record_completions(trainer)``: each logged step's prompts, completions, scores and advantages, for
  ``grpo_helpers.widgets.completion_browser`` (from the tables TRL saves with ``log_completions=True``).
- ``checkpoint_to_resume(resume, output_dir)``: the checkpoint a resume loads, or an error that says what to pass.
- ``compiled_generation(hardware, backend, max_seq_length)``: notebook 06's settings for compiled decoding."""

from __future__ import annotations

import math
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from transformers import TrainerCallback


class SaveOnInterrupt(TrainerCallback):
    """The first stop (Jupyter's stop button or Ctrl-C: both send SIGINT) means "finish this step, save a
    checkpoint, stop"; a second press interrupts at once. ``stopped_at_step``: where it stopped (None:
    ran to the end). The checkpoint is the trainer's own (``output_dir/checkpoint-<step>``: adapter,
    optimizer, scheduler, random state): ``trainer.train(resume_from_checkpoint=True)`` continues it."""

    def __init__(self):
        self.stop_requested, self.stopped_at_step, self._previous = False, None, None

    def on_train_begin(self, args, state, control, **kwargs):
        self.stop_requested, self.stopped_at_step = False, None
        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
            if (shell := _ipython()) is not None:  # also put the stop button back when train() ends with an error
                shell.events.register("post_run_cell", self._after_cell)

    def _on_sigint(self, signum, frame):
        if self.stop_requested:  # the second press: stop now, without a save
            self._restore()
            raise KeyboardInterrupt
        self.stop_requested = True
        print(
            "\nStop requested: finishing this step, then saving a checkpoint. Press stop again to interrupt at once.",
            flush=True,
        )

    def on_step_end(self, args, state, control, **kwargs):
        if self.stop_requested:
            control.should_save = control.should_training_stop = True  # the trainer saves checkpoint-<step>, then stops
            self.stopped_at_step = state.global_step

    def on_train_end(self, args, state, control, **kwargs):
        self._restore()
        if self.stopped_at_step is not None:
            print(
                f"Stopped at step {state.global_step} of {state.max_steps}: checkpoint-{state.global_step} saved in "
                f"{args.output_dir}. Continue with trainer.train(resume_from_checkpoint=True)."
            )

    def _after_cell(self, result=None):
        self._restore()

    def _restore(self):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        if (shell := _ipython()) is not None and self._after_cell in shell.events.callbacks["post_run_cell"]:
            shell.events.unregister("post_run_cell", self._after_cell)


def checkpoint_to_resume(resume, output_dir) -> str:
    """The checkpoint ``trainer.train(resume_from_checkpoint=resume)`` loads (True: the newest ``checkpoint-<step>``
    in ``output_dir``, as transformers picks it), checked before anything is loaded or written: ``ValueError`` when
    it holds no ``trainer_state.json``, naming the folder, listing what it holds and saying what to pass instead."""
    from transformers.trainer_utils import get_last_checkpoint

    newest = get_last_checkpoint(str(output_dir)) if Path(output_dir).is_dir() else None
    folder = Path((newest or output_dir) if resume is True else resume)
    if (folder / "trainer_state.json").is_file():
        return str(folder)
    found = sorted(
        {
            p
            for d in (folder, Path(output_dir))
            for p in d.glob("checkpoint-*")
            if p.name[11:].isdigit() and (p / "trainer_state.json").is_file()
        },
        key=lambda p: int(p.name[11:]),
    )
    fix = (
        f"pass resume_from_checkpoint={str(found[-1])!r}"
        + (" or True (the newest in output_dir)" if str(found[-1]) == newest else "")
        if found
        else "a run saves checkpoint-<step> folders in its output_dir (save_strategy='steps' and save_steps=N, or "
        "SaveOnInterrupt's stop button): point output_dir at the stopped run's, or leave resume_from_checkpoint "
        "out to start afresh"
    )
    held = (", ".join(sorted(p.name for p in folder.iterdir())) or "nothing") if folder.is_dir() else None
    empty = resume is True and not newest  # output_dir has no checkpoint-<step> folder at all
    what = (
        "does not exist"
        if held is None
        else f"has no checkpoint-<step> folder (it holds {held})"
        if empty
        else f"is not a checkpoint (no trainer_state.json; it holds {held})"
    )
    raise ValueError(f"resume_from_checkpoint={resume!r}: {'output_dir ' if empty else ''}{folder} {what}: {fix}")


def compiled_generation(hardware, backend: str, max_seq_length: int) -> dict:
    """Notebook 06's ``compiled`` settings: a static KV cache of ``max_seq_length`` tokens for GRPOConfig, so that
    ``generate`` compiles its decoding step once ``trainer.generation_config.disable_compile = False`` (TRL builds it
    with True). Only on a CUDA GPU with the 16-bit ``transformers`` backend (bitsandbytes' 4-bit layers do not
    compile, Unsloth picks its own cache): elsewhere ``{}``."""
    if not (hardware.has_cuda and backend == "transformers"):
        return {}
    return dict(cache_implementation="static", generation_kwargs={"max_cache_len": max_seq_length})


def _ipython():
    """The running IPython shell (a notebook kernel), or None in a script (IPython not imported, or no shell)."""
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None


class RewardPlateauStopper(TrainerCallback):
    """Stop when the training reward has stopped rising (no eval dataset needed). It follows the moving
    average of ``metric`` over ``window`` logs (set ``logging_steps=1``); each time the average fails to
    beat the best so far by more than ``min_delta`` a counter goes up, and at ``patience`` training stops
    (not before step ``min_steps``). ``stopped_at_step`` says where; ``history``: the (step, average) pairs."""

    def __init__(
        self, patience: int = 10, min_delta: float = 0.01, window: int = 5, min_steps: int = 0, metric: str = "reward"
    ):
        for name, value in (("patience", patience), ("window", window)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be 0 or more (the smallest gain that counts), got {min_delta!r}")
        if not isinstance(min_steps, int) or min_steps < 0:
            raise ValueError(f"min_steps must be 0 or a positive number of steps, got {min_steps!r}")
        self.patience, self.min_delta, self.window, self.min_steps, self.metric = (
            patience,
            min_delta,
            window,
            min_steps,
            metric,
        )
        self.values, self.history, self.best, self.bad_checks, self.stopped_at_step = [], [], None, 0, None

    def on_log(self, args, state, control, logs=None, **kwargs):
        value = (logs or {}).get(self.metric)
        if value is None:  # eval logs, the final summary, a log without rewards
            return
        self.values.append(float(value))
        if len(self.values) < self.window:
            return
        average = sum(self.values[-self.window :]) / self.window
        self.history.append((state.global_step, average))
        improved = self.best is None or average > self.best + self.min_delta
        self.best, self.bad_checks = (average, 0) if improved else (self.best, self.bad_checks + 1)
        if self.bad_checks >= self.patience and state.global_step >= self.min_steps:
            control.should_training_stop, self.stopped_at_step = True, state.global_step
            print(
                f"Reward plateau: the {self.window}-step average of {self.metric!r} has not beaten {self.best:.4f} "
                f"by more than {self.min_delta} for {self.patience} logs; stopping at step {state.global_step}."
            )


TOTAL = "total"


@dataclass(frozen=True)
class Completion:
    """One completion: ``group``: its prompt's index in the step, ``index``: its place in the group;
    ``rewards``: each reward function's score (None when it returned None); ``total``: the weighted sum."""

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
        return self.total if reward == TOTAL else self.rewards[reward]


def as_text(value) -> str:
    """A prompt or completion as text: a string as is, chat messages as ``role: content`` lines
    (a completion's single assistant message as its content)."""
    if isinstance(value, (list, tuple)) and all(isinstance(m, dict) for m in value):
        if len(value) == 1 and value[0].get("role") == "assistant":
            return str(value[0].get("content", ""))
        return "\n".join(f"{m.get('role', '?')}: {m.get('content', '')}" for m in value)
    return str(value)


class CompletionRecorder(TrainerCallback):
    """Each logged step's completions, from the table TRL saves at each logging step with ``log_completions=True``
    (``output_dir/completions/completions_<step>.parquet``: the latest generation batch's prompts, completions,
    reward scores and advantages); a batch reused for several steps is recorded once. ``keep``: how many
    steps to keep (None: all). ``subscribe(f)`` calls ``f(step)`` after each new step (the browser follows a run so)."""

    def __init__(self, trainer, keep: int | None = None):
        args = getattr(trainer, "args", None)
        if not hasattr(args, "log_completions") or not hasattr(trainer, "reward_weights"):
            raise TypeError(
                f"{type(trainer).__name__} is not a trl.GRPOTrainer: the completion browser records "
                "what GRPOTrainer logs (create the trainer first, then call record_completions(trainer))."
            )
        if not args.log_completions:
            raise ValueError(
                "The config has log_completions=False, so TRL saves no completions to browse: set "
                "log_completions=True (and num_completions_to_print=0 to keep TRL from also printing "
                "them) in GRPOConfig before creating the trainer."
            )
        if keep is not None and (not isinstance(keep, int) or keep < 1):
            raise ValueError(f"keep must be a positive number of steps (e.g. 50) or None for all, got {keep!r}")
        self.folder, self.keep, self.num_generations = (
            Path(args.output_dir) / "completions",
            keep,
            int(trainer.num_generations),
        )
        self.weights = dict(zip(trainer.reward_func_names, map(float, trainer.reward_weights.tolist()), strict=True))
        self.steps: dict[int, list[Completion]] = {}
        self._before = self._files()  # tables an earlier run left in the same folder are not this run's
        self._read: set[str] = set()  # each step's table is read once (an evaluation rewrites it afterwards)
        self._last_batch, self._listeners = None, []

    def _files(self) -> dict[str, int]:
        return {path.name: path.stat().st_mtime_ns for path in self.folder.glob("completions_*.parquet")}

    def subscribe(self, listener) -> None:
        """Call ``listener(step)`` each time a new step is recorded."""
        self._listeners.append(listener)

    def collect(self) -> None:
        """Read the tables TRL wrote since the last call (the callback calls this at each step)."""
        import pyarrow.parquet as pq

        files = self._files()
        for name in sorted(n for n, mtime in files.items() if n not in self._read and self._before.get(n) != mtime):
            self._read.add(name)
            rows = pq.read_table(self.folder / name).to_pylist()
            batch = [(repr(row["prompt"]), repr(row["completion"])) for row in rows]
            if not rows or batch == self._last_batch:
                continue  # the same generation batch as the last recorded step
            self._last_batch = batch
            step = int(rows[0]["step"])
            self.steps[step] = [self._completion(step, i, row) for i, row in enumerate(rows)]
            while self.keep is not None and len(self.steps) > self.keep:
                del self.steps[min(self.steps)]
            for listener in self._listeners:
                listener(step)

    def _completion(self, step: int, i: int, row: dict) -> Completion:
        scores = {
            name: None if row.get(name) is None or math.isnan(row[name]) else float(row[name]) for name in self.weights
        }
        known = [self.weights[name] * s for name, s in scores.items() if s is not None]
        return Completion(
            step,
            i // self.num_generations,
            i % self.num_generations,
            as_text(row["prompt"]),
            as_text(row["completion"]),
            scores,
            sum(known) if known else None,
            float(row["advantage"]),
        )

    # TRL writes step N's table just after on_log(N): it is read at the next event.
    def on_step_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.collect()

    on_log = on_train_end = on_step_begin

    def reward_names(self) -> list[str]:
        """``"total"`` and the reward function names, as the browser offers them."""
        return [TOTAL, *self.weights]

    def completions(
        self, step: int | None = None, reward: str = TOTAL, low: float | None = None, high: float | None = None
    ) -> list[Completion]:
        """The recorded completions of ``step`` (None: every step) whose ``reward`` score lies in
        ``[low, high]`` (a bound None: open; a None score is left out when a bound is given)."""
        if reward not in self.reward_names():
            raise KeyError(f"no reward named {reward!r}: choose one of {', '.join(self.reward_names())}")
        if step is not None and step not in self.steps:
            recorded = ", ".join(map(str, sorted(self.steps))) or "none yet"
            raise KeyError(f"step {step} was not recorded; recorded steps: {recorded}")
        records = self.steps[step] if step is not None else [c for s in sorted(self.steps) for c in self.steps[s]]
        return [
            r
            for r in records
            if low is None
            and high is None
            or (s := r.score(reward)) is not None
            and (low is None or s >= low)
            and (high is None or s <= high)
        ]


def record_completions(trainer, keep: int | None = None) -> CompletionRecorder:
    """A ``CompletionRecorder`` for ``trainer``, already added to its callbacks."""
    recorder = CompletionRecorder(trainer, keep=keep)
    trainer.add_callback(recorder)
    return recorder
