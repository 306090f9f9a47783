"""evaluation: merged from generation, evaluate, export.

[generation] Chat with a model: the few lines notebook 01 teaches, as one function for later notebooks.

[evaluate] GSM8K accuracy on held-out problems: the number that says whether training helped.

    base = evaluate_gsm8k(model, tokenizer, n_examples=200, label="base")      # inside model.disable_adapter()
    trained = evaluate_gsm8k(model, tokenizer, n_examples=200, label="trained")
    compare_results(base, trained)
    changed_examples(base, trained)     # the problems that went wrong -> right and right -> wrong

The problems are a fixed, seeded sample of GSM8K's test split (never trained on), asked with the
prompt the training uses, answered greedily (the same model gives the same answer), in batches.


[export] Save a trained model in the form you need, and check that what was saved is what you trained.

- ``save_adapter``: the LoRA adapter alone (safetensors, a few MB). Load it on top of the base model.
- ``save_merged``: the adapter folded into the base weights, one ordinary model folder (16-bit;
  4-bit through Unsloth on a GPU). Any transformers or vLLM user can load it without PEFT.
- ``save_gguf``: one quantized file for llama.cpp, Ollama and LM Studio (through Unsloth on a GPU).
- ``push_to_hub``: any of the first two, uploaded to the Hugging Face Hub (needs a token).
- ``load_adapter``: the base model with a saved adapter on top, ready to evaluate or train on.
- ``check_reload``: load a saved folder again and compare greedy replies with the model in memory.

Every save writes into a temporary folder next to the target and renames it at the end, so a save
that fails or is interrupted leaves an earlier save in place.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from grpo_helpers.gsm8k import training_prompt  # the same prompt the training uses (re-exported here)
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


# ---- generation

def chat_generate(model, tokenizer, messages, max_new_tokens: int = 128, do_sample: bool = False, **generate_kwargs):
    """Reply to ``messages`` (a chat list of ``{"role", "content"}`` dicts, or one user string).

    Several conversations (a list of chat lists) are generated as one left-padded batch and get a
    list of replies. Greedy by default, so the same model gives the same reply.
    """
    import torch

    batch = isinstance(messages, list) and messages and isinstance(messages[0], list)
    chats = messages if batch else [messages]
    chats = [[{"role": "user", "content": c}] if isinstance(c, str) else c for c in chats]
    texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats]
    # Pad on the left, so every prompt ends where generation starts (Unsloth's for_training()
    # switches the tokenizer to right padding; this call leaves the setting as it found it).
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    try:
        inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    finally:
        tokenizer.padding_side = side
    with torch.no_grad():
        output = model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=do_sample,
            pad_token_id=tokenizer.pad_token_id,
            **generate_kwargs,
        )
    new_tokens = output[:, inputs["input_ids"].shape[1] :]
    replies = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    return replies if batch else replies[0]


# ---- evaluate

CHANGES = ("wrong -> right", "right -> wrong")


def gsm8k_subset(n_examples: int, seed: int = 0, split: str = "test", dataset=None):
    """``n_examples`` problems of GSM8K's ``split``, the same ones for the same ``seed``; each row
    keeps its position in the split as ``id``. ``dataset``: rows with ``question`` and ``answer``
    to sample from instead (default: ``load_gsm8k(split)``)."""
    if dataset is None:
        from grpo_helpers.gsm8k import load_gsm8k

        dataset = load_gsm8k(split)
    missing = {"question", "answer"} - set(dataset.column_names)
    if missing:
        raise ValueError(f"dataset needs GSM8K's columns 'question' and 'answer'; it lacks {sorted(missing)} (it has {dataset.column_names})")
    if not isinstance(n_examples, int) or not 0 < n_examples <= len(dataset):
        raise ValueError(f"n_examples must be between 1 and {len(dataset)} (the rows of the {split} split), got {n_examples!r}")
    ids = sorted(random.Random(seed).sample(range(len(dataset)), n_examples))
    rows = dataset.select(ids)
    return rows.add_column("id", ids) if "id" not in rows.column_names else rows


def follows_format(completions: list[str]) -> list[bool]:
    """For each completion: does it give its answer in the tutorial's format (reasoning, then one
    ``<answer>N</answer>``, nothing after)? The same test as the strict format reward."""
    from grpo_helpers.rewards import strict_format_reward

    return [score > 0 for score in strict_format_reward(prompts=[None] * len(completions), completions=completions)]


@dataclass
class EvalResult:
    """One model's answers to a fixed set of GSM8K problems.

    ``table`` has a row per problem: ``id`` (its row in the split), ``question``, ``reference``
    (the correct answer), ``completion`` (what the model wrote), ``predicted`` (the answer
    extracted from it, None when there is none), ``formatted`` (answer format followed) and
    ``correct``.
    """

    label: str
    table: object  # pandas.DataFrame
    settings: dict = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return float(self.table["correct"].mean())

    @property
    def format_rate(self) -> float:
        return float(self.table["formatted"].mean())

    @property
    def n_examples(self) -> int:
        return len(self.table)

    def __str__(self) -> str:
        t = self.table
        return (
            f"{self.label}: accuracy {int(t['correct'].sum())}/{len(t)} = {self.accuracy:.1%}, "
            f"answer format followed {int(t['formatted'].sum())}/{len(t)} = {self.format_rate:.1%}"
        )

    def _repr_html_(self) -> str:
        return f"<p><b>{self}</b></p>" + self.table.head(5)._repr_html_()


def _unsloth_mode(model, inference: bool) -> None:
    if getattr(model, "grpo_backend", None) == "unsloth":
        from unsloth import FastLanguageModel

        (FastLanguageModel.for_inference if inference else FastLanguageModel.for_training)(model)


def evaluate_gsm8k(
    model,
    tokenizer,
    n_examples: int = 100,
    seed: int = 0,
    batch_size: int = 8,
    max_new_tokens: int = 256,
    label: str = "model",
    split: str = "test",
    dataset=None,
    prompt_fn=None,
    progress: bool = True,
) -> EvalResult:
    """Accuracy of ``model`` on ``n_examples`` held-out GSM8K problems (``gsm8k_subset(n_examples,
    seed, split)``), answered greedily in batches of ``batch_size`` with at most
    ``max_new_tokens`` tokens each. Returns an ``EvalResult`` (``.accuracy``, ``.format_rate``,
    ``.table``).

    The same call measures the base model: run it inside ``with model.disable_adapter():``.
    ``prompt_fn`` turns a question into chat messages (default: the training prompt).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from grpo_helpers.answers import answers_match, extract_answer, extract_gsm8k_answer
    from grpo_helpers.evaluation import chat_generate

    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer (8 suits a T4 and a CPU), got {batch_size!r}")
    if not isinstance(max_new_tokens, int) or max_new_tokens <= 0:
        raise ValueError(f"max_new_tokens must be a positive number of tokens, got {max_new_tokens!r}")
    rows = gsm8k_subset(n_examples, seed, split, dataset)
    prompt_fn = prompt_fn or training_prompt
    questions, ids = list(rows["question"]), list(rows["id"])
    references = [extract_gsm8k_answer(a) for a in rows["answer"]]

    was_training = model.training
    model.eval()
    _unsloth_mode(model, inference=True)
    completions = []
    try:
        with tqdm(total=len(questions), desc=f"Evaluating {label}", unit="problem", disable=not progress) as bar:
            for start in range(0, len(questions), batch_size):
                chats = [prompt_fn(q) for q in questions[start : start + batch_size]]
                completions += chat_generate(model, tokenizer, chats, max_new_tokens=max_new_tokens)
                bar.update(len(chats))
    finally:
        if was_training:
            _unsloth_mode(model, inference=False)
            model.train()

    predicted = [extract_answer(c) for c in completions]
    table = pd.DataFrame(
        {
            "id": ids,
            "question": questions,
            "reference": references,
            "completion": completions,
            "predicted": pd.Series(predicted, dtype=object),  # None stays None
            "formatted": follows_format(completions),
            "correct": [p is not None and answers_match(p, r) for p, r in zip(predicted, references)],
        }
    )
    settings = {"n_examples": n_examples, "seed": seed, "split": split, "max_new_tokens": max_new_tokens, "batch_size": batch_size}
    result = EvalResult(label, table, settings)
    print(result)
    return result


def compare_results(*results: EvalResult):
    """One row per result: accuracy, format rate and size, for a before/after table."""
    import pandas as pd

    if not results:
        raise ValueError("pass one or more EvalResult objects, e.g. compare_results(base, trained)")
    return pd.DataFrame(
        [{"model": r.label, "accuracy": r.accuracy, "answer format followed": r.format_rate, "problems": r.n_examples} for r in results]
    ).set_index("model")


def changed_examples(before: EvalResult, after: EvalResult):
    """The problems whose correctness changed from ``before`` to ``after``: a table with
    ``change`` ("wrong -> right" first, then "right -> wrong"), the question, the reference, both
    extracted answers and both completions."""
    import pandas as pd

    a, b = before.table, after.table
    if list(a["id"]) != list(b["id"]):
        raise ValueError(
            f"{before.label!r} and {after.label!r} were evaluated on different problems: evaluate both with the same "
            f"n_examples, seed and split (they were {before.settings} and {after.settings})"
        )
    merged = a.merge(b, on=["id", "question", "reference"], suffixes=("_before", "_after"))
    merged["change"] = None
    merged.loc[~merged["correct_before"] & merged["correct_after"], "change"] = CHANGES[0]
    merged.loc[merged["correct_before"] & ~merged["correct_after"], "change"] = CHANGES[1]
    changed = merged[merged["change"].notna()].copy()
    changed["change"] = pd.Categorical(changed["change"], categories=CHANGES, ordered=True)
    changed = changed.sort_values(["change", "id"]).reset_index(drop=True)
    columns = ["change", "id", "question", "reference", "predicted_before", "predicted_after", "completion_before", "completion_after"]
    counts = changed["change"].value_counts()
    print(f"{before.label} -> {after.label}: {counts[CHANGES[0]]} {CHANGES[0]}, {counts[CHANGES[1]]} {CHANGES[1]}")
    return changed[columns].rename(columns={"predicted_before": "answer_before", "predicted_after": "answer_after"})


# ---- export

ADAPTER_FILE = "adapter_model.safetensors"
CHECK_PROMPTS = (
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?",
    "What is 12 times 7?",
    "Write one sentence about the sea.",
)
TOKEN_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
GGUF_QUANTIZATIONS = ("q4_k_m", "q5_k_m", "q8_0", "f16")


class ExportUnavailable(RuntimeError):
    """This export needs a backend (Unsloth on a CUDA GPU) that this machine does not have."""


def _backend(model) -> str:
    return getattr(model, "grpo_backend", None) or "transformers"


def _require_adapters(model, what: str) -> None:
    from peft import PeftModel

    if not isinstance(model, PeftModel):
        raise ValueError(
            f"{what} needs a model with LoRA adapters (from add_lora, or loaded with its adapter), and this is a "
            f"plain {type(model).__name__}: save it as it is with model.save_pretrained(folder)"
        )


@contextmanager
def _writing(out_dir):
    """Yield a temporary folder; on success it replaces ``out_dir`` (an older save stays until then)."""
    out_dir = Path(out_dir).expanduser()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out_dir.name + ".partial-", dir=out_dir.parent))
    try:
        yield tmp
        old = out_dir.with_name(out_dir.name + ".old")
        if out_dir.exists():
            shutil.rmtree(old, ignore_errors=True)
            out_dir.rename(old)
        tmp.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _folder_size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def save_adapter(model, tokenizer, out_dir) -> Path:
    """Save the LoRA adapter (``adapter_model.safetensors`` + ``adapter_config.json``) and the
    tokenizer to ``out_dir``; returns it. The adapter config names the base model it belongs to."""
    _require_adapters(model, "save_adapter")
    with _writing(out_dir) as tmp:
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        if not (tmp / ADAPTER_FILE).is_file():
            raise RuntimeError(f"save_pretrained wrote no {ADAPTER_FILE} (it wrote {sorted(p.name for p in tmp.iterdir())})")
    out_dir = Path(out_dir).expanduser()
    print(f"Saved the LoRA adapter to {out_dir} ({_folder_size_mb(out_dir):.1f} MB)")
    return out_dir


def load_adapter(adapter_dir, max_seq_length: int = 1024, load_in_4bit: bool = True, backend: str | None = None, base_model: str | None = None):
    """Load the base model named in ``adapter_dir``'s ``adapter_config.json`` (or ``base_model``)
    with the saved adapter on top, trainable; returns ``(model, tokenizer)`` like ``load_model``.

    The model is a PEFT model, so ``with model.disable_adapter():`` gives the base model back
    without loading it again. With Unsloth, ``FastLanguageModel.from_pretrained(adapter_dir)``
    does both loads in one call.
    """
    import json

    from grpo_helpers.models import _backend as resolve_backend
    from grpo_helpers.models import load_model

    adapter_dir = Path(adapter_dir).expanduser()
    config_file = adapter_dir / "adapter_config.json"
    if not config_file.is_file():
        raise FileNotFoundError(
            f"{adapter_dir} holds no saved adapter (no adapter_config.json): train and save one first "
            "(notebook 06, or save_adapter(model, tokenizer, folder))"
        )
    backend = resolve_backend(backend)
    if backend == "unsloth" and base_model is None:
        return load_model(str(adapter_dir), max_seq_length=max_seq_length, load_in_4bit=load_in_4bit, backend=backend)

    from peft import PeftModel

    base_name = base_model or json.loads(config_file.read_text()).get("base_model_name_or_path")
    if not base_name:
        raise ValueError(f"{config_file} does not name its base model: pass base_model='the model it was trained on'")
    try:
        base, tokenizer = load_model(base_name, max_seq_length=max_seq_length, load_in_4bit=load_in_4bit, backend=backend)
    except OSError as error:
        raise OSError(
            f"The adapter in {adapter_dir} was trained on {base_name!r}, which cannot be loaded here ({error}). "
            "Pass base_model= with a Hub id or a local folder of that same model."
        ) from error
    model = PeftModel.from_pretrained(base, str(adapter_dir), is_trainable=True)
    model.grpo_backend = backend
    model.max_seq_length = max_seq_length
    return model, tokenizer


def _merged_copy(model):
    """The base model with the adapter folded in, as a new model: the model in memory keeps its
    adapters (``merge_and_unload`` on it would remove them)."""
    import copy

    if _backend(model) == "transformers":
        return copy.deepcopy(model).merge_and_unload()
    # bitsandbytes: merging into 4-bit weights would round them again; fold the adapter into a
    # 16-bit copy of the base model instead.
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base_path = model.peft_config[model.active_adapter].base_model_name_or_path
    dtype = torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float16
    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=dtype, device_map={"": 0})
    with tempfile.TemporaryDirectory() as adapter:
        model.save_pretrained(adapter)
        return PeftModel.from_pretrained(base, adapter).merge_and_unload()


def save_merged(model, tokenizer, out_dir, bits: int = 16) -> Path:
    """Fold the adapter into the base weights and save one ordinary model folder; returns it.

    ``bits=16``: 16-bit weights (with Unsloth, ``save_pretrained_merged(..., "merged_16bit")``;
    elsewhere PEFT's ``merge_and_unload`` on a copy, in the model's own precision: float32 on a
    CPU). ``bits=4``: 4-bit weights, smaller but rounded again (Unsloth only,
    ``"merged_4bit_forced"``); raises ``ExportUnavailable`` on other backends.
    """
    if bits not in (16, 4):
        raise ValueError(f"bits must be 16 (full quality) or 4 (smaller, rounded again), got {bits!r}")
    _require_adapters(model, "save_merged")
    backend = _backend(model)
    if bits == 4 and backend != "unsloth":
        raise ExportUnavailable(
            f"A merged 4-bit model needs Unsloth on a CUDA GPU; this model runs on the {backend} backend. "
            "Save the merged 16-bit model here (save_merged(..., bits=16)) or the adapter, and quantize on a GPU "
            "machine, or export GGUF there (save_gguf)."
        )
    with _writing(out_dir) as tmp:
        if backend == "unsloth":
            method = "merged_16bit" if bits == 16 else "merged_4bit_forced"
            model.save_pretrained_merged(str(tmp), tokenizer, save_method=method)
        else:
            merged = _merged_copy(model)
            merged.save_pretrained(str(tmp))
            tokenizer.save_pretrained(str(tmp))
            del merged
        if not any(tmp.glob("*.safetensors")):
            raise RuntimeError(f"the merged save wrote no .safetensors file (it wrote {sorted(p.name for p in tmp.iterdir())})")
    out_dir = Path(out_dir).expanduser()
    print(f"Saved the merged {bits}-bit model to {out_dir} ({_folder_size_mb(out_dir):.0f} MB)")
    return out_dir


def save_gguf(model, tokenizer, out_dir, quantization: str = "q4_k_m") -> list[Path]:
    """Export a GGUF file for llama.cpp / Ollama / LM Studio through Unsloth's
    ``save_pretrained_gguf``; returns the .gguf files written. ``quantization``: ``q4_k_m`` (the
    usual choice), ``q5_k_m``, ``q8_0`` (near-lossless) or ``f16`` (no rounding).

    Raises ``ExportUnavailable`` without Unsloth: then save the merged 16-bit model and convert it
    with llama.cpp's ``convert_hf_to_gguf.py``.
    """
    if quantization not in GGUF_QUANTIZATIONS:
        raise ValueError(f"quantization={quantization!r}: use one of {', '.join(GGUF_QUANTIZATIONS)}")
    _require_adapters(model, "save_gguf")
    backend = _backend(model)
    if backend != "unsloth":
        raise ExportUnavailable(
            f"GGUF export here goes through Unsloth on a CUDA GPU; this model runs on the {backend} backend. "
            "Instead: save_merged(model, tokenizer, folder) here, then convert that folder with llama.cpp: "
            "python convert_hf_to_gguf.py folder --outtype q8_0 (https://github.com/ggml-org/llama.cpp)"
        )
    out_dir = Path(out_dir).expanduser()
    try:
        model.save_pretrained_gguf(str(out_dir), tokenizer, quantization_method=quantization)
    except RuntimeError as error:
        # Unsloth fetches and builds llama.cpp (from GitHub) the first time: offline this fails.
        if "llama.cpp" not in str(error):
            raise
        raise ExportUnavailable(
            "GGUF export needs llama.cpp, which Unsloth downloads from GitHub and builds on first use, "
            f"and that failed here ({str(error).splitlines()[0][:160]}). Fix one of these: run this cell where "
            "the internet is reachable (Colab and Kaggle are); or clone and build llama.cpp into "
            "~/.unsloth/llama.cpp yourself; or save_merged(model, tokenizer, folder) and convert that folder "
            "with llama.cpp's convert_hf_to_gguf.py on another machine."
        ) from error
    # Unsloth versions differ in where the file goes: the folder itself or "<folder>_gguf" next to it.
    found = sorted(out_dir.glob("*.gguf")) + sorted(out_dir.with_name(out_dir.name + "_gguf").glob("*.gguf"))
    if not found:
        raise RuntimeError(f"save_pretrained_gguf finished but no .gguf file is in {out_dir} or {out_dir}_gguf")
    for path in found:
        print(f"GGUF: {path} ({path.stat().st_size / 2**20:.0f} MB)")
    return found


def hub_token() -> str | None:
    """A Hugging Face token from the environment (``HF_TOKEN``) or Colab's secrets (the key icon,
    name ``HF_TOKEN``, notebook access on); None when there is none. Never paste a token into a cell."""
    for name in TOKEN_ENV:
        if os.environ.get(name, "").strip():
            return os.environ[name].strip()
    try:
        from google.colab import userdata
    except ImportError:
        return None
    try:
        return userdata.get("HF_TOKEN") or None
    except Exception:  # the secret is missing or notebook access is off
        return None


def push_to_hub(model, tokenizer, repo_id: str, what: str = "adapter", private: bool = True, token: str | None = None) -> str:
    """Upload the adapter (``what="adapter"``) or the merged 16-bit model (``"merged_16bit"``) to
    the Hub repository ``repo_id`` (``"your-name/model-name"``, created private unless
    ``private=False``); returns its URL. The token comes from ``hub_token()`` when not given."""
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo_id or ""):
        raise ValueError(f"repo_id={repo_id!r}: use 'your-username/a-model-name' (letters, digits, '-', '_', '.')")
    if what not in ("adapter", "merged_16bit"):
        raise ValueError(f"what={what!r}: use 'adapter' (small; needs the base model) or 'merged_16bit' (standalone)")
    token = token or hub_token()
    if not token:
        raise ValueError(
            "No Hugging Face token: create one with write access at https://huggingface.co/settings/tokens, then "
            "set the environment variable HF_TOKEN before starting Jupyter, or on Colab add it as the secret "
            "HF_TOKEN (key icon in the left bar) with notebook access on. Do not paste it into a cell."
        )
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "export"
        if what == "adapter":
            save_adapter(model, tokenizer, folder)
        else:
            save_merged(model, tokenizer, folder, bits=16)
        api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id, commit_message=f"Upload GRPO-trained {what}")
    url = f"https://huggingface.co/{repo_id}"
    print(f"Uploaded the {what} to {url}")
    return url


@dataclass
class ReloadCheck:
    """Greedy replies of the model in memory and of the saved copy, prompt by prompt."""

    folder: Path
    table: object  # pandas.DataFrame: prompt, in_memory, reloaded, same

    @property
    def all_match(self) -> bool:
        return bool(self.table["same"].all())

    def __str__(self) -> str:
        same = int(self.table["same"].sum())
        verdict = "the saved model answers exactly like the one in memory" if self.all_match else "some replies differ"
        return f"{self.folder}: {same}/{len(self.table)} greedy replies identical: {verdict}."


def check_reload(model, tokenizer, folder, prompts=CHECK_PROMPTS, max_new_tokens: int = 32, load_in_4bit: bool | None = None) -> ReloadCheck:
    """Load ``folder`` (an adapter or a merged model) as a new model and compare its greedy replies
    to ``prompts`` with those of ``model``; returns a ``ReloadCheck`` (``.all_match``, ``.table``).

    On a CPU an adapter and a merged model reload to the same replies. From a 4-bit model, a
    merged 16-bit copy holds the same weights without the 4-bit rounding of the matrix products,
    so a reply can drift after some tokens: compare the answers, not only the exact text.
    """
    import gc

    import pandas as pd

    from grpo_helpers.evaluation import chat_generate
    from grpo_helpers.models import load_model

    folder = Path(folder).expanduser()
    if not (folder / "config.json").is_file() and not (folder / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{folder} holds no saved model (no config.json or adapter_config.json): save one first")
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    chats = [[{"role": "user", "content": p}] for p in prompts]
    backend = _backend(model)
    if load_in_4bit is None:
        load_in_4bit = bool(getattr(model, "is_loaded_in_4bit", False)) and (folder / "adapter_config.json").is_file()
    max_seq_length = getattr(model, "max_seq_length", None) or 1024
    before = chat_generate(model, tokenizer, chats, max_new_tokens=max_new_tokens)
    reloaded, reloaded_tokenizer = load_model(str(folder), max_seq_length=max_seq_length, load_in_4bit=load_in_4bit, backend=backend)
    try:
        after = chat_generate(reloaded, reloaded_tokenizer, chats, max_new_tokens=max_new_tokens)
    finally:
        del reloaded
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass
    table = pd.DataFrame({"prompt": prompts, "in_memory": before, "reloaded": after})
    table["same"] = table["in_memory"] == table["reloaded"]
    check = ReloadCheck(folder, table)
    print(check)
    return check
