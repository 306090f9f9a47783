"""Health warnings: each one triggers on a synthetic log history and stays quiet on a healthy one."""

import pytest

from grpo_helpers.dashboard import check_health


def history(steps=12, **columns):
    """A log history like trainer.state.log_history; ``columns`` are values or per-step functions."""
    base = {
        "loss": 0.01,
        "learning_rate": 5e-6,
        "reward": lambda s: 0.1 * s,
        "reward_std": 0.3,
        "frac_reward_zero_std": 0.25,
        "kl": lambda s: 0.002 * s,
        "completions/clipped_ratio": 0.1,
    }
    base.update(columns)
    rows = [
        {key: (value(s) if callable(value) else value) for key, value in base.items() if value is not None}
        | {"step": s}
        for s in range(1, steps + 1)
    ]
    rows.append({"train_runtime": 10.0, "train_loss": 0.01, "step": steps})  # the end-of-training summary
    return rows


def codes(log_history, **kwargs):
    return [w.code for w in check_health(log_history, **kwargs)]


def test_a_healthy_run_gets_no_warning():
    assert check_health(history()) == []
    assert check_health([]) == []


def test_reward_flat_at_zero_warns_with_the_fix():
    warnings = check_health(history(reward=0.0))
    assert [w.code for w in warnings] == ["reward_flat_zero"]
    assert warnings[0].step == 12
    assert "max_completion_length" in warnings[0].fix and "column" in warnings[0].fix
    assert "Fix:" in str(warnings[0])


def test_reward_zero_only_recently_or_briefly_is_not_flat():
    assert "reward_flat_zero" not in codes(history(steps=9, reward=0.0))  # fewer steps than the window
    assert "reward_flat_zero" not in codes(history(reward=lambda s: 0.0 if s != 8 else 0.5))
    assert "reward_flat_zero" in codes(history(steps=20, reward=lambda s: 0.5 if s < 8 else 0.0))


def test_all_groups_with_zero_std_warns():
    warnings = check_health(history(frac_reward_zero_std=1.0))
    assert [w.code for w in warnings] == ["zero_std"]
    assert "temperature" in warnings[0].fix and "num_generations" in warnings[0].fix
    assert "zero_std" not in codes(history(frac_reward_zero_std=lambda s: 1.0 if s < 12 else 0.5))


def test_kl_running_away_warns_and_no_kl_logged_is_fine():
    warnings = check_health(history(kl=lambda s: 0.3 * s))
    assert [w.code for w in warnings] == ["kl_runaway"]
    assert "learning_rate" in warnings[0].fix and "beta" in warnings[0].fix
    assert "kl_runaway" not in codes(history(kl=None))  # beta = 0: TRL logs no kl
    assert "kl_runaway" in codes(history(kl=0.6), kl_limit=0.5)


def test_completions_always_clipped_warns():
    warnings = check_health(history(**{"completions/clipped_ratio": 1.0}))
    assert [w.code for w in warnings] == ["always_clipped"]
    assert warnings[0].message.startswith("Completions cut off")  # the words a learner searches the dashboard for
    assert "max_completion_length" in warnings[0].fix and "SFT" in warnings[0].fix  # loops: a longer limit will not do
    assert "always_clipped" not in codes(history(**{"completions/clipped_ratio": 0.9}))


CORRECTNESS = "rewards/correctness_reward/mean"


def test_reward_rising_while_correctness_falls_warns_of_reward_hacking():
    hacked = history(**{CORRECTNESS: lambda s: 0.3 - 0.02 * s})  # reward 0.1 -> 1.2, correctness 0.28 -> 0.06
    warnings = check_health(hacked)
    assert [w.code for w in warnings] == ["reward_hacking"]
    assert "correctness_reward fell" in warnings[0].message and "loophole" in warnings[0].message
    assert "reward_weights" in warnings[0].fix and "held-out" in warnings[0].fix
    # a healthy run: correctness rises with the reward, or stays where it was while the format is learnt
    assert "reward_hacking" not in codes(history(**{CORRECTNESS: lambda s: 0.02 * s}))
    assert "reward_hacking" not in codes(history(**{CORRECTNESS: 0.0}))
    assert "reward_hacking" not in codes(history(steps=9, **{CORRECTNESS: lambda s: 0.3 - 0.02 * s}))  # < 2 windows
    flat = history(reward=0.5, **{CORRECTNESS: lambda s: 0.3 - 0.02 * s})  # correctness falls, reward does not rise
    assert "reward_hacking" not in codes(flat)


def test_entropy_blowing_up_warns_of_collapse_and_no_entropy_logged_is_fine():
    warnings = check_health(history(entropy=lambda s: 0.4 if s <= 4 else 0.4 * s))
    assert [w.code for w in warnings] == ["entropy_runaway"]
    assert "collapse" in warnings[0].message and "beta" in warnings[0].fix and "learning_rate" in warnings[0].fix
    assert "entropy_runaway" not in codes(history(entropy=lambda s: 0.4 + 0.01 * s))  # a drift, not a blow-up
    assert "entropy_runaway" not in codes(history(entropy=None))
    assert "entropy_runaway" in codes(history(entropy=lambda s: 0.4 + 0.01 * s), entropy_factor=1.1)


def test_entropy_falling_to_a_fraction_warns_of_collapse_and_a_healthy_decline_does_not():
    # notebook 11's collapse (learning_rate=1e-2): 0.52, 0.63, 0.93, 0.51, 0.05, 0.07, ...
    warnings = check_health(history(steps=8, entropy=lambda s: [0.52, 0.63, 0.93, 0.51, 0.05, 0.07, 0.06, 0.06][s - 1]))
    assert [w.code for w in warnings] == ["entropy_collapse"]
    assert "learning_rate" in warnings[0].fix and "beta" in warnings[0].fix
    assert warnings[0].fix == check_health(history(entropy=lambda s: 0.4 if s <= 4 else 0.4 * s))[0].fix
    assert codes(history(steps=14, entropy=lambda s: 0.5 - 0.013 * s)) == []  # 0.6x over 14 steps: learning
    assert "entropy_collapse" in codes(history(entropy=lambda s: 0.5 - 0.013 * s), entropy_floor=0.8)
    with pytest.raises(ValueError, match="entropy_floor must be a fraction"):
        check_health([], entropy_floor=1.5)


def test_missing_and_none_values_are_skipped():
    rows = history(reward=0.0)
    for row in rows[-4:-1]:  # the last three logging steps (the summary is last)
        row["reward"] = None  # TRL logs None when every reward function returned None
    assert "reward_flat_zero" not in codes(rows)
    assert "reward_flat_zero" in codes(rows, flat_window=8)


def test_bad_input_says_what_to_pass():
    with pytest.raises(TypeError, match="trainer.state.log_history"):
        check_health({"reward": 0.0})
    with pytest.raises(TypeError, match=r"log_history\[1\]"):
        check_health([{"reward": 0.0}, 3])
    with pytest.raises(ValueError, match="flat_window must be a positive"):
        check_health([], flat_window=0)
    with pytest.raises(ValueError, match="zero_std_fraction must be a fraction"):
        check_health([], zero_std_fraction=1.5)
    with pytest.raises(ValueError, match="kl_limit must be a positive"):
        check_health([], kl_limit=0)
    with pytest.raises(ValueError, match="hacking_rise must be a positive number"):
        check_health([], hacking_rise=-1)
    with pytest.raises(ValueError, match="entropy_window must be a positive"):
        check_health([], entropy_window=0)
