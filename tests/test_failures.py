"""Notebook 11's broken runs (quick mode, the real small model): each shows its symptom, and the dashboard's
health check names it."""

import pytest

from benchmarks.common.notebook_cells import run_cell
from grpo_helpers.environment import choose_backend, detect_hardware
from tiny_model import cpu_trainer

pytestmark = cpu_trainer
CORRECTNESS = "rewards/correctness_reward/mean"


@pytest.fixture(scope="module")
def failures():
    hardware = detect_hardware()
    namespace = {"hardware": hardware, "BACKEND": choose_backend(hardware)}
    tags = (
        "failure-setup",
        "failure-hacking",
        "failure-cut-off",
        "failure-collapse",
        "failure-too-hard",
        "failure-loss",
    )
    for tag in tags:  # the notebook's order
        run_cell("11", tag, namespace)
    return namespace


def last(dashboard, metric):
    return [row[metric] for row in dashboard.rows if metric in row][-5:]


def first_and_last(dashboard, metric, window=5):
    values = [row[metric] for row in dashboard.rows if metric in row]
    return sum(values[:window]) / window, sum(values[-window:]) / window


def test_a_reward_with_a_loophole_is_named_reward_hacking(failures):
    hacked = failures["hacked"]
    assert len(hacked.rows) == 10
    loophole, correctness = (first_and_last(hacked, k) for k in ("rewards/working_reward/mean", CORRECTNESS))
    assert loophole[1] > loophole[0] and correctness[1] < correctness[0]  # the loophole pays, right answers go
    assert min(last(hacked, "completions/clipped_ratio")) == 1.0  # it learnt to ramble to the limit
    named = {w.code: w for w in hacked.warnings}
    assert "reward_hacking" in named and "loophole" in named["reward_hacking"].message
    assert "completion browser" in named["reward_hacking"].fix


def test_a_far_too_large_learning_rate_is_named_a_collapse(failures):
    collapsed = failures["collapsed_run"]
    entropy = first_and_last(collapsed, "entropy", window=3)
    assert entropy[1] <= 0.25 * entropy[0]  # the model repeats a few tokens
    assert max(last(collapsed, "reward")[-3:]) == 0.0 and min(last(collapsed, "completions/clipped_ratio")[-3:]) == 1.0
    assert {"entropy_collapse", "always_clipped"} <= {w.code for w in collapsed.warnings}


def test_a_too_short_max_completion_length_is_named(failures):
    cut_off = failures["cut_off"]
    assert len(cut_off.rows) == 5 and min(last(cut_off, "completions/clipped_ratio")) == 1.0
    named = {w.code: w for w in cut_off.warnings}
    assert set(named) == {"always_clipped", "zero_std"}  # cut off, every completion scores the same: ties too
    assert "raise max_completion_length" in named["always_clipped"].fix.lower()


def test_data_too_hard_is_named(failures):
    too_hard = failures["too_hard"]
    assert min(last(too_hard, "frac_reward_zero_std")) == 1.0 and max(last(too_hard, "reward")) == 0.0
    assert "zero_std" in [w.code for w in too_hard.warnings]


def test_the_loss_is_exactly_zero_where_lengths_or_rewards_are_all_equal(failures):
    """beta=0, one update per generation: the loss is minus the token-weighted mean advantage (dapo)."""
    for dashboard in (failures["cut_off"], failures["too_hard"]):  # all 4 tokens long; all rewards 0
        assert max(abs(row["loss"]) for row in dashboard.rows if "loss" in row) < 1e-6
    hacked = [row for row in failures["hacked"].rows if "loss" in row]
    assert any(abs(row["loss"]) > 1e-3 for row in hacked)  # lengths differ: the loss moves off 0
