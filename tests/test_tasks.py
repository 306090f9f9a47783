"""What a run trains and is judged on (grpo_helpers.tasks), and the numbers its evaluation reports."""

import json
import re

import pytest

from benchmarks.common.notebook_cells import notebooks, python_source, read, run_cell
from grpo_helpers import environment
from grpo_helpers.arithmetic import word_problems
from grpo_helpers.dashboard import quarter_means
from grpo_helpers.environment import Hardware
from grpo_helpers.evaluation import EvalResult, compare_results, difference_interval, save_evaluation, wilson_interval
from grpo_helpers.tasks import GUARD, TRAIN_SEED, held_out_problems, train_problems, training_task


def hardware(cuda: bool) -> Hardware:
    return Hardware(
        device="cuda" if cuda else "cpu",
        platform="local",
        cpu_count=2,
        ram_gib=8.0,
        gpu_name="GPU" if cuda else None,
        vram_gib=80.0 if cuda else None,
        bf16=cuda,
    )


def test_the_task_follows_the_hardware():
    assert training_task(hardware(cuda=True)) == "gsm8k"
    assert training_task(hardware(cuda=False)) == "one-step"
    with pytest.raises(ValueError, match="use one of"):
        train_problems("two-step", 4)


def test_one_step_problems_train_and_are_held_out_apart():
    train = train_problems("one-step", 28)
    assert train.column_names == ["prompt", "ground_truth"] and len(train) == 28
    held_out = held_out_problems("one-step", 200, avoid=train)
    assert len(held_out) == 200 and held_out["id"] == list(range(200))
    guarded = set(word_problems(GUARD, 1, seed=TRAIN_SEED)["question"])
    assert not guarded & set(held_out["question"])
    assert held_out["question"] == held_out_problems("one-step", 200)["question"]  # the same ones every time
    # a training set that holds a held-out question is refused
    leaked = train_problems("one-step", 2).map(
        lambda row: {"prompt": [*row["prompt"][:-1], {"role": "user", "content": held_out[0]["question"]}]}
    )
    with pytest.raises(ValueError, match="also training questions"):
        held_out_problems("one-step", 10, avoid=leaked)


def test_gsm8k_is_held_out_from_the_test_split():
    held_out = held_out_problems("gsm8k", 5)
    assert set(held_out.column_names) >= {"question", "answer", "id"} and len(held_out) == 5


def result(label: str, correct: int, n: int, formatted: int | None = None) -> EvalResult:
    import pandas as pd

    flags = [True] * correct + [False] * (n - correct)
    shaped = [True] * (n if formatted is None else formatted) + [False] * (0 if formatted is None else n - formatted)
    return EvalResult(label, pd.DataFrame({"id": range(n), "correct": flags, "formatted": shaped}), {"n_examples": n})


def test_results_carry_their_wilson_interval():
    r = result("x", 8, 128)
    assert r.correct == 8 and r.interval == wilson_interval(8, 128)
    assert "95% interval 3.2%-11.8%" in str(r)
    table = compare_results(result("base", 0, 16), r)
    # not "0.0% to 0.0%"
    assert list(table["right"]) == [0, 8] and table["to"].iloc[0] == pytest.approx(0.194, abs=1e-3)


def test_difference_interval_is_newcombes():
    # Newcombe (1998), Statistics in Medicine 17:873, table II, example (a): 56/70 vs 48/80 -> 0.0524 to 0.3339
    low, high = difference_interval(result("b", 48, 80), result("a", 56, 70))
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    low, high = difference_interval(result("b", 8, 128), result("a", 8, 128))
    assert low < 0 < high
    # the same for the format rate: 48/80 -> 56/70 formatted, whatever the accuracy
    assert difference_interval(
        result("b", 0, 80, formatted=48), result("a", 0, 70, formatted=56), column="formatted"
    ) == (low_high := (difference_interval(result("b", 48, 80), result("a", 56, 70))))
    assert round(low_high[0], 4) == 0.0524


def test_evaluation_json_says_what_was_measured(tmp_path):
    before, after = result("base", 8, 128), result("trained", 24, 128)
    record = save_evaluation(tmp_path / "evaluation.json", "one-step", before, after)
    saved = json.loads((tmp_path / "evaluation.json").read_text())
    assert saved == record and saved["task"] == "one-step"
    assert saved["before"]["n"] == 128 and saved["before"]["correct"] == 8 and saved["after"]["correct"] == 24
    assert saved["before"]["interval95"] == [round(x, 4) for x in wilson_interval(8, 128)]
    assert saved["intervals_apart"] is True and saved["difference_interval95"][0] > 0
    assert save_evaluation(tmp_path / "e.json", "one-step", before, result("t", 12, 128))["intervals_apart"] is False


def test_wrong_equations_find_wrong_working():
    wrong_equations = run_cell("07", "wrong-equations")["wrong_equations"]  # notebook 07 teaches it
    assert wrong_equations("She has $50 - 300 = 100 left, so 3 + 4 = 7.") == ["$50 - 300 = 100"]
    assert wrong_equations("2 x 5 = 10 and 1,000 + 5 = 1,005 and 9 / 3 = 3") == []
    assert wrong_equations("6 * 7 = 41") == ["6 * 7 = 41"]


def test_reward_quarters_compare_first_and_last_steps():
    logs = [
        {"step": s, "reward": float(s), "rewards/correctness_reward/mean": s / 10, "loss": 0.0} for s in range(1, 9)
    ]
    logs.append({"train_runtime": 1.0, "step": 8})
    trainer = type("Trainer", (), {"state": type("State", (), {"log_history": logs})})
    table = run_cell("06", "reward-quarters", {"trainer": trainer})["quarters"].round(3)  # notebook 06's table
    assert list(table.index) == ["total reward", "correctness_reward"]
    assert list(table.loc["total reward"]) == [1.5, 7.5, 6.0]
    assert list(table.columns) == ["first quarter: steps 1-2", "last quarter: steps 7-8", "change"]
    # a GPU quick run: 2 steps, rewards logged only at the step that generates (one in four)
    one = [{"step": 1, "reward": 0.5, "loss": 0.0}, {"step": 2, "loss": 0.0}, {"train_runtime": 1.0, "step": 2}]
    trainer = type("Trainer", (), {"state": type("State", (), {"log_history": one})})
    table = run_cell("06", "reward-quarters", {"trainer": trainer})["quarters"]
    assert list(table.loc["total reward"]) == [0.5, 0.5, 0.0]
    assert quarter_means([1.0]) == (1.0, 1.0)
    with pytest.raises(ValueError, match="trained nothing"):
        quarter_means([])


@pytest.mark.parametrize(
    ("quick", "cuda", "mode", "value"), [("1", True, "quick", 1), ("0", True, "full", 3), ("", False, "cpu", 2)]
)
def test_run_mode_names_the_values_pick_uses(monkeypatch, quick, cuda, mode, value):
    monkeypatch.setenv("GRPO_QUICK", quick)
    monkeypatch.setattr(environment, "cuda_available", lambda: cuda)
    assert environment.run_mode() == mode and mode in environment.MODES
    assert environment.pick(full=3, quick=1, cpu=2) == value
    assert environment.pick(full=3, quick=1) == (1 if mode == "quick" else 3)


def code_of(name: str) -> str:
    path = next(p for p in notebooks() if p.name.startswith(name))
    return "\n".join(python_source(c) for c in read(path).cells if c.cell_type == "code")


def test_06_trains_and_07_evaluates_the_same_task():
    train, evaluate = code_of("06_"), code_of("07_")
    for code in (train, evaluate):
        assert "TASK = training_task(hardware)" in code
    assert "train_problems(TASK," in train
    assert "held_out_problems(TASK, N_EXAMPLES)" in evaluate and "save_evaluation(" in evaluate


def test_every_interval_is_wilsons():
    """A normal-approximation interval (1.96 * sqrt) may only stand beside the Wilson one it is compared with."""
    for path in notebooks():
        for cell in read(path).cells:
            code = python_source(cell) if cell.cell_type == "code" else ""
            if re.search(r"1\.96\s*\*", code):
                assert "wilson_interval" in code, f"{path.name}: an interval without wilson_interval"
            assert "pstdev" not in code, f"{path.name}: TRL's group std is the sample std (statistics.stdev)"
