"""Each chapter's exercise, both ways: the notebook's stub cell makes its check cell print ✗ with what is
wrong, and the worked solution in solutions/ makes it print ✓ (so no check passes on an untouched stub)."""

import importlib.util
from pathlib import Path

import pytest

from benchmarks.common.notebook_cells import run_cell
from tiny_model import tiny_lora_model

SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"

# (notebook, exercise, what the check prints on the notebook's stub)
EXERCISES = [
    (
        "01",
        "footprint_bytes",
        "✗ footprint_bytes is not written yet (write footprint_bytes: numel() x element_size() of every tensor)",
    ),
    (
        "02",
        "lora_parameter_count",
        "✗ lora_parameter_count is not written yet (write lora_parameter_count: "
        "r (d_in + d_out) per adapted matrix, every layer)",
    ),
    (
        "03",
        "shows_work_reward",
        "✗ shows_work_reward('48 + 24 = 72\\n<answer>72</answer>') returned [0.0], "
        "expected [0.25]: a worked step before the answer",
    ),
    (
        "04",
        "prompt_tokens",
        "✗ prompt_tokens is not written yet (write prompt_tokens: the chat template's text, then its tokens)",
    ),
    (
        "05",
        "batch_settings",
        "✗ batch_settings is not written yet (write batch_settings: num_generations, "
        "per_device_train_batch_size and gradient_accumulation_steps)",
    ),
    (
        "06",
        "first_right_step",
        "✗ first_right_step is not written yet (write first_right_step: the first row that has the key "
        "with a value above 0)",
    ),
    ("07", "wilson", "✗ wilson is not written yet (write wilson: the Wilson score interval of k out of n)"),
    ("08", "zero_std_share", "✗ zero_std_share is not written yet (write zero_std_share: flat groups / groups)"),
    (
        "09",
        "fewest_per_device",
        "✗ fewest_per_device is not written yet (write fewest_per_device: try 1, 2, ... "
        "until the batch holds whole groups)",
    ),
    (
        "10",
        "smallest_group",
        "✗ smallest_group is not written yet (write smallest_group: try G = 2, 3, ... "
        "until the chance is below the bound)",
    ),
    (
        "11",
        "length_limit",
        "✗ length_limit is not written yet (write length_limit: try the measured lengths from the shortest up)",
    ),
    (
        "11",
        "closed_working_reward",
        "✗ closed_working_reward is not written yet (write closed_working_reward: find the answer tag first, "
        "then count what comes before)",
    ),
    (
        "11",
        "collapsed",
        "✗ collapsed is not written yet (write collapsed: two means, one comparison, and a length check first)",
    ),
    (
        "11",
        "on_policy_loss",
        "✗ on_policy_loss is not written yet (write on_policy_loss: -mean(advantages) for grpo; for dapo weigh "
        "each by its length)",
    ),
]


def solution(number: str, name: str):
    """The function or value ``name`` of ``solutions/<number>_<name>.py``."""
    path = SOLUTIONS / f"{number}_{name}.py"
    spec = importlib.util.spec_from_file_location(f"solution_{number}_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def context(number: str, tiny_dir) -> dict:
    """What the exercise's cells read of the notebook (the cells above them), with the tiny model as the model."""
    import torch

    from grpo_helpers.environment import detect_hardware
    from grpo_helpers.models import LORA_TARGET_MODULES, load_model

    if number == "01":
        model, _ = load_model(str(tiny_dir), load_in_4bit=False, backend="transformers", dtype=torch.float32)
        return {"model": model, "n_params": model.num_parameters()}
    if number == "02":
        return {"model": tiny_lora_model(tiny_dir)[0], "LORA_RANK": 4, "LORA_TARGET_MODULES": LORA_TARGET_MODULES}
    if number == "04":
        from transformers import AutoTokenizer

        from grpo_helpers.gsm8k import format_chat

        rows = [format_chat({"question": "What is 2 + 2?", "answer": "#### 4"})]
        tokenizer = AutoTokenizer.from_pretrained(str(tiny_dir))
        return {"tokenizer": tokenizer, "train_chat": rows, "MAX_PROMPT_LENGTH": 256}
    if number == "05":
        return {"hardware": detect_hardware()}
    if number == "06":  # a finished run's trainer: its log, as TRL keeps it
        from types import SimpleNamespace

        key = "rewards/correctness_reward/mean"
        log = [{"step": 1, key: 0.0}, {"step": 2, key: 0.25}, {"step": 2, "train_runtime": 5.0}]
        return {"trainer": SimpleNamespace(state=SimpleNamespace(log_history=log, global_step=2))}
    if number == "11":  # section 3's run: a dashboard's logged rows
        from types import SimpleNamespace

        rows = [{"step": s, "entropy": e} for s, e in enumerate([0.52, 0.63, 0.93, 0.51, 0.05, 0.07], start=1)]
        return {"collapsed_run": SimpleNamespace(rows=rows)}
    if number == "08":
        return {"torch": torch, "rewards": torch.tensor([1.0, 1.0, 0.0, 2.0, 3.0, 3.0]), "G": 2}
    return {}


def run_exercise(number: str, name: str, capsys, tiny_dir, solved: bool) -> str:
    namespace = run_cell(number, f"exercise-{name}", context(number, tiny_dir))
    capsys.readouterr()  # what the exercise cell printed (02's: the config it reads)
    if solved:
        namespace[name] = solution(number, name)
    run_cell(number, f"check-{name}", namespace)
    return capsys.readouterr().out


@pytest.mark.parametrize("number, name, message", EXERCISES, ids=[name for _, name, _ in EXERCISES])
def test_the_stub_fails_with_what_is_wrong(number, name, message, capsys, tiny_dir):
    out = run_exercise(number, name, capsys, tiny_dir, solved=False)
    assert out.splitlines()[0] == message and "✓" not in out


@pytest.mark.parametrize("number, name, message", EXERCISES, ids=[name for _, name, _ in EXERCISES])
def test_the_solution_passes(number, name, message, capsys, tiny_dir):
    out = run_exercise(number, name, capsys, tiny_dir, solved=True)
    assert out.startswith("✓") and "✗" not in out, out


def test_every_exercise_has_its_cells_solution_and_check():
    """An exercise is a stub cell, a check cell, a solution file and a check function; none is left over."""
    import grpo_helpers.exercises as exercises

    names = {name for _, name, _ in EXERCISES}
    assert {p.stem[3:] for p in SOLUTIONS.glob("[0-9][0-9]_*.py")} == names
    assert {n[len("check_") :] for n in dir(exercises) if n.startswith("check_")} == names


def test_a_check_catches_near_misses(capsys, tiny_dir):
    """Wrong answers that are close to right are still caught, with the case that shows it."""
    import math

    from transformers import AutoTokenizer

    from grpo_helpers.evaluation import wilson_interval
    from grpo_helpers.exercises import (
        check_prompt_tokens,
        check_shows_work_reward,
        check_smallest_group,
        check_wilson,
        check_zero_std_share,
        report,
    )

    def counts_work_in_the_answer(prompts, completions, **kwargs):
        return [0.25 if "=" in (c if isinstance(c, str) else c[0]["content"]) else 0.0 for c in completions]

    assert not report(check_shows_work_reward, counts_work_in_the_answer)
    assert "work inside the answer tag does not count" in capsys.readouterr().out
    assert not report(check_zero_std_share, lambda rewards, G: (rewards.view(-1, G).std(dim=1) == 0).sum().item())
    assert "returned 1, expected 0.5" in capsys.readouterr().out  # a count of flat groups, not their share

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_dir))
    assert not report(check_prompt_tokens, lambda prompt, tok: len(tok.apply_chat_template(prompt)), tokenizer)
    assert "add_generation_prompt=True" in capsys.readouterr().out  # the assistant's turn left out
    assert not report(
        check_wilson,
        lambda k, n: (
            max(0.0, k / n - 1.96 * math.sqrt(k * (n - k) / n) / n),
            min(1.0, k / n + 1.96 * math.sqrt(k * (n - k) / n) / n),
        ),
    )
    assert "wilson(8, 16) returned" in capsys.readouterr().out  # p +/- 2 standard errors is not Wilson's
    assert not report(check_wilson, lambda k, n: wilson_interval(k, n, z=2.0))
    capsys.readouterr()

    def fewest(p, bound):
        return next(G for G in range(2, 99) if p**G + (1 - p) ** G < bound)

    assert not report(check_smallest_group, lambda p, bound: fewest(p, bound) - 1)
    assert "not below the bound" in capsys.readouterr().out
    assert not report(check_smallest_group, lambda p, bound: fewest(p, bound) + 1)
    assert "already brings it to" in capsys.readouterr().out

    from grpo_helpers.exercises import check_first_right_step

    assert not report(check_first_right_step, lambda rows, key: next((r["step"] for r in rows if r.get(key)), None))
    assert "a negative mean is not a rise" in capsys.readouterr().out  # truthy is not above 0
    assert not report(check_first_right_step, lambda rows, key: next((r["step"] for r in rows if r[key] > 0), None))
    assert "raised KeyError" in capsys.readouterr().out  # on a row without the reward, as a ✗

    from grpo_helpers.exercises import check_fewest_per_device

    assert not report(check_fewest_per_device, lambda processes, steps, G: max(1, G // (processes * steps)))
    assert "is not a multiple of 16" in capsys.readouterr().out  # 16 // 3 = 5: 15 completions cut a group
    assert not report(check_fewest_per_device, lambda processes, steps, G: G)  # always whole, not the smallest
    assert "already holds whole groups" in capsys.readouterr().out

    from grpo_helpers.exercises import check_length_limit

    def strictly_fewer(lengths, share):  # "< share" where the limit may cut off exactly that share
        return next(limit for limit in sorted(lengths) if sum(n > limit for n in lengths) / len(lengths) < share)

    assert not report(check_length_limit, lambda lengths, share: sorted(lengths)[int(share * len(lengths))])
    assert "of the completions are longer, more than" in capsys.readouterr().out  # the share kept, not cut
    assert not report(
        check_length_limit, lambda lengths, share: strictly_fewer(lengths, share) if share else max(lengths)
    )
    assert "already cut off only" in capsys.readouterr().out

    from grpo_helpers.exercises import check_closed_working_reward

    def uncapped(completions, **kwargs):  # the loophole closed for cut-off completions, but no cap
        texts = [c if isinstance(c, str) else c[0]["content"] for c in completions]
        return [len(t.split("<answer>")[0]) / 50 if "</answer>" in t else 0.0 for t in texts]

    assert not report(check_closed_working_reward, uncapped)
    assert "still earn 1 point at most" in capsys.readouterr().out

    def capped_only(completions, **kwargs):  # capped, but a cut-off ramble still earns
        texts = [c if isinstance(c, str) else c[0]["content"] for c in completions]
        return [min(len(t.split("<answer>")[0]) / 50, 1.0) for t in texts]

    assert not report(check_closed_working_reward, capped_only)
    assert "the completion was cut off or never answered" in capsys.readouterr().out


@pytest.mark.parametrize("use", [False, True])
def test_notebook_06_adds_shows_work_reward_by_one_flag(use):
    """06's reward cell: USE_SHOWS_WORK = True adds notebook 03's solved exercise, with a weight of its own."""
    import types

    from datasets import Dataset

    config = types.SimpleNamespace(max_completion_length=48, reward_weights=[1.0, 1.0, 1.0, 1.0, 0.0])
    rows = [{"prompt": [{"role": "user", "content": "What is 70 + 2?"}], "ground_truth": "72"}]
    flag = [("USE_SHOWS_WORK = False", f"USE_SHOWS_WORK = {use}")]
    namespace = run_cell("06", "rewards", {"config": config, "train_dataset": Dataset.from_list(rows)}, replace=flag)
    names = [f.__name__ for f in namespace["reward_funcs"]]
    assert ("shows_work_reward" in names) == use and len(config.reward_weights) == len(names) == 5 + use
    if use:
        assert namespace["reward_funcs"][-1](["Q"], ["3 x 4 = 12\n#### 12"]) == [0.25]
