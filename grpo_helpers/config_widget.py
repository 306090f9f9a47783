"""An interactive GRPO configurator (ipywidgets): start from a preset, move the sliders, read what
each value does, see the problems and the cost of a step live, and take the GRPOConfig.

    panel = config_widget()     # shows itself as the last expression of a cell
    config = panel.build()      # or press "Build GRPOConfig"

It only arranges what the rest of the package does: ``make_config`` builds (so the widget's
config is exactly ``make_config(preset, **panel.values())``), ``find_problems`` checks,
``explain`` explains, ``estimate_step`` estimates.
"""

from __future__ import annotations

import html

from grpo_helpers.config import config_settings, make_config
from grpo_helpers.config_checks import find_problems
from grpo_helpers.config_notes import batch_arithmetic, explain
from grpo_helpers.default_model import tutorial_model
from grpo_helpers.estimate import KNOWN_MODELS, PROMPT_TOKENS, T4, estimate_step
from grpo_helpers.hardware import Hardware, detect_hardware
from grpo_helpers.presets import PRESET_NAMES, preset_values, recommended_preset
from grpo_helpers.trl_api import accepted_loss_types

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
