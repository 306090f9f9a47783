"""What a CPU learning run measured, from the trainer's log history: the reward curve and the
numbers of the JSON summary (quarter means, seconds per step, generated tokens per second)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from statistics import mean

from grpo_helpers.dashboard import quarter_means

CURVE_COLUMNS = (
    "step",
    "reward",
    "reward_std",
    "completions/mean_length",
    "completions/clipped_ratio",
    "frac_reward_zero_std",
)


def step_logs(log_history: list[dict]) -> list[dict]:
    """The per-step training logs (the ones with a ``reward``), in step order."""
    return sorted((row for row in log_history if "reward" in row and "step" in row), key=lambda row: row["step"])


def reward_columns(rows: list[dict]) -> list[str]:
    """``rewards/<name>/mean`` for every reward function the trainer logged."""
    names = dict.fromkeys(key for row in rows for key in row if key.startswith("rewards/") and key.endswith("/mean"))
    return list(names)


def write_curve(rows: list[dict], folder: Path) -> dict[str, Path]:
    """``reward_curve.csv`` (one row per step) and ``reward_curve.png`` (total reward and each
    reward function's mean against the step) in ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [*CURVE_COLUMNS, *reward_columns(rows)]
    csv_path = folder / "reward_curve.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({c: row.get(c, "") for c in columns} for row in rows)

    steps = [row["step"] for row in rows]
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.plot(steps, [row["reward"] for row in rows], "k-o", lw=2, ms=3, label="total reward")
    for column in reward_columns(rows):
        axis.plot(steps, [row.get(column, float("nan")) for row in rows], lw=1, label=column.split("/")[1])
    axis.axhline(0, color="grey", lw=0.5)
    axis.set_xlabel("step")
    axis.set_ylabel("mean reward")
    axis.legend(fontsize=7)
    figure.tight_layout()
    png_path = folder / "reward_curve.png"
    figure.savefig(png_path, dpi=100)
    plt.close(figure)
    return {"csv": csv_path, "png": png_path}


def learning_numbers(
    rows: list[dict], completions_per_step: int, train_seconds: float, generation_seconds: float
) -> dict:
    """Reward of the first and last quarter of steps, seconds per step and generated tokens per second."""
    first, last = quarter_means([row["reward"] for row in rows])
    tokens = sum(row["completions/mean_length"] * completions_per_step for row in rows)
    return {
        "steps": len(rows),
        "train_seconds": round(train_seconds, 1),
        "seconds_per_step": round(train_seconds / len(rows), 2),
        "generation_seconds": round(generation_seconds, 1),
        "generated_tokens": int(round(tokens)),
        "generated_tokens_per_second": round(tokens / generation_seconds, 2) if generation_seconds else None,
        "reward_first_quarter": round(first, 4),
        "reward_last_quarter": round(last, 4),
        "reward_ratio_last_to_first": round(last / first, 2) if first > 0 else None,
        "mean_completion_length": round(mean(row["completions/mean_length"] for row in rows), 1),
        "clipped_ratio_mean": round(mean(row.get("completions/clipped_ratio", 0.0) for row in rows), 3),
        "frac_reward_zero_std_mean": round(mean(row.get("frac_reward_zero_std", 0.0) for row in rows), 3),
    }


def write_summary(summary: dict, path: Path) -> Path:
    path.write_text(json.dumps(summary, indent=2) + "\n")
    return path


# ---- correctness: its reward curve, the groups that teach it, held-out results with intervals

CORRECTNESS = "rewards/correctness_reward/mean"


def tracked_rewards(max_completion_length: int, group_size: int, zero_std_shares: list) -> list:
    """``tutorial_rewards`` with the correctness reward wrapped (same name, same scores) so that each
    call appends the share of its groups of ``group_size`` whose correctness scores are all equal:
    TRL's ``frac_reward_zero_std`` counts the *total* reward, which format rewards keep varied."""
    from grpo_helpers import rewards

    def correctness_reward(prompts, completions, ground_truth, **kwargs):
        scores = rewards.correctness_reward(prompts, completions, ground_truth, **kwargs)
        groups = [scores[i : i + group_size] for i in range(0, len(scores), group_size)]
        zero_std_shares.append(sum(len(set(g)) == 1 for g in groups) / len(groups))
        return scores

    return [correctness_reward, *rewards.tutorial_rewards(max_completion_length)[1:]]


def correctness_numbers(rows: list[dict], zero_std_shares: list[float]) -> dict:
    """The correctness reward's first- and last-quarter means and the zero-std shares over training."""
    first, last = quarter_means([row.get(CORRECTNESS, 0.0) for row in rows])
    return {
        "correctness_first_quarter": round(first, 4),
        "correctness_last_quarter": round(last, 4),
        "correctness_per_step": [round(row.get(CORRECTNESS, 0.0), 3) for row in rows],
        "correctness_zero_std_share": round(mean(zero_std_shares), 3) if zero_std_shares else None,
        "correctness_zero_std_share_first_last_quarter": [round(x, 3) for x in quarter_means(zero_std_shares)]
        if zero_std_shares
        else None,
    }


def eval_numbers(result, seconds: float) -> dict:
    """An ``EvalResult`` as accuracy with its 95% Wilson interval, format rate and problem count."""
    low, high = result.interval
    return {
        "accuracy": round(result.accuracy, 4),
        "ci95": [round(low, 4), round(high, 4)],
        "correct": result.correct,
        "problems": result.n_examples,
        "format_rate": round(result.format_rate, 4),
        "seconds": round(seconds, 1),
    }


def passk_numbers(counts: list[int], k: int, seconds: float) -> dict:
    """pass@1, pass@k and the zero-std share of ``sample_correct``'s counts, with the per-problem counts."""
    from grpo_helpers.evaluation import learnability, wilson_interval

    numbers = learnability(counts, k)
    solved = sum(c > 0 for c in counts)
    return {
        **{key: round(v, 4) if isinstance(v, float) else v for key, v in numbers.items()},
        f"pass@{k}_ci95": [round(x, 4) for x in wilson_interval(solved, len(counts))],
        "counts": counts,
        "seconds": round(seconds, 1),
    }
