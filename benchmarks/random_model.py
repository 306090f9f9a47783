"""A random-initialised model of a real architecture, for timing on a machine without the Hub.

    python benchmarks/random_model.py qwen2.5-1.5b --tokenizer TOKENIZER_FOLDER --out /tmp/qwen-random

Random weights cost the same per step as trained ones, and a random model never stops early, so
every completion runs to ``max_completion_length``: the same number of generated tokens under
every backend, which is what a speed comparison needs. The tokenizer comes from a folder (the
offline SmolLM2 one works); the embedding is sized to that tokenizer's vocabulary.
"""

from __future__ import annotations

import argparse

# Published configs of the tutorial's models (vocab_size comes from the tokenizer given).
SHAPES = {
    # SmolLM2-135M-Instruct: the offline default model.
    "smollm2-135m": {
        "model_type": "llama", "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
        "num_attention_heads": 9, "num_key_value_heads": 3, "head_dim": 64, "tie_word_embeddings": True,
        "rms_norm_eps": 1e-5, "rope_theta": 100000.0, "max_position_embeddings": 8192,
    },
    # Qwen2.5-1.5B-Instruct: the tutorial's GPU model.
    "qwen2.5-1.5b": {
        "model_type": "qwen2", "hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28,
        "num_attention_heads": 12, "num_key_value_heads": 2, "tie_word_embeddings": True,
        "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "max_position_embeddings": 32768,
    },
}


def make_random_model(shape: str, tokenizer_folder: str, out: str, seed: int = 0) -> str:
    """Save a bf16 random-init model of ``shape`` with the tokenizer of ``tokenizer_folder`` in ``out``."""
    if shape not in SHAPES:
        raise ValueError(f"shape={shape!r} is not known: use one of {', '.join(SHAPES)}")
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)
    settings = dict(SHAPES[shape])
    model_type = settings.pop("model_type")
    config = AutoConfig.for_model(
        model_type, vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **settings,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    print(f"random-init {shape} ({model_type}): {sum(p.numel() for p in model.parameters()):,} parameters -> {out}")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("shape", choices=sorted(SHAPES))
    parser.add_argument("--tokenizer", required=True, help="a folder with tokenizer files (and a chat template)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    make_random_model(args.shape, args.tokenizer, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
