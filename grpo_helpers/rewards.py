"""The tutorial's reward functions, in TRL's shape: ``f(prompts, completions, **kwargs) -> list[float]``.

TRL's ``GRPOTrainer`` calls every reward function with the keyword arguments ``prompts``,
``completions`` and ``completion_ids``, plus one keyword argument per dataset column other than
``prompt`` (so the column ``ground_truth`` arrives as ``ground_truth=[...]``, one value per
completion), plus ``trainer_state``, ``log_extra`` and ``log_metric``. That is why every reward
ends with ``**kwargs``: it must accept arguments it does not use.

A completion is a string when the dataset's prompts are strings, and a list of messages
(``[{"role": "assistant", "content": "..."}]``) when they are conversations; ``completion_text``
turns both into text, so every reward here works with both.

Scales (the logged ``rewards/<name>/mean`` reads in these units; the total is their sum):

==========================  =======================================================
``correctness_reward``      2.0 right in ``<answer>`` tags, 1.0 right in another format, else 0
``strict_format_reward``    0.5 when the whole completion is reasoning + one ``<answer>N</answer>``
``soft_format_reward``      0 to 0.5, 0.125 per format habit (partial credit)
``integer_answer_reward``   0.25 when the final answer is a whole number
``overlong_penalty``        0 to -0.5 as a completion nears the token limit
==========================  =======================================================

Correctness dominates on purpose: a completion that games every format reward but is wrong
scores at most 1.25; a right one in the right format scores 3.25.
"""

from __future__ import annotations

import re

from grpo_helpers.answers import ANSWER_TAG_RE, answers_match, extract_all_answers, extract_answer, parse_number

# ---- The answer format: one definition shared by the prompts and the format rewards. ----------
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
ANSWER_FORMAT = ANSWER_OPEN + "{answer}" + ANSWER_CLOSE
ANSWER_INSTRUCTION = (
    "Think step by step, then give the final answer as a single number inside answer tags, "
    f"like this: {ANSWER_FORMAT.format(answer='42')}"
)
SYSTEM_PROMPT = (
    "You are a careful math tutor. Solve the problem. " + ANSWER_INSTRUCTION + ". Write nothing after the answer tags."
)

NUMBER = r"\s*[-−]?\$?\s*[-−]?\d[\d,]*(?:\.\d+)?\s*"
# Reasoning (at least one non-space character), then exactly one answer in tags, then only whitespace.
# re.DOTALL matters: without it "." stops at the first newline and a multi-line reasoning never matches.
STRICT_FORMAT_RE = re.compile(r"^\s*\S.*?" + re.escape(ANSWER_OPEN) + NUMBER + re.escape(ANSWER_CLOSE) + r"\s*$", re.DOTALL)

CORRECT_IN_FORMAT, CORRECT_OTHER_FORMAT = 2.0, 1.0
STRICT_FORMAT_SCORE = 0.5
SOFT_FORMAT_STEP = 0.125
INTEGER_SCORE = 0.25
OVERLONG_MAX_PENALTY = 0.5


def format_answer(answer) -> str:
    """The final line the model should write: ``format_answer(42)`` -> ``'<answer>42</answer>'``."""
    return ANSWER_FORMAT.format(answer=answer)


def completion_text(completion) -> str:
    """The text of one completion, whether TRL passed a string or a list of messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, (list, tuple)):
        parts = []
        for message in completion:
            if not isinstance(message, dict) or "content" not in message:
                raise TypeError(
                    "A conversational completion must be a list of messages like "
                    f"[{{'role': 'assistant', 'content': '...'}}]; got an item {message!r}"
                )
            content = message["content"]
            if isinstance(content, list):  # content parts: [{"type": "text", "text": "..."}]
                content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
            parts.append(content or "")
        return "\n".join(parts)
    raise TypeError(
        f"A completion must be a string or a list of messages, got {type(completion).__name__}: {completion!r:.80}"
    )


def _texts(completions) -> list[str]:
    return [completion_text(c) for c in completions]


def correctness_reward(prompts, completions, ground_truth, **kwargs) -> list[float]:
    """2.0 for the right answer in ``<answer>`` tags, 1.0 for the right answer in another format, else 0.

    Partial credit: early on a small model often gets the number right but writes
    "The answer is 18" or ``#### 18`` instead of the tags. Half credit keeps that signal (so the
    group's rewards differ and GRPO has something to learn) while the tags still pay more.

    A completion that gives several different final answers ("<answer>17</answer> ... or
    <answer>18</answer>") earns nothing: otherwise listing many guesses would be a way to win.
    ``ground_truth`` is the dataset column of that name (one reference answer per completion).
    """
    if len(ground_truth) != len(completions):
        raise ValueError(
            f"correctness_reward got {len(completions)} completions but {len(ground_truth)} ground_truth values: "
            "TRL repeats each column once per completion; pass one reference answer per completion."
        )
    rewards = []
    for text, reference in zip(_texts(completions), ground_truth):
        answers = extract_all_answers(text)
        values = [answer for _, answer in answers]
        distinct = []
        for value in values:
            if not any(answers_match(value, seen) for seen in distinct):
                distinct.append(value)
        if len(distinct) != 1 or not answers_match(distinct[0], str(reference)):
            rewards.append(0.0)
        elif answers[0][0] == "answer_tag":
            rewards.append(CORRECT_IN_FORMAT)
        else:
            rewards.append(CORRECT_OTHER_FORMAT)
    return rewards


def strict_format_reward(prompts, completions, **kwargs) -> list[float]:
    """0.5 when the completion is exactly: some reasoning, then one ``<answer>NUMBER</answer>``, then nothing.

    All or nothing: one extra tag, text after the answer, or an answer with no reasoning before it
    gets 0. This is the format the tutorial trains towards; the soft reward leads the way there.
    """
    rewards = []
    for text in _texts(completions):
        ok = STRICT_FORMAT_RE.match(text) and text.count(ANSWER_OPEN) == 1 and text.count(ANSWER_CLOSE) == 1
        rewards.append(STRICT_FORMAT_SCORE if ok else 0.0)
    return rewards


def soft_format_reward(prompts, completions, **kwargs) -> list[float]:
    """Partial credit, 0.125 for each format habit (0 to 0.5):

    - ``<answer>`` appears exactly once;
    - ``</answer>`` appears exactly once;
    - they enclose a non-empty answer (opening tag before closing tag);
    - nothing but whitespace follows ``</answer>``.

    A 135M model almost never writes the full format at first. Rewarding each piece separately
    means some completions in a group score more than others from the first steps, so the group's
    reward std is not zero and GRPO gets a gradient towards the format.
    """
    rewards = []
    for text in _texts(completions):
        score = 0.0
        if text.count(ANSWER_OPEN) == 1:
            score += SOFT_FORMAT_STEP
        if text.count(ANSWER_CLOSE) == 1:
            score += SOFT_FORMAT_STEP
        if any(inner.strip() for inner in ANSWER_TAG_RE.findall(text)):
            score += SOFT_FORMAT_STEP
        if ANSWER_CLOSE in text and not text.rsplit(ANSWER_CLOSE, 1)[1].strip():
            score += SOFT_FORMAT_STEP
        rewards.append(score)
    return rewards


def integer_answer_reward(prompts, completions, **kwargs) -> list[float]:
    """0.25 when the final answer (in any recognised format) is a whole number, like every GSM8K answer.

    Partial credit for being the right *kind* of answer, right or wrong: it teaches "end with a
    number" before the model can get the number right. "18.0" and "$1,000" count; "18.5",
    "x" and no answer do not.
    """
    rewards = []
    for text in _texts(completions):
        value = parse_number(extract_answer(text))
        rewards.append(INTEGER_SCORE if value is not None and value.denominator == 1 else 0.0)
    return rewards


def make_overlong_penalty(max_completion_length: int, soft_cache: int | None = None, max_penalty: float = OVERLONG_MAX_PENALTY):
    """A reward that is 0 for short completions and falls linearly to ``-max_penalty`` near the limit.

    DAPO's "soft overlong punishment": completions longer than ``max_completion_length -
    soft_cache`` tokens lose reward in proportion to how far into the last ``soft_cache`` tokens
    they reach, and a completion that hits the limit (cut off, so its answer is usually missing)
    gets the full penalty. Lengths come from TRL's ``completion_ids``; without them (calling the
    function by hand) a token is estimated as 4 characters.

    Set ``max_completion_length`` to the same value as GRPOConfig's ``max_completion_length``.
    """
    if not isinstance(max_completion_length, int) or max_completion_length <= 0:
        raise ValueError(f"max_completion_length must be a positive int (GRPOConfig's value), got {max_completion_length!r}")
    soft_cache = max_completion_length // 4 if soft_cache is None else soft_cache
    if not 0 < soft_cache <= max_completion_length:
        raise ValueError(f"soft_cache must be between 1 and max_completion_length={max_completion_length}, got {soft_cache}")
    start = max_completion_length - soft_cache

    def overlong_penalty(prompts, completions, completion_ids=None, **kwargs) -> list[float]:
        if completion_ids is not None:
            lengths = [len(ids) for ids in completion_ids]
        else:
            lengths = [len(text) // 4 for text in _texts(completions)]
        return [0.0 - max_penalty * min(1.0, max(0, n - start) / soft_cache) for n in lengths]  # "0.0 -": never -0.0

    overlong_penalty.__doc__ = (
        f"0 up to {start} completion tokens, then down to -{max_penalty} at {max_completion_length} tokens "
        "(made by make_overlong_penalty)."
    )
    return overlong_penalty


def tutorial_rewards(max_completion_length: int) -> list:
    """The reward functions the tutorial trains with, in the order their columns are logged."""
    return [
        correctness_reward,
        strict_format_reward,
        soft_format_reward,
        integer_answer_reward,
        make_overlong_penalty(max_completion_length),
    ]


def score_completion(completion, ground_truth, reward_funcs, prompt="", **columns) -> dict:
    """Every reward's score for one completion, by function name (for tables and the playground)."""
    scores = {}
    for func in reward_funcs:
        name = getattr(func, "__name__", type(func).__name__)
        scores[name] = func(prompts=[prompt], completions=[completion], ground_truth=[ground_truth], **columns)[0]
    return scores
