"""A reward playground: type or pick a completion, see every reward's score and the extracted answer.

    from grpo_helpers import reward_playground, tutorial_rewards
    reward_playground(tutorial_rewards(256), examples={"right": "... <answer>18</answer>"}, ground_truth="18")

The scores update as you type. Everything shown is also kept in Python attributes (``.scores``,
``.extracted``, ``.total``), so a test or a later cell can read what the widget shows.
"""

from __future__ import annotations

import html

from grpo_helpers.answers import answers_match, extract_answer
from grpo_helpers.rewards import score_completion


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
