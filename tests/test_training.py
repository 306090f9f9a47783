"""The stop button, resume and early stopping, with a tiny model trained by the real GRPOTrainer on the CPU."""
import json
import os
import signal

import pytest
import torch
from transformers import EarlyStoppingCallback, TrainerCallback

from grpo_helpers.training import RewardPlateauStopper, SaveOnInterrupt
from tiny_model import tiny_lora_model
from tiny_model import cpu_trainer  # noqa: E402

pytestmark = cpu_trainer

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

    model, tokenizer = tiny_lora_model(tiny_dir)
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


class PressStop(TrainerCallback):
    """Sends SIGINT to this process (what Jupyter's stop button does) ``times`` times as step ``at`` ends."""

    def __init__(self, at, times=1):
        self.at, self.times = at, times

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.at:
            for _ in range(self.times):
                os.kill(os.getpid(), signal.SIGINT)


class FirstStepOptimizerState(TrainerCallback):
    """Copies the optimizer's state as the first step of a run begins (after a resume loaded it)."""

    def __init__(self):
        self.state = None

    def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
        if self.state is None:
            self.state = {k: {n: v.clone() if torch.is_tensor(v) else v for n, v in s.items()}
                          for k, s in optimizer.state_dict()["state"].items()}


def test_stop_button_saves_a_checkpoint_at_the_end_of_the_step_and_resume_continues(tiny_dir, dataset, tmp_path):
    handler = signal.getsignal(signal.SIGINT)
    stop = SaveOnInterrupt()
    trainer = make_trainer(tiny_dir, dataset, tmp_path / "run", callbacks=[PressStop(at=2), stop])
    trainer.train()
    assert stop.stopped_at_step == 2 and trainer.state.global_step == 2
    assert signal.getsignal(signal.SIGINT) is handler  # the usual stop button is back
    checkpoint = tmp_path / "run" / "checkpoint-2"
    for name in ("adapter_model.safetensors", "optimizer.pt", "scheduler.pt", "trainer_state.json"):
        assert (checkpoint / name).is_file(), name
    assert json.loads((checkpoint / "trainer_state.json").read_text())["global_step"] == 2

    from safetensors.torch import load_file

    in_memory = {n: p for n, p in trainer.model.named_parameters() if "lora_" in n}
    on_disk = load_file(str(checkpoint / "adapter_model.safetensors"))
    assert len(on_disk) == len(in_memory) > 0
    for name, tensor in on_disk.items():  # the checkpoint holds the weights the model has now
        match = [v for k, v in in_memory.items() if k.replace(".default", "").endswith(name.split("base_model.model.", 1)[-1])]
        assert len(match) == 1 and torch.equal(match[0].detach(), tensor), name

    watcher = FirstStepOptimizerState()  # a fresh trainer, as after a kernel restart
    resumed = make_trainer(tiny_dir, dataset, tmp_path / "run", callbacks=[watcher, SaveOnInterrupt()])
    resumed.train(resume_from_checkpoint=True)
    assert resumed.state.global_step == 4
    assert [e["step"] for e in resumed.state.log_history if "reward" in e] == [1, 2, 3, 4]  # the old logs came back
    saved = torch.load(checkpoint / "optimizer.pt", weights_only=True)["state"]
    assert saved and set(saved) == set(watcher.state)
    for key, tensors in saved.items():
        assert int(watcher.state[key]["step"]) == 2
        assert torch.equal(tensors["exp_avg"], watcher.state[key]["exp_avg"])
    assert resumed.lr_scheduler.last_epoch == 4


def test_a_second_press_interrupts_at_once(tiny_dir, dataset, tmp_path):
    handler = signal.getsignal(signal.SIGINT)
    trainer = make_trainer(tiny_dir, dataset, tmp_path / "run", callbacks=[PressStop(at=1, times=2), SaveOnInterrupt()])
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    assert signal.getsignal(signal.SIGINT) is handler
    assert not (tmp_path / "run" / "checkpoint-1").exists()


def test_in_a_notebook_the_stop_button_is_put_back_when_training_fails(tiny_dir, dataset, tmp_path):
    """transformers skips on_train_end when train() raises: the cell's end puts the handler back."""
    from IPython.core.interactiveshell import InteractiveShell

    def broken_reward(completions, **kwargs):
        raise RuntimeError("a reward that fails")

    shell = InteractiveShell.instance()
    try:
        handler = signal.getsignal(signal.SIGINT)
        trainer = make_trainer(tiny_dir, dataset, tmp_path / "run", reward=broken_reward, callbacks=[SaveOnInterrupt()])
        with pytest.raises(RuntimeError, match="a reward that fails"):
            trainer.train()
        assert signal.getsignal(signal.SIGINT) is not handler  # still the stop button's, until the cell ends
        shell.events.trigger("post_run_cell", None)
        assert signal.getsignal(signal.SIGINT) is handler
        assert not shell.events.callbacks["post_run_cell"]
    finally:
        InteractiveShell.clear_instance()


def test_reward_plateau_stopper_stops_a_flat_run(tiny_dir, dataset, tmp_path):
    stopper = RewardPlateauStopper(patience=2, min_delta=0.0, window=1)
    trainer = make_trainer(tiny_dir, dataset, tmp_path / "flat", reward=flat_reward, callbacks=[stopper], max_steps=8)
    trainer.train()
    assert stopper.stopped_at_step == 3 and trainer.state.global_step == 3  # best at step 1, no gain at 2 and 3


def test_reward_plateau_stopper_checks_its_input():
    with pytest.raises(ValueError, match="patience"):
        RewardPlateauStopper(patience=0)
    with pytest.raises(ValueError, match="min_delta"):
        RewardPlateauStopper(min_delta=-1)
    with pytest.raises(ValueError, match="min_steps"):
        RewardPlateauStopper(min_steps=-1)


def test_early_stopping_on_eval_reward_with_plain_config_fields(tiny_dir, dataset, tmp_path):
    """The recipe notebook 07 shows: transformers' EarlyStoppingCallback on GRPOTrainer's eval_reward."""
    trainer = make_trainer(
        tiny_dir, dataset, tmp_path / "early", reward=flat_reward, eval_dataset=dataset.select(range(2)), max_steps=8,
        eval_strategy="steps", eval_steps=1, save_strategy="steps", save_steps=1, metric_for_best_model="reward",
        greater_is_better=True, load_best_model_at_end=True, per_device_eval_batch_size=2,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=2)],
    )
    trainer.train()
    evals = [e for e in trainer.state.log_history if "eval_reward" in e]
    assert trainer.state.global_step == 3 and len(evals) == 3  # eval_reward never improves after step 1
    assert trainer.state.best_global_step == 1
