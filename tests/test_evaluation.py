"""GSM8K evaluation: batched chat generation, a fixed subset, deterministic greedy answers, right scoring,
and the changed examples."""

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

import grpo_helpers.evaluation
from grpo_helpers.answers import extract_gsm8k_answer
from grpo_helpers.evaluation import changed_examples, chat_generate, compare_results, evaluate_gsm8k, gsm8k_subset
from grpo_helpers.gsm8k import load_gsm8k, training_prompt
from grpo_helpers.rewards import SYSTEM_PROMPT
from tiny_model import tiny_lora_model


@pytest.fixture(scope="module")
def test_split():
    return load_gsm8k("test", source="bundled")


@pytest.fixture(scope="module")
def tiny(tiny_dir):
    return tiny_lora_model(tiny_dir)


def test_the_subset_is_fixed_by_the_seed(test_split):
    first = gsm8k_subset(5, seed=3, dataset=test_split)
    assert first["id"] == gsm8k_subset(5, seed=3, dataset=test_split)["id"]
    assert first["id"] != gsm8k_subset(5, seed=4, dataset=test_split)["id"]
    assert first["question"] == [test_split[i]["question"] for i in first["id"]]
    with pytest.raises(ValueError, match="between 1 and 1319"):
        gsm8k_subset(5000, dataset=test_split)


def test_the_prompt_is_the_training_prompt(test_split):
    from grpo_helpers.gsm8k import format_chat

    row = test_split[0]
    assert training_prompt(row["question"]) == format_chat(row)["prompt"]
    assert training_prompt("Q?")[0] == {"role": "system", "content": SYSTEM_PROMPT}


def test_evaluation_on_cpu_is_deterministic_and_sees_the_adapter(tiny, test_split):
    model, tokenizer = tiny
    settings = dict(n_examples=6, seed=1, batch_size=4, max_new_tokens=8, dataset=test_split, progress=False)
    first = evaluate_gsm8k(model, tokenizer, label="a", **settings)
    second = evaluate_gsm8k(model, tokenizer, label="b", **settings)
    assert first.table.equals(second.table)
    with model.disable_adapter():
        base = evaluate_gsm8k(model, tokenizer, label="base", **settings)
    assert list(base.table["completion"]) != list(first.table["completion"])
    model.train()
    evaluate_gsm8k(model, tokenizer, **settings)
    assert model.training  # evaluation switched to eval mode and back
    model.eval()


def scripted_model(answers_by_question):
    """Stands in for chat_generate: answers each question with the given text."""

    def generate(model, tokenizer, chats, max_new_tokens=128, **kwargs):
        return [answers_by_question[chat[-1]["content"]] for chat in chats]

    return generate


def test_scoring_accuracy_format_and_changes(test_split, monkeypatch):
    rows = gsm8k_subset(4, seed=0, dataset=test_split)
    q, ref = list(rows["question"]), [extract_gsm8k_answer(a) for a in rows["answer"]]
    before = {
        q[0]: f"Reasoning. <answer>{ref[0]}</answer>",  # right, formatted
        q[1]: f"The answer is {ref[1]}",  # right, not formatted
        q[2]: "I do not know.",  # no answer
        q[3]: "Reasoning. <answer>-1</answer>",  # wrong, formatted
    }
    after = {**before, q[1]: "Reasoning. <answer>-7</answer>", q[2]: f"So: <answer>{ref[2]}</answer>"}

    class Model:  # only what evaluate_gsm8k touches besides generation
        training = False

        def eval(self):
            pass

    settings = dict(n_examples=4, seed=0, dataset=test_split, progress=False)
    monkeypatch.setattr(grpo_helpers.evaluation, "chat_generate", scripted_model(before))
    first = evaluate_gsm8k(Model(), None, label="before", **settings)
    assert list(first.table["correct"]) == [True, True, False, False]
    assert list(first.table["formatted"]) == [True, False, False, True]
    assert first.table["predicted"][2] is None
    assert (first.accuracy, first.format_rate) == (0.5, 0.5)

    monkeypatch.setattr(grpo_helpers.evaluation, "chat_generate", scripted_model(after))
    second = evaluate_gsm8k(Model(), None, label="after", **settings)
    changes = changed_examples(first, second)
    assert list(changes["change"]) == ["wrong -> right", "right -> wrong"]
    assert list(changes["question"]) == [q[2], q[1]]
    assert list(changes["answer_after"]) == [ref[2], "-7"]
    table = compare_results(first, second)
    assert list(table.index) == ["before", "after"] and list(table["accuracy"]) == [0.5, 0.5]

    other = evaluate_gsm8k(Model(), None, label="other", **{**settings, "n_examples": 3})
    with pytest.raises(ValueError, match="same n_examples, seed and split"):
        changed_examples(first, other)


def test_bad_settings_say_what_to_change(tiny, test_split):
    model, tokenizer = tiny
    with pytest.raises(ValueError, match="batch_size must be a positive"):
        evaluate_gsm8k(model, tokenizer, n_examples=2, batch_size=0, dataset=test_split)
    with pytest.raises(ValueError, match="'question' and 'answer'"):
        gsm8k_subset(2, dataset=test_split.rename_column("answer", "solution"))


def test_batched_generation_pads_left_and_restores_the_setting(tiny_dir):
    model, tokenizer = AutoModelForCausalLM.from_pretrained(tiny_dir), AutoTokenizer.from_pretrained(tiny_dir)
    tokenizer.padding_side = "right"  # what Unsloth's for_training() leaves behind
    chats = [[{"role": "user", "content": "Hi"}], [{"role": "user", "content": "A much longer question " * 5}]]
    batch = chat_generate(model, tokenizer, chats, max_new_tokens=6)
    alone = [chat_generate(model, tokenizer, chat, max_new_tokens=6) for chat in chats]
    assert batch == alone  # right padding would put pad tokens between a short prompt and its reply
    assert tokenizer.padding_side == "right"
    assert chat_generate(model, tokenizer, "Hi", max_new_tokens=6) == alone[0]  # a plain string is one user turn


def test_generation_runs_in_eval_mode_and_leaves_the_model_in_the_mode_it_found(tiny_dir):
    model, tokenizer = AutoModelForCausalLM.from_pretrained(tiny_dir), AutoTokenizer.from_pretrained(tiny_dir)
    seen, generate = [], model.generate

    def recording_generate(**kwargs):
        seen.append(model.training)
        return generate(**kwargs)

    model.generate = recording_generate
    model.train()  # as a trainer leaves it (with gradient checkpointing, train mode turns the KV cache off)
    chat_generate(model, tokenizer, "Hi", max_new_tokens=2)
    assert seen == [False] and model.training
    model.eval()
    chat_generate(model, tokenizer, "Hi", max_new_tokens=2)
    assert seen == [False, False] and not model.training
