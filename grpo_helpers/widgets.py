"""widgets: the tutorial's interactive views, ``reward_playground`` (notebook 03), ``config_widget`` (notebook 05)
and ``completion_browser`` (notebook 06). Each also works from code: a test or a later cell drives it and reads it."""

from __future__ import annotations

import html
import re
import warnings

import ipywidgets as widgets

from grpo_helpers.answers import answers_match, extract_answer
from grpo_helpers.config import (
    PRESET_NAMES,
    PRESETS,
    ConfigWarning,
    accepted_loss_types,
    batch_arithmetic,
    explain,
    make_config,
    recommended_preset,
)
from grpo_helpers.environment import detect_hardware
from grpo_helpers.rewards import score_completion
from grpo_helpers.training import TOTAL, Completion, CompletionRecorder


class _Widget:
    """Shows ``self.box`` when left last in a cell (with ipywidgets 7, as on Colab, and 8)."""

    def _ipython_display_(self):
        from IPython.display import display  # looked up at call time, so a test can stand in for it

        display(self.box)


class RewardPlayground(_Widget):
    """Every reward's score and the extracted answer for a completion, live as you type. ``examples`` maps
    a label to a completion for the drop-down; ``.text.value = "..."`` re-scores as typing does
    (``.scores``, ``.extracted``, ``.total``)."""

    def __init__(self, reward_funcs, examples: dict | None = None, ground_truth: str = "18"):
        if not reward_funcs:
            raise ValueError("reward_playground needs at least one reward function, e.g. tutorial_rewards(256)")
        self.reward_funcs, self.examples = list(reward_funcs), dict(examples or {})
        own = "(type your own)"
        self.picker = widgets.Dropdown(
            options=[own, *self.examples],
            value=next(iter(self.examples), own),
            description="Example:",
            layout=widgets.Layout(width="480px"),
        )
        self.reference = widgets.Text(
            value=str(ground_truth), description="Reference:", layout=widgets.Layout(width="260px")
        )
        self.text = widgets.Textarea(
            value=next(iter(self.examples.values()), ""),
            placeholder="Type a completion here",
            description="Completion:",
            layout=widgets.Layout(width="95%", height="140px"),
            continuous_update=True,
        )  # re-score as the learner types
        self.table = widgets.HTML()
        for control, handler in (
            (self.picker, self._on_pick),
            (self.text, self._update),
            (self.reference, self._update),
        ):
            control.observe(handler, names="value")
        self.box = widgets.VBox([widgets.HBox([self.picker, self.reference]), self.text, self.table])
        self._update()

    def _on_pick(self, change) -> None:
        if change["new"] in self.examples:
            self.text.value = self.examples[change["new"]]

    def _update(self, change=None) -> None:
        completion, reference = self.text.value, self.reference.value.strip()
        self.extracted = extract_answer(completion)
        try:
            self.scores, error = score_completion(completion, reference, self.reward_funcs), ""
        except Exception as exc:  # a learner's own reward may raise: show it, keep the widget alive
            self.scores, error = (
                {},
                f"<p style='color:#b00'>A reward raised {type(exc).__name__}: {html.escape(str(exc))}</p>",
            )
        self.total = sum(self.scores.values())
        match = "matches" if answers_match(self.extracted, reference) else "does not match"
        rows = "".join(
            f"<tr><td style='text-align:left'><code>{html.escape(name)}</code></td><td>{score:+.3f}</td></tr>"
            for name, score in self.scores.items()
        )
        self.table.value = (
            f"<p>Extracted answer: <b>{html.escape(repr(self.extracted))}</b> ({match} the reference "
            f"{html.escape(repr(reference))})</p>{error}"
            "<table><tr><th style='text-align:left'>reward</th><th>score</th></tr>"
            f"{rows}<tr><td style='text-align:left'><b>total</b></td><td><b>{self.total:+.3f}</b></td></tr></table>"
        )


reward_playground = RewardPlayground  # the name notebook 03 calls


LEARNING_RATES = (1e-7, 2e-7, 5e-7, 1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3)
CONTROLLED = (
    "num_generations",
    "temperature",
    "max_completion_length",
    "beta",
    "loss_type",
    "learning_rate",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "max_steps",
)
_CAST = {"temperature": float, "beta": float, "learning_rate": float, "loss_type": str}


class ConfigWidget(_Widget):
    """Start from a preset, move the controls, read what each value does and what make_config says
    (live), and press Build: ``build()`` is ``make_config(preset, **values())``."""

    def __init__(self, preset: str | None = None, hardware=None):
        self.hardware, self.config = hardware or detect_hardware(), None
        style, layout = {"description_width": "170px"}, widgets.Layout(width="440px")
        common = {"style": style, "layout": layout, "continuous_update": False}
        self.preset = widgets.Dropdown(options=PRESET_NAMES, description="preset", style=style)
        self.controls = {
            "num_generations": widgets.IntSlider(min=2, max=32, description="num_generations", **common),
            "temperature": widgets.FloatSlider(min=0.0, max=2.0, step=0.05, description="temperature", **common),
            "max_completion_length": widgets.IntSlider(
                min=16, max=1024, step=8, description="max_completion_length", **common
            ),
            "beta": widgets.FloatSlider(
                min=0.0, max=0.5, step=0.01, readout_format=".2f", description="beta (KL)", **common
            ),
            "loss_type": widgets.Dropdown(
                options=accepted_loss_types(), description="loss_type", style=style, layout=layout
            ),
            "learning_rate": widgets.SelectionSlider(
                options=[(f"{lr:g}", lr) for lr in LEARNING_RATES], description="learning_rate", **common
            ),
            "per_device_train_batch_size": widgets.IntSlider(min=1, max=64, description="per_device_batch", **common),
            "gradient_accumulation_steps": widgets.IntSlider(min=1, max=16, description="grad_accumulation", **common),
            "max_steps": widgets.IntSlider(min=1, max=1000, description="max_steps", **common),
        }
        self.notes = {name: widgets.HTML() for name in CONTROLLED}
        self.messages, self.result = widgets.HTML(), widgets.HTML()
        self.button = widgets.Button(
            description="Build GRPOConfig", button_style="success", icon="check", layout=widgets.Layout(width="auto")
        )
        rows = [widgets.HBox([self.controls[name], self.notes[name]]) for name in CONTROLLED]
        self.box = widgets.VBox([self.preset, *rows, self.messages, widgets.HBox([self.button, self.result])])
        self._loading = False
        self.load_preset(preset or recommended_preset(self.hardware))
        self.preset.observe(lambda change: self.load_preset(change["new"]), names="value")
        for control in self.controls.values():
            control.observe(lambda change: self.refresh(), names="value")
        self.button.on_click(self._on_click)

    def values(self) -> dict:
        """The controlled settings as GRPOConfig keyword arguments."""
        return {name: _CAST.get(name, int)(self.controls[name].value) for name in CONTROLLED}

    def set(self, **values) -> None:
        """Move controls as a learner would, e.g. ``panel.set(num_generations=4, beta=0.0)``."""
        if unknown := sorted(set(values) - set(CONTROLLED)):
            raise ValueError(
                f"{unknown}: the widget controls {', '.join(CONTROLLED)}; pass other settings to make_config"
            )
        for name, value in values.items():
            if name == "learning_rate" and value not in LEARNING_RATES:
                raise ValueError(
                    f"learning_rate={value!r}: the slider offers {', '.join(f'{v:g}' for v in LEARNING_RATES)}"
                )
            self.controls[name].value = value
            if self.controls[name].value != value:  # a slider clamps values outside its range
                raise ValueError(f"{name}={value!r} is outside the slider's range; pass it to make_config instead")

    def load_preset(self, name: str) -> None:
        """Put preset ``name``'s values on the controls."""
        self._loading = True  # one refresh at the end, not one per control
        try:
            self.preset.value = name
            for field in CONTROLLED:
                self.controls[field].value = PRESETS[name][field]
        finally:
            self._loading = False
        self.refresh()

    def build(self):
        """``make_config(preset, **values())`` for the settings on screen (also kept in ``.config``)."""
        self.config = make_config(self.preset.value, hardware=self.hardware, **self.values())
        return self.config

    def refresh(self) -> None:
        if self._loading:
            return
        settings, kept, problems = {**PRESETS[self.preset.value], **self.values()}, self.config, []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConfigWarning)
            try:
                self.build()
                lines = problems = [("#8a6d00", str(w.message)) for w in caught if w.category is ConfigWarning]
            except ValueError as error:
                lines, problems = [("#b00020", str(error))], [("#b00020", p) for p in getattr(error, "problems", [])]
        self.config = kept  # only the button (or build()) hands out a config
        for (
            name
        ) in CONTROLLED:  # what the value does, and beside it each message naming it (TRL's batch ones name several)
            own = "".join(
                f"<br><span style='color:{color}'>{html.escape(p)}</span>"
                for color, p in problems
                if (head := p.split(":", 1)[0]) == name or head not in CONTROLLED and re.search(rf"\b{name}\b", p)
            )
            self.notes[name].value = f"<small>{html.escape(explain(name, settings[name], settings))}{own}</small>"
        arithmetic = batch_arithmetic(settings)
        self.messages.value = (
            ("<b>No problems.</b> " if not lines else "")
            + f"{arithmetic['completions per step']} completions = {arithmetic['prompts per step']:.3g} prompt(s) "
            f"x {settings['num_generations']} per step."
            + "".join(
                f"<pre style='color:{color};white-space:pre-wrap'>{html.escape(text)}</pre>" for color, text in lines
            )
        )

    def _on_click(self, _button) -> None:
        try:
            self.build()
            self.result.value = "Built: <code>panel.config</code> holds it."
        except ValueError as error:
            self.result.value = f"<span style='color:#b00020'>{html.escape(str(error))}</span>"


config_widget = ConfigWidget  # the name notebook 05 calls


MAX_CHARS = 1500  # of a prompt or a completion; the rest is counted, not shown


def _cut(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + f" ... [{len(text) - MAX_CHARS} more characters]"


def _fmt(score) -> str:
    return "None" if score is None else f"{score:.3g}"


def render_html(records: list[Completion], reward_names: list[str]) -> str:
    """HTML for ``records``: grouped by prompt, a table row per completion with its scores and advantage."""
    if not records:
        return "<i>No completions match: widen the score range or pick another step.</i>"
    names = [name for name in reward_names if name != TOTAL]
    head = "".join(f"<th>{html.escape(name)}</th>" for name in [*names, TOTAL, "advantage"])
    cell = "style='border:1px solid var(--jp-border-color2, #ddd);padding:3px 6px;vertical-align:top'"
    parts, current = [], None
    for record in records:
        if (record.step, record.group) != current:
            parts.append("</table>" if current is not None else "")
            current = (record.step, record.group)
            parts.append(
                f"<div style='margin-top:10px'><b>Step {record.step}, prompt {record.group + 1}</b></div>"
                "<pre style='white-space:pre-wrap;background:var(--jp-layout-color2, #f4f4f4);color:inherit;"
                "padding:4px;margin:2px 0'>"
                f"{html.escape(_cut(record.prompt))}</pre>"
                f"<table style='border-collapse:collapse;font-size:90%'><tr><th>#</th><th>completion</th>{head}</tr>"
            )
        scores = "".join(f"<td {cell}>{_fmt(record.rewards.get(name))}</td>" for name in names)
        color = (
            "var(--jp-success-color1, #060)"
            if record.advantage > 0
            else "var(--jp-error-color1, #a00)"
            if record.advantage < 0
            else "var(--jp-ui-font-color2, #555)"
        )
        parts.append(
            f"<tr><td {cell}>{record.index + 1}</td>"
            f"<td {cell[:-1]};min-width:24em'><pre style='white-space:pre-wrap;margin:0'>"
            f"{html.escape(_cut(record.completion))}</pre></td>"
            f"{scores}<td {cell}><b>{_fmt(record.total)}</b></td>"
            f"<td {cell[:-1]};color:{color}'>{record.advantage:+.3f}</td></tr>"
        )
    return "".join(parts) + "</table>"


class CompletionBrowser(_Widget):
    """Each logged step's prompts with their G completions, every reward's score and the group-relative
    advantage, from a ``CompletionRecorder`` (what TRL saves with ``log_completions=True``); shown before
    ``trainer.train()``, it follows the run. ``select(step=..., reward=..., low=..., high=...)`` sets the
    filters as a learner would; ``shown`` is the list of completions on display."""

    def __init__(self, recorder: CompletionRecorder):
        if not isinstance(recorder, CompletionRecorder):
            raise TypeError(
                f"completion_browser needs the recorder from record_completions(trainer), got {type(recorder).__name__}"
            )
        self.recorder, self.shown, self._updating = recorder, [], False
        style, width = {"description_width": "initial"}, lambda w: widgets.Layout(width=w)
        self.step = widgets.Dropdown(description="step", style=style, layout=width("160px"))
        self.reward = widgets.Dropdown(
            options=recorder.reward_names(), value=TOTAL, description="filter by", style=style, layout=width("260px")
        )
        self.low = widgets.FloatText(description="score from", style=style, layout=width("170px"))
        self.high = widgets.FloatText(description="to", style=style, layout=width("120px"))
        self.follow = widgets.Checkbox(value=True, description="follow the run", indent=False)
        self.summary, self.table = widgets.HTML(), widgets.HTML()
        self.box = widgets.VBox(
            [widgets.HBox([self.step, self.reward, self.low, self.high, self.follow]), self.summary, self.table]
        )
        self._refresh_steps()
        self._reset_range()
        for control, handler in (
            (self.step, self._on_step),
            (self.reward, self._on_step),
            (self.low, self._on_range),
            (self.high, self._on_range),
        ):
            control.observe(handler, names="value")
        recorder.subscribe(self._on_new_step)
        self.refresh()

    def _refresh_steps(self) -> None:
        steps, value = sorted(self.recorder.steps), self.step.value
        self.step.options = steps
        if steps:
            self.step.value = steps[-1] if (self.follow.value or value not in steps) else value

    def _reset_range(self) -> None:
        """Set the score range to the whole range of the chosen reward on the chosen step."""
        scores = [s for c in self._step_records() if (s := c.score(self.reward.value)) is not None]
        self._updating = True
        self.low.value, self.high.value = (min(scores), max(scores)) if scores else (0.0, 0.0)
        self._updating = False

    def _step_records(self) -> list[Completion]:
        return self.recorder.completions(self.step.value) if self.step.value is not None else []

    def refresh(self) -> None:
        """Show the completions that pass the filters."""
        if self.step.value is None:
            self.shown, self.table.value = [], ""
            self.summary.value = "<i>No step recorded yet: completions appear here at each logging step.</i>"
            return
        everything = self._step_records()
        self.shown = self.recorder.completions(self.step.value, self.reward.value, self.low.value, self.high.value)
        self.summary.value = (
            f"Step {self.step.value}: {len({c.group for c in everything})} prompt(s) x {self.recorder.num_generations} "
            f"completions; showing {len(self.shown)} of {len(everything)} with <b>{html.escape(self.reward.value)}</b> "
            f"score in [{self.low.value:.3g}, {self.high.value:.3g}]. Advantage = (reward - group mean) / group std: "
            "positive completions are made more likely."
        )
        self.table.value = render_html(self.shown, self.recorder.reward_names())

    def select(
        self, step: int | None = None, reward: str | None = None, low: float | None = None, high: float | None = None
    ) -> list[Completion]:
        """Set the filters (those given) and return the completions shown."""
        if step is not None:
            self.recorder.completions(step)  # a KeyError naming the recorded steps when it was not recorded
            self.step.value = step
        if reward is not None:
            self.recorder.completions(reward=reward)  # a KeyError naming the rewards
            self.reward.value = reward
        for control, value in ((self.low, low), (self.high, high)):
            if value is not None:
                control.value = value
        self.refresh()
        return list(self.shown)

    def _on_step(self, _change) -> None:
        self._reset_range()
        self.refresh()

    def _on_range(self, _change) -> None:
        if not self._updating:
            self.refresh()

    def _on_new_step(self, _step: int) -> None:
        before = self.step.value
        self._refresh_steps()
        if self.step.value == before:  # otherwise the step observer has refreshed already
            self.refresh()


completion_browser = CompletionBrowser  # the name notebook 06 calls
