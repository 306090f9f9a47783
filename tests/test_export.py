"""Saving: adapter and merged model reload to the same greedy replies; the GPU-only formats say why they cannot run here."""
import pytest

from grpo_helpers.evaluation import chat_generate
from grpo_helpers.evaluation import (
    ExportUnavailable,
    check_reload,
    hub_token,
    load_adapter,
    push_to_hub,
    save_adapter,
    save_gguf,
    save_merged,
)
from tiny_model import tiny_lora_model

CHATS = [[{"role": "user", "content": p}] for p in ("What is 2 + 3?", "Name a colour.", "Say hi.")]


@pytest.fixture(scope="module")
def trained(tiny_dir):
    """A tiny model whose adapter changes its replies (as a trained one would)."""
    return tiny_lora_model(tiny_dir)


def test_the_adapter_changes_the_replies(trained):
    model, tokenizer = trained
    with model.disable_adapter():
        base = chat_generate(model, tokenizer, CHATS, max_new_tokens=12)
    assert base != chat_generate(model, tokenizer, CHATS, max_new_tokens=12)  # else the reload checks below prove little


def test_adapter_saves_as_safetensors_and_reloads_to_the_same_replies(trained, tmp_path):
    model, tokenizer = trained
    folder = save_adapter(model, tokenizer, tmp_path / "adapter")
    assert (folder / "adapter_model.safetensors").is_file() and (folder / "adapter_config.json").is_file()
    assert not list(folder.glob("*.bin")) and not list(tmp_path.glob("*.partial-*"))
    check = check_reload(model, tokenizer, folder, max_new_tokens=12)
    assert check.all_match, check.table


def test_load_adapter_gives_a_trainable_peft_model_that_answers_the_same(trained, tmp_path):
    model, tokenizer = trained
    folder = save_adapter(model, tokenizer, tmp_path / "adapter")
    loaded, loaded_tokenizer = load_adapter(folder, load_in_4bit=False, backend="transformers")
    assert chat_generate(loaded, loaded_tokenizer, CHATS, max_new_tokens=12) == chat_generate(model, tokenizer, CHATS, max_new_tokens=12)
    assert any(p.requires_grad for n, p in loaded.named_parameters() if "lora_" in n)
    with loaded.disable_adapter(), model.disable_adapter():
        assert chat_generate(loaded, loaded_tokenizer, CHATS, max_new_tokens=12) == chat_generate(model, tokenizer, CHATS, max_new_tokens=12)
    with pytest.raises(FileNotFoundError, match="no saved adapter"):
        load_adapter(tmp_path, backend="transformers")


def test_merged_model_reloads_to_the_same_replies_and_keeps_the_adapters_in_memory(trained, tmp_path):
    model, tokenizer = trained
    before = chat_generate(model, tokenizer, CHATS, max_new_tokens=12)
    folder = save_merged(model, tokenizer, tmp_path / "merged")
    assert (folder / "config.json").is_file() and list(folder.glob("*.safetensors"))
    assert not (folder / "adapter_config.json").exists()
    check = check_reload(model, tokenizer, folder, max_new_tokens=12)
    assert check.all_match, check.table
    assert chat_generate(model, tokenizer, CHATS, max_new_tokens=12) == before  # the in-memory model still has its adapter
    assert any("lora_" in name for name, _ in model.named_parameters())


def test_a_second_save_replaces_the_first_and_a_failed_one_keeps_it(trained, tmp_path):
    model, tokenizer = trained
    folder = save_adapter(model, tokenizer, tmp_path / "adapter")
    first = (folder / "adapter_model.safetensors").read_bytes()

    class Broken:
        def save_pretrained(self, path):
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        save_adapter(model, Broken(), tmp_path / "adapter")
    assert (folder / "adapter_model.safetensors").read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]


def test_gpu_only_formats_explain_what_to_do_instead(trained, tmp_path):
    model, tokenizer = trained
    with pytest.raises(ExportUnavailable, match="Unsloth"):
        save_merged(model, tokenizer, tmp_path / "m4", bits=4)
    with pytest.raises(ExportUnavailable, match="convert_hf_to_gguf"):
        save_gguf(model, tokenizer, tmp_path / "gguf")
    with pytest.raises(ValueError, match="bits must be 16"):
        save_merged(model, tokenizer, tmp_path / "m8", bits=8)
    assert not list(tmp_path.iterdir())


def test_a_model_without_adapters_is_refused_with_the_fix(trained, tmp_path):
    model, tokenizer = trained
    with pytest.raises(ValueError, match="model.save_pretrained"):
        save_adapter(model.get_base_model(), tokenizer, tmp_path / "plain")


def test_push_to_hub_needs_a_token_and_a_repo_id(trained, monkeypatch):
    model, tokenizer = trained
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert hub_token() is None
    with pytest.raises(ValueError, match="secret"):
        push_to_hub(model, tokenizer, "someone/grpo-gsm8k")
    with pytest.raises(ValueError, match="your-username/a-model-name"):
        push_to_hub(model, tokenizer, "no-slash", token="x")
    monkeypatch.setenv("HF_TOKEN", "hf_example")
    assert hub_token() == "hf_example"


def test_gguf_export_offline_says_how_to_get_llama_cpp(tmp_path, monkeypatch):
    """Measured on the GPU machine (no internet): Unsloth's save_pretrained_gguf fails cloning llama.cpp."""
    from peft import PeftModel

    from grpo_helpers.evaluation import ExportUnavailable, save_gguf

    class OfflineUnslothModel(PeftModel):
        def __init__(self):  # no real model needed: only the failing call matters
            pass

        def save_pretrained_gguf(self, *args, **kwargs):
            raise RuntimeError("Unsloth: GGUF conversion failed: RuntimeError: [FAIL] Command `git clone "
                               "https://github.com/ggml-org/llama.cpp /root/.unsloth/llama.cpp` failed with exit code 128")

    model = OfflineUnslothModel()
    object.__setattr__(model, "grpo_backend", "unsloth")
    with pytest.raises(ExportUnavailable, match="needs llama.cpp.*convert_hf_to_gguf"):
        save_gguf(model, None, tmp_path / "gguf")
