"""Generation speed: generated tokens/s of the ways to sample GRPO's completions, for each backend,
at the default GPU config (4 prompts x 8 completions = 32 generated at once, the preset's
``max_completion_length``), and how far each is from the memory-bandwidth limit.

    python -m benchmarks.gpu_generation --model MODEL_FOLDER --out benchmarks/results/gpu_generation
    python -m benchmarks.gpu_generation --model MODEL_FOLDER --quick --backends transformers   # CPU smoke test

Each backend runs in its own Python process (Unsloth patches transformers when imported): the
model loaded as the notebooks load it (``load_model`` + ``add_lora``: 4-bit + LoRA rank 16), then
these candidates, each with a warm-up call (compilation happens there; its seconds are reported
apart) and ``--repeats`` timed calls (a run stopped by ``--timeout`` keeps the candidates that finished):

- ``dynamic``: ``model.generate`` with the default dynamic KV cache, the model in training mode
  (what GRPOTrainer calls; Unsloth: after ``FastLanguageModel.for_training``);
- ``static-compile``: ``cache_implementation="static"``; transformers then compiles the decoding
  step (``torch.compile``, mode ``reduce-overhead``: CUDA graphs on a GPU);
- ``continuous``: transformers' continuous batching, ``model.generate_batch`` (TRL's
  ``use_transformers_continuous_batching=True``);
- ``unsloth-inference`` (Unsloth only): ``FastLanguageModel.for_inference(model)``, Unsloth's own
  decoding path (TRL's trainer does not switch to it during training).

Every completion is forced to ``--max-new-tokens`` (``min_new_tokens``), so all candidates decode
the same number of positions. Per candidate: generated tokens/s, milliseconds per decoding step
(the prompt's forward pass, measured with 1 new token, taken out), and the bandwidth bound: the
bytes one decoding step must read (every weight once, plus the batch's KV cache at the mean
length) over ``--bandwidth`` (default 4.8e12 B/s, an H200's HBM3e); ``x over the limit`` =
measured ms per step / that bound. Writes ``<backend>.json`` and ``table.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from statistics import mean

from benchmarks.common.tables import markdown_table
from benchmarks.common.versions import package_versions

RESULTS = Path(__file__).resolve().parent / "results" / "gpu_generation"
BACKENDS = ("unsloth", "bitsandbytes", "transformers")
# Continuous batching last: where its paged cache does not fit it can take the process down.
CANDIDATES = ("dynamic", "unsloth-inference", "static-compile", "continuous")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a model folder (the device has no Hub)")
    parser.add_argument("--backends", nargs="+", default=["unsloth", "bitsandbytes"], choices=BACKENDS)
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=CANDIDATES)
    parser.add_argument(
        "--prompts", type=int, default=4, help="distinct prompts (default 4: steps_per_generation=4 x 1)"
    )
    parser.add_argument(
        "--num-generations", type=int, default=8, help="completions per prompt (default: the basic preset's 8)"
    )
    parser.add_argument(
        "--max-new-tokens", type=int, default=None, help="default: the basic preset's max_completion_length"
    )
    parser.add_argument(
        "--repeats", type=int, default=2, help="timed calls per candidate after the warm-up (default 2)"
    )
    parser.add_argument(
        "--bandwidth", type=float, default=4.8e12, help="memory bandwidth in bytes/s (default: H200, 4.8e12)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes for a CPU smoke test: 2 prompts x 2, 8 tokens, 1 repeat"
    )
    parser.add_argument("--timeout", type=int, default=280, help="seconds one backend may take before it is stopped")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.prompts, args.num_generations, args.max_new_tokens, args.repeats = 2, 2, args.max_new_tokens or 8, 1
    if args.max_new_tokens is None:
        from grpo_helpers.config import PRESETS

        args.max_new_tokens = PRESETS["basic"]["max_completion_length"]
    if args.max_new_tokens < 2 or args.repeats < 1:
        parser.error("--max-new-tokens must be at least 2 and --repeats at least 1")
    return args


def prompt_ids(tokenizer, n_prompts: int) -> list[list[int]]:
    """The tutorial's chat prompts for the first ``n_prompts`` GSM8K train problems, as token ids."""
    from grpo_helpers.gsm8k import load_gsm8k, training_prompt

    questions = load_gsm8k("train").select(range(n_prompts))["question"]
    return [list(tokenizer.apply_chat_template(training_prompt(q), add_generation_prompt=True, tokenize=True,
                                               return_dict=True)["input_ids"]) for q in questions]  # fmt: skip


def bytes_per_step(model, n_sequences: int, mean_length: float) -> dict:
    """What one decoding step must read: every parameter and buffer once (4-bit weights as stored)
    and the KV cache of ``n_sequences`` at ``mean_length`` tokens (16-bit, or the model's dtype)."""
    weights = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    dtype_bytes = 2 if next(model.parameters()).element_size() <= 2 else 4
    kv = 2 * config.num_hidden_layers * heads * head_dim * dtype_bytes * n_sequences * mean_length
    return {"weights": int(weights), "kv_cache": int(kv), "total": int(weights + kv)}


def run_candidate(name, model, tokenizer, ids, backend, n_new, repeats) -> dict:
    import torch
    from transformers import GenerationConfig
    from transformers.generation.configuration_utils import ContinuousBatchingConfig

    cuda = torch.cuda.is_available()
    sampling = dict(do_sample=True, temperature=0.9, top_p=1.0, top_k=0, pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id)  # fmt: skip
    if backend == "unsloth":
        from unsloth import FastLanguageModel

        (FastLanguageModel.for_inference if name == "unsloth-inference" else FastLanguageModel.for_training)(model)
    elif name == "unsloth-inference":
        return {"candidate": name, "skipped": "Unsloth only"}

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def call(new_tokens: int) -> float:
        config = GenerationConfig(
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            **sampling,
            **({"cache_implementation": "static"} if name == "static-compile" else {}),
        )
        sync()
        started = time.perf_counter()
        with torch.no_grad():
            if name == "continuous":
                # On a GPU the paged KV cache is sized from free GPU memory; on a CPU, to what this batch needs.
                blocks = None if cuda else len(ids) * -(-(max(map(len, ids)) + new_tokens) // 256) + 4
                batching = ContinuousBatchingConfig(block_size=256, num_blocks=blocks)
                outputs = model.generate_batch(
                    ids, generation_config=config, continuous_batching_config=batching, progress_bar=False
                )
                produced = sum(len(o.generated_tokens) for o in outputs.values())
            else:
                width = max(map(len, ids))
                input_ids = torch.tensor(
                    [[tokenizer.pad_token_id] * (width - len(i)) + i for i in ids], device=model.device
                )
                mask = torch.tensor([[0] * (width - len(i)) + [1] * len(i) for i in ids], device=model.device)
                out = model.generate(input_ids=input_ids, attention_mask=mask, generation_config=config)
                produced = (out.shape[1] - width) * len(ids)
        sync()
        seconds = time.perf_counter() - started
        if produced != new_tokens * len(ids):
            raise RuntimeError(f"{name}: {produced} tokens generated, expected {new_tokens * len(ids)}")
        return seconds

    try:
        started = time.perf_counter()
        # Warm-up: compilation, CUDA graphs, Unsloth's kernels (the static cache's shapes need the full length).
        call(n_new if name == "static-compile" else min(n_new, 32))
        warmup = time.perf_counter() - started
        prefill = min(call(1) for _ in range(2))  # the prompts' forward pass and the first token
        times = [call(n_new) for _ in range(repeats)]
    except Exception as error:  # a candidate that does not run here is reported, not fatal
        return {"candidate": name, "error": f"{type(error).__name__}: {str(error)[:300]}"}
    finally:
        model.train()
    seconds = mean(times)
    step_ms = 1000 * max(seconds - prefill, 1e-9) / (n_new - 1)
    return {"candidate": name, "warmup_seconds": round(warmup, 2), "seconds": [round(t, 3) for t in times],
            "prefill_seconds": round(prefill, 3), "tokens_per_second": round(n_new * len(ids) / seconds, 1),
            "ms_per_decoding_step": round(step_ms, 2)}  # fmt: skip


def child_main(spec: dict) -> dict:
    import torch

    from grpo_helpers.models import add_lora, load_model

    backend = spec["backend"]
    started = time.perf_counter()
    model, tokenizer = load_model(spec["model"], max_seq_length=1024, load_in_4bit=True, backend=backend)
    # GRPOTrainer switches gradient checkpointing off while it generates (it would switch off the KV
    # cache); Unsloth handles its own in for_training / for_inference.
    model = add_lora(
        model,
        backend=backend,
        r=16,
        random_state=0,
        use_gradient_checkpointing="unsloth" if backend == "unsloth" else False,
    )
    load_seconds = time.perf_counter() - started
    ids = [i for i in prompt_ids(tokenizer, spec["prompts"]) for _ in range(spec["num_generations"])]
    mean_length = mean(map(len, ids)) + spec["max_new_tokens"] / 2
    read = bytes_per_step(model, len(ids), mean_length)
    limit_ms = 1000 * read["total"] / spec["bandwidth"]
    cuda = torch.cuda.is_available()
    run = {
        "backend": backend,
        "completions": len(ids),
        "max_new_tokens": spec["max_new_tokens"],
        "mean_prompt_tokens": round(mean(map(len, ids)), 1),
        "bytes_per_decoding_step": read,
        "bandwidth": spec["bandwidth"],
        "limit_ms_per_step": round(limit_ms, 3),
        "limit_tokens_per_second": round(len(ids) / (limit_ms / 1000), 0),
        "load_seconds": round(load_seconds, 1),
        "candidates": [],
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "versions": package_versions(),
    }
    for name in spec["candidates"]:
        result = run_candidate(name, model, tokenizer, ids, backend, spec["max_new_tokens"], spec["repeats"])
        if "ms_per_decoding_step" in result:
            result["x_over_bandwidth_limit"] = round(result["ms_per_decoding_step"] / limit_ms, 1)
        print(json.dumps(result), flush=True)
        run["candidates"].append(result)
        run["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3) if cuda else None
        Path(spec["out"]).write_text(json.dumps(run, indent=2) + "\n")  # after each: a timeout keeps what finished
    return run


def table(runs: list[dict]) -> str:
    head = [
        "backend",
        "candidate",
        "generated tokens/s",
        "ms per decoding step",
        "x over the bandwidth limit",
        "warm-up (s)",
    ]
    rows = []
    for run in runs:
        if "error" in run:
            rows.append([run["backend"], "", f"failed: {run['error']}"])
            continue
        for c in run["candidates"]:
            note = c.get("error") or c.get("skipped")
            rows.append(
                [run["backend"], c["candidate"], note]
                if note
                else [
                    run["backend"],
                    c["candidate"],
                    c["tokens_per_second"],
                    c["ms_per_decoding_step"],
                    c["x_over_bandwidth_limit"],
                    c["warmup_seconds"],
                ]
            )
        if run.get("stopped"):
            rows.append([run["backend"], f"(the rest: {run['stopped']})"])
        rows.append(
            [
                run["backend"],
                f"bandwidth limit ({run['bytes_per_decoding_step']['total'] / 1e9:.2f} GB a step)",
                f"{run['limit_tokens_per_second']:.0f}",
                run["limit_ms_per_step"],
                1,
                "",
            ]
        )
    return markdown_table(head, rows)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        child_main(json.loads(args.child))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    runs = []
    for backend in args.backends:
        spec = {"model": args.model, "backend": backend, "candidates": args.candidates, "prompts": args.prompts,
                "num_generations": args.num_generations, "max_new_tokens": args.max_new_tokens, "repeats": args.repeats,
                "bandwidth": args.bandwidth, "out": str(args.out / f"{backend}.json")}  # fmt: skip
        print(
            f"== {backend}: {args.prompts} prompts x {args.num_generations}, {args.max_new_tokens} new tokens",
            flush=True,
        )
        Path(spec["out"]).unlink(missing_ok=True)
        try:
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.gpu_generation", "--model", args.model, "--child", json.dumps(spec)],
                timeout=args.timeout,
            )
            problem = None if done.returncode == 0 else f"exit code {done.returncode}"
        except subprocess.TimeoutExpired:
            problem = f"stopped after {args.timeout} s (--timeout)"
        if Path(spec["out"]).exists():  # what finished, also from a run that was stopped
            runs.append({**json.loads(Path(spec["out"]).read_text()), **({"stopped": problem} if problem else {})})
        else:
            runs.append({"backend": backend, "error": problem or "no results written"})
    text = table(runs)
    (args.out / "table.md").write_text(text)
    print(text)
    return 0 if all("error" not in r and "stopped" not in r for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
