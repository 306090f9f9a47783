"""Notebook 03's exercise, solved: ``shows_work_reward`` pays 0.25 when the text before the final answer
holds a worked arithmetic step (a number, an operator, a number, ``=``, a number), else 0."""

import re

from grpo_helpers.rewards import completion_text

STEP = re.compile(r"\d[\d,.]*\s*[-+*/x×]\s*\d[\d,.]*\s*=\s*\d")


def shows_work_reward(prompts, completions, **kwargs) -> list[float]:
    """0.25 for each completion (a string or chat messages) whose text before ``<answer>`` and ``####``
    holds a worked step such as ``48 + 24 = 72``, else 0.0."""
    rewards = []
    for completion in completions:
        text = completion_text(completion)
        before_answer = text.split("<answer>")[0].split("####")[0]
        rewards.append(0.25 if STEP.search(before_answer) else 0.0)
    return rewards
