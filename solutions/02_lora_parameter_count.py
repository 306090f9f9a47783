"""Notebook 02's exercise, solved: ``lora_parameter_count``, the trainable parameters of LoRA adapters of rank
``r`` on ``target_modules``, predicted from the model's config alone (no model needed)."""


def lora_parameter_count(config, r: int, target_modules: list[str]) -> int:
    """r (d_in + d_out) for each adapted matrix, in every one of the config's layers. The attention shapes
    come from the heads: q_proj and o_proj are hidden x (heads x head_dim); k_proj and v_proj use the
    key/value heads (fewer with grouped-query attention); the MLP's matrices join hidden and intermediate."""
    hidden, intermediate, heads = config.hidden_size, config.intermediate_size, config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    d_in_plus_d_out = {
        "q_proj": hidden + heads * head_dim,
        "k_proj": hidden + kv_heads * head_dim,
        "v_proj": hidden + kv_heads * head_dim,
        "o_proj": heads * head_dim + hidden,
        "gate_proj": hidden + intermediate,
        "up_proj": hidden + intermediate,
        "down_proj": intermediate + hidden,
    }
    return config.num_hidden_layers * sum(r * d_in_plus_d_out[name] for name in target_modules)
