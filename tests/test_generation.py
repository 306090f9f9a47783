from transformers import AutoModelForCausalLM, AutoTokenizer

from grpo_helpers.evaluation import chat_generate


def test_batched_generation_pads_left_and_restores_the_setting(tiny_dir):
    model, tokenizer = AutoModelForCausalLM.from_pretrained(tiny_dir), AutoTokenizer.from_pretrained(tiny_dir)
    tokenizer.padding_side = "right"  # what Unsloth's for_training() leaves behind
    chats = [[{"role": "user", "content": "Hi"}], [{"role": "user", "content": "A much longer question " * 5}]]
    batch = chat_generate(model, tokenizer, chats, max_new_tokens=6)
    alone = [chat_generate(model, tokenizer, chat, max_new_tokens=6) for chat in chats]
    assert batch == alone  # right padding would put pad tokens between a short prompt and its reply
    assert tokenizer.padding_side == "right"
    assert chat_generate(model, tokenizer, "Hi", max_new_tokens=6) == alone[0]  # a plain string is one user turn
