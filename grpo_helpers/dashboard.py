"""``LiveRewardDashboard``: watch GRPO learn while ``trainer.train()`` runs. One line adds it:

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

import inspect
import os
import time
from pathlib import Path

from transformers import TrainerCallback

from grpo_helpers.dashboard_data import number, panel_series, rolling_mean, save_metrics, series, summary_line
from grpo_helpers.dashboard_plot import draw, new_figure, png_bytes
from grpo_helpers.health import check_health, training_logs
from grpo_helpers.settings import run_dir

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
    - ``health``: keyword arguments for ``grpo_helpers.health.check_health`` (e.g. ``{"kl_limit": 0.5}``).

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
