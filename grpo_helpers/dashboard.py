"""dashboard: watch GRPO learn while ``trainer.train()`` runs (``trainer.add_callback(LiveRewardDashboard())``).

In a notebook one figure of the metrics ``trl.GRPOTrainer`` logs (the same names in TRL 1.15 and 1.16) and
the health warnings with their fix updates in place at each logging step; in a script a line per step is
printed. ``check_health`` and ``panel_series`` are plain functions over ``trainer.state.log_history``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import textwrap
import time
from dataclasses import asdict, dataclass
from html import escape
from pathlib import Path

from IPython import get_ipython
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from transformers import TrainerCallback

from grpo_helpers.environment import dashboard_mode


@dataclass(frozen=True)
class HealthWarning:
    """A problem seen in the log history (``step``: the last step the check looked at), with its usual fix."""

    code: str
    step: int
    message: str
    fix: str

    def __str__(self) -> str:
        return f"[step {self.step}] {self.message} Fix: {self.fix}"


def training_logs(log_history) -> list[dict]:
    """The logging steps of ``log_history`` with a reward or a loss: not the end-of-training summary or eval logs."""
    if not isinstance(log_history, (list, tuple)):
        raise TypeError(
            f"log_history must be a list of dicts such as trainer.state.log_history, got {type(log_history).__name__}"
        )
    for index, entry in enumerate(log_history):
        if not isinstance(entry, dict):
            raise TypeError(f"log_history[{index}] must be a dict of metric values, got {type(entry).__name__}")
    return [entry for entry in log_history if "reward" in entry or "loss" in entry]


def number(value) -> float | None:
    """``value`` as a float, or None when it is missing, not a number, or NaN."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)
    return float(value) if ok else None


def series(rows: list[dict], key: str) -> tuple[list[int], list[float]]:
    """The (steps, values) of metric ``key`` where it was logged (rows without ``step`` count 1, 2, ...)."""
    pairs = [(int(row.get("step", i + 1)), number(row.get(key))) for i, row in enumerate(rows)]
    pairs = [(step, value) for step, value in pairs if value is not None]
    return [s for s, _ in pairs], [v for _, v in pairs]


def _positive_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive number of logging steps (e.g. 10), got {value!r}")


# What to do when the token entropy runs away or collapses: both are a policy pushed too far, too fast.
ENTROPY_FIX = (
    "Lower learning_rate (e.g. to a tenth), set beta > 0 (e.g. 0.04) so a KL term holds the policy near where it "
    "started, clip gradients harder (max_grad_norm=0.1); restart from a checkpoint saved before the change."
)


def check_health(
    log_history,
    flat_window: int = 10,
    zero_std_window: int = 5,
    zero_std_fraction: float = 0.99,
    kl_window: int = 3,
    kl_limit: float = 1.0,
    clipped_window: int = 5,
    clipped_fraction: float = 0.99,
    hacking_window: int = 5,
    hacking_rise: float = 0.1,
    correctness_key: str = "rewards/correctness_reward/mean",
    entropy_window: int = 3,
    entropy_factor: float = 2.0,
    entropy_floor: float = 0.25,
) -> list[HealthWarning]:
    """The health warnings for ``log_history`` (empty when the run looks healthy): ``reward_flat_zero`` (total
    reward 0), ``zero_std`` (at least ``zero_std_fraction`` of the groups with identical rewards: zero advantage),
    ``kl_runaway`` (mean KL above ``kl_limit``), ``always_clipped`` (at least ``clipped_fraction`` of the
    completions cut at ``max_completion_length``). Each looks at the last ``*_window`` logging steps only, so a
    warning goes once the run recovers. Two compare the first ``*_window`` logging steps with the last:
    ``reward_hacking`` (the total reward rose by ``hacking_rise`` points or more while the mean of
    ``correctness_key``, the tutorial's correctness reward, fell) and ``entropy_runaway`` (the mean token entropy
    rose to ``entropy_factor`` times its start or more: the choices turn random) and ``entropy_collapse`` (it fell to
    ``entropy_floor`` times its start or less: the model repeats itself; healthy runs of the tutorial kept 0.6-0.94
    of it over 14 steps, docs/results/2026-12-04_loss-types_h200)."""
    for name, window in (
        ("flat_window", flat_window),
        ("zero_std_window", zero_std_window),
        ("kl_window", kl_window),
        ("clipped_window", clipped_window),
        ("hacking_window", hacking_window),
        ("entropy_window", entropy_window),
    ):
        _positive_int(name, window)
    for name, amount, example in (("hacking_rise", hacking_rise, 0.1), ("entropy_factor", entropy_factor, 2.0)):
        if not isinstance(amount, (int, float)) or isinstance(amount, bool) or not amount > 0:
            raise ValueError(f"{name} must be a positive number (e.g. {example}), got {amount!r}")
    if not isinstance(entropy_floor, (int, float)) or isinstance(entropy_floor, bool) or not 0 < entropy_floor < 1:
        raise ValueError(f"entropy_floor must be a fraction in (0, 1), e.g. 0.25, got {entropy_floor!r}")
    for name, fraction in (("zero_std_fraction", zero_std_fraction), ("clipped_fraction", clipped_fraction)):
        if not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
            raise ValueError(f"{name} must be a fraction in (0, 1], e.g. 0.99, got {fraction!r}")
    if not isinstance(kl_limit, (int, float)) or not kl_limit > 0:
        raise ValueError(f"kl_limit must be a positive KL value (e.g. 1.0), got {kl_limit!r}")
    rows = training_logs(log_history)
    kl_mean = sum(series(rows, "kl")[1][-kl_window:]) / kl_window
    checks = (  # (code, metric, window, is a problem on the last ``window`` values, message, fix)
        (
            "reward_flat_zero",
            "reward",
            flat_window,
            lambda values: all(abs(v) < 1e-9 for v in values),
            f"The total reward has been 0 for the last {flat_window} logging steps.",
            "Look at a few completions (completion browser): if the model never writes the format the reward "
            "looks for, loosen the format reward or show the format in the system prompt; if completions are cut "
            "off, raise max_completion_length; check that the dataset column your reward reads (e.g. `answer`) "
            "exists and is passed to the reward function by that name.",
        ),
        (
            "zero_std",
            "frac_reward_zero_std",
            zero_std_window,
            lambda values: min(values) >= zero_std_fraction,
            f"Every group's completions got the same reward for the last {zero_std_window} logging steps, so every "
            "advantage is 0 and the model learns nothing.",
            "Raise temperature (e.g. 1.0) or num_generations (e.g. 8) so completions differ, or give partial "
            "credit in a reward so that different completions score differently.",
        ),
        (
            "kl_runaway",
            "kl",
            kl_window,
            lambda values: kl_mean > kl_limit,
            f"The KL to the reference model averaged {kl_mean:.3g} over the last {kl_window} logging steps "
            f"(above {kl_limit:g}): the policy is drifting far from where it started.",
            "Lower learning_rate (e.g. halve it), raise beta (e.g. 0.04 -> 0.1), or clip gradients harder "
            "(max_grad_norm=0.1); then restart from an earlier checkpoint.",
        ),
        (
            "always_clipped",
            "completions/clipped_ratio",
            clipped_window,
            lambda values: min(values) >= clipped_fraction,
            f"Completions cut off: almost every completion hit max_completion_length for the last {clipped_window} "
            "logging steps, so answers are cut off before they end.",
            "Raise max_completion_length (keeping prompt + completion within max_seq_length) where the cut-off "
            "completions are long solutions; where they repeat themselves (a small model's loops), a longer limit "
            "only pays for the loops: prime the answer format with SFT first (chapter 10) or ask for shorter "
            "reasoning in the system prompt.",
        ),
    )
    warnings = []
    for code, key, window, is_problem, message, fix in checks:
        steps, values = series(rows, key)
        if len(values) >= window and is_problem(values[-window:]):
            warnings.append(HealthWarning(code, steps[-1], message, fix))
    reward, correctness = (
        _first_and_last(rows, "reward", hacking_window),
        _first_and_last(rows, correctness_key, hacking_window),
    )
    if reward and correctness and reward[1] - reward[0] >= hacking_rise and correctness[1] < correctness[0]:
        name = correctness_key.removeprefix("rewards/").removesuffix("/mean")
        warnings.append(
            HealthWarning(
                "reward_hacking",
                series(rows, "reward")[0][-1],
                f"The total reward rose {reward[0]:.3g} -> {reward[1]:.3g} (first {hacking_window} against last "
                f"{hacking_window} logging steps) while {name} fell {correctness[0]:.3g} -> {correctness[1]:.3g}: "
                "the points come from another reward, not from right answers (reward hacking: a reward with a "
                "loophole).",
                "Read completions that score high but are wrong (completion browser) to find the loophole and close "
                "it in that reward function, or lower its weight (reward_weights); judge the run by held-out "
                "correctness (notebook 07), not by the total reward.",
            )
        )
    entropy = _first_and_last(rows, "entropy", entropy_window)
    if entropy and entropy[0] > 0:
        first, last = entropy
        for code, fired, ratio, meaning in (
            ("entropy_collapse", last <= entropy_floor * first, f"{last / first:.2g}",
             "the model is collapsing onto a few tokens (it repeats itself), its samples alike, and nothing more can "
             "be learnt."),
            ("entropy_runaway", last >= entropy_factor * first, f"{last / first:.1f}",
             "the model's choices are turning random, the start of a collapse."),
        ):  # fmt: skip
            if fired:
                message = (f"The token entropy averaged {last:.3g} over the last {entropy_window} logging steps, "
                           f"{ratio}x its first {entropy_window} ({first:.3g}): {meaning}")  # fmt: skip
                warnings.append(HealthWarning(code, series(rows, "entropy")[0][-1], message, ENTROPY_FIX))
    return warnings


def _first_and_last(rows: list[dict], key: str, window: int) -> tuple[float, float] | None:
    """The means of ``key`` over its first and over its last ``window`` logged values, or None with fewer than
    two windows of values."""
    values = series(rows, key)[1]
    if len(values) < 2 * window:
        return None
    return sum(values[:window]) / window, sum(values[-window:]) / window


# Each panel: title -> (y label with its unit, [(metric key, line label)], what it shows while nothing is logged
# (None: "not logged yet")). Rewards are in points; the per-function panel's lines come from the logged keys;
# the "(0-1)" panels are fractions, drawn from 0 to 1.
PANELS = {
    "Total reward": ("reward (points)", [("reward", "reward")], None),
    "Reward per function (mean)": ("reward (points)", [], "no reward functions logged yet"),
    "Reward std": ("std within a group (points)", [("reward_std", "reward_std")], None),
    "Groups with zero reward std": (
        "fraction of groups (0-1)",
        [("frac_reward_zero_std", "frac_reward_zero_std")],
        None,
    ),
    "KL to the reference model": ("KL (nats per token)", [("kl", "kl")], "no KL logged (beta = 0: no KL term)"),
    "Completion length (tokens)": (
        "length (tokens)",
        [("completions/mean_length", "mean"), ("completions/min_length", "min"), ("completions/max_length", "max")],
        None,
    ),
    "Clipped completions (fraction)": (
        "fraction of completions (0-1)",
        [("completions/clipped_ratio", "clipped_ratio")],
        None,
    ),
    "Loss": ("loss (GRPO objective)", [("loss", "loss")], None),
    "Learning rate": ("learning rate (per step)", [("learning_rate", "learning_rate")], None),
}


def rolling_mean(values: list[float], window: int) -> list[float]:
    """The mean of the last ``window`` values (fewer at the start) at each position."""
    _positive_int("window", window)
    return [sum(values[max(0, i + 1 - window) : i + 1]) / min(i + 1, window) for i in range(len(values))]


def panel_series(log_history, window: int = 10) -> dict[str, dict[str, tuple[list[int], list[float]]]]:
    """What each panel plots: ``{panel title: {line label: (steps, values)}}``; the total-reward
    panel also gets ``mean of last <window>``. Panels whose metrics were not logged are empty."""
    rows = training_logs(log_history)
    functions = dict.fromkeys(
        key[len("rewards/") : -len("/mean")]
        for row in rows
        for key in row
        if key.startswith("rewards/") and key.endswith("/mean")
    )
    panels = {}
    for title, (_, metrics, _) in PANELS.items():
        if title == "Reward per function (mean)":
            metrics = [(f"rewards/{name}/mean", name) for name in functions]
        lines = {label: series(rows, key) for key, label in metrics}
        lines = {label: line for label, line in lines.items() if line[1]}
        if "reward" in lines:
            lines[f"mean of last {window}"] = (lines["reward"][0], rolling_mean(lines["reward"][1], window))
        panels[title] = lines
    return panels


def quarter_means(values: list[float]) -> tuple[float, float]:
    """The mean of the first and of the last quarter of ``values`` (at least one value each)."""
    if not values:
        raise ValueError("no logged steps: the run trained nothing")
    quarter = max(1, len(values) // 4)
    return sum(values[:quarter]) / quarter, sum(values[-quarter:]) / quarter


def _fmt(value: float) -> str:
    return f"{value:.2e}" if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5) else f"{value:.4g}"


def summary_line(row: dict, max_steps: int | None = None, mean: float | None = None, window: int = 10) -> str:
    """One short line for a logging step: ``step 3/50 | reward 0.25 (mean10 0.18) | ... | lr 5.00e-06``."""
    parts = [f"step {row.get('step', '?')}" + (f"/{max_steps}" if max_steps else "")]
    if (reward := number(row.get("reward"))) is not None:
        parts.append(f"reward {_fmt(reward)}" + (f" (mean{window} {_fmt(mean)})" if mean is not None else ""))
    for key, label in (
        ("reward_std", "std"),
        ("frac_reward_zero_std", "zero-std"),
        ("kl", "kl"),
        ("completions/mean_length", "len"),
        ("completions/clipped_ratio", "clipped"),
        ("loss", "loss"),
        ("learning_rate", "lr"),
    ):
        if (value := number(row.get(key))) is not None:
            parts.append(f"{label} {_fmt(value)}")
    return " | ".join(parts)


def save_metrics(rows: list[dict], folder, warnings=()) -> tuple[Path, Path]:
    """Write ``rows`` to ``folder/metrics.csv`` (a row per logging step) and ``folder/metrics.json`` (with warnings)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = folder / "metrics.csv", folder / "metrics.json"
    names = list(dict.fromkeys(["step", *(key for row in rows for key in row)]))
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=names, restval="")
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    clean = [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()} for row in rows]
    payload = {"rows": clean, "health_warnings": [asdict(w) for w in warnings]}
    json_path.write_text(json.dumps(payload, indent=1, default=str), encoding="utf-8")
    return csv_path, json_path


def new_figure():
    """A figure (not a pyplot one, so a notebook never shows a stray copy) with a 3 x 4 grid: the
    nine metric panels, then the health panel across the last three cells."""
    figure = Figure(figsize=(15, 9.5), dpi=80, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(3, 4)
    axes = [figure.add_subplot(grid[i // 4, i % 4]) for i in range(len(PANELS))]
    return figure, axes + [figure.add_subplot(grid[2, 1:])]


def draw(figure, axes, log_history, warnings=(), window: int = 10, title: str = "") -> dict:
    """Redraw every panel and the health panel from ``log_history``; returns the ``panel_series``."""
    panels = panel_series(log_history, window)
    for ax, (name, lines) in zip(axes, panels.items(), strict=False):
        ylabel, _, empty_note = PANELS[name]
        ax.clear()
        ax.set_title(name, fontsize=10)
        for label, (steps, values) in lines.items():
            dashed = label.startswith("mean of last") or label in ("min", "max")
            ax.plot(
                steps,
                values,
                "--" if dashed else "-",
                marker=None if dashed else ".",
                label=label,
                linewidth=1 if dashed else 1.5,
            )
        if not lines:
            ax.text(
                0.5,
                0.5,
                empty_note or "not logged yet",
                ha="center",
                va="center",
                transform=ax.transAxes,
                color="gray",
                fontsize=9,
            )
            ax.set(xticks=[], yticks=[])
            continue
        ax.set_xlabel("training step", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if "(0-1)" in ylabel:
            ax.set_ylim(-0.05, 1.05)
        if len(lines) > 1:
            ax.legend(fontsize=7, loc="best")
    health = axes[len(panels)]
    health.clear()
    health.set_axis_off()
    health.set_title("Health", fontsize=10, loc="left")
    text = "\n".join(
        line
        for w in warnings
        for line in textwrap.wrap(f"\u26a0 {w.message}", 110) + textwrap.wrap(f"   Fix: {w.fix}", 110)
    )
    health.text(
        0,
        1,
        text or "No problems seen so far.",
        color="darkred" if warnings else "green",
        fontsize=8 if warnings else 10,
        transform=health.transAxes,
        va="top",
        family="monospace",
    )
    figure.suptitle(title, fontsize=11)
    return panels


def display_mode(mode: str = "auto") -> str:
    """``notebook`` or ``headless``: ``mode`` when given, else ``GRPO_DASHBOARD``, else ``notebook``
    inside a Jupyter kernel (JupyterLab, Colab, Kaggle, VS Code, nbmake) and ``headless`` elsewhere."""
    if mode not in ("auto", "notebook", "headless"):
        raise ValueError(f"mode={mode!r} is not one of auto, notebook, headless")
    mode = dashboard_mode() if mode == "auto" else mode
    if mode != "auto":
        return mode
    return "notebook" if getattr(get_ipython(), "kernel", None) is not None else "headless"


class LiveRewardDashboard(TrainerCallback):
    """A ``TrainerCallback`` that plots GRPO's metrics live and saves them to ``output_dir`` (default: the
    trainer's ``args.output_dir``): ``metrics.csv`` and ``metrics.json`` at each logging step,
    ``reward_dashboard.png`` at the end. ``window``: logging steps in the reward's rolling mean. ``mode``:
    ``auto``, ``notebook`` (figure updated in place) or ``headless`` (a line per step). ``every_seconds``: in
    a notebook, redraw at most this often (the last step is always drawn). During and after training:
    ``rows`` (the logged steps), ``warnings``, ``panels`` (what each panel plots), ``paths``, ``figure``."""

    def __init__(self, output_dir=None, window: int = 10, mode: str = "auto", every_seconds: float = 2.0):
        _positive_int("window", window)
        if not isinstance(every_seconds, (int, float)) or every_seconds < 0:
            raise ValueError(f"every_seconds must be a number of seconds >= 0 (e.g. 2), got {every_seconds!r}")
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.window, self.mode, self.every_seconds = window, display_mode(mode), float(every_seconds)
        self.rows, self.warnings, self.panels, self.paths = [], [], {}, {}
        self.figure = self._axes = self._handles = self._max_steps = None
        self._last_draw = 0.0

    def redraw(self) -> None:
        """Draw every panel from ``rows`` (creating the figure the first time)."""
        if self.figure is None:
            self.figure, self._axes = new_figure()
        step = self.rows[-1]["step"] if self.rows else 0
        title = f"GRPO training: step {step}" + (f" of {self._max_steps}" if self._max_steps else "")
        self.panels = draw(self.figure, self._axes, self.rows, self.warnings, self.window, title)

    def _repr_png_(self):
        self.redraw()
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png")
        return buffer.getvalue()

    def _show(self) -> None:
        from IPython.display import HTML, Image, display

        items = "".join(f"<li><b>{escape(w.message)}</b><br>Fix: {escape(w.fix)}</li>" for w in self.warnings)
        html = HTML(
            f"<div style='color:#a00000'>Health warnings:<ul>{items}</ul></div>"
            if items
            else "<div style='color:green'>Health: no problems seen so far.</div>"
        )
        image = Image(data=self._repr_png_(), format="png")
        if self._handles is None:
            self._handles = (display(image, display_id=True), display(html, display_id=True))
        elif None not in self._handles:  # display() returns None where no frontend is attached
            self._handles[0].update(image)
            self._handles[1].update(html)
        self._last_draw = time.monotonic()

    def on_train_begin(self, args, state, control, **kwargs):
        self._max_steps = state.max_steps or None
        self.rows = [dict(row) for row in training_logs(state.log_history)]  # a resumed run's history so far
        self.warnings = check_health(self.rows)
        self._handles = None
        if state.is_world_process_zero and self.mode == "notebook":
            self._show()

    def on_log(self, args, state, control, logs=None, **kwargs):
        row = {"step": state.global_step, **(logs or {})}
        if not state.is_world_process_zero or not training_logs([row]):
            return  # another process, the end-of-training summary, or an eval-only log
        self.rows.append(row)
        announced = {w.code for w in self.warnings}
        self.warnings = check_health(self.rows)
        self.paths["csv"], self.paths["json"] = save_metrics(
            self.rows, self.output_dir or args.output_dir, self.warnings
        )
        if self.mode == "notebook":
            if time.monotonic() - self._last_draw >= self.every_seconds:
                self._show()
            return
        rewards = series(self.rows, "reward")[1]
        mean = rolling_mean(rewards, self.window)[-1] if number(row.get("reward")) is not None else None
        print(summary_line(row, self._max_steps, mean, self.window), flush=True)
        for warning in self.warnings:
            if warning.code not in announced:
                print(f"WARNING {warning}", flush=True)

    def on_train_end(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        if self.mode == "notebook":
            self._show()
        folder = self.output_dir or Path(args.output_dir)
        self.paths["csv"], self.paths["json"] = save_metrics(self.rows, folder, self.warnings)
        self.redraw()
        self.paths["png"] = folder / "reward_dashboard.png"
        self.figure.savefig(self.paths["png"])
        print(f"Dashboard saved: {self.paths['png']} (figure), {self.paths['csv']} and {self.paths['json']} (metrics)")
