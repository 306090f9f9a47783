"""Draw the dashboard figure (nine metric panels and a health panel) from a log history.

The figure is a plain ``matplotlib.figure.Figure`` drawn with the Agg canvas, not a pyplot
figure, so a notebook never shows a second copy of it at the end of the cell.
"""

from __future__ import annotations

import io
import textwrap

from grpo_helpers.dashboard_data import EMPTY_NOTES, PANELS, panel_series
from grpo_helpers.health import HealthWarning

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
