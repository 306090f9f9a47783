"""GSM8K preparation: the GRPO columns, the chat prompt, token lengths and the long-prompt filter."""

import pytest

from grpo_helpers.gsm8k import (
    WORKED_EXAMPLE,
    filter_long_prompts,
    format_chat,
    format_grpo,
    length_stats,
    prepare_gsm8k,
    prompt_token_lengths,
)
from grpo_helpers.rewards import SYSTEM_PROMPT, check_reward_functions, strict_format_reward, tutorial_rewards

ROW = {"question": "Tom has 1,200 marbles and buys 3 more. How many?", "answer": "1200 + 3 = 1203\n#### 1,203"}


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from grpo_helpers.models import DEFAULT_MODEL, resolve_model

    return AutoTokenizer.from_pretrained(resolve_model(DEFAULT_MODEL))


def test_format_grpo_is_the_seeds_shape():
    assert format_grpo(ROW) == {"prompt": ROW["question"], "ground_truth": "1203"}


def test_format_chat_states_the_answer_format_and_shows_it_once():
    row = format_chat(ROW)
    assert row["ground_truth"] == "1203"
    example_question, example_answer = WORKED_EXAMPLE
    assert row["prompt"] == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": example_question},
        {"role": "assistant", "content": example_answer},
        {"role": "user", "content": ROW["question"]},
    ]
    assert "<answer>" in row["prompt"][0]["content"]
    # The example answers in exactly the format the strict format reward pays for.
    assert strict_format_reward([[{"role": "user", "content": "q"}]], [example_answer]) == [0.5]
    assert format_chat(ROW, system_prompt="Be brief.")["prompt"][0]["content"] == "Be brief."
    assert format_chat(ROW, worked_example=None)["prompt"] == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": ROW["question"]},
    ]
    for bad in ("just one string", ("q", ""), ("q", "a", "extra")):
        with pytest.raises(ValueError, match="worked_example must be a \\(question, answer\\) pair"):
            format_chat(ROW, worked_example=bad)


def test_rows_without_gsm8k_columns_get_a_clear_error():
    with pytest.raises(KeyError, match="lacks \\['answer'\\].*load_gsm8k"):
        format_grpo({"question": "q"})


def test_prepare_gsm8k_columns_and_guard():
    chat = prepare_gsm8k("train", n=6, source="bundled")
    assert chat.column_names == ["prompt", "ground_truth"] and len(chat) == 6
    assert [m["role"] for m in chat[0]["prompt"]] == ["system", "user", "assistant", "user"]
    assert len(prepare_gsm8k("train", n=2, source="bundled", worked_example=None)[0]["prompt"]) == 2
    plain = prepare_gsm8k("test", chat=False, n=3, source="bundled")
    assert isinstance(plain[0]["prompt"], str)
    # seed fixes the sample
    assert prepare_gsm8k("train", n=6, source="bundled")["ground_truth"] == chat["ground_truth"]
    for ds in (chat, plain):
        assert check_reward_functions(tutorial_rewards(128), ds) == []


def test_prepare_gsm8k_errors():
    with pytest.raises(ValueError, match="pass tokenizer="):
        prepare_gsm8k(max_prompt_length=100, source="bundled")
    with pytest.raises(ValueError, match="positive number of rows"):
        prepare_gsm8k(n=0, source="bundled")


def test_token_lengths_include_the_chat_template(tokenizer):
    chat = prepare_gsm8k("train", n=4, source="bundled")
    plain = prepare_gsm8k("train", chat=False, n=4, source="bundled")
    chat_lengths, plain_lengths = prompt_token_lengths(chat, tokenizer), prompt_token_lengths(plain, tokenizer)
    system_tokens = len(tokenizer(SYSTEM_PROMPT)["input_ids"])
    assert all(c > p + system_tokens for c, p in zip(chat_lengths, plain_lengths, strict=True))
    # the count GRPOTrainer's generation sees: the template, tokenized with no extra special tokens
    rendered = tokenizer.apply_chat_template(chat[0]["prompt"], add_generation_prompt=True, tokenize=False)
    assert chat_lengths[0] == len(tokenizer(rendered, add_special_tokens=False)["input_ids"])
    assert chat_lengths[0] == len(
        tokenizer.apply_chat_template(chat[0]["prompt"], add_generation_prompt=True, tokenize=True, return_dict=True)[
            "input_ids"
        ]
    )
    assert plain_lengths[0] == len(tokenizer(plain[0]["prompt"])["input_ids"])


def test_length_stats():
    stats = length_stats([5, 1, 3, 2, 4])
    assert stats == {"count": 5, "min": 1, "mean": 3.0, "median": 3, "p95": 5, "p99": 5, "max": 5}
    with pytest.raises(ValueError, match="empty"):
        length_stats([])


def test_filter_long_prompts(tokenizer, capsys):
    chat = prepare_gsm8k("train", n=20, source="bundled")
    lengths = sorted(prompt_token_lengths(chat, tokenizer))
    limit = lengths[10]
    kept, removed = filter_long_prompts(chat, tokenizer, limit)
    assert removed == sum(n > limit for n in lengths) and len(kept) == 20 - removed
    assert max(prompt_token_lengths(kept, tokenizer)) <= limit
    prepared = prepare_gsm8k("train", n=20, source="bundled", tokenizer=tokenizer, max_prompt_length=limit)
    assert len(prepared) == len(kept) and f"dropped {removed}" in capsys.readouterr().out
    with pytest.raises(ValueError, match="Every prompt is longer"):
        filter_long_prompts(chat, tokenizer, 5)
    with pytest.raises(ValueError, match="positive number of tokens"):
        filter_long_prompts(chat, tokenizer, -1)
