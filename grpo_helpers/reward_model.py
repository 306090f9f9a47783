"""A learned reward: score completions with any ``AutoModelForSequenceClassification`` model.

Verifiable rewards (``grpo_helpers.rewards``) check what can be checked. A reward model scores
what cannot (helpfulness, tone), at the price of a second network in memory and a score that a
policy can learn to game. TRL accepts a model id directly in ``reward_funcs``; wrapping it in a
function, as here, lets you scale it, batch it and combine it with the other rewards.
"""

from __future__ import annotations

# A small English reward model on the Hub (0.6B parameters); any sequence-classification id works.
EXAMPLE_REWARD_MODEL = "Skywork/Skywork-Reward-V2-Qwen3-0.6B"


class RewardModelUnavailable(RuntimeError):
    """The reward model cannot be loaded (not downloaded and no internet, or not a classifier)."""


def make_reward_model_reward(model_id: str, *, local_files_only: bool | None = None, batch_size: int = 8,
                             max_length: int = 1024, scale: float = 1.0, device: str | None = None):
    """Load ``model_id`` and return a TRL reward function that scores prompt + completion with it.

    The score is the model's first logit times ``scale``. Conversational prompts go through the
    reward model's chat template when it has one; plain text is joined otherwise.
    ``local_files_only`` defaults to True when the Hub cannot be reached, so that offline the
    call fails at once with ``RewardModelUnavailable`` instead of waiting on the network.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from grpo_helpers.default_model import hub_reachable
    from grpo_helpers.rewards import completion_text

    if local_files_only is None:
        local_files_only = not hub_reachable()
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_id, local_files_only=local_files_only)
        model = AutoModelForSequenceClassification.from_pretrained(model_id, local_files_only=local_files_only)
    except (OSError, ValueError) as error:
        where = "from this machine's cache (local_files_only=True)" if local_files_only else "from the Hub or a local folder"
        raise RewardModelUnavailable(
            f"Could not load the reward model {model_id!r} {where}: {type(error).__name__}: {str(error)[:200]}. "
            "Download it once with internet (huggingface-cli download <id>), pass a local folder, "
            "or train without a reward model."
        ) from error
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device).eval()

    def to_text(prompt, completion) -> str:
        if isinstance(prompt, list) and getattr(tokenizer, "chat_template", None):
            reply = completion if isinstance(completion, list) else [{"role": "assistant", "content": completion}]
            return tokenizer.apply_chat_template(list(prompt) + list(reply), tokenize=False)
        prompt_text = completion_text(prompt) if isinstance(prompt, list) else str(prompt)
        return prompt_text + "\n" + completion_text(completion)

    def reward_model_reward(prompts, completions, **kwargs) -> list[float]:
        texts = [to_text(p, c) for p, c in zip(prompts, completions)]
        scores = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = tokenizer(texts[start : start + batch_size], return_tensors="pt", padding=True,
                                  truncation=True, max_length=max_length).to(device)
                scores += (model(**batch).logits[:, 0].float() * scale).tolist()
        return scores

    short = model_id.rstrip("/").split("/")[-1].replace("-", "_").replace(".", "_")
    reward_model_reward.__name__ = f"reward_model_{short}"
    reward_model_reward.model, reward_model_reward.tokenizer = model, tokenizer
    return reward_model_reward
