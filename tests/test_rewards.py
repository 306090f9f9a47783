"""Reward functions in both completion shapes, partial credit, reward hacking, the guard, the playground.

The learned reward model moved from the package into notebook 03 (an inline cell, skipped offline)."""

import math

import pytest

from grpo_helpers.rewards import (
    ANSWER_FORMAT,
    ANSWER_INSTRUCTION,
    SYSTEM_PROMPT,
    RewardFunctionError,
    check_reward_functions,
    completion_text,
    correctness_reward,  # the path the notebooks use
    format_answer,
    integer_answer_reward,
    make_overlong_penalty,
    sample_completions,
    score_completion,
    soft_format_reward,
    strict_format_reward,
    tutorial_rewards,
)

GOOD = "Natalia sold 48 in April and 24 in May.\n48 + 24 = 72\n<answer>72</answer>"
CASES = {
    # name: (completion, correctness, strict, soft, integer)
    "right, in format": (GOOD, 2.0, 0.5, 0.5, 0.25),
    "right, '####'": ("48 + 24 = 72\n#### 72", 1.0, 0.0, 0.0, 0.25),
    "right, phrase": ("48 + 24 = 72. The answer is 72.", 1.0, 0.0, 0.0, 0.25),
    "right, $ and commas": ("So <answer>$72.00</answer>", 2.0, 0.5, 0.5, 0.25),
    "wrong, in format": ("48 + 24 = 73\n<answer>73</answer>", 0.0, 0.5, 0.5, 0.25),
    "no reasoning": ("<answer>72</answer>", 2.0, 0.0, 0.5, 0.25),
    "text after answer": ("48+24\n<answer>72</answer>\nHope this helps!", 2.0, 0.0, 0.375, 0.25),
    "two different answers": ("maybe <answer>71</answer> or <answer>72</answer>", 0.0, 0.0, 0.25, 0.25),
    "same answer twice": ("72 <answer>72</answer> so 72.0 #### 72", 2.0, 0.0, 0.375, 0.25),
    "unclosed tag": ("48 + 24 = 72 <answer>72", 0.0, 0.0, 0.125, 0.0),
    "empty": ("", 0.0, 0.0, 0.0, 0.0),
    "not an integer": ("half of it <answer>72.5</answer>", 0.0, 0.5, 0.5, 0.0),
    "unicode minus": ("so <answer>−72</answer>", 0.0, 0.5, 0.5, 0.25),
    "huge number": ("so <answer>" + "9" * 80 + "</answer>", 0.0, 0.5, 0.5, 0.25),
    "multi-line reasoning": ("Step 1\nStep 2\n\nStep 3\n<answer>\n72\n</answer>\n", 2.0, 0.5, 0.5, 0.25),
}


def as_message(text):
    return [{"role": "assistant", "content": text}]


@pytest.mark.parametrize("shape", ["text", "conversational"])
def test_each_reward_on_tricky_completions(shape):
    names = list(CASES)
    completions = [CASES[n][0] if shape == "text" else as_message(CASES[n][0]) for n in names]
    prompts = ["How many clips?"] * len(names)
    truth = ["72"] * len(names)
    for column, func in enumerate(
        [correctness_reward, strict_format_reward, soft_format_reward, integer_answer_reward], 1
    ):
        scores = func(prompts=prompts, completions=completions, ground_truth=truth, completion_ids=None)
        expected = [CASES[n][column] for n in names]
        assert scores == expected, (
            func.__name__,
            [(n, s, e) for n, s, e in zip(names, scores, expected, strict=True) if s != e],
        )


def test_negative_ground_truth_with_unicode_minus():
    assert correctness_reward([""], ["<answer>−3</answer>"], ground_truth=["-3"]) == [2.0]


def test_completion_text_shapes_and_errors():
    assert completion_text("hi") == "hi"
    assert completion_text(as_message("hi")) == "hi"
    assert completion_text({"role": "assistant", "content": "hi"}) == "hi"
    assert completion_text([{"role": "assistant", "content": [{"type": "text", "text": "hi"}]}]) == "hi"
    with pytest.raises(TypeError, match="list of messages"):
        completion_text(42)
    with pytest.raises(TypeError, match="list of messages"):
        completion_text(["not a message"])


def test_correctness_needs_one_reference_per_completion():
    with pytest.raises(ValueError, match="one reference answer per completion"):
        correctness_reward(["p", "p"], [GOOD, GOOD], ground_truth=["72"])


def test_the_format_and_prompts_share_one_definition():
    assert format_answer(72) == "<answer>72</answer>"
    assert ANSWER_FORMAT.format(answer="N") in ANSWER_INSTRUCTION and ANSWER_INSTRUCTION in SYSTEM_PROMPT
    example = f"Some reasoning.\n{format_answer(7)}"
    assert strict_format_reward([""], [example]) == [0.5]


def test_reward_hacking_pays_less_than_being_right():
    funcs = tutorial_rewards(256)
    hack = "<answer>0</answer>"  # format only, no reasoning, wrong
    stuffed = "reasoning " + " ".join(format_answer(n) for n in range(100))  # every guess at once
    right = score_completion(GOOD, "72", funcs)
    for gamed in (hack, stuffed):
        scores = score_completion(gamed, "72", funcs)
        assert scores["correctness_reward"] == 0.0
        assert sum(scores.values()) < sum(right.values()) / 2


def test_partial_credit_separates_a_group_of_early_completions():
    # what a 135M model writes before training: no tags, sometimes a number at the end
    group = ["I am not sure.", "The total is 72", "The answer is 71.", "answer: <answer>", "It's 72 </answer>", "hmm"]
    totals = [sum(score_completion(c, "72", tutorial_rewards(256)).values()) for c in group]
    assert len(set(totals)) > 2  # the group's reward std is not zero: GRPO has something to learn


def test_overlong_penalty():
    penalty = make_overlong_penalty(100, soft_cache=20)
    assert penalty.__name__ == "overlong_penalty"
    ids = [[0] * 10, [0] * 80, [0] * 90, [0] * 100, [0] * 150]
    assert penalty(None, ["x"] * 5, completion_ids=ids) == [0.0, 0.0, -0.25, -0.5, -0.5]
    assert penalty(None, ["x" * 400]) == [-0.5]  # no ids: 4 characters per token
    with pytest.raises(ValueError, match="max_completion_length"):
        make_overlong_penalty(0)
    with pytest.raises(ValueError, match="soft_cache"):
        make_overlong_penalty(100, soft_cache=200)


def test_names_read_well_in_trl_logs():
    names = [f.__name__ for f in tutorial_rewards(128)]
    assert names == [
        "correctness_reward",
        "strict_format_reward",
        "soft_format_reward",
        "integer_answer_reward",
        "overlong_penalty",
    ]


# ---- the guard --------------------------------------------------------------------------------
def dataset(rows=None, conversational=True):
    from datasets import Dataset

    prompt = [{"role": "user", "content": "What is 70 + 2?"}] if conversational else "What is 70 + 2?"
    return Dataset.from_list(
        rows or [{"prompt": prompt, "ground_truth": "72"}, {"prompt": prompt, "ground_truth": "5"}]
    )


@pytest.mark.parametrize("conversational", [True, False])
def test_guard_passes_the_tutorial_rewards(conversational):
    assert check_reward_functions(tutorial_rewards(64), dataset(conversational=conversational)) == []


def test_sample_completions_follow_the_prompt_shape():
    assert isinstance(sample_completions("q", "1")[0], str)
    assert sample_completions([{"role": "user", "content": "q"}], "1")[0][0]["role"] == "assistant"


def test_guard_reports_every_problem_by_name_with_the_input():
    def needs_answer_column(prompts, completions, answer, **kwargs):
        return [0.0] * len(completions)

    def no_kwargs(prompts, completions):
        return [0.0] * len(completions)

    def crashes_on_empty(prompts, completions, **kwargs):
        return [1.0 / len(completion_text(c)) for c in completions]

    def too_few(prompts, completions, **kwargs):
        return [0.0]

    def returns_text(prompts, completions, **kwargs):
        return ["good"] * len(completions)

    def returns_nan(prompts, completions, **kwargs):
        return [math.nan] * len(completions)

    funcs = [needs_answer_column, no_kwargs, crashes_on_empty, too_few, returns_text, returns_nan, correctness_reward]
    with pytest.raises(RewardFunctionError) as error:
        check_reward_functions(funcs, dataset())
    message = str(error.value)
    assert "6 problem(s)" in message
    assert "needs_answer_column: needs the dataset column(s) ['answer']" in message and "rename_column" in message
    assert "no_kwargs: raised TypeError" in message and "unexpected keyword argument" in message
    assert "Add **kwargs" in message
    assert "crashes_on_empty: raised ZeroDivisionError" in message and "'content': ''" in message
    assert "too_few: returned 1 rewards for 8 completions" in message
    assert "returns_text: returned 'good', a str, not a number" in message
    assert "returns_nan: returned nan" in message
    assert "correctness_reward" not in message
    problems = check_reward_functions(funcs, dataset(), raise_on_error=False)
    assert len(problems) == 6


def test_guard_needs_a_prompt_column_and_reports_a_missing_ground_truth():
    from datasets import Dataset

    with pytest.raises(RewardFunctionError, match="no 'prompt' column.*rename_column"):
        check_reward_functions([correctness_reward], Dataset.from_list([{"question": "q", "answer": "1"}]))
    no_truth = Dataset.from_list([{"prompt": "q", "answer": "1"}])
    with pytest.raises(
        RewardFunctionError, match=r"correctness_reward: needs the dataset column\(s\) \['ground_truth'\]"
    ):
        check_reward_functions([correctness_reward], no_truth)


def test_guard_names_the_fix_for_chat_completions_and_bad_results():
    def breaks_on_chat(prompts, completions, **kwargs):  # assumes strings
        return [1.0 if c.endswith("</answer>") else 0.0 for c in completions]

    def one_number(prompts, completions, **kwargs):
        return 1.0

    def returns_none(prompts, completions, **kwargs):
        return [None] * len(completions)

    problems = check_reward_functions([breaks_on_chat, one_number, returns_none], dataset(), raise_on_error=False)
    assert len(problems) == 3
    assert "breaks_on_chat: raised AttributeError" in problems[0] and "completion_text(completion)" in problems[0]
    assert "one_number: returned 1.0 for 8 completions" in problems[1] and "one float per completion" in problems[1]
    assert "returns_none: returned None" in problems[2] and "return 0.0" in problems[2]
    assert check_reward_functions([breaks_on_chat], dataset(conversational=False)) == []  # strings: fine
    # models are skipped
    assert check_reward_functions(["some/reward-model-id", *tutorial_rewards(64)], dataset()) == []


def test_guard_accepts_numpy_and_given_completions():
    import numpy as np

    def numpy_scores(prompts, completions, **kwargs):
        return np.zeros(len(completions), dtype=np.float32)

    assert check_reward_functions(numpy_scores, dataset(), completions=[as_message("x"), as_message("y")]) == []


# ---- the playground ---------------------------------------------------------------------------
def test_playground_updates_when_the_text_changes(monkeypatch):
    from grpo_helpers.widgets import reward_playground

    play = reward_playground(
        tutorial_rewards(256), examples={"right": GOOD, "wrong": "<answer>1</answer>"}, ground_truth="72"
    )
    assert play.extracted == "72" and play.scores["correctness_reward"] == 2.0
    assert "matches" in play.table.value
    play.text.value = "I think the answer is 72."
    assert play.extracted == "72" and play.scores["correctness_reward"] == 1.0
    assert "+1.000" in play.table.value
    play.picker.value = "wrong"
    assert play.text.value == "<answer>1</answer>" and play.scores["correctness_reward"] == 0.0
    assert "does not match" in play.table.value
    play.reference.value = "1"
    assert play.scores["correctness_reward"] == 2.0
    assert play.total == pytest.approx(sum(play.scores.values()))
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *objects, **kwargs: shown.extend(objects))
    play._ipython_display_()
    assert shown == [play.box]


def test_playground_survives_a_broken_reward():
    from grpo_helpers.widgets import reward_playground

    def broken(prompts, completions, **kwargs):
        raise RuntimeError("oops")

    play = reward_playground([broken], ground_truth="1")
    play.text.value = "anything"
    assert "raised RuntimeError" in play.table.value
    with pytest.raises(ValueError, match="at least one reward function"):
        reward_playground([])
