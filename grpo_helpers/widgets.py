"""widgets: merged from reward_playground, config_widget, completion_browser.

[reward_playground] A reward playground: type or pick a completion, see every reward's score and the extracted answer.

    from grpo_helpers.rewards import tutorial_rewards

    from grpo_helpers.widgets import reward_playground
    reward_playground(tutorial_rewards(256), examples={"right": "... <answer>18</answer>"}, ground_truth="18")

The scores update as you type. Everything shown is also kept in Python attributes (``.scores``,
``.extracted``, ``.total``), so a test or a later cell can read what the widget shows.


[config_widget] An interactive GRPO configurator (ipywidgets): start from a preset, move the sliders, read what
each value does, see the problems and the cost of a step live, and take the GRPOConfig.

    panel = config_widget()     # shows itself as the last expression of a cell
    config = panel.build()      # or press "Build GRPOConfig"

It only arranges what the rest of the package does: ``make_config`` builds (so the widget's
config is exactly ``make_config(preset, **panel.values())``), ``find_problems`` checks,
``explain`` explains, ``estimate_step`` estimates.


[completion_browser] A completion browser (ipywidgets): for each logged step, each prompt with its G completions,
each reward function's score and the group-relative advantage; filter by step and by a score range.

    from grpo_helpers.training import record_completions
    from grpo_helpers.widgets import completion_browser

    recorder = record_completions(trainer)   # before trainer.train()
    completion_browser(recorder)             # last line of a cell: shows the browser
    trainer.train()

Shown before ``trainer.train()`` (in an earlier cell), it follows the run: each new step is
added to the step list and, with "follow the run" ticked, shown as it arrives. After training,
pick any recorded step. The data comes from ``grpo_helpers.training`` (TRL's ``_logs``).
"""

from __future__ import annotations

import html
from grpo_helpers.answers import answers_match, extract_answer
from grpo_helpers.rewards import score_completion
from grpo_helpers.config import config_settings, make_config
from grpo_helpers.config import find_problems
from grpo_helpers.config import batch_arithmetic, explain
from grpo_helpers.models import tutorial_model
from grpo_helpers.estimate import KNOWN_MODELS, PROMPT_TOKENS, T4, estimate_step
from grpo_helpers.environment import Hardware, detect_hardware
from grpo_helpers.config import PRESET_NAMES, preset_values, recommended_preset
from grpo_helpers.config import accepted_loss_types
from grpo_helpers.training import TOTAL, Completion, CompletionRecorder


# ---- reward_playground

class RewardPlayground:
    """The widget; display it by leaving it last in a cell. ``.text.value = "..."`` re-scores."""

    def __init__(self, reward_funcs, examples: dict | None = None, ground_truth: str = "18", prompt: str = ""):
        import ipywidgets as widgets

        if not reward_funcs:
            raise ValueError("reward_playground needs at least one reward function, e.g. tutorial_rewards(256)")
        self.reward_funcs = list(reward_funcs)
        self.prompt = prompt
        self.examples = dict(examples or {})
        first = next(iter(self.examples.values()), "")
        self.picker = widgets.Dropdown(
            options=["(type your own)"] + list(self.examples), value=next(iter(self.examples), "(type your own)"), description="Example:",
            layout=widgets.Layout(width="480px"),
        )
        self.reference = widgets.Text(value=str(ground_truth), description="Reference:", layout=widgets.Layout(width="260px"))
        self.text = widgets.Textarea(
            value=first, placeholder="Type a completion here", description="Completion:",
            layout=widgets.Layout(width="95%", height="140px"), continuous_update=True,
        )
        self.table = widgets.HTML()
        self.picker.observe(self._on_pick, names="value")
        self.text.observe(self._update, names="value")
        self.reference.observe(self._update, names="value")
        self.box = widgets.VBox([widgets.HBox([self.picker, self.reference]), self.text, self.table])
        self.scores, self.extracted, self.total = {}, None, 0.0
        self._update()

    def _on_pick(self, change) -> None:
        if change["new"] in self.examples:
            self.text.value = self.examples[change["new"]]

    def _update(self, change=None) -> None:
        completion, reference = self.text.value, self.reference.value.strip()
        self.extracted = extract_answer(completion)
        try:
            self.scores = score_completion(completion, reference, self.reward_funcs, prompt=self.prompt)
            error = ""
        except Exception as exc:  # a learner's own reward may raise: show it, keep the widget alive
            self.scores, error = {}, f"<p style='color:#b00'>A reward raised {type(exc).__name__}: {html.escape(str(exc))}</p>"
        self.total = sum(self.scores.values())
        match = answers_match(self.extracted, reference)
        rows = "".join(
            f"<tr><td style='text-align:left'><code>{html.escape(name)}</code></td><td>{score:+.3f}</td></tr>"
            for name, score in self.scores.items()
        )
        self.table.value = (
            f"<p>Extracted answer: <b>{html.escape(repr(self.extracted))}</b> "
            f"({'matches' if match else 'does not match'} the reference {html.escape(repr(reference))})</p>"
            f"{error}<table><tr><th style='text-align:left'>reward</th><th>score</th></tr>{rows}"
            f"<tr><td style='text-align:left'><b>total</b></td><td><b>{self.total:+.3f}</b></td></tr></table>"
        )

    def _repr_mimebundle_(self, **kwargs):
        return self.box._repr_mimebundle_(**kwargs)


def reward_playground(reward_funcs, examples: dict | None = None, ground_truth: str = "18", prompt: str = "") -> RewardPlayground:
    """Make the playground: ``examples`` maps a label to a completion for the drop-down."""
    return RewardPlayground(reward_funcs, examples=examples, ground_truth=ground_truth, prompt=prompt)


# ---- config_widget

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


def _controls(widgets) -> dict:
    style, layout = {"description_width": "170px"}, widgets.Layout(width="440px")
    common = {"style": style, "layout": layout, "continuous_update": False}
    return {
        "num_generations": widgets.IntSlider(min=2, max=32, description="num_generations", **common),
        "temperature": widgets.FloatSlider(min=0.05, max=2.0, step=0.05, description="temperature", **common),
        "max_completion_length": widgets.IntSlider(min=16, max=1024, step=8, description="max_completion_length", **common),
        "beta": widgets.FloatSlider(min=0.0, max=0.5, step=0.01, readout_format=".2f", description="beta (KL)", **common),
        "loss_type": widgets.Dropdown(options=accepted_loss_types(), description="loss_type", style=style, layout=layout),
        "learning_rate": widgets.SelectionSlider(
            options=[(f"{lr:g}", lr) for lr in LEARNING_RATES], description="learning_rate", **common
        ),
        "per_device_train_batch_size": widgets.IntSlider(min=1, max=64, description="per_device_batch", **common),
        "gradient_accumulation_steps": widgets.IntSlider(min=1, max=16, description="grad_accumulation", **common),
        "max_steps": widgets.IntSlider(min=1, max=1000, description="max_steps", **common),
    }


class ConfigWidget:
    """The configurator. ``values()`` reads the controls, ``set(**values)`` moves them (as a
    learner would), ``build()`` returns the GRPOConfig."""

    def __init__(
        self,
        preset: str | None = None,
        hardware: Hardware | None = None,
        model: str | None = None,
        prompt_tokens: int = PROMPT_TOKENS,
        bitsandbytes: bool | None = None,
    ):
        import ipywidgets as widgets

        self.hardware = hardware or detect_hardware()
        self.bitsandbytes = bitsandbytes
        self.prompt_tokens = prompt_tokens
        self.config = None
        model = model or tutorial_model(self.hardware)
        models = list(KNOWN_MODELS) + ([model] if model not in KNOWN_MODELS else [])
        self.preset = widgets.Dropdown(options=PRESET_NAMES, description="preset", style={"description_width": "170px"})
        self.model = widgets.Dropdown(options=models, value=model, description="model", layout=widgets.Layout(width="420px"))
        self.controls = _controls(widgets)
        self.notes = {name: widgets.HTML() for name in CONTROLLED}
        self.messages = widgets.HTML()
        self.estimate = widgets.HTML()
        self.button = widgets.Button(
            description="Build GRPOConfig", button_style="success", icon="check", layout=widgets.Layout(width="auto")
        )
        self.result = widgets.HTML()
        rows = [widgets.HBox([self.controls[name], self.notes[name]]) for name in CONTROLLED]
        self.box = widgets.VBox(
            [widgets.HBox([self.preset, self.model]), *rows, self.messages, self.estimate, widgets.HBox([self.button, self.result])]
        )
        self._loading = False
        self.load_preset(preset or recommended_preset(self.hardware))
        self.preset.observe(lambda change: self.load_preset(change["new"]), names="value")
        self.model.observe(lambda change: self.refresh(), names="value")
        for control in self.controls.values():
            control.observe(lambda change: self.refresh(), names="value")
        self.button.on_click(self._on_click)

    # -- reading and moving the controls ---------------------------------------------------
    def values(self) -> dict:
        """The controlled settings as GRPOConfig keyword arguments."""
        return {name: _CAST.get(name, int)(self.controls[name].value) for name in CONTROLLED}

    def set(self, **values) -> None:
        """Move controls, e.g. ``panel.set(num_generations=4, beta=0.0)``."""
        unknown = sorted(set(values) - set(CONTROLLED))
        if unknown:
            raise ValueError(f"{unknown}: the widget controls {', '.join(CONTROLLED)}; pass other settings to make_config")
        for name, value in values.items():
            if name == "learning_rate" and value not in LEARNING_RATES:
                raise ValueError(f"learning_rate={value!r}: the slider offers {', '.join(f'{v:g}' for v in LEARNING_RATES)}")
            self.controls[name].value = value
            if self.controls[name].value != value:  # a slider clamps values outside its range
                raise ValueError(f"{name}={value!r} is outside the slider's range; pass it to make_config instead")

    def load_preset(self, name: str) -> None:
        """Put preset ``name``'s values on the controls."""
        values = preset_values(name)
        self._loading = True
        try:
            if self.preset.value != name:
                self.preset.value = name
            for field in CONTROLLED:
                self.controls[field].value = values[field]
        finally:
            self._loading = False
        self.refresh()

    # -- what the panel shows ----------------------------------------------------------------
    def settings(self) -> dict:
        """Everything ``build()`` would pass to GRPOConfig."""
        return config_settings(self.preset.value, self.hardware, self.bitsandbytes, **self.values())

    def refresh(self) -> None:
        if self._loading:
            return
        settings = self.settings()
        for name in CONTROLLED:
            self.notes[name].value = f"<small>{html.escape(explain(name, settings[name], settings))}</small>"
        problems = find_problems(settings, self.hardware, bitsandbytes=self.bitsandbytes)
        lines = [f"<li style='color:#b00020'>{html.escape(e)}</li>" for e in problems.errors]
        lines += [f"<li style='color:#8a6d00'>{html.escape(w)}</li>" for w in problems.warnings]
        arithmetic = batch_arithmetic(settings)
        status = (
            "<b>No problems.</b>" if not lines else f"<b>{len(problems.errors)} error(s), {len(problems.warnings)} warning(s):</b>"
        )
        self.messages.value = (
            f"{status} {arithmetic['completions per step']} completions = "
            f"{arithmetic['prompts per step']:.3g} prompt(s) x {settings['num_generations']} per step."
            + (f"<ul>{''.join(lines)}</ul>" if lines else "")
        )
        self.estimate.value = self._estimate_html(settings)

    def _estimate_html(self, settings: dict) -> str:
        lines = []
        for hardware in (self.hardware, T4):
            try:
                lines.append(html.escape(estimate_step(settings, self.model.value, hardware, prompt_tokens=self.prompt_tokens).summary()))
            except ValueError as error:
                lines.append(html.escape(str(error)))
        return (
            f"<b>Estimate for {html.escape(self.model.value)}</b> (prompt {self.prompt_tokens} tokens, completions "
            "assumed to run to max_completion_length):<br>" + "<br>".join(lines)
            + "<br><small>Method: arithmetic and weight-reading cost plus a per-layer, per-token overhead, fitted to "
            "steps measured on a 2-core CPU and an H100; memory summed from weights, LoRA + Adam, KV cache, "
            "activations and logits. See grpo_helpers.estimate.METHOD.</small>"
        )

    # -- the result ------------------------------------------------------------------------------
    def build(self):
        """The GRPOConfig for the current values: ``make_config(preset, **values())``."""
        self.config = make_config(self.preset.value, hardware=self.hardware, bitsandbytes=self.bitsandbytes, **self.values())
        return self.config

    def _on_click(self, _button) -> None:
        try:
            self.build()
        except ValueError as error:
            self.result.value = f"<span style='color:#b00020'>{html.escape(str(error))}</span>"
            return
        self.result.value = "Built: <code>panel.config</code> holds it."

    def _ipython_display_(self):
        from IPython.display import display

        display(self.box)


def config_widget(preset: str | None = None, hardware: Hardware | None = None, model: str | None = None, **kwargs) -> ConfigWidget:
    """Make the configurator; the last expression of a notebook cell displays it."""
    return ConfigWidget(preset=preset, hardware=hardware, model=model, **kwargs)


# ---- completion_browser

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
