"""A completion browser (ipywidgets): for each logged step, each prompt with its G completions,
each reward function's score and the group-relative advantage; filter by step and by a score range.

    from grpo_helpers.completion_log import record_completions
    from grpo_helpers.completion_browser import completion_browser

    recorder = record_completions(trainer)   # before trainer.train()
    completion_browser(recorder)             # last line of a cell: shows the browser
    trainer.train()

Shown before ``trainer.train()`` (in an earlier cell), it follows the run: each new step is
added to the step list and, with "follow the run" ticked, shown as it arrives. After training,
pick any recorded step. The data comes from ``grpo_helpers.completion_log`` (TRL's ``_logs``).
"""

from __future__ import annotations

import html

from grpo_helpers.completion_log import TOTAL, Completion, CompletionRecorder

MAX_CHARS = 1500


def _cut(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[:max_chars] + f" ... [{len(text) - max_chars} more characters]"


def _fmt(score) -> str:
    return "None" if score is None else f"{score:.3g}"


def render_html(records: list[Completion], reward_names: list[str], max_chars: int = MAX_CHARS) -> str:
    """HTML for ``records``: grouped by prompt, one table row per completion with its scores and advantage."""
    if not records:
        return "<i>No completions match: widen the score range or pick another step.</i>"
    names = [name for name in reward_names if name != TOTAL]
    head = "".join(f"<th>{html.escape(name)}</th>" for name in [*names, TOTAL, "advantage"])
    parts, current = [], None
    cell = "style='border:1px solid #ddd;padding:3px 6px;vertical-align:top'"
    for record in records:
        key = (record.step, record.group)
        if key != current:
            if current is not None:
                parts.append("</table>")
            current = key
            parts.append(
                f"<div style='margin-top:10px'><b>Step {record.step}, prompt {record.group + 1}</b></div>"
                f"<pre style='white-space:pre-wrap;background:#f4f4f4;padding:4px;margin:2px 0'>"
                f"{html.escape(_cut(record.prompt, max_chars))}</pre>"
                f"<table style='border-collapse:collapse;font-size:90%'><tr><th>#</th><th>completion</th>{head}</tr>"
            )
        scores = "".join(f"<td {cell}>{_fmt(record.rewards.get(name))}</td>" for name in names)
        color = "#060" if record.advantage > 0 else "#a00" if record.advantage < 0 else "#555"
        parts.append(
            f"<tr><td {cell}>{record.index + 1}</td>"
            f"<td {cell}><pre style='white-space:pre-wrap;margin:0'>{html.escape(_cut(record.completion, max_chars))}</pre></td>"
            f"{scores}<td {cell}><b>{_fmt(record.total)}</b></td>"
            f"<td {cell} style='color:{color}'>{record.advantage:+.3f}</td></tr>"
        )
    parts.append("</table>")
    return "".join(parts)


class CompletionBrowser:
    """The browser widget over a ``CompletionRecorder``: ``select(step=..., reward=..., low=..., high=...)``
    sets the filters as a learner would; ``shown`` is the list of completions on display."""

    def __init__(self, recorder: CompletionRecorder, follow: bool = True, max_chars: int = MAX_CHARS):
        import ipywidgets as widgets

        if not isinstance(recorder, CompletionRecorder):
            raise TypeError(
                f"completion_browser needs the recorder from record_completions(trainer), got {type(recorder).__name__}"
            )
        self.recorder, self.max_chars = recorder, max_chars
        self.shown: list[Completion] = []
        style = {"description_width": "initial"}
        self.step = widgets.Dropdown(description="step", style=style, layout=widgets.Layout(width="160px"))
        self.reward = widgets.Dropdown(options=recorder.reward_names(), value=TOTAL, description="filter by",
                                       style=style, layout=widgets.Layout(width="260px"))
        self.low = widgets.FloatText(description="score from", style=style, layout=widgets.Layout(width="170px"))
        self.high = widgets.FloatText(description="to", style=style, layout=widgets.Layout(width="120px"))
        self.follow = widgets.Checkbox(value=follow, description="follow the run", indent=False)
        self.summary = widgets.HTML()
        self.table = widgets.HTML()
        controls = widgets.HBox([self.step, self.reward, self.low, self.high, self.follow])
        self.box = widgets.VBox([controls, self.summary, self.table])
        self._refresh_steps()
        self._reset_range()
        self.step.observe(self._on_step, names="value")
        self.reward.observe(self._on_step, names="value")
        self.low.observe(self._on_range, names="value")
        self.high.observe(self._on_range, names="value")
        recorder.subscribe(self._on_new_step)
        self.refresh()

    def _refresh_steps(self) -> None:
        steps = sorted(self.recorder.steps)
        value = self.step.value
        self.step.options = steps
        if steps:
            self.step.value = steps[-1] if (self.follow.value or value not in steps) else value

    def _reset_range(self) -> None:
        """Set the score range to the whole range of the chosen reward on the chosen step."""
        scores = [c.score(self.reward.value) for c in self._step_records()]
        scores = [s for s in scores if s is not None]
        self._updating = True
        self.low.value, self.high.value = (min(scores), max(scores)) if scores else (0.0, 0.0)
        self._updating = False

    def _step_records(self) -> list[Completion]:
        return self.recorder.completions(self.step.value) if self.step.value is not None else []

    def refresh(self) -> None:
        """Show the completions that pass the filters."""
        if self.step.value is None:
            self.shown = []
            self.summary.value = "<i>No step recorded yet: completions appear here at each logging step.</i>"
            self.table.value = ""
            return
        everything = self._step_records()
        self.shown = self.recorder.completions(self.step.value, self.reward.value, self.low.value, self.high.value)
        groups = len({c.group for c in everything})
        self.summary.value = (
            f"Step {self.step.value}: {groups} prompt(s) x {self.recorder.num_generations} completions; showing "
            f"{len(self.shown)} of {len(everything)} with <b>{html.escape(self.reward.value)}</b> score in "
            f"[{self.low.value:.3g}, {self.high.value:.3g}]. Advantage = (reward - group mean) / group std: "
            "positive completions are made more likely."
        )
        self.table.value = render_html(self.shown, self.recorder.reward_names(), self.max_chars)

    def select(self, step: int | None = None, reward: str | None = None, low: float | None = None,
               high: float | None = None) -> list[Completion]:
        """Set the filters (those given) and return the completions shown."""
        if step is not None:
            if step not in self.recorder.steps:
                raise KeyError(f"step {step} was not recorded; recorded steps: {sorted(self.recorder.steps)}")
            self.step.value = step
        if reward is not None:
            if reward not in self.recorder.reward_names():
                raise KeyError(f"no reward named {reward!r}: choose one of {', '.join(self.recorder.reward_names())}")
            self.reward.value = reward
        if low is not None:
            self.low.value = low
        if high is not None:
            self.high.value = high
        self.refresh()
        return list(self.shown)

    def _on_step(self, _change) -> None:
        self._reset_range()
        self.refresh()

    def _on_range(self, _change) -> None:
        if not getattr(self, "_updating", False):
            self.refresh()

    def _on_new_step(self, _step: int) -> None:
        before = self.step.value
        self._refresh_steps()
        if self.step.value != before:
            return  # the step observer already refreshed
        self.refresh()

    def _ipython_display_(self):
        from IPython.display import display

        display(self.box)


def completion_browser(recorder: CompletionRecorder, follow: bool = True, max_chars: int = MAX_CHARS) -> CompletionBrowser:
    """The browser over ``recorder``; the last expression of a notebook cell displays it."""
    return CompletionBrowser(recorder, follow=follow, max_chars=max_chars)
