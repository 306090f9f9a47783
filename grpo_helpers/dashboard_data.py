"""The numbers behind the live dashboard: which TRL metric goes in which panel, the rolling mean,
the one-line summary of a logging step, and saving the metrics as CSV and JSON.

Metric names are the ones ``trl.GRPOTrainer`` logs (identical in TRL 1.15 and 1.16):
``reward``, ``reward_std``, ``frac_reward_zero_std``, ``rewards/<reward function name>/mean``,
``kl`` (only when ``beta > 0``), ``completions/mean_length`` (``/min_length``, ``/max_length``),
``completions/clipped_ratio``; ``loss`` and ``learning_rate`` come from transformers' Trainer.
A metric that a run does not log leaves its panel empty; nothing here needs torch or matplotlib.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from grpo_helpers.health import HealthWarning, training_logs

REWARD_FUNC_PREFIX = "rewards/"
REWARD_FUNC_SUFFIX = "/mean"

# (panel title, [(metric key, label)]); the reward-per-function panel is filled from the keys.
PANELS = (
    ("Total reward", [("reward", "reward")]),
    ("Reward per function (mean)", []),
    ("Reward std", [("reward_std", "reward_std")]),
    ("Groups with zero reward std", [("frac_reward_zero_std", "frac_reward_zero_std")]),
    ("KL to the reference model", [("kl", "kl")]),
    ("Completion length (tokens)", [("completions/mean_length", "mean"), ("completions/min_length", "min"),
                                    ("completions/max_length", "max")]),
    ("Clipped completions (fraction)", [("completions/clipped_ratio", "clipped_ratio")]),
    ("Loss", [("loss", "loss")]),
    ("Learning rate", [("learning_rate", "learning_rate")]),
)
EMPTY_NOTES = {
    "KL to the reference model": "no KL logged (beta = 0: no KL term)",
    "Reward per function (mean)": "no reward functions logged yet",
}


def number(value) -> float | None:
    """``value`` as a float, or None when it is missing, not a number, or NaN."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else float(value)


def reward_function_names(rows: list[dict]) -> list[str]:
    """The reward function names in ``rewards/<name>/mean`` keys, in order of first appearance."""
    names = []
    for row in rows:
        for key in row:
            if key.startswith(REWARD_FUNC_PREFIX) and key.endswith(REWARD_FUNC_SUFFIX):
                name = key[len(REWARD_FUNC_PREFIX) : -len(REWARD_FUNC_SUFFIX)]
                if name and name not in names:
                    names.append(name)
    return names


def series(rows: list[dict], key: str) -> tuple[list[int], list[float]]:
    """The (steps, values) of metric ``key`` over ``rows``; steps where it is missing are left out."""
    steps, values = [], []
    for i, row in enumerate(rows):
        value = number(row.get(key))
        if value is not None:
            steps.append(int(row.get("step", i + 1)))
            values.append(value)
    return steps, values


def rolling_mean(values: list[float], window: int) -> list[float]:
    """The mean of the last ``window`` values (fewer at the start) at each position."""
    if not isinstance(window, int) or isinstance(window, bool) or window < 1:
        raise ValueError(f"window must be a positive number of logging steps (e.g. 10), got {window!r}")
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def panel_series(log_history, window: int = 10) -> dict[str, dict[str, tuple[list[int], list[float]]]]:
    """What each dashboard panel plots: ``{panel title: {line label: (steps, values)}}``.

    ``log_history`` is a list of dicts such as ``trainer.state.log_history``; the total-reward
    panel also gets ``mean of last <window>``. Panels whose metrics were not logged are empty dicts.
    """
    rows = training_logs(log_history)
    panels = {}
    for title, metrics in PANELS:
        lines = {}
        if title == "Reward per function (mean)":
            metrics = [(f"{REWARD_FUNC_PREFIX}{name}{REWARD_FUNC_SUFFIX}", name) for name in reward_function_names(rows)]
        for key, label in metrics:
            steps, values = series(rows, key)
            if values:
                lines[label] = (steps, values)
        if title == "Total reward" and "reward" in lines:
            steps, values = lines["reward"]
            lines[f"mean of last {window}"] = (steps, rolling_mean(values, window))
        panels[title] = lines
    return panels


def _fmt(value: float) -> str:
    return f"{value:.2e}" if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5) else f"{value:.4g}"


def summary_line(row: dict, max_steps: int | None = None, mean: float | None = None, window: int = 10) -> str:
    """One short line for a logging step: ``step 3/50 | reward 0.25 (mean 0.18) | ... | lr 5.00e-06``."""
    step = row.get("step", "?")
    parts = [f"step {step}/{max_steps}" if max_steps and max_steps > 0 else f"step {step}"]
    reward = number(row.get("reward"))
    if reward is not None:
        parts.append(f"reward {_fmt(reward)}" + (f" (mean{window} {_fmt(mean)})" if mean is not None else ""))
    for key, label in (("reward_std", "std"), ("frac_reward_zero_std", "zero-std"), ("kl", "kl"),
                       ("completions/mean_length", "len"), ("completions/clipped_ratio", "clipped"),
                       ("loss", "loss"), ("learning_rate", "lr")):
        value = number(row.get(key))
        if value is not None:
            parts.append(f"{label} {_fmt(value)}")
    return " | ".join(parts)


def columns(rows: list[dict]) -> list[str]:
    """``step`` then every other key of ``rows``, in order of first appearance."""
    names = ["step"]
    for row in rows:
        for key in row:
            if key not in names:
                names.append(key)
    return names


def save_metrics(rows: list[dict], folder, warnings: list[HealthWarning] = (), stem: str = "metrics") -> tuple[Path, Path]:
    """Write ``rows`` to ``folder/<stem>.csv`` (one row per logging step) and ``folder/<stem>.json``
    (the rows and the health warnings); returns both paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = folder / f"{stem}.csv", folder / f"{stem}.json"
    names = columns(rows)
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=names, restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: "" if row.get(key) is None else row.get(key) for key in names})
    payload = {
        "rows": [{key: (None if isinstance(v, float) and math.isnan(v) else v) for key, v in row.items()} for row in rows],
        "health_warnings": [{"code": w.code, "step": w.step, "message": w.message, "fix": w.fix} for w in warnings],
    }
    json_path.write_text(json.dumps(payload, indent=1, default=str), encoding="utf-8")
    return csv_path, json_path
