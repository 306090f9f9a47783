"""Notebook 06's compiled generation: the settings reach the GenerationConfig GRPOTrainer passes to ``generate``.

TRL (1.15 and 1.16) builds that config with ``disable_compile=True``; transformers compiles a static
cache's decoding step only without it, so the notebook unsets it on the trainer's public
``generation_config`` (docs/benchmarks.md, *Why generation inside GRPOTrainer runs at eager speed*).
"""

import pytest

from benchmarks.common.notebook_cells import run_cell
from grpo_helpers.config import make_config
from grpo_helpers.environment import Hardware
from tiny_model import cpu_trainer, tiny_lora_model

pytestmark = cpu_trainer


def compiled_settings(cuda: bool, backend: str, max_seq_length: int = 256) -> dict:
    hardware = Hardware(device="cuda" if cuda else "cpu", platform="local", cpu_count=2, ram_gib=24.0, bf16=cuda)
    return run_cell(
        "06", "compiled-generation", {"hardware": hardware, "BACKEND": backend, "MAX_SEQ_LENGTH": max_seq_length}
    )


@pytest.mark.parametrize(
    ("cuda", "backend", "on"),
    [
        (True, "transformers", True),
        (True, "unsloth", False),
        (True, "bitsandbytes", False),
        (False, "transformers", False),
    ],
)
def test_compiled_generation_needs_a_gpu_16_bit_weights_and_no_unsloth(cuda, backend, on):
    assert compiled_settings(cuda, backend)["COMPILE_GENERATION"] is on


def test_the_trainer_generates_with_a_static_cache_that_can_compile(tiny_dir, tmp_path):
    from datasets import Dataset
    from trl import GRPOTrainer

    compiled = compiled_settings(True, "transformers", max_seq_length=256)["compiled"]
    config = make_config(
        "quick_cpu",
        output_dir=str(tmp_path),
        max_steps=1,
        num_generations=2,
        per_device_train_batch_size=2,
        max_completion_length=8,
        reward_weights=None,
        **compiled,
    )
    model, tokenizer = tiny_lora_model(tiny_dir)
    trainer = GRPOTrainer(
        model=model,
        args=config,
        processing_class=tokenizer,
        reward_funcs=[lambda completions, **_: [0.0] * len(completions)],
        train_dataset=Dataset.from_dict({"prompt": ["Say hi.", "Count."]}),
    )
    generation = trainer.generation_config
    assert generation.cache_implementation == "static" and generation.max_cache_len == 256
    assert generation.disable_compile is True, "TRL no longer disables compilation: notebook 06's line may be dropped"
    generation.disable_compile = False  # notebook 06's line after building the trainer
    generation.validate(strict=True)
    assert trainer.generation_config.disable_compile is False


def test_the_vllm_switch_says_how_to_install_vllm_without_replacing_torch():
    """Each vLLM release pins one torch; notebook 06's message pins the installed one, so pip keeps the platform's."""
    import torch

    cpu = Hardware(device="cpu", platform="colab", cpu_count=2, ram_gib=12.0)
    with pytest.raises(RuntimeError, match=rf'%pip install vllm "torch=={torch.__version__.split("+")[0]}"'):
        run_cell(
            "06",
            "load-model",
            {"hardware": cpu, "BACKEND": "transformers"},
            replace=[("USE_VLLM = False", "USE_VLLM = True")],
        )
