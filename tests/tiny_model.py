"""The tiny model in tests (the ``tiny_dir`` fixture: benchmarks.common.random_models.save_tiny_model): a LoRA copy
whose adapter changes its replies, and the mark of the tests that train it on the CPU."""

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
