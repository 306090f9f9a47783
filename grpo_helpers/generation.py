"""Chat with a model: the few lines notebook 01 teaches, as one function for later notebooks."""

from __future__ import annotations


def chat_generate(model, tokenizer, messages, max_new_tokens: int = 128, do_sample: bool = False, **generate_kwargs):
    """Reply to ``messages`` (a chat list of ``{"role", "content"}`` dicts, or one user string).

    Several conversations (a list of chat lists) are generated as one left-padded batch and get a
    list of replies. Greedy by default, so the same model gives the same reply.
    """
    import torch

    batch = isinstance(messages, list) and messages and isinstance(messages[0], list)
    chats = messages if batch else [messages]
    chats = [[{"role": "user", "content": c}] if isinstance(c, str) else c for c in chats]
    texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats]
    # Pad on the left, so every prompt ends where generation starts (Unsloth's for_training()
    # switches the tokenizer to right padding; this call leaves the setting as it found it).
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    try:
        inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    finally:
        tokenizer.padding_side = side
    with torch.no_grad():
        output = model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=do_sample,
            pad_token_id=tokenizer.pad_token_id,
            **generate_kwargs,
        )
    new_tokens = output[:, inputs["input_ids"].shape[1] :]
    replies = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    return replies if batch else replies[0]
