"""training: merged from completion_log, stoppers, training_control.

[completion_log] ``CompletionRecorder``: keep, for each logging step, every prompt, its G completions, each
reward function's score and the group-relative advantage, for the completion browser.

    from grpo_helpers.training import record_completions

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


[stoppers] Trainer callbacks that end training early. This module imports transformers, so the package's
``__init__`` does not import it: use ``reward_plateau_stopper`` from ``grpo_helpers``.


[training_control] Control a training run: checkpoints to resume from, a stop button that keeps the work, and
early stopping (on an eval metric, or when the training reward stops rising).

    config = make_config("colab_t4", **checkpoint_settings(every=25, keep=2))
    trainer = GRPOTrainer(model=model, args=config, ...)
    outcome = train_with_interrupt_save(trainer, adapter_dir=run_dir() / "adapter")
    # later, or after a disconnect: the same call continues from the newest checkpoint
    outcome = train_with_interrupt_save(trainer, adapter_dir=run_dir() / "adapter", resume_from_checkpoint=True)

Resuming is ``trainer.train(resume_from_checkpoint=True or a path)``: it restores the adapter
weights, the optimizer, the learning-rate schedule, the random state and the step count.
(``GRPOTrainer(resume_from_checkpoint=...)`` from older snippets does not exist.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from transformers import TrainerCallback
import json
import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from grpo_helpers.environment import detect_platform
from grpo_helpers.environment import run_dir


# ---- completion_log

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


# ---- stoppers

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


# ---- training_control

CHECKPOINT_PREFIX = "checkpoint-"
STATE_FILE = "trainer_state.json"  # written last in a checkpoint: its presence means complete
DRIVE_MOUNT = "/content/drive"


def checkpoint_settings(every: int = 50, keep: int | None = 2, output_dir=None) -> dict:
    """GRPOConfig settings that save a checkpoint every ``every`` steps and keep the newest ``keep``.

    Pass them to ``make_config`` (``make_config("basic", **checkpoint_settings(25))``). Each
    checkpoint holds the adapter, the optimizer and scheduler state and the step count, so a run
    can continue from it. ``keep=None`` keeps them all (they add up: an optimizer state is twice
    the adapter's size). ``output_dir`` is where they go (default: the config's, under ``run_dir()``;
    on Colab, ``drive_output_dir()`` survives a disconnect).
    """
    if not isinstance(every, int) or every <= 0:
        raise ValueError(f"every must be a positive number of steps (e.g. 25 or 50), got {every!r}")
    if keep is not None and (not isinstance(keep, int) or keep <= 0):
        raise ValueError(f"keep must be a positive number of checkpoints (e.g. 2) or None for all of them, got {keep!r}")
    settings = {"save_strategy": "steps", "save_steps": every, "save_total_limit": keep}
    if output_dir is not None:
        settings["output_dir"] = str(output_dir)
    return settings


def drive_output_dir(name: str = "grpo-gsm8k-checkpoints", mount: bool = True) -> Path:
    """A checkpoint folder that survives a Colab disconnect: ``MyDrive/<name>`` on Google Drive.

    On Colab this mounts Drive (Colab asks you to allow access once per session). Elsewhere it
    returns ``run_dir() / "checkpoints"`` and says so: local disks keep their files anyway.
    """
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"name must be a plain folder name such as 'grpo-gsm8k-checkpoints', got {name!r}")
    if detect_platform() != "colab":
        folder = run_dir() / "checkpoints"
        print(f"Not on Colab: checkpoints go to {folder} (a local disk keeps them).")
        return folder
    if mount and not Path(DRIVE_MOUNT, "MyDrive").is_dir():
        from google.colab import drive

        drive.mount(DRIVE_MOUNT)
    folder = Path(DRIVE_MOUNT, "MyDrive", name)
    folder.mkdir(parents=True, exist_ok=True)
    print(f"Checkpoints go to Google Drive: {folder}")
    return folder


def _step_of(path: Path) -> int | None:
    suffix = path.name[len(CHECKPOINT_PREFIX) :]
    return int(suffix) if path.name.startswith(CHECKPOINT_PREFIX) and suffix.isdigit() else None


def list_checkpoints(output_dir) -> list[Path]:
    """The complete checkpoints in ``output_dir``, oldest step first (a checkpoint whose save was
    cut off has no ``trainer_state.json`` and is left out)."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and _step_of(p) is not None and (p / STATE_FILE).is_file()]
    return sorted(found, key=_step_of)


def latest_checkpoint(output_dir) -> Path | None:
    """The newest complete checkpoint in ``output_dir``, or None when there is none.

    ``trainer.train(resume_from_checkpoint=True)`` takes the highest-numbered folder even when its
    save was cut off; passing this path instead skips such a folder.
    """
    checkpoints = list_checkpoints(output_dir)
    return checkpoints[-1] if checkpoints else None


def checkpoint_step(checkpoint) -> int:
    """The training step a checkpoint was saved at (read from its ``trainer_state.json``)."""
    path = Path(checkpoint) / STATE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{checkpoint} has no {STATE_FILE}: it is not a complete checkpoint (its save was cut off?)")
    return int(json.loads(path.read_text())["global_step"])


@contextmanager
def _interrupts_deferred():
    """Hold back Ctrl-C / the stop button while a save runs, so a second press cannot cut it off."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    def remember(signum, frame):
        print("Still saving; the stop is taken once the save is done.", flush=True)

    previous = signal.signal(signal.SIGINT, remember)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _finish_half_done_step(trainer) -> None:
    """An interrupt between ``optimizer.step()`` and the step counter leaves the weights one step
    ahead of ``global_step``; count that step so the checkpoint's number matches its weights."""
    optimizer = getattr(trainer, "optimizer", None)
    if optimizer is None:
        return
    steps = [s["step"] for s in optimizer.state.values() if isinstance(s, dict) and "step" in s]
    if not steps:
        return
    done = int(max(float(s) for s in steps))
    if done == trainer.state.global_step + 1:
        scheduler = getattr(trainer, "lr_scheduler", None)
        if scheduler is not None and getattr(scheduler, "last_epoch", None) == trainer.state.global_step:
            scheduler.step()
        trainer.state.global_step = done


def _forget_partial_step(trainer) -> None:
    """Drop what GRPOTrainer gathered for the step that was cut off (its half-made metrics and
    completions), so a later ``train`` call on the same trainer starts like a fresh trainer."""
    metrics = getattr(trainer, "_metrics", None)
    if isinstance(metrics, dict) and "train" in metrics:
        metrics["train"].clear()
    if hasattr(trainer, "_buffered_inputs"):
        trainer._buffered_inputs = None
    if hasattr(trainer, "_step"):
        trainer._step = 0


def save_checkpoint_now(trainer) -> Path | None:
    """Save a full checkpoint (adapter, optimizer, scheduler, random state, logs) at the trainer's
    current step into ``output_dir/checkpoint-<step>``; returns its path (None before step 1).

    Uses the trainer's own checkpoint code, so ``train(resume_from_checkpoint=...)`` reads it like
    any other; ``save_total_limit`` still applies.
    """
    step = trainer.state.global_step
    if step == 0:
        return None
    folder = Path(trainer.args.output_dir) / f"{CHECKPOINT_PREFIX}{step}"
    if (folder / STATE_FILE).is_file():
        return folder  # saved at this step already (save_steps hit it)
    trainer._save_checkpoint(trainer.model, trial=None)
    return folder


@dataclass
class TrainingOutcome:
    """What ``train_with_interrupt_save`` did: finished or interrupted, at which step, what it saved."""

    interrupted: bool
    global_step: int
    max_steps: int
    checkpoint: Path | None
    adapter_dir: Path | None
    train_output: object = None  # transformers' TrainOutput when training finished

    def __str__(self) -> str:
        how = "interrupted" if self.interrupted else "finished"
        lines = [f"Training {how} at step {self.global_step} of {self.max_steps}."]
        if self.checkpoint:
            lines.append(f"  checkpoint: {self.checkpoint}  (continue with resume_from_checkpoint=True)")
        if self.adapter_dir:
            lines.append(f"  adapter:    {self.adapter_dir}")
        return "\n".join(lines)


def _resolve_resume(trainer, resume):
    if resume is True or resume == "auto":
        found = latest_checkpoint(trainer.args.output_dir)
        if found is None:
            if resume is True:
                raise ValueError(
                    f"resume_from_checkpoint=True, but {trainer.args.output_dir} holds no complete checkpoint: "
                    "train without it first (with checkpoint_settings(...) in the config), pass a checkpoint's "
                    "path, or pass 'auto' to start from step 0 when there is none"
                )
            print(f"No checkpoint in {trainer.args.output_dir} yet: starting from step 0.")
            return None
        print(f"Resuming from {found} (step {checkpoint_step(found)}).")
        return str(found)
    if resume in (None, False):
        return None
    path = Path(resume)
    if not (path / STATE_FILE).is_file():
        raise ValueError(
            f"resume_from_checkpoint={str(resume)!r} is not a complete checkpoint folder (no {STATE_FILE}); "
            f"complete ones in {trainer.args.output_dir}: {[p.name for p in list_checkpoints(trainer.args.output_dir)] or 'none'}"
        )
    return str(path)


def train_with_interrupt_save(trainer, adapter_dir=None, resume_from_checkpoint=None, **train_kwargs) -> TrainingOutcome:
    """``trainer.train(...)`` that keeps the work when you press the notebook's stop button.

    On a ``KeyboardInterrupt`` (the stop button, Ctrl-C) it saves a full checkpoint at the current
    step (``output_dir/checkpoint-<step>``, resumable) and the adapter to ``adapter_dir``, keeps
    ``trainer.state.log_history`` (the dashboard's data), and returns instead of raising. When
    training finishes, the adapter is saved to ``adapter_dir`` too (when given).

    ``resume_from_checkpoint``: None (start at step 0), True (the newest complete checkpoint; an
    error when there is none), ``"auto"`` (the newest, or step 0 when there is none) or a
    checkpoint folder. Other keyword arguments go to ``trainer.train``.
    """
    resume = _resolve_resume(trainer, resume_from_checkpoint)
    adapter_dir = Path(adapter_dir) if adapter_dir is not None else None
    try:
        output = trainer.train(resume_from_checkpoint=resume, **train_kwargs)
    except KeyboardInterrupt:
        with _interrupts_deferred():
            _finish_half_done_step(trainer)
            _forget_partial_step(trainer)
            trainer.is_in_train = False
            step = trainer.state.global_step
            print(f"\nStopped at step {step} of {trainer.state.max_steps}: saving what was learned...", flush=True)
            checkpoint = save_checkpoint_now(trainer)
            if step == 0:
                print("Nothing to save: no step had finished. (Training from step 0 again loses nothing.)")
                adapter_dir = None
            elif adapter_dir is not None:
                trainer.save_model(str(adapter_dir))
        outcome = TrainingOutcome(True, step, trainer.state.max_steps, checkpoint, adapter_dir)
        print(outcome)
        return outcome
    if adapter_dir is not None:
        trainer.save_model(str(adapter_dir))
    checkpoint = latest_checkpoint(trainer.args.output_dir)
    return TrainingOutcome(False, trainer.state.global_step, trainer.state.max_steps, checkpoint, adapter_dir, output)


def early_stopping_settings(every: int, num_generations: int, metric: str = "reward", prompts_per_eval_batch: int = 1) -> dict:
    """GRPOConfig settings that ``EarlyStoppingCallback`` needs, for a GRPO run.

    Evaluate and save every ``every`` steps (the same interval, so the best step has a
    checkpoint), judge by ``metric`` (``"reward"``: GRPOTrainer logs the eval reward as
    ``eval_reward``; also ``"rewards/<function name>/mean"``), higher is better, and load the best
    checkpoint at the end. The eval batch holds whole groups: ``prompts_per_eval_batch`` prompts x
    ``num_generations`` completions.
    """
    if not isinstance(every, int) or every <= 0:
        raise ValueError(f"every must be a positive number of steps, got {every!r}")
    if not isinstance(num_generations, int) or num_generations < 2:
        raise ValueError(f"num_generations must be the config's num_generations (2 or more), got {num_generations!r}")
    if metric.startswith("eval_"):
        metric = metric[len("eval_") :]
    return {
        "eval_strategy": "steps",
        "eval_steps": every,
        "save_strategy": "steps",
        "save_steps": every,
        "metric_for_best_model": metric,
        "greater_is_better": "loss" not in metric,
        "load_best_model_at_end": True,
        "per_device_eval_batch_size": num_generations * prompts_per_eval_batch,
    }


def early_stopping_callback(config, eval_dataset, patience: int = 3, threshold: float = 0.0):
    """``transformers.EarlyStoppingCallback`` after checking that ``config`` and ``eval_dataset`` let it work.

    It stops training when the eval metric has not improved by more than ``threshold`` for
    ``patience`` evaluations in a row. Pass the callback and the dataset to the trainer:
    ``GRPOTrainer(..., eval_dataset=eval_dataset, callbacks=[callback])``. Raises ``ValueError``
    listing every missing setting (``early_stopping_settings`` gives them all).
    """
    from transformers import EarlyStoppingCallback

    problems = []
    if eval_dataset is None or len(eval_dataset) == 0:
        problems.append("eval_dataset: pass held-out prompts (e.g. 16-64 rows of GSM8K test, prepared like the training set)")
    elif "prompt" not in eval_dataset.column_names:
        problems.append(f"eval_dataset: needs a 'prompt' column like the training set; it has {eval_dataset.column_names}")
    strategy = str(getattr(config.eval_strategy, "value", config.eval_strategy))
    if strategy == "no":
        problems.append("eval_strategy: set 'steps' (with eval_steps) so the trainer evaluates during training")
    if not config.metric_for_best_model:
        problems.append("metric_for_best_model: set 'reward' (GRPOTrainer logs eval_reward)")
    if not config.load_best_model_at_end:
        problems.append("load_best_model_at_end: set True, so the best checkpoint is kept and loaded at the end")
    save = str(getattr(config.save_strategy, "value", config.save_strategy))
    if config.load_best_model_at_end and strategy != "no" and save != strategy:
        problems.append(f"save_strategy: set {strategy!r} like eval_strategy (load_best_model_at_end needs both the same)")
    if not isinstance(patience, int) or patience <= 0:
        problems.append(f"patience: a positive number of evaluations, got {patience!r}")
    if problems:
        raise ValueError(
            "Early stopping cannot work with these settings:\n  - "
            + "\n  - ".join(problems)
            + "\nearly_stopping_settings(every=..., num_generations=...) gives the config settings it needs."
        )
    return EarlyStoppingCallback(early_stopping_patience=patience, early_stopping_threshold=threshold)


def reward_plateau_stopper(patience: int = 10, min_delta: float = 0.01, window: int = 5, min_steps: int = 0, metric: str = "reward"):
    """A callback that stops training when the training reward stops rising (no eval dataset needed).

    It follows the moving average of ``metric`` over ``window`` logged steps (set
    ``logging_steps=1``) and stops after ``patience`` logs without a gain above ``min_delta``, not
    before step ``min_steps``. Pass it as ``GRPOTrainer(..., callbacks=[stopper])``.
    """
    for name, value in (("patience", patience), ("window", window)):
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if min_delta < 0:
        raise ValueError(f"min_delta must be 0 or more (the smallest gain that counts), got {min_delta!r}")
    if not isinstance(min_steps, int) or min_steps < 0:
        raise ValueError(f"min_steps must be 0 or a positive number of steps, got {min_steps!r}")
    from grpo_helpers.training import RewardPlateauStopper

    return RewardPlateauStopper(patience=patience, min_delta=min_delta, window=window, min_steps=min_steps, metric=metric)
