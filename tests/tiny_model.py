"""A tiny random-init Llama with the tutorial model's real tokenizer: cheap enough to train on a CPU in tests."""
import importlib.util
from pathlib import Path

import pytest

# TRL 1.15.0 (the GPU environment, with Unsloth) cannot run GRPOTrainer on a CPU, and Unsloth, once
# imported in a test process, patches the trainer for GPU models: the tests that train the tiny CPU
# model run in the CPU environment (`make test`), and are skipped by the GPU check.
cpu_trainer = pytest.mark.skipif(
    importlib.util.find_spec("unsloth") is not None,
    reason="trains the tiny model with GRPOTrainer on the CPU: the CPU environment's TRL 1.16 (make test) does that",
)


def save_tiny_model(folder: Path, seed: int = 0) -> Path:
    """Write a 2-layer, 64-wide Llama and SmolLM2's tokenizer to ``folder``; returns it."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from grpo_helpers.models import DEFAULT_MODEL, resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(DEFAULT_MODEL))
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        initializer_range=0.3,  # large random weights: varied greedy outputs, so comparisons can fail
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def randomize_lora(model, seed: int = 1, scale: float = 0.5) -> None:
    """LoRA's B matrices start at zero (the adapter changes nothing); give them values so that it does."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * scale)


def tiny_lora_model(model_dir: Path):
    """The tiny model (saved in ``model_dir``, the ``tiny_dir`` fixture) with a rank-4 adapter whose
    random weights change its replies (as training would). float32 on every CPU, also one with bfloat16
    instructions (load_model's default there): the tests compare replies and losses exactly."""
    import torch

    from grpo_helpers.models import add_lora, load_model

    model, tokenizer = load_model(str(model_dir), load_in_4bit=False, backend="transformers", dtype=torch.float32)
    model = add_lora(model, backend="transformers", r=4, use_gradient_checkpointing=False)
    randomize_lora(model)
    return model, tokenizer
