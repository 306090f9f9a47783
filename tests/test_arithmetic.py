"""Problems at a small model's edge: the seeded word-problem generator and curriculum, and the
"can this run learn?" measures (pass@k, the zero-std share, the difficulty filter, the interval)."""

import random
import re
from fractions import Fraction

import pytest

import grpo_helpers.evaluation as evaluation
from grpo_helpers.answers import extract_gsm8k_answer
from grpo_helpers.arithmetic import curriculum, word_problem, word_problems
from grpo_helpers.evaluation import at_the_edge, learnability, pass_at_k, sample_correct, wilson_interval
from grpo_helpers.rewards import check_reward_functions, correctness_reward, format_answer, tutorial_rewards

CALCULATION = re.compile(r"<<(\d+)([-+*])(\d+)=(\d+)>>")


@pytest.mark.parametrize("steps", [1, 2])
def test_problems_are_deterministic_and_their_answers_exact(steps):
    rows = word_problems(200, steps, seed=7)
    # the same seed, the same problems
    assert list(rows["question"]) == list(word_problems(200, steps, seed=7)["question"])
    assert list(rows["question"]) != list(word_problems(200, steps, seed=8)["question"])
    ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}
    for row in rows:
        calculations = CALCULATION.findall(row["answer"])
        assert len(calculations) == steps, row
        for a, op, b, result in calculations:  # every step's arithmetic is right, and chains into the next
            assert ops[op](int(a), int(b)) == int(result) >= 0
        for (_, _, _, previous), (a, _, _, _) in zip(calculations, calculations[1:], strict=False):
            assert a == previous
        assert extract_gsm8k_answer(row["answer"]) == calculations[-1][3]
        numbers = [int(n) for n in re.findall(r"\d+", row["question"])]
        assert {int(calculations[0][0]), int(calculations[0][2])} <= set(numbers)  # the question holds its numbers


def test_bad_steps_and_sizes_say_what_to_change():
    with pytest.raises(ValueError, match="steps must be 1 or 2"):
        word_problem(random.Random(0), 3)
    with pytest.raises(ValueError, match="positive number of problems"):
        word_problems(0, 1)
    with pytest.raises(ValueError, match="curriculum is empty"):
        curriculum(0, 0, 0)


def test_curriculum_is_ordered_and_scored_by_the_tutorial_rewards():
    data = curriculum(3, 2, 2, seed=0)
    assert data.column_names == ["prompt", "ground_truth"] and len(data) == 7
    questions = [row["prompt"][-1]["content"] for row in data]
    assert questions[:3] == list(word_problems(3, 1, seed=0)["question"])  # one-step first
    assert questions[3:5] == list(word_problems(2, 2, seed=0)["question"])  # then two-step, then GSM8K
    generated = list(word_problems(50, 1, seed=0)["question"]) + list(word_problems(50, 2, seed=0)["question"])
    assert not any(q in generated for q in questions[5:])
    assert check_reward_functions(tutorial_rewards(48), data) == []
    right = [[{"role": "assistant", "content": "So.\n" + format_answer(data[0]["ground_truth"])}]]
    assert correctness_reward(None, right, [data[0]["ground_truth"]]) == [2.0]


def test_pass_at_k_is_the_unbiased_estimator():
    assert pass_at_k(8, 0, 8) == 0.0 and pass_at_k(8, 8, 1) == 1.0
    assert pass_at_k(8, 1, 8) == 1.0  # the one right sample is always among all 8
    assert pass_at_k(8, 1, 1) == pytest.approx(1 / 8)
    assert pass_at_k(8, 2, 4) == pytest.approx(1 - Fraction(15, 70))  # 1 - C(6,4)/C(8,4)
    assert pass_at_k(5, 3, 3) == 1.0  # fewer than 3 wrong: any 3 hold a right one
    with pytest.raises(ValueError, match="draw at least k samples"):
        pass_at_k(4, 1, 8)


def test_wilson_interval():
    low, high = wilson_interval(0, 64)
    assert low == 0.0 and 0.05 < high < 0.06  # 0 of 64: the rate can still be up to 5.7%
    low, high = wilson_interval(32, 64)
    assert low == pytest.approx(0.3810, abs=1e-4) and high == pytest.approx(0.6190, abs=1e-4)
    assert wilson_interval(64, 64)[1] == 1.0
    narrow, wide = wilson_interval(100, 500), wilson_interval(4, 20)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]  # more problems, a narrower interval
    with pytest.raises(ValueError, match="successes <= n"):
        wilson_interval(5, 4)


def test_learnability_and_the_filter():
    from datasets import Dataset

    counts = [0, 0, 2, 4, 1]
    numbers = learnability(counts, 4)
    assert numbers["pass@4"] == 3 / 5 and numbers["zero_std_share"] == 3 / 5
    assert numbers["pass@1"] == pytest.approx((0 + 0 + 0.5 + 1 + 0.25) / 5)
    rows = Dataset.from_dict({"prompt": list("abcde"), "ground_truth": ["1"] * 5})
    assert list(at_the_edge(rows, counts, 4)["prompt"]) == ["c", "e"]  # solved sometimes, not never, not always
    with pytest.raises(ValueError, match="none of 2 problems is at the model's edge.*easier problems"):
        at_the_edge(rows.select([0, 3]), [0, 4], 4)
    with pytest.raises(ValueError, match="one per row"):
        at_the_edge(rows, [1], 4)


def test_sample_correct_counts_with_the_training_reward(monkeypatch):
    from datasets import Dataset

    calls = []

    def fake_generate(model, tokenizer, chats, max_new_tokens, do_sample, temperature, num_return_sequences):
        calls.append((len(chats), do_sample, temperature, num_return_sequences))
        # the first prompt right twice of 3, the second never (one right answer in the wrong format scores 1.0)
        return [format_answer(7), format_answer(7), "no idea", format_answer(1), "The answer is 5", format_answer(2)]

    monkeypatch.setattr(evaluation, "chat_generate", fake_generate)
    rows = Dataset.from_dict({"prompt": ["p1", "p2"], "ground_truth": ["7", "4"]})
    assert sample_correct(None, None, rows, k=3, temperature=0.7, batch_size=2) == [2, 0]
    assert calls == [(2, True, 0.7, 3)]
    with pytest.raises(ValueError, match="'prompt' and 'ground_truth'"):
        sample_correct(None, None, Dataset.from_dict({"question": ["q"]}), k=2)


def test_the_benchmarks_count_groups_whose_correctness_ties():
    from benchmarks.common.learning_summary import correctness_numbers, tracked_rewards

    shares = []
    funcs = tracked_rewards(48, group_size=2, zero_std_shares=shares)
    assert [f.__name__ for f in funcs] == [f.__name__ for f in tutorial_rewards(48)]  # the same logged names
    completions = [format_answer(3), format_answer(3), format_answer(3), "no", "no", "no"]
    scores = funcs[0](None, completions, ["3", "3", "3", "3", "9", "9"])
    assert (
        scores
        == correctness_reward(None, completions, ["3", "3", "3", "3", "9", "9"])
        == [2.0, 2.0, 2.0, 0.0, 0.0, 0.0]
    )
    assert shares == [2 / 3]  # groups (2, 2) and (0, 0) tie; (2, 0) teaches
    rows = [{"rewards/correctness_reward/mean": v} for v in (0.0, 0.0, 0.5, 1.0)]
    numbers = correctness_numbers(rows, [1.0, 1.0, 0.5, 0.0])
    assert numbers["correctness_first_quarter"] == 0.0 and numbers["correctness_last_quarter"] == 1.0
    assert numbers["correctness_zero_std_share"] == 0.625
