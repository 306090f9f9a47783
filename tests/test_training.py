"""The stop button, resume and early stopping, with a tiny model trained by the real GRPOTrainer on the CPU."""

import json
import os
import signal

import pytest
import torch
from transformers import EarlyStoppingCallback, TrainerCallback

from grpo_helpers.config import ConfigError, make_config, save_config, validate_config
from grpo_helpers.dashboard import LiveRewardDashboard
from grpo_helpers.environment import Hardware
from grpo_helpers.rewards import RewardFunctionError, check_reward_functions
from grpo_helpers.training import RewardPlateauStopper, SaveOnInterrupt, checkpoint_to_resume
from tiny_model import cpu_trainer, tiny_lora_model

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
        output_dir=str(output_dir),
        use_cpu=True,
        max_steps=4,
        num_generations=2,
        per_device_train_batch_size=2,
        max_completion_length=8,
        learning_rate=1e-2,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        seed=7,
        temperature=1.0,
        disable_tqdm=True,
    )
    settings.update(overrides)
    return GRPOTrainer(
        model=model,
        reward_funcs=[reward],
        args=GRPOConfig(**settings),
        train_dataset=dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
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
            self.state = {
                k: {n: v.clone() if torch.is_tensor(v) else v for n, v in s.items()}
                for k, s in optimizer.state_dict()["state"].items()
            }


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
        match = [
            v
            for k, v in in_memory.items()
            if k.replace(".default", "").endswith(name.split("base_model.model.", 1)[-1])
        ]
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
        tiny_dir,
        dataset,
        tmp_path / "early",
        reward=flat_reward,
        eval_dataset=dataset.select(range(2)),
        max_steps=8,
        eval_strategy="steps",
        eval_steps=1,
        save_strategy="steps",
        save_steps=1,
        metric_for_best_model="reward",
        greater_is_better=True,
        load_best_model_at_end=True,
        per_device_eval_batch_size=2,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=2)],
    )
    trainer.train()
    evals = [e for e in trainer.state.log_history if "eval_reward" in e]
    assert trainer.state.global_step == 3 and len(evals) == 3  # eval_reward never improves after step 1
    assert trainer.state.best_global_step == 1


# ---- resuming from a folder without a checkpoint; bad input stops a run before anything written is lost


def test_checkpoint_to_resume_names_the_folder_what_it_holds_and_what_to_pass(tiny_dir, dataset, tmp_path):
    """transformers says only "No valid checkpoint found in output directory (...)", "Can't find a valid
    checkpoint at ..." or (for an output_dir or a saved adapter) FileNotFoundError on trainer_state.json."""
    out = tmp_path / "run"
    trainer = make_trainer(tiny_dir, dataset, out, max_steps=2, save_strategy="steps", save_steps=1)
    trainer.train()
    trainer.save_model(str(tmp_path / "adapter"))
    assert checkpoint_to_resume(True, out) == str(out / "checkpoint-2")
    assert checkpoint_to_resume(str(out / "checkpoint-1"), out) == str(out / "checkpoint-1")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "metrics.csv").write_text("step,reward\n")
    with pytest.raises(ValueError) as error:
        checkpoint_to_resume(True, fresh)
    assert str(error.value).startswith(
        f"resume_from_checkpoint=True: output_dir {fresh} has no checkpoint-<step> "
        "folder (it holds metrics.csv): a run saves checkpoint-<step> folders"
    )
    assert "leave resume_from_checkpoint out to start afresh" in str(error.value)
    with pytest.raises(ValueError, match=f"output_dir {tmp_path / 'nowhere'} does not exist: a run saves"):
        checkpoint_to_resume(True, tmp_path / "nowhere")
    newest = str(out / "checkpoint-2")
    with pytest.raises(ValueError) as error:  # the output_dir instead of one of its checkpoints
        checkpoint_to_resume(str(out), out)
    assert str(error.value) == (
        f"resume_from_checkpoint={str(out)!r}: {out} is not a checkpoint (no trainer_state.json; "
        f"it holds README.md, checkpoint-1, checkpoint-2): pass resume_from_checkpoint="
        f"{newest!r} or True (the newest in output_dir)"
    )
    with pytest.raises(
        ValueError, match=r"adapter is not a checkpoint \(no trainer_state.json; it holds README.md, adapter_config"
    ):
        checkpoint_to_resume(str(tmp_path / "adapter"), fresh)  # a saved adapter: weights, no trainer state
    with pytest.raises(ValueError, match=f"checkpoint-2 does not exist: pass resume_from_checkpoint={newest!r}"):
        checkpoint_to_resume("checkpoint-2", out)  # relative to the working folder, not to output_dir
    (out / "checkpoint-3").mkdir()  # a save cut off: transformers would pick it for True
    with pytest.raises(ValueError) as error:
        checkpoint_to_resume(True, out)
    assert f"{out / 'checkpoint-3'} is not a checkpoint (no trainer_state.json; it holds nothing)" in str(error.value)
    assert str(error.value).endswith(f"pass resume_from_checkpoint={newest!r}")
    (out / "checkpoint-3").rmdir()
    resumed = make_trainer(tiny_dir, dataset, out, max_steps=3)
    resumed.train(resume_from_checkpoint=checkpoint_to_resume(True, out))
    assert resumed.state.global_step == 3 and len(resumed.state.log_history) == 4  # steps 1-3 and the summary


def _files(folder):
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    }


def test_bad_input_that_stops_a_run_loses_nothing_written(tiny_dir, dataset, tmp_path):
    from trl import GRPOConfig

    run = tmp_path / "run"
    first = make_trainer(
        tiny_dir,
        dataset,
        run / "checkpoints",
        max_steps=2,
        save_strategy="steps",
        save_steps=1,
        callbacks=[LiveRewardDashboard(output_dir=run, mode="headless")],
    )
    first.train()
    saved = save_config(first.args, run / "grpo_config.json")
    before = _files(run)
    assert {"grpo_config.json", "metrics.csv", "checkpoints/checkpoint-2/trainer_state.json"} <= set(before)
    cpu = Hardware(device="cpu", platform="local", cpu_count=2, ram_gib=8.0)
    with pytest.raises(ConfigError, match="learning_rate: -1"):
        make_config("quick_cpu", hardware=cpu, learning_rate=-1, output_dir=str(run / "checkpoints"))
    settings = {
        k: getattr(first.args, k)
        for k in (
            "output_dir",
            "use_cpu",
            "num_generations",
            "max_completion_length",
            "per_device_train_batch_size",
            "report_to",
        )
    }
    hand_built = GRPOConfig(**settings, temperature=0.0)  # TRL accepts it
    with pytest.raises(ConfigError, match="temperature: 0.0 must be a finite number > 0"):
        validate_config(hand_built)
    with pytest.raises(ConfigError, match=rf"the config \(not saved, {saved} left as it was\) has 1 problem"):
        save_config(hand_built, saved)  # it used to overwrite the good config with one load_config refuses
    with pytest.raises(RewardFunctionError, match="returned None"):
        check_reward_functions([lambda completions, **kwargs: [None] * len(completions)], dataset)
    with pytest.raises(ValueError, match="is not a checkpoint"):
        checkpoint_to_resume(str(run), run / "checkpoints")
    assert _files(run) == before

    def fails(completions, **kwargs):
        raise RuntimeError("a reward that breaks")

    resumed = make_trainer(
        tiny_dir,
        dataset,
        run / "checkpoints",
        reward=fails,
        max_steps=4,
        save_strategy="steps",
        save_steps=1,
        callbacks=[LiveRewardDashboard(output_dir=run, mode="headless")],
    )
    with pytest.raises(RuntimeError, match="a reward that breaks"):  # mid-training, at step 3
        resumed.train(resume_from_checkpoint=checkpoint_to_resume(True, run / "checkpoints"))
    assert _files(run) == before
