"""dashboard: merged from health, dashboard_data, dashboard_plot, dashboard.

[health] Health warnings for a GRPO run, read from its log history, each with the usual fix.

    warnings = check_health(trainer.state.log_history)
    for warning in warnings:
        print(warning)

``check_health`` is a pure function over a list of dicts such as ``trainer.state.log_history``
(one dict per logging step, with TRL's metric names: ``reward``, ``frac_reward_zero_std``,
``kl``, ``completions/clipped_ratio``). The live dashboard calls it at every logging step.
Each check looks at the most recent ``window`` logged values, so a warning goes away once the
run recovers.


[dashboard_data] The numbers behind the live dashboard: which TRL metric goes in which panel, the rolling mean,
the one-line summary of a logging step, and saving the metrics as CSV and JSON.

Metric names are the ones ``trl.GRPOTrainer`` logs (identical in TRL 1.15 and 1.16):
``reward``, ``reward_std``, ``frac_reward_zero_std``, ``rewards/<reward function name>/mean``,
``kl`` (only when ``beta > 0``), ``completions/mean_length`` (``/min_length``, ``/max_length``),
``completions/clipped_ratio``; ``loss`` and ``learning_rate`` come from transformers' Trainer.
A metric that a run does not log leaves its panel empty; nothing here needs torch or matplotlib.


[dashboard_plot] Draw the dashboard figure (nine metric panels and a health panel) from a log history.

The figure is a plain ``matplotlib.figure.Figure`` drawn with the Agg canvas, not a pyplot
figure, so a notebook never shows a second copy of it at the end of the cell.


[dashboard] ``LiveRewardDashboard``: watch GRPO learn while ``trainer.train()`` runs. One line adds it:

    from grpo_helpers.dashboard import LiveRewardDashboard

    dashboard = LiveRewardDashboard()
    trainer.add_callback(dashboard)          # or GRPOTrainer(..., callbacks=[dashboard])
    trainer.train()

In a notebook (JupyterLab, Colab, Kaggle, VS Code, and nbmake, which runs a real kernel) one
figure updates in place at each logging step: total reward with its rolling mean, each reward
function's mean, reward std, the fraction of groups with zero reward std, KL (when beta > 0),
completion length, clipped ratio, loss and learning rate, plus health warnings with their fix.
In a script or other headless run it prints one short line per logging step instead. Either
way, at every logging step the metrics are written to ``metrics.csv`` and ``metrics.json``,
and when training ends the figure is saved as ``reward_dashboard.png``, all in ``output_dir``
(default: the trainer's ``args.output_dir``). ``GRPO_DASHBOARD=headless`` (or ``notebook``)
overrides the detection.

This module imports transformers (the callback subclasses ``TrainerCallback``), so
``import grpo_helpers`` does not import it: import it from ``grpo_helpers.dashboard``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
import csv
import json
from pathlib import Path
import io
import textwrap
import inspect
import os
import time
from transformers import TrainerCallback
from grpo_helpers.environment import run_dir


# ---- health

REWARD = "reward"
ZERO_STD = "frac_reward_zero_std"
KL = "kl"
CLIPPED = "completions/clipped_ratio"

# Keys that mark a dict of the log history as a training logging step (the end-of-training
# summary has ``train_runtime`` and ``train_loss`` instead).
TRAINING_KEYS = (REWARD, "loss")


@dataclass(frozen=True)
class HealthWarning:
    """One problem seen in the log history: ``code`` names the check, ``step`` is the last step
    it looked at, ``message`` says what was seen and ``fix`` what usually cures it."""

    code: str
    step: int
    message: str
    fix: str

    def __str__(self) -> str:
        return f"[step {self.step}] {self.message} Fix: {self.fix}"


def training_logs(log_history) -> list[dict]:
    """The training logging steps of ``log_history`` (dicts with a reward or a loss), in order."""
    if not isinstance(log_history, (list, tuple)):
        raise TypeError(
            f"log_history must be a list of dicts such as trainer.state.log_history, got {type(log_history).__name__}"
        )
    rows = []
    for index, entry in enumerate(log_history):
        if not isinstance(entry, dict):
            raise TypeError(f"log_history[{index}] must be a dict of metric values, got {type(entry).__name__}")
        if any(key in entry for key in TRAINING_KEYS):
            rows.append(entry)
    return rows


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else float(value)


def recent(rows: list[dict], key: str, window: int) -> list[tuple[int, float]]:
    """The last ``window`` (step, value) pairs of ``key`` (steps where it is missing or None are skipped)."""
    pairs = [(int(row.get("step", i + 1)), _number(row.get(key))) for i, row in enumerate(rows)]
    pairs = [(step, value) for step, value in pairs if value is not None]
    return pairs[-window:]


def _check_window(name: str, window: int) -> None:
    if not isinstance(window, int) or isinstance(window, bool) or window < 1:
        raise ValueError(f"{name} must be a positive number of logging steps (e.g. 10), got {window!r}")


def check_health(
    log_history,
    flat_window: int = 10,
    zero_std_window: int = 5,
    zero_std_fraction: float = 0.99,
    kl_window: int = 3,
    kl_limit: float = 1.0,
    clipped_window: int = 5,
    clipped_fraction: float = 0.99,
) -> list[HealthWarning]:
    """The health warnings for ``log_history``; an empty list when the run looks healthy.

    - ``reward_flat_zero``: the total reward was 0 at each of the last ``flat_window`` logging steps.
    - ``zero_std``: at least ``zero_std_fraction`` of the groups had identical rewards (so zero
      advantage, nothing to learn) at each of the last ``zero_std_window`` logging steps.
    - ``kl_runaway``: the mean KL of the last ``kl_window`` logging steps is above ``kl_limit``.
    - ``always_clipped``: at least ``clipped_fraction`` of the completions hit
      ``max_completion_length`` at each of the last ``clipped_window`` logging steps.

    Log steps without a ``step`` key are numbered 1, 2, ... in order (``trainer.state.log_history``
    has ``step``).
    """
    for name, window in (("flat_window", flat_window), ("zero_std_window", zero_std_window),
                         ("kl_window", kl_window), ("clipped_window", clipped_window)):
        _check_window(name, window)
    for name, fraction in (("zero_std_fraction", zero_std_fraction), ("clipped_fraction", clipped_fraction)):
        if not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
            raise ValueError(f"{name} must be a fraction in (0, 1], e.g. 0.99, got {fraction!r}")
    if not isinstance(kl_limit, (int, float)) or not kl_limit > 0:
        raise ValueError(f"kl_limit must be a positive KL value (e.g. 1.0), got {kl_limit!r}")

    rows = training_logs(log_history)
    warnings = []

    rewards = recent(rows, REWARD, flat_window)
    if len(rewards) == flat_window and all(abs(value) < 1e-9 for _, value in rewards):
        warnings.append(HealthWarning(
            "reward_flat_zero", rewards[-1][0],
            f"The total reward has been 0 for the last {flat_window} logging steps.",
            "Look at a few completions (completion browser): if the model never writes the format the reward "
            "looks for, loosen the format reward or show the format in the system prompt; if completions are cut "
            "off, raise max_completion_length; check that the dataset column your reward reads (e.g. `answer`) "
            "exists and is passed to the reward function by that name.",
        ))

    zero_std = recent(rows, ZERO_STD, zero_std_window)
    if len(zero_std) == zero_std_window and all(value >= zero_std_fraction for _, value in zero_std):
        warnings.append(HealthWarning(
            "zero_std", zero_std[-1][0],
            f"Every group's completions got the same reward for the last {zero_std_window} logging steps, "
            "so every advantage is 0 and the model learns nothing.",
            "Raise temperature (e.g. 1.0) or num_generations (e.g. 8) so completions differ, or give partial "
            "credit in a reward so that different completions score differently.",
        ))

    kl = recent(rows, KL, kl_window)
    kl_mean = sum(value for _, value in kl) / kl_window
    if len(kl) == kl_window and kl_mean > kl_limit:
        warnings.append(HealthWarning(
            "kl_runaway", kl[-1][0],
            f"The KL to the reference model averaged {kl_mean:.3g} over the last {kl_window} logging steps "
            f"(above {kl_limit:g}): the policy is drifting far from where it started.",
            "Lower learning_rate (e.g. halve it), raise beta (e.g. 0.04 -> 0.1), or clip gradients harder "
            "(max_grad_norm=0.1); then restart from an earlier checkpoint.",
        ))

    clipped = recent(rows, CLIPPED, clipped_window)
    if len(clipped) == clipped_window and all(value >= clipped_fraction for _, value in clipped):
        warnings.append(HealthWarning(
            "always_clipped", clipped[-1][0],
            f"Almost every completion hit max_completion_length for the last {clipped_window} logging steps, "
            "so answers are cut off before they end.",
            "Raise max_completion_length (keeping prompt + completion within max_seq_length), or ask for "
            "shorter reasoning in the system prompt.",
        ))
    return warnings


# ---- dashboard_data

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


# ---- dashboard_plot

FIGSIZE = (15, 9.5)
FRACTION_PANELS = ("Groups with zero reward std", "Clipped completions (fraction)")


def new_figure(figsize=FIGSIZE):
    """An empty figure with a 3 x 4 grid: the metric panels, then the health panel across two cells."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, dpi=80, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(3, 4)
    cells = [grid[r, c] for r in range(3) for c in range(4)][: len(PANELS)]
    axes = [figure.add_subplot(cell) for cell in cells]
    axes.append(figure.add_subplot(grid[2, 1:]))  # health
    return figure, axes


def draw(figure, axes, log_history, warnings: list[HealthWarning] = (), window: int = 10, title: str = "") -> dict:
    """Redraw every panel from ``log_history``; returns the plotted ``panel_series``."""
    from matplotlib.ticker import MaxNLocator

    panels = panel_series(log_history, window)
    for ax, (name, lines) in zip(axes, panels.items()):
        ax.clear()
        ax.set_title(name, fontsize=10)
        for label, (steps, values) in lines.items():
            dashed = label.startswith("mean of last") or label in ("min", "max")
            ax.plot(steps, values, "--" if dashed else "-", marker=None if dashed else ".", label=label,
                    linewidth=1 if dashed else 1.5)
        if not lines:
            ax.text(0.5, 0.5, EMPTY_NOTES.get(name, "not logged yet"), ha="center", va="center",
                    transform=ax.transAxes, color="gray", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            ax.set_xlabel("step", fontsize=8)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if name in FRACTION_PANELS:
                ax.set_ylim(-0.05, 1.05)
            ax.tick_params(labelsize=8)
            ax.grid(alpha=0.3)
            if len(lines) > 1:
                ax.legend(fontsize=7, loc="best")
    draw_health(axes[len(panels)], warnings)
    figure.suptitle(title, fontsize=11)
    return panels


def draw_health(ax, warnings: list[HealthWarning]) -> None:
    """The health panel: each warning with its fix, or a line saying none was found."""
    ax.clear()
    ax.set_axis_off()
    ax.set_title("Health", fontsize=10, loc="left")
    if not warnings:
        ax.text(0, 0.9, "No problems seen so far.", color="green", fontsize=10, transform=ax.transAxes, va="top")
        return
    lines = []
    for warning in warnings:
        lines += textwrap.wrap(f"\u26a0 {warning.message}", 110) + textwrap.wrap(f"   Fix: {warning.fix}", 110)
    ax.text(0, 1, "\n".join(lines), color="darkred", fontsize=8, transform=ax.transAxes, va="top", family="monospace")


def png_bytes(figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


# ---- dashboard

DASHBOARD_ENV = "GRPO_DASHBOARD"
MODES = ("auto", "notebook", "headless")
PNG_NAME = "reward_dashboard.png"


def in_notebook() -> bool:
    """True inside a Jupyter-style kernel (JupyterLab, Colab, Kaggle, VS Code, nbmake), where
    rich output can be shown and updated; False in a script or a terminal IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def dashboard_mode(mode: str = "auto") -> str:
    """``notebook`` or ``headless``: ``mode`` when given, else ``GRPO_DASHBOARD``, else detected."""
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not one of {', '.join(MODES)}")
    if mode == "auto":
        mode = os.environ.get(DASHBOARD_ENV, "auto").strip().lower() or "auto"
        if mode not in MODES:
            raise ValueError(f"{DASHBOARD_ENV}={mode!r} is not understood: set it to notebook, headless or auto.")
    if mode == "auto":
        return "notebook" if in_notebook() else "headless"
    return mode


def _warnings_html(warnings) -> str:
    from html import escape

    if not warnings:
        return "<div style='color:green'>Health: no problems seen so far.</div>"
    items = "".join(f"<li><b>{escape(w.message)}</b><br>Fix: {escape(w.fix)}</li>" for w in warnings)
    return f"<div style='color:#a00000'>Health warnings (step {warnings[-1].step}):<ul>{items}</ul></div>"


class LiveRewardDashboard(TrainerCallback):
    """A ``transformers.TrainerCallback`` that plots GRPO's metrics live and saves them.

    - ``output_dir``: where ``metrics.csv``, ``metrics.json`` and ``reward_dashboard.png`` go
      (default: the trainer's ``args.output_dir``, else ``grpo_helpers.run_dir()``).
    - ``window``: logging steps in the reward's rolling mean.
    - ``mode``: ``auto`` (detect), ``notebook`` (figure updated in place) or ``headless`` (one line per step).
    - ``every_seconds``: in a notebook, redraw at most this often (drawing takes a fraction of a
      second); the last step is always drawn.
    - ``health``: keyword arguments for ``grpo_helpers.dashboard.check_health`` (e.g. ``{"kl_limit": 0.5}``).

    After (or during) training: ``rows`` (the logged steps), ``warnings`` (current health
    warnings), ``panels`` (what each panel plots), ``paths`` (the files written), ``figure``.
    """

    def __init__(self, output_dir=None, window: int = 10, mode: str = "auto", every_seconds: float = 2.0, health=None):
        rolling_mean([0.0], window)  # checks window
        if not isinstance(every_seconds, (int, float)) or every_seconds < 0:
            raise ValueError(f"every_seconds must be a number of seconds >= 0 (e.g. 2), got {every_seconds!r}")
        if health is not None and not isinstance(health, dict):
            raise TypeError(f"health must be a dict of check_health keyword arguments (e.g. {{'kl_limit': 0.5}}), got {health!r}")
        accepted = [name for name in inspect.signature(check_health).parameters if name != "log_history"]
        unknown = sorted(set(health or {}) - set(accepted))
        if unknown:
            raise TypeError(f"health has unknown settings {unknown}: check_health accepts {', '.join(accepted)}")
        check_health([], **(health or {}))  # checks the values now, not at step 1
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.window = window
        self.mode = dashboard_mode(mode)
        self.every_seconds = float(every_seconds)
        self.health = dict(health or {})
        self.rows: list[dict] = []
        self.warnings = []
        self.panels: dict = {}
        self.paths: dict[str, Path] = {}
        self.figure = None
        self._axes = None
        self._handles = None
        self._last_draw = 0.0
        self._max_steps = None
        self._announced: set[str] = set()

    # -- folder and files -------------------------------------------------------------------
    def folder(self, args=None) -> Path:
        """Where the metrics and the figure are saved."""
        if self.output_dir is not None:
            return self.output_dir
        if args is not None and getattr(args, "output_dir", None):
            return Path(args.output_dir)
        return run_dir()

    def save(self, args=None, png: bool = True) -> dict[str, Path]:
        """Write the CSV and JSON (and the PNG when ``png``); returns ``paths``."""
        folder = self.folder(args)
        self.paths["csv"], self.paths["json"] = save_metrics(self.rows, folder, self.warnings)
        if png:
            self.redraw()
            self.paths["png"] = folder / PNG_NAME
            self.figure.savefig(self.paths["png"])
        return dict(self.paths)

    # -- drawing ------------------------------------------------------------------------------
    def redraw(self) -> None:
        """Draw every panel from ``rows`` (creating the figure the first time)."""
        if self.figure is None:
            self.figure, self._axes = new_figure()
        last = self.rows[-1]["step"] if self.rows else 0
        title = f"GRPO training: step {last}" + (f" of {self._max_steps}" if self._max_steps else "")
        self.panels = draw(self.figure, self._axes, self.rows, self.warnings, self.window, title)

    def _show(self) -> None:
        from IPython.display import HTML, Image, display

        self.redraw()
        image, html = Image(data=png_bytes(self.figure), format="png"), HTML(_warnings_html(self.warnings))
        if self._handles is None:
            self._handles = (display(image, display_id=True), display(html, display_id=True))
        elif None not in self._handles:  # display() returns None where no frontend is attached
            self._handles[0].update(image)
            self._handles[1].update(html)
        self._last_draw = time.monotonic()

    def _repr_png_(self):
        self.redraw()
        return png_bytes(self.figure)

    # -- TrainerCallback ----------------------------------------------------------------------
    def on_train_begin(self, args, state, control, **kwargs):
        self._max_steps = state.max_steps or None
        # On a resumed run the history so far is in state.log_history: start from it.
        self.rows = [dict(row) for row in training_logs(state.log_history)]
        self.warnings = check_health(self.rows, **self.health)
        self._announced = {w.code for w in self.warnings}
        self._handles = None
        if state.is_world_process_zero and self.mode == "notebook":
            self._show()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        row = {"step": state.global_step, **logs}
        if not training_logs([row]):
            return  # the end-of-training summary (train_runtime, train_loss) or an eval-only log
        self.rows.append(row)
        self.warnings = check_health(self.rows, **self.health)
        self.save(args, png=False)
        if self.mode == "notebook":
            if time.monotonic() - self._last_draw >= self.every_seconds:
                self._show()
            return
        steps, rewards = series(self.rows, "reward")
        mean = rolling_mean(rewards, self.window)[-1] if rewards and number(row.get("reward")) is not None else None
        print(summary_line(row, self._max_steps, mean, self.window), flush=True)
        for warning in self.warnings:
            if warning.code not in self._announced:
                print(f"WARNING {warning}", flush=True)
        self._announced = {w.code for w in self.warnings}

    def on_train_end(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        if self.mode == "notebook":
            self._show()
        self.save(args, png=True)
        print(f"Dashboard saved: {self.paths['png']} (figure), {self.paths['csv']} and {self.paths['json']} (metrics)")


__all__ = ["DASHBOARD_ENV", "LiveRewardDashboard", "dashboard_mode", "in_notebook", "panel_series"]
