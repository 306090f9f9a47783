"""Answer extraction and matching: real GSM8K solutions, common formats, adversarial completions."""

import json
import re

import pytest

from grpo_helpers.answers import (
    answers_match,
    extract_all_answers,
    extract_answer,
    extract_gsm8k_answer,
    normalize_answer,
    parse_number,
)
from grpo_helpers.gsm8k import BUNDLED_DIR


@pytest.mark.parametrize("split", ["train", "test"])
def test_every_bundled_gsm8k_solution(split):
    rows = [json.loads(line) for line in (BUNDLED_DIR / f"{split}.jsonl").read_text().splitlines()]
    assert len(rows) == {"train": 7473, "test": 1319}[split]
    for row in rows:
        after_hashes = row["answer"].split("####")[-1].strip()
        expected = after_hashes.replace(",", "")  # GSM8K answers are integers, some with thousands separators
        got = extract_gsm8k_answer(row["answer"])
        assert got == expected, (row["answer"][-60:], got)
        assert re.fullmatch(r"-?\d+", got)
        # the same answer, written by a model in the tutorial's format, is found and matches
        assert answers_match(extract_answer(f"Working...\n<answer>{after_hashes}</answer>"), got)


def test_gsm8k_solution_errors_say_what_to_pass():
    with pytest.raises(ValueError, match="no '####' line"):
        extract_gsm8k_answer("She has 3 apples.")
    with pytest.raises(ValueError, match="empty"):
        extract_gsm8k_answer("blah ####   ")
    with pytest.raises(TypeError, match="a str"):
        extract_gsm8k_answer(42)


def test_normalisation():
    assert extract_gsm8k_answer("x\n#### $1,000.00") == "1000"
    assert extract_gsm8k_answer("x\n#### 18.0") == "18"
    assert extract_gsm8k_answer("x\n#### −3") == "-3"
    assert normalize_answer("0.50") == "0.5"
    assert normalize_answer("2/6") == "1/3"
    assert normalize_answer("1,234.5600") == "1234.56" and normalize_answer("-0.125") == "-0.125"
    assert normalize_answer("3/8") == "0.375"  # a finite decimal is written as one
    assert normalize_answer(None) is None
    assert normalize_answer("seven") == "seven"


@pytest.mark.parametrize(
    "completion, expected",
    [
        ("So 6 + 12 = 18.\n<answer>18</answer>", "18"),
        ("<answer> 18 </answer>", "18"),
        ("<ANSWER>18</ANSWER>", "18"),
        ("<answer>\n18\n</answer>", "18"),
        ("He earns 18 dollars.\n#### 18", "18"),
        ("####18", "18"),
        ("Thus $x = \\boxed{18}$.", "18"),
        ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("The answer is 18.", "18"),
        ("the final answer is: $1,000.", "$1,000"),
        ("Final answer: −3", "−3"),
        ("Answer = 2/3", "2/3"),
        ("No marker here, just 18.", None),
        ("", None),
        ("<answer></answer>", None),
        ("<answer>18", None),  # an unclosed tag is not an answer
        ("The answer is <answer>18</answer>", "18"),
        ("The answer is 12 and <answer>13</answer>", "13"),  # the tutorial's tags beat a phrase
        ("#### 5\nThe answer is 6", "5"),  # '####' beats a phrase
        ("\\boxed{4} then #### 5", "5"),  # '####' beats boxed
        ("<answer>1</answer> no wait <answer>2</answer>", "2"),  # within a format, the last wins
        ("<answer>" + "9" * 60 + "</answer>", "9" * 60),
    ],
)
def test_extract_answer(completion, expected):
    assert extract_answer(completion) == expected


def test_extract_all_answers_lists_every_marker_in_precedence_order():
    text = "The answer is 7. \\boxed{8} #### 9 <answer>10</answer>"
    assert extract_all_answers(text) == [("answer_tag", "10"), ("hashes", "9"), ("boxed", "8"), ("phrase", "7")]
    assert extract_all_answers(None) == []
    with pytest.raises(TypeError, match="completion_text"):
        extract_all_answers([{"role": "assistant", "content": "x"}])


@pytest.mark.parametrize(
    "a, b",
    [
        ("18", "18.0"),
        ("18", "$18"),
        ("18", "18.00"),
        ("$18.00", "18"),
        ("1,000", "1000"),
        ("-3", "−3"),
        ("0.5", "1/2"),
        ("18.", "18"),
        ("1,234,567", "1234567"),
        ("12345678901234567890", "12345678901234567890"),
        ("\\frac{1}{2}", "0.5"),
        ("42 apples", "42"),
        ("x = 5", "5"),
        ("- 3", "-3"),
        (".5", "0.5"),
    ],
)
def test_equal_answers_match_both_ways(a, b):
    assert answers_match(a, b) and answers_match(b, a)


@pytest.mark.parametrize(
    "a, b",
    [
        ("18", "19"),
        ("-3", "3"),
        ("1,000", "100"),
        ("0.333", "1/3"),
        ("12345678901234567891", "12345678901234567890"),
        (None, "18"),
        ("", "0"),
        ("   ", "0"),
        ("eighteen", "18"),
        ("18", None),
        ("1/0", "1"),
        ("x" * 400, "1"),
    ],
)
def test_different_answers_do_not_match(a, b):
    assert not answers_match(a, b)


def test_the_hand_parser_is_exact_and_strict():
    assert parse_number("$1,000.50") * 2 == 2001
    assert parse_number("−3") == -3
    assert parse_number("42 apples") is None  # left to math-verify
    assert parse_number("5%") is None
    assert parse_number("1,00") is None  # not a thousands separator


def test_math_verify_path_and_its_known_differences():
    # where the hand parser does not apply, math-verify decides
    assert parse_number("\\frac{3}{4}") is None and parse_number("5%") is None
    assert answers_match("\\frac{3}{4}", "0.75")
    assert answers_match("5%", "0.05")  # math-verify knows percentages
    # math-verify alone does not read a unicode minus; answers_match cleans it first
    from math_verify import parse

    assert parse("−3") == []
    assert answers_match("−3", "-3")
    # "1,000" is parsed by math-verify as 1000, but "3,5" as the decimal 3.5 (European comma)
    assert answers_match("3,5", "3.5") and not answers_match("3,5", "35")


def test_percent_is_left_to_math_verify_which_is_lenient():
    assert answers_match("5%", "0.05")
    assert answers_match("5%", "5")  # math-verify accepts both readings of a percentage
