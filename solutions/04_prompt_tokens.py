"""Notebook 04's exercise, solved: ``prompt_tokens``, the length in tokens of one prompt as GRPOTrainer
generates from it (what ``grpo_helpers.gsm8k.prompt_token_lengths`` counts for a whole dataset)."""


def prompt_tokens(prompt, tokenizer) -> int:
    """Chat prompts (a list of messages): the chat template applied with the generation prompt (the start of
    the assistant's turn) added, tokenized without adding special tokens again (the template holds them).
    Plain-text prompts: the tokenizer's defaults."""
    if isinstance(prompt, list):
        text = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])
    return len(tokenizer(prompt)["input_ids"])
