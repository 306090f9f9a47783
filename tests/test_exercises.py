"""Each chapter's exercise, both ways: the notebook's stub cell makes its check cell print ✗ with what is
wrong, and the worked solution in solutions/ makes it print ✓ (so no check passes on an untouched stub)."""
import importlib.util
from pathlib import Path

import pytest

from benchmarks.common.notebook_cells import run_cell

SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"

# (notebook, exercise, what the check prints on the notebook's stub)
EXERCISES = [
    ("03", "shows_work_reward", "✗ shows_work_reward('48 + 24 = 72\\n<answer>72</answer>') returned [0.0], "
                                "expected [0.25]: a worked step before the answer"),
    ("08", "zero_std_share", "✗ zero_std_share is not written yet (write zero_std_share: flat groups / groups)"),
]


def solution(number: str, name: str):
    """The function or value ``name`` of ``solutions/<number>_<name>.py``."""
    path = SOLUTIONS / f"{number}_{name}.py"
    spec = importlib.util.spec_from_file_location(f"solution_{number}_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def context(number: str) -> dict:
    """What the check cell reads of the notebook beside the exercise (the cells above it)."""
    if number == "08":
        import torch

        return {"torch": torch, "rewards": torch.tensor([1.0, 1.0, 0.0, 2.0, 3.0, 3.0]), "G": 2}
    return {}


def run_exercise(number: str, name: str, capsys, solved: bool) -> str:
    namespace = run_cell(number, f"exercise-{name}", context(number))
    if solved:
        namespace[name] = solution(number, name)
    run_cell(number, f"check-{name}", namespace)
    return capsys.readouterr().out


@pytest.mark.parametrize("number, name, message", EXERCISES, ids=[name for _, name, _ in EXERCISES])
def test_the_stub_fails_with_what_is_wrong(number, name, message, capsys):
    out = run_exercise(number, name, capsys, solved=False)
    assert out.splitlines()[0] == message and "✓" not in out


@pytest.mark.parametrize("number, name, message", EXERCISES, ids=[name for _, name, _ in EXERCISES])
def test_the_solution_passes(number, name, message, capsys):
    out = run_exercise(number, name, capsys, solved=True)
    assert out.startswith("✓") and "✗" not in out, out


def test_every_exercise_has_its_cells_solution_and_check():
    """An exercise is a stub cell, a check cell, a solution file and a check function; none is left over."""
    import grpo_helpers.exercises as exercises

    names = {name for _, name, _ in EXERCISES}
    assert {p.stem[3:] for p in SOLUTIONS.glob("[0-9][0-9]_*.py")} == names
    assert {n[len("check_"):] for n in dir(exercises) if n.startswith("check_")} == names


def test_a_check_catches_near_misses(capsys):
    """Wrong answers that are close to right are still caught, with the case that shows it."""
    from grpo_helpers.exercises import check_shows_work_reward, check_zero_std_share, report

    def counts_work_in_the_answer(prompts, completions, **kwargs):
        return [0.25 if "=" in (c if isinstance(c, str) else c[0]["content"]) else 0.0 for c in completions]

    assert not report(check_shows_work_reward, counts_work_in_the_answer)
    assert "work inside the answer tag does not count" in capsys.readouterr().out
    assert not report(check_zero_std_share, lambda rewards, G: (rewards.view(-1, G).std(dim=1) == 0).sum().item())
    assert "returned 1, expected 0.5" in capsys.readouterr().out  # a count of flat groups, not their share
