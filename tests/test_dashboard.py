"""The live dashboard on a real (tiny) GRPO run on the CPU, and its pieces on synthetic logs."""

import csv
import json

import pytest
from transformers import TrainerState, TrainingArguments

from grpo_helpers.dashboard import LiveRewardDashboard, display_mode, panel_series, rolling_mean, summary_line
from grpo_run import tiny_grpo_run
from tiny_model import cpu_trainer

pytestmark = cpu_trainer

# panel title -> (line label, TRL metric name)
EXPECTED = {
    "Total reward": ("reward", "reward"),
    "Reward std": ("reward_std", "reward_std"),
    "Groups with zero reward std": ("frac_reward_zero_std", "frac_reward_zero_std"),
    "KL to the reference model": ("kl", "kl"),
    "Completion length (tokens)": ("mean", "completions/mean_length"),
    "Clipped completions (fraction)": ("clipped_ratio", "completions/clipped_ratio"),
    "Loss": ("loss", "loss"),
    "Learning rate": ("learning_rate", "learning_rate"),
}


@pytest.fixture(scope="module")
def run(tiny_dir):
    return tiny_grpo_run(tiny_dir)


def logged(run, key):
    rows = [row for row in run.trainer.state.log_history if "reward" in row]
    return [row["step"] for row in rows], [row[key] for row in rows]


def test_every_panel_receives_the_logged_values(run):
    assert len(logged(run, "reward")[0]) == 2
    for dashboard in (run.headless, run.notebook):
        panels = dashboard.panels
        expected = [(title, label, key) for title, (label, key) in EXPECTED.items()]
        expected += [
            ("Reward per function (mean)", name, f"rewards/{name}/mean") for name in ("length_reward", "vowel_reward")
        ]
        for title, label, key in expected:
            steps, values = panels[title][label]
            assert steps == logged(run, key)[0] and values == pytest.approx(logged(run, key)[1]), title
        steps, rewards = logged(run, "reward")
        assert panels["Total reward"]["mean of last 10"][1] == pytest.approx(rolling_mean(rewards, 10))
        assert rolling_mean(rewards, 10)[1] == pytest.approx((rewards[0] + rewards[1]) / 2)


def test_the_figure_draws_the_logged_values(run):
    axes = {ax.get_title(): ax for ax in run.headless.figure.axes}
    for title, (label, key) in EXPECTED.items():
        line = next(line for line in axes[title].get_lines() if line.get_label() == label)
        assert list(line.get_xdata()) == logged(run, key)[0]
        assert list(line.get_ydata()) == pytest.approx(logged(run, key)[1])


def test_headless_prints_one_short_line_per_logging_step(run):
    lines = [line for line in run.stdout.splitlines() if line.startswith("step ")]
    assert [line.split(" | ")[0] for line in lines] == ["step 1/2", "step 2/2"]
    first_reward = logged(run, "reward")[1][0]
    assert f"reward {first_reward:.4g}" in lines[0] and "kl " in lines[1] and "lr " in lines[1]
    assert all(len(line) < 200 for line in lines)


def test_png_csv_and_json_are_written_beside_the_run(run):
    folder = run.trainer.args.output_dir
    assert str(run.headless.paths["png"].parent) == folder  # args.output_dir by default
    assert run.notebook.paths["png"].parent == run.folder / "notebook"  # or where output_dir= says
    for dashboard in (run.headless, run.notebook):
        assert dashboard.paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with open(dashboard.paths["csv"], newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert [int(row["step"]) for row in rows] == [1, 2]
        assert [float(row["reward"]) for row in rows] == pytest.approx(logged(run, "reward")[1])
        saved = json.loads(dashboard.paths["json"].read_text())
        assert [row["kl"] for row in saved["rows"]] == pytest.approx(logged(run, "kl")[1])
        assert saved["health_warnings"] == []


class FakeHandle:
    def __init__(self, calls):
        self.calls = calls

    def update(self, obj):
        self.calls.append(("update", type(obj).__name__))


def test_notebook_mode_shows_one_figure_and_updates_it_in_place(run, monkeypatch, tmp_path):
    import IPython.display

    calls = []

    def fake_display(obj, display_id=None):
        calls.append(("display", type(obj).__name__))
        return FakeHandle(calls)

    monkeypatch.setattr(IPython.display, "display", fake_display)
    dashboard = LiveRewardDashboard(output_dir=tmp_path, mode="notebook", every_seconds=0)
    args = TrainingArguments(output_dir=str(tmp_path / "unused"), report_to="none")
    state = TrainerState(max_steps=2)
    dashboard.on_train_begin(args, state, None)
    for row in run.trainer.state.log_history:
        state.global_step = row["step"]
        dashboard.on_log(args, state, None, logs={k: v for k, v in row.items() if k != "step"})
    dashboard.on_train_end(args, state, None)
    displays = [c for c in calls if c[0] == "display"]
    assert displays == [("display", "Image"), ("display", "HTML")]  # shown once, then updated
    assert calls.count(("update", "Image")) == 3  # two logging steps and the end
    assert len(dashboard.rows) == 2  # the end-of-training summary is not a step
    assert (tmp_path / "reward_dashboard.png").is_file() and (tmp_path / "metrics.csv").is_file()


def test_a_run_without_kl_or_a_metric_leaves_that_panel_empty():
    history = [{"step": 1, "reward": 0.5, "loss": 0.1}, {"step": 2, "reward": None, "loss": 0.2}]
    panels = panel_series(history, window=2)
    assert panels["KL to the reference model"] == {}
    assert panels["Total reward"]["reward"] == ([1], [0.5])
    assert panels["Loss"]["loss"] == ([1, 2], [0.1, 0.2])


def test_summary_line_leaves_out_what_was_not_logged():
    line = summary_line({"step": 3, "reward": 0.25, "loss": 0.5}, max_steps=10, mean=0.2, window=5)
    assert line == "step 3/10 | reward 0.25 (mean5 0.2) | loss 0.5"


def test_mode_comes_from_the_argument_then_the_environment(monkeypatch):
    monkeypatch.setenv("GRPO_DASHBOARD", "notebook")
    assert display_mode() == "notebook"
    assert display_mode("headless") == "headless"
    monkeypatch.delenv("GRPO_DASHBOARD")
    assert display_mode() == "headless"  # pytest has no notebook kernel
    monkeypatch.setenv("GRPO_DASHBOARD", "fancy")
    with pytest.raises(ValueError, match="notebook, headless or auto"):
        display_mode()


def test_bad_arguments_say_what_to_change():
    with pytest.raises(ValueError, match="mode='live' is not one of"):
        LiveRewardDashboard(mode="live")
    with pytest.raises(ValueError, match="window must be a positive"):
        LiveRewardDashboard(window=0, mode="headless")
    with pytest.raises(ValueError, match="every_seconds"):
        LiveRewardDashboard(every_seconds=-1, mode="headless")


def test_every_panel_has_a_title_and_axis_labels_with_units():
    from grpo_helpers.dashboard import PANELS, draw, new_figure

    history = [
        {
            "step": s,
            "reward": 0.1 * s,
            "rewards/correctness_reward/mean": 0.0,
            "reward_std": 0.2,
            "frac_reward_zero_std": 0.5,
            "kl": 0.01,
            "completions/mean_length": 30.0,
            "completions/min_length": 10.0,
            "completions/max_length": 48.0,
            "completions/clipped_ratio": 0.25,
            "loss": 0.0,
            "learning_rate": 5e-6,
        }
        for s in (1, 2, 3)
    ]
    figure, axes = new_figure()
    draw(figure, axes, history, title="GRPO training: step 3 of 3")
    assert figure.get_suptitle()
    for ax, title in zip(axes[:-1], PANELS, strict=True):  # the last axes: the health panel
        assert ax.get_title() == title and ax.get_xlabel() == "training step"
        assert "(" in ax.get_ylabel() and ax.get_ylabel().endswith(")"), (
            f"{title}: the y axis needs a label with its unit"
        )
