"""Notebook 11's second exercise, solved: ``closed_working_reward``, the working reward with its loophole closed:
1 point per 50 characters before the answer tag, at most 1, and 0 without a closed ``<answer>...</answer>``."""

import re

from grpo_helpers.rewards import completion_text

CLOSED_ANSWER = re.compile(r"<answer>.*?</answer>", re.DOTALL)


def closed_working_reward(completions, **kwargs) -> list[float]:
    """Per completion (text or chat messages): min(characters before <answer> / 50, 1) when it holds a closed
    answer tag, else 0.0 (a cut-off ramble earns nothing)."""
    rewards = []
    for completion in completions:
        text = completion_text(completion)
        found = CLOSED_ANSWER.search(text)
        rewards.append(min(found.start() / 50, 1.0) if found else 0.0)
    return rewards
