from grpo_helpers.evaluation import chat_generate
from grpo_helpers.models import load_model


def test_batched_generation_pads_left_and_restores_the_setting(tiny_dir):
    model, tokenizer = load_model(str(tiny_dir), max_seq_length=256, load_in_4bit=False)
    tokenizer.padding_side = "right"  # what Unsloth's for_training() leaves behind
    chats = [[{"role": "user", "content": "Hi"}], [{"role": "user", "content": "A much longer question " * 5}]]
    batch = chat_generate(model, tokenizer, chats, max_new_tokens=6)
    alone = [chat_generate(model, tokenizer, chat, max_new_tokens=6) for chat in chats]
    assert batch == alone  # right padding would put pad tokens between a short prompt and its reply
    assert tokenizer.padding_side == "right"
