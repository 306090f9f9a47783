"""Control a training run: checkpoints to resume from, a stop button that keeps the work, and
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

import json
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from grpo_helpers.hardware import detect_platform
from grpo_helpers.settings import run_dir

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
    from grpo_helpers.stoppers import RewardPlateauStopper

    return RewardPlateauStopper(patience=patience, min_delta=min_delta, window=window, min_steps=min_steps, metric=metric)
