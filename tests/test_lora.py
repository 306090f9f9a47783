import pytest

from grpo_helpers.models import add_lora, count_parameters, DEFAULT_MODEL, load_model, LORA_TARGET_MODULES


@pytest.fixture
def model():
    return load_model(DEFAULT_MODEL, max_seq_length=256, load_in_4bit=False)[0]


def test_add_lora_trains_only_the_adapters(model):
    total_before = sum(p.numel() for p in model.parameters())
    peft_model = add_lora(model, r=8, lora_alpha=16)
    trainable, total = count_parameters(peft_model)
    linear = [m for n, m in peft_model.named_modules() if hasattr(m, "lora_A") and n.split(".")[-1] in LORA_TARGET_MODULES]
    assert len(linear) == 30 * 7  # every projection of every layer
    assert trainable == sum(8 * (m.in_features + m.out_features) for m in linear)
    assert total == total_before + trainable
    assert all("lora_" in n for n, p in peft_model.named_parameters() if p.requires_grad)
    assert peft_model.peft_config["default"].lora_alpha == 16


@pytest.mark.parametrize(
    "kwargs, message",
    [({"r": 0}, "r \\(the LoRA rank\\)"), ({"lora_alpha": -1}, "lora_alpha"), ({"lora_dropout": 1.5}, "lora_dropout"),
     ({"target_modules": ["q_proj", "c_attn"]}, "c_attn"), ({"use_gradient_checkpointing": "yes"}, "use_gradient_checkpointing")],
)
def test_bad_lora_arguments(model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        add_lora(model, **kwargs)


def test_cpu_default_keeps_generation_cached(model):
    """'unsloth' checkpointing on a CPU would force GRPO's sampling to run without its KV cache."""
    assert not add_lora(model, r=4).base_model.model.is_gradient_checkpointing


def test_explicit_checkpointing_is_honoured(model):
    assert add_lora(model, r=4, use_gradient_checkpointing=True).base_model.model.is_gradient_checkpointing
