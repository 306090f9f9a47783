"""Notebook 07's loading and export cells, run on the tiny model (the transformers + PEFT path).

The cells are the real calls (``PeftModel.from_pretrained``, ``save_pretrained``,
``merge_and_unload``, ``push_to_hub``); these tests run the notebook's own code and check what
it promises: a saved adapter loads back to the same replies, the merged copy answers the same,
is saved in bfloat16 and leaves the model in memory with its adapter, and the exports come last.
"""

import ast
import contextlib
import dataclasses
import io
from pathlib import Path

import pytest
import torch

from benchmarks.common import notebook_cells
from benchmarks.common.notebook_cells import python_source, read
from grpo_helpers.environment import detect_hardware
from grpo_helpers.evaluation import chat_generate
from tiny_model import tiny_lora_model

NOTEBOOK = notebook_cells.notebook("07")
# The cells' tags in notebook 07.
LOAD, SAVE_ADAPTER, MERGE, GGUF, HUB = "load-adapter", "save-adapter", "merge-adapter", "export-gguf", "push-to-hub"
CHATS = [[{"role": "user", "content": p}] for p in ("What is 2 + 3?", "Name a colour.", "Say hi.")]


def run_cell(tag: str, namespace: dict, replace=()) -> str:
    """Execute notebook 07's code cell tagged ``tag`` in ``namespace``; returns what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        notebook_cells.run_cell("07", tag, namespace, replace)
    return out.getvalue()


def lora_layers(model) -> int:
    return sum(name.endswith("lora_A") for name, _ in model.named_modules())


@pytest.fixture(scope="module")
def trained(tiny_dir):
    """A tiny model whose adapter changes its replies (as a trained one would)."""
    return tiny_lora_model(tiny_dir)


@pytest.fixture(scope="module")
def loaded(trained, tmp_path_factory):
    """The trained adapter saved as notebook 06 saves it, then loaded by notebook 07's loading cell."""
    model, tokenizer = trained
    adapter_dir = tmp_path_factory.mktemp("run") / "adapter"
    model.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)
    cpu = dataclasses.replace(detect_hardware(), device="cpu", bf16=False)  # float32, as the trained model
    namespace = {
        "BACKEND": "transformers",
        "ADAPTER_DIR": adapter_dir,
        "MAX_SEQ_LENGTH": 256,
        "hardware": cpu,
        "EXPORT_DIR": adapter_dir.parent / "export",
    }
    import grpo_helpers.models

    with pytest.MonkeyPatch.context() as patch:  # load_model reads the machine itself: float32 on the CPU here too
        patch.setattr(grpo_helpers.models, "detect_hardware", lambda: cpu)
        run_cell(LOAD, namespace)
    return namespace


def test_the_adapter_changes_the_replies(trained):
    model, tokenizer = trained
    with model.disable_adapter():
        base = chat_generate(model, tokenizer, CHATS, max_new_tokens=12)
    assert base != chat_generate(model, tokenizer, CHATS, max_new_tokens=12)  # else the checks below prove little


def test_the_loading_cell_gives_a_trainable_peft_model_that_answers_the_same(trained, loaded):
    from peft import PeftModel

    model, tokenizer = trained
    reloaded = loaded["model"]
    assert isinstance(reloaded, PeftModel) and Path(loaded["base_name"]).exists()
    assert chat_generate(reloaded, loaded["tokenizer"], CHATS, max_new_tokens=12) == chat_generate(
        model, tokenizer, CHATS, max_new_tokens=12
    )
    assert any(p.requires_grad for n, p in reloaded.named_parameters() if "lora_" in n)  # sections 3-4 train it
    with reloaded.disable_adapter(), model.disable_adapter():
        assert chat_generate(reloaded, loaded["tokenizer"], CHATS, max_new_tokens=12) == chat_generate(
            model, tokenizer, CHATS, max_new_tokens=12
        )


def test_on_a_cpu_with_bfloat16_instructions_the_loading_cell_loads_bfloat16_and_the_merge_check_stays_float32(
    loaded, monkeypatch
):
    import grpo_helpers.models

    bf16_cpu = dataclasses.replace(loaded["hardware"], bf16=True)
    monkeypatch.setattr(grpo_helpers.models, "detect_hardware", lambda: bf16_cpu)  # load_model's dtype follows it
    namespace = {**loaded, "hardware": bf16_cpu, "EXPORT_DIR": loaded["EXPORT_DIR"].parent / "export-bf16"}
    run_cell(LOAD, namespace)
    assert namespace["model"].get_base_model().dtype == torch.bfloat16
    # PEFT keeps LoRA in float32
    assert any(p.dtype == torch.float32 for n, p in namespace["model"].named_parameters() if "lora_" in n)
    run_cell(SAVE_ADAPTER, namespace)
    # the check compares two float32 copies (adapter separate, then merged), whatever the model in memory uses
    assert "Greedy replies before and after merging (float32 both): 3 of 3 identical" in run_cell(MERGE, namespace)


def test_the_export_cells_save_the_adapter_and_a_bfloat16_merged_copy_and_keep_the_adapter_in_memory(loaded):
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    model, tokenizer = loaded["model"], loaded["tokenizer"]
    before, layers = chat_generate(model, tokenizer, CHATS, max_new_tokens=12), lora_layers(model)
    run_cell(SAVE_ADAPTER, loaded)
    adapter = loaded["ADAPTER_EXPORT"]
    assert (adapter / "adapter_model.safetensors").is_file() and (adapter / "adapter_config.json").is_file()
    assert not list(adapter.glob("*.bin"))

    printed = run_cell(MERGE, loaded)
    assert "(float32 both): 3 of 3 identical" in printed, printed  # merging folds W + BA: the same replies
    merged_dir = loaded["MERGED_DIR"]
    assert (merged_dir / "config.json").is_file() and not (merged_dir / "adapter_config.json").exists()
    (weights,) = merged_dir.glob("*.safetensors")
    with safe_open(weights, framework="pt") as f:
        dtypes = {f.get_slice(name).get_dtype() for name in f.keys()}
    assert dtypes == {"BF16"}  # not float32: half the size
    n_params = sum(p.numel() for p in model.get_base_model().parameters() if p.ndim)  # LoRA excluded below
    n_lora = sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)
    assert weights.stat().st_size < (n_params - n_lora) * 2.1 + 2**20
    assert AutoModelForCausalLM.from_pretrained(merged_dir).dtype == torch.bfloat16  # loads as a plain model

    assert lora_layers(model) == layers > 0  # merge_and_unload ran on a copy
    assert f"{layers} before the export, {layers} after" in printed
    assert chat_generate(model, tokenizer, CHATS, max_new_tokens=12) == before


def test_gguf_cell_without_unsloth_says_how_to_convert(loaded):
    printed = run_cell(GGUF, dict(loaded, MERGED_DIR=Path("merged")))
    assert "convert_hf_to_gguf.py merged" in printed


class Recorder:
    def __init__(self):
        self.calls = []

    def push_to_hub(self, repo, **kwargs):
        self.calls.append((repo, kwargs))


def test_hub_cell_uploads_only_with_a_repo_and_a_token(monkeypatch, tmp_path):
    import huggingface_hub.constants

    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "token"))
    model, tokenizer = Recorder(), Recorder()
    assert "set HUB_REPO" in run_cell(HUB, {"model": model, "tokenizer": tokenizer})
    with_repo = [('HUB_REPO = ""', 'HUB_REPO = "someone/grpo-gsm8k"')]
    assert "no token found" in run_cell(HUB, {"model": model, "tokenizer": tokenizer}, with_repo)
    assert model.calls == tokenizer.calls == []
    monkeypatch.setenv("HF_TOKEN", "hf_example")
    assert "Uploaded" in run_cell(HUB, {"model": model, "tokenizer": tokenizer}, with_repo)
    assert model.calls == tokenizer.calls == [("someone/grpo-gsm8k", {"private": True})]


def calls_in(source: str) -> set[str]:
    return {ast.unparse(node.func).split(".")[-1] for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call)}


def test_exports_come_after_every_training_run_in_notebook_07():
    """Issue 12: an export that merges into the live model broke the next training cell. Here no
    cell trains after the first export, and the 4-bit merge that changes the live model is not called."""
    cells = [python_source(c) for c in read(NOTEBOOK).cells if c.cell_type == "code"]
    exporting = [
        i for i, source in enumerate(cells) if calls_in(source) & {"save_pretrained_merged", "merge_and_unload"}
    ]
    training = [i for i, source in enumerate(cells) if "train" in calls_in(source)]
    assert exporting and training and max(training) < min(exporting)
    assert not any("merged_4bit" in source for source in cells)
