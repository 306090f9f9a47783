"""``load_model`` and ``add_lora``: the Unsloth calls the notebooks teach, and the same calls on
machines where Unsloth cannot run.

On a CUDA GPU with Unsloth these call ``FastLanguageModel.from_pretrained`` and
``FastLanguageModel.get_peft_model`` with the arguments you give. Elsewhere they do the same job
with transformers (+ bitsandbytes 4-bit on a GPU) and PEFT, taking the same arguments, so a
notebook cell reads the same on Colab and on a laptop.
"""

from __future__ import annotations

from grpo_helpers.default_model import DEFAULT_MODEL, resolve_model
from grpo_helpers.hardware import BACKENDS, choose_backend, detect_hardware

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
