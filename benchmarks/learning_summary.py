"""What a CPU learning run measured, from the trainer's log history: the reward curve and the
numbers of the JSON summary (quarter means, seconds per step, generated tokens per second)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from statistics import mean

CURVE_COLUMNS = ("step", "reward", "reward_std", "completions/mean_length", "completions/clipped_ratio", "frac_reward_zero_std")


def step_logs(log_history: list[dict]) -> list[dict]:
    """The per-step training logs (the ones with a ``reward``), in step order."""
    return sorted((row for row in log_history if "reward" in row and "step" in row), key=lambda row: row["step"])


def reward_columns(rows: list[dict]) -> list[str]:
    """``rewards/<name>/mean`` for every reward function the trainer logged."""
    names = dict.fromkeys(key for row in rows for key in row if key.startswith("rewards/") and key.endswith("/mean"))
    return list(names)


def quarter_means(values: list[float]) -> tuple[float, float]:
    """The mean of the first and of the last quarter of ``values`` (at least one value each)."""
    if not values:
        raise ValueError("no logged steps: the run trained nothing")
    quarter = max(1, len(values) // 4)
    return mean(values[:quarter]), mean(values[-quarter:])


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


def learning_numbers(rows: list[dict], completions_per_step: int, train_seconds: float, generation_seconds: float) -> dict:
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
