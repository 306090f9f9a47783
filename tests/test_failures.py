"""Notebook 11's broken runs (quick mode, the real small model): each shows its symptom, and the dashboard's
health check names it."""

import pytest

from benchmarks.common.notebook_cells import run_cell
from grpo_helpers.environment import choose_backend, detect_hardware
from tiny_model import cpu_trainer

pytestmark = cpu_trainer


@pytest.fixture(scope="module")
def failures():
    hardware = detect_hardware()
    namespace = {"hardware": hardware, "BACKEND": choose_backend(hardware)}
    for tag in ("failure-setup", "failure-cut-off", "failure-too-hard", "failure-loss"):  # the notebook's order
        run_cell("11", tag, namespace)
    return namespace


def last(dashboard, metric):
    return [row[metric] for row in dashboard.rows if metric in row][-5:]


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


def test_the_loss_sits_near_zero(failures):
    for dashboard in (failures["cut_off"], failures["too_hard"], failures["fine"]):
        assert max(abs(row["loss"]) for row in dashboard.rows if "loss" in row) < 1e-3
