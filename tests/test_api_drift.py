"""The keyword arguments the notebooks pass to TRL and Unsloth exist in the installed, pinned versions.

On the CPU environment this checks TRL 1.16.0; run on the GPU environment, it also checks
TRL 1.15.0 and Unsloth 2026.10.9.
"""

import inspect

import pytest

from notebook_calls import keyword_calls

OLD_NAMES = {"tokenizer": "processing_class", "reward_fn": "reward_funcs", "max_new_tokens": "max_completion_length"}


def accepted(func):
    params = inspect.signature(func).parameters
    return set(params), any(p.kind is p.VAR_KEYWORD for p in params.values())


def check_calls(suffix, func):
    names, _ = accepted(func)
    for notebook, keywords in keyword_calls(suffix):
        unknown = set(keywords) - names
        assert not unknown, (
            f"{notebook}: {suffix}({', '.join(sorted(unknown))}) does not exist in the installed version"
        )


def test_trl_names_the_notebooks_use():
    import dataclasses

    from trl import GRPOConfig, GRPOTrainer

    trainer_params, _ = accepted(GRPOTrainer.__init__)
    assert {"model", "reward_funcs", "args", "train_dataset", "processing_class"} <= trainer_params
    assert not {"tokenizer", "reward_fn", "resume_from_checkpoint"} & trainer_params
    fields = {f.name for f in dataclasses.fields(GRPOConfig)}
    assert {"num_generations", "max_completion_length", "temperature", "beta", "loss_type"} <= fields
    assert "max_new_tokens" not in fields
    from transformers import Trainer

    assert "resume_from_checkpoint" in accepted(Trainer.train)[0]  # GRPOTrainer.train is Trainer's
    check_calls("GRPOTrainer", GRPOTrainer.__init__)
    for notebook, keywords in keyword_calls("GRPOConfig"):
        unknown = set(keywords) - fields
        assert not unknown, f"{notebook}: GRPOConfig({', '.join(sorted(unknown))}) is not a field of the installed TRL"
        old = set(keywords) & set(OLD_NAMES)
        assert not old, f"{notebook}: use {[OLD_NAMES[o] for o in old]}"


def test_unsloth_names_the_notebooks_use():
    unsloth = pytest.importorskip("unsloth", reason="Unsloth is in the GPU environment only")
    check_calls("FastLanguageModel.from_pretrained", unsloth.FastLanguageModel.from_pretrained)
    check_calls("FastLanguageModel.get_peft_model", unsloth.FastLanguageModel.get_peft_model)
    # notebook 06's vLLM switch (USE_VLLM): Unsloth's loader starts vLLM itself
    assert {"fast_inference", "gpu_memory_utilization", "max_lora_rank"} <= accepted(
        unsloth.FastLanguageModel.from_pretrained
    )[0]


def test_generation_settings_the_notebooks_and_benchmarks_use():
    """Notebook 06's vLLM switch passes these through make_config(**overrides), where the call
    check above cannot see them; benchmarks/ measures the other two."""
    import dataclasses

    from trl import GRPOConfig

    fields = {f.name: f for f in dataclasses.fields(GRPOConfig)}
    assert {"use_vllm", "vllm_mode", "vllm_gpu_memory_utilization", "cache_implementation",
            "use_transformers_continuous_batching", "generation_kwargs"} <= set(fields)  # fmt: skip
    assert "colocate" in fields["vllm_mode"].metadata.get("help", "")


def test_peft_and_transformers_names_the_notebooks_use():
    import dataclasses

    from peft import LoraConfig
    from transformers import BitsAndBytesConfig, EarlyStoppingCallback, Trainer

    lora_fields = {f.name for f in dataclasses.fields(LoraConfig)}
    for notebook, keywords in keyword_calls("LoraConfig"):
        unknown = set(keywords) - lora_fields
        assert not unknown, f"{notebook}: LoraConfig({', '.join(sorted(unknown))}) is not a field of the installed PEFT"
    check_calls("BitsAndBytesConfig", BitsAndBytesConfig.__init__)
    check_calls("EarlyStoppingCallback", EarlyStoppingCallback.__init__)
    check_calls("trainer.train", Trainer.train)  # GRPOTrainer's own (Unsloth wraps it without its signature)


def test_unsloth_save_names_the_notebooks_use():
    pytest.importorskip("unsloth", reason="Unsloth is in the GPU environment only")
    from unsloth import save

    check_calls(".save_pretrained_merged", save.unsloth_generic_save_pretrained_merged)
    check_calls(".save_pretrained_gguf", save.unsloth_save_pretrained_gguf)
