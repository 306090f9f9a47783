"""Random-initialised models of real architectures, for timing on a machine without the Hub, and
the tests' tiny model.

Random weights cost the same per step as trained ones, and a random model never stops early, so
every completion runs to ``max_completion_length``: the same number of generated tokens under
every backend, which is what a speed comparison needs. The tokenizer comes from a folder (the
offline SmolLM2 one works); the embedding is sized to that tokenizer's vocabulary.
"""

from __future__ import annotations

import json
from pathlib import Path

# Published configs of the tutorial's models (vocab_size comes from the tokenizer given).
SHAPES = {
    # SmolLM2-135M-Instruct: the offline default model.
    "smollm2-135m": {
        "model_type": "llama",
        "hidden_size": 576,
        "intermediate_size": 1536,
        "num_hidden_layers": 30,
        "num_attention_heads": 9,
        "num_key_value_heads": 3,
        "head_dim": 64,
        "tie_word_embeddings": True,
        "rms_norm_eps": 1e-5,
        "rope_theta": 100000.0,
        "max_position_embeddings": 8192,
    },
    # Qwen2.5-1.5B-Instruct: the tutorial's GPU model.
    "qwen2.5-1.5b": {
        "model_type": "qwen2",
        "hidden_size": 1536,
        "intermediate_size": 8960,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "tie_word_embeddings": True,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "max_position_embeddings": 32768,
    },
    # The tests' model (tests/conftest.py's tiny_dir), cheap to train on a CPU: large random weights
    # give varied greedy outputs, so comparisons can fail.
    "tiny": {
        "model_type": "llama",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 1024,
        "tie_word_embeddings": True,
        "initializer_range": 0.3,
    },
}


def make_random_model(shape: str, tokenizer_folder: str, out: str, seed: int = 0, dtype: str = "bfloat16") -> str:
    """Save a random-init model (weights in ``dtype``) with the tokenizer of ``tokenizer_folder`` in ``out``.

    ``shape`` is a name in ``SHAPES`` or a model folder: then its ``config.json`` is copied as it is, and its
    ``grpo_conversion.json`` marker too (noted as random-init), so that ``grpo_helpers.models.resolve_model``
    takes ``out`` as that model's offline copy (the GPU check's model: ``gpu_check/gpu_check.sh``)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from grpo_helpers.models import CONVERSION_FILE

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)
    source = Path(shape)
    from_folder = (source / "config.json").is_file()
    if from_folder:
        config = AutoConfig.from_pretrained(source)
    elif shape in SHAPES:
        settings = dict(SHAPES[shape])
        config = AutoConfig.for_model(
            settings.pop("model_type"),
            vocab_size=len(tokenizer),
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            **settings,
        )
    else:
        raise ValueError(f"shape={shape!r} is neither a model folder with a config.json nor one of {', '.join(SHAPES)}")
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype))
    if not from_folder:  # a folder's generation settings are its own
        model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if from_folder and (source / CONVERSION_FILE).is_file():
        marker = json.loads((source / CONVERSION_FILE).read_text())
        marker["random_init"] = f"{dtype} weights of this config (seed {seed}), made by benchmarks.random_model"
        (Path(out) / CONVERSION_FILE).write_text(json.dumps(marker) + "\n")
    n = sum(p.numel() for p in model.parameters())
    print(f"random-init {shape} ({config.model_type}, {dtype}): {n:,} parameters -> {out}")
    return out


def save_tiny_model(folder: Path, seed: int = 0) -> Path:
    """Write the ``tiny`` shape (a 2-layer, 64-wide Llama, float32) with SmolLM2's tokenizer to
    ``folder``; returns it."""
    from grpo_helpers.models import DEFAULT_MODEL, resolve_model

    return Path(make_random_model("tiny", resolve_model(DEFAULT_MODEL), str(folder), seed=seed, dtype="float32"))
