"""Checkpoints, resume, the stop button and early stopping, with a tiny model trained by the real GRPOTrainer on the CPU."""
import json

import pytest
import torch
from transformers import TrainerCallback

from grpo_helpers.models import add_lora, load_model
from grpo_helpers.training import (
    checkpoint_settings,
    checkpoint_step,
    early_stopping_callback,
    early_stopping_settings,
    latest_checkpoint,
    list_checkpoints,
    reward_plateau_stopper,
    train_with_interrupt_save,
)

PROMPTS = ["What is 2 + 3?", "Name a colour.", "Count to three.", "Say hi.", "What is 7 * 6?", "A fruit?"]




@pytest.fixture(scope="module")
def dataset():
    from datasets import Dataset

    return Dataset.from_dict({"prompt": PROMPTS * 2})


def varied_reward(completions, **kwargs):
    """Different rewards within a group, so the advantages (and the updates) are not zero."""
    return [float(len(set(c))) / 10 for c in completions]


def flat_reward(completions, **kwargs):
    return [0.5 for _ in completions]


def make_trainer(tiny_dir, dataset, output_dir, reward=varied_reward, callbacks=None, eval_dataset=None, **overrides):
    from trl import GRPOConfig, GRPOTrainer

    model, tokenizer = load_model(str(tiny_dir), load_in_4bit=False, backend="transformers")
    model = add_lora(model, r=4, use_gradient_checkpointing=False)
    settings = dict(
        output_dir=str(output_dir), use_cpu=True, max_steps=4, num_generations=2, per_device_train_batch_size=2,
        max_completion_length=8, learning_rate=1e-2, logging_steps=1, report_to="none", save_strategy="no",
        seed=7, temperature=1.0, disable_tqdm=True,
    )
    settings.update(overrides)
    return GRPOTrainer(
        model=model, reward_funcs=[reward], args=GRPOConfig(**settings), train_dataset=dataset,
        eval_dataset=eval_dataset, processing_class=tokenizer, callbacks=callbacks,
    )


class FirstStepOptimizerState(TrainerCallback):
    """Copies the optimizer's state as the first step of a run begins (after any resume loaded it)."""

    def __init__(self):
        self.state = None

    def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
        if self.state is None:
            self.state = {k: {n: v.clone() if torch.is_tensor(v) else v for n, v in s.items()} for k, s in optimizer.state_dict()["state"].items()}


class StopButton(TrainerCallback):
    """Raises KeyboardInterrupt as step ``at + 1`` begins, like the notebook's stop button."""

    def __init__(self, at):
        self.at = at

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == self.at:
            raise KeyboardInterrupt


def adapter_weights(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}


def test_checkpoint_settings_check_their_input():
    assert checkpoint_settings(every=10, keep=3) == {"save_strategy": "steps", "save_steps": 10, "save_total_limit": 3}
    with pytest.raises(ValueError, match="every must be a positive"):
        checkpoint_settings(every=0)
    with pytest.raises(ValueError, match="keep must be"):
        checkpoint_settings(every=5, keep=0)


def test_resume_reaches_the_same_step_with_the_optimizer_state_restored(tiny_dir, dataset, tmp_path):
    full = make_trainer(tiny_dir, dataset, tmp_path / "full", **checkpoint_settings(every=2, keep=None))
    outcome = train_with_interrupt_save(full)
    assert not outcome.interrupted and outcome.global_step == 4
    assert [p.name for p in list_checkpoints(tmp_path / "full")] == ["checkpoint-2", "checkpoint-4"]
    middle = tmp_path / "full" / "checkpoint-2"
    assert checkpoint_step(middle) == 2

    watcher = FirstStepOptimizerState()
    resumed = make_trainer(tiny_dir, dataset, tmp_path / "resumed", callbacks=[watcher])
    outcome = train_with_interrupt_save(resumed, resume_from_checkpoint=middle)
    assert outcome.global_step == 4 and resumed.state.global_step == 4
    assert [e["step"] for e in resumed.state.log_history if "reward" in e] == [1, 2, 3, 4]  # the old logs came back too

    saved = torch.load(middle / "optimizer.pt", weights_only=True)["state"]
    assert saved and set(saved) == set(watcher.state)
    for key, tensors in saved.items():
        assert int(watcher.state[key]["step"]) == 2
        assert torch.equal(tensors["exp_avg"], watcher.state[key]["exp_avg"])
        assert torch.equal(tensors["exp_avg_sq"], watcher.state[key]["exp_avg_sq"])
    assert resumed.lr_scheduler.last_epoch == 4


def test_resume_true_without_a_checkpoint_says_what_to_do(tiny_dir, dataset, tmp_path):
    trainer = make_trainer(tiny_dir, dataset, tmp_path / "empty")
    with pytest.raises(ValueError, match="holds no complete checkpoint"):
        train_with_interrupt_save(trainer, resume_from_checkpoint=True)
    (tmp_path / "empty" / "checkpoint-9").mkdir(parents=True)  # a save that was cut off
    assert latest_checkpoint(tmp_path / "empty") is None
    with pytest.raises(ValueError, match="not a complete checkpoint"):
        train_with_interrupt_save(trainer, resume_from_checkpoint=tmp_path / "empty" / "checkpoint-9")


def test_stop_button_saves_adapter_and_checkpoint_at_the_current_step(tiny_dir, dataset, tmp_path):
    trainer = make_trainer(tiny_dir, dataset, tmp_path / "run", callbacks=[StopButton(at=2)])
    outcome = train_with_interrupt_save(trainer, adapter_dir=tmp_path / "adapter")
    assert outcome.interrupted and outcome.global_step == 2
    checkpoint = tmp_path / "run" / "checkpoint-2"
    assert outcome.checkpoint == checkpoint
    for name in ("adapter_model.safetensors", "optimizer.pt", "scheduler.pt", "trainer_state.json"):
        assert (checkpoint / name).is_file(), name
    assert json.loads((checkpoint / "trainer_state.json").read_text())["global_step"] == 2
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    assert (tmp_path / "adapter" / "tokenizer_config.json").is_file()
    assert [e["step"] for e in trainer.state.log_history if "reward" in e] == [1, 2]  # the dashboard's data stays

    from safetensors.torch import load_file

    in_memory = adapter_weights(trainer.model)
    on_disk = load_file(str(tmp_path / "adapter" / "adapter_model.safetensors"))
    assert len(on_disk) == len(in_memory) > 0
    for name, tensor in on_disk.items():
        match = [v for k, v in in_memory.items() if k.replace(".default", "").endswith(name.split("base_model.model.", 1)[-1])]
        assert len(match) == 1 and torch.equal(match[0], tensor), name

    trainer.callback_handler.callbacks = [c for c in trainer.callback_handler.callbacks if not isinstance(c, StopButton)]
    outcome = train_with_interrupt_save(trainer, resume_from_checkpoint=True)
    assert not outcome.interrupted and outcome.global_step == 4


def test_reward_plateau_stopper_stops_a_flat_run(tiny_dir, dataset, tmp_path):
    stopper = reward_plateau_stopper(patience=2, min_delta=0.0, window=1)
    trainer = make_trainer(tiny_dir, dataset, tmp_path / "flat", reward=flat_reward, callbacks=[stopper], max_steps=8)
    outcome = train_with_interrupt_save(trainer)
    assert stopper.stopped_at_step == 3 and outcome.global_step == 3  # best at step 1, no gain at 2 and 3


def test_reward_plateau_stopper_checks_its_input():
    with pytest.raises(ValueError, match="patience"):
        reward_plateau_stopper(patience=0)
    with pytest.raises(ValueError, match="min_delta"):
        reward_plateau_stopper(min_delta=-1)


def test_early_stopping_on_eval_reward_stops(tiny_dir, dataset, tmp_path):
    settings = early_stopping_settings(every=1, num_generations=2)
    assert settings["metric_for_best_model"] == "reward" and settings["per_device_eval_batch_size"] == 2
    trainer = make_trainer(
        tiny_dir, dataset, tmp_path / "early", reward=flat_reward, eval_dataset=dataset.select(range(2)), max_steps=8, **settings
    )
    trainer.add_callback(early_stopping_callback(trainer.args, trainer.eval_dataset, patience=2))
    outcome = train_with_interrupt_save(trainer)
    evals = [e for e in trainer.state.log_history if "eval_reward" in e]
    assert outcome.global_step == 3 and len(evals) == 3  # eval_reward never improves after step 1
    assert trainer.state.best_global_step == 1


def test_early_stopping_lists_every_missing_setting(tiny_dir, dataset, tmp_path):
    trainer = make_trainer(tiny_dir, dataset, tmp_path / "bad")
    with pytest.raises(ValueError) as error:
        early_stopping_callback(trainer.args, None)
    message = str(error.value)
    for setting in ("eval_dataset", "eval_strategy", "metric_for_best_model", "load_best_model_at_end", "early_stopping_settings"):
        assert setting in message
