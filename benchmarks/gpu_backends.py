"""GPU benchmark: the same GRPO run with the Unsloth backend and with plain transformers +
bitsandbytes 4-bit + PEFT + TRL, each backend in its own process (Unsloth patches TRL and
transformers when imported, so they cannot share one).

    python -m benchmarks.gpu_backends --model MODEL_FOLDER --out benchmarks/results/gpu
    bash benchmarks/gpu_bench.sh ARGS...     # on a GPU machine without internet: wheels, the random model, then this

Both runs use the same model, GSM8K prompts, the tutorial's reward functions, LoRA rank and
GRPOConfig (``make_config(--preset)`` plus any ``--set NAME=VALUE``). Timing is by generation
round: with ``steps_per_generation = k x gradient_accumulation_steps`` (k = 4 on a GPU by
default) the trainer generates once and then takes k optimizer steps, so a window of steps that
does not hold whole rounds over- or under-counts generation. Each run takes ``--warmup-rounds``
whole rounds (Unsloth compiles kernels in its first steps) and then ``--rounds`` timed rounds;
for each backend it reports seconds per optimizer step (the mean over the timed rounds, and the
slowest and fastest round: the spread), generated tokens per second during generation, the
share of a step spent generating, and peak GPU memory; then the ratio between the backends. ``--variant`` adds runs of
other generation settings (``--variant gen4:unsloth:steps_per_generation=4``) to find what makes
generation faster. Writes ``<label>.json`` per run, ``summary.json`` and ``table.md``.

Generation inside the trainer against bare ``generate`` (issue 25): ``--bare N`` times, after the
trainer's rounds and in the same process, N calls of ``model.generate`` on the same LoRA model with
a copy of the GenerationConfig the trainer passed (``trainer.generation_config``), on 4 of the
training prompts x ``num_generations`` (one generation round's batch), in the state TRL generates in
(training mode, gradient checkpointing off; Unsloth: ``for_inference``); ``--profile`` adds a
``torch.profiler`` count of kernel launches and CUDA-graph replays over 16 decoding steps. Every run
records what ``generate`` was called with inside the trainer (``probe``: the config's cache and
compile fields, training mode, gradient checkpointing, grad mode; for an uncompiled run the first
forward calls' input length, ``use_cache`` and cache type) and torch.compile's counters. The variant
setting ``compile_generation=True`` runs ``CompiledGenerationGRPOTrainer``: GRPOTrainer with
``generation_config.disable_compile = False`` (TRL builds it with ``disable_compile=True``, so
``cache_implementation="static"`` alone runs uncompiled). ``bare_table.md`` holds that table.

Off the GPU (``--backends transformers``) it runs the same code on the CPU: a smoke test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from statistics import mean

from benchmarks.common.clocks import step_clock, timed_generation
from benchmarks.common.settings import add_settings_argument, parse_settings
from benchmarks.common.tables import markdown_table
from benchmarks.common.versions import package_versions

RESULTS = Path(__file__).resolve().parent / "results" / "gpu"
BACKEND_NAMES = ("unsloth", "bitsandbytes", "transformers")
# What each backend is called in the tables.
BACKEND_TITLES = {
    "unsloth": "Unsloth + TRL",
    "bitsandbytes": "transformers + bitsandbytes + PEFT + TRL",
    "transformers": "transformers + PEFT + TRL",
}


def parse_variant(text: str) -> dict:
    """``label:backend[:name=value,...]``. Five settings are the benchmark's own:
    ``load_in_4bit=False`` loads the model in 16 bits, ``compile_generation=True`` lets transformers
    compile the decoding step inside the trainer (``CompiledGenerationGRPOTrainer``), ``rounds``,
    ``warmup_rounds`` and ``bare`` replace ``--rounds``/``--warmup-rounds``/``--bare`` for this run; every
    other one is a GRPOConfig field (``generation_kwargs={'max_cache_len':1024}`` is one)."""
    parts = text.split(":", 2)
    if len(parts) < 2 or parts[1] not in BACKEND_NAMES:
        raise SystemExit(
            f"--variant expects LABEL:BACKEND[:NAME=VALUE,...] with BACKEND one of {BACKEND_NAMES}, got {text!r}"
        )
    settings = parse_settings(parts[2].split(",")) if len(parts) == 3 and parts[2] else {}
    return {"label": parts[0], "backend": parts[1], "settings": settings}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a model folder (a machine without the Hub: see benchmarks.random_model)")
    parser.add_argument(
        "--table",
        type=Path,
        metavar="FOLDER",
        help="only print the table and ratios of the run JSONs in FOLDER (runs made by several calls)",
    )
    parser.add_argument("--backends", nargs="*", default=["unsloth", "bitsandbytes"], choices=BACKEND_NAMES)
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL:BACKEND[:NAME=VALUE,...]",
        help="an extra run with other settings (repeatable)",
    )
    parser.add_argument("--preset", default="basic")
    add_settings_argument(parser, "a GRPOConfig field for every run, e.g. --set max_completion_length=256")
    parser.add_argument("--rounds", type=int, default=3, help="timed generation rounds per run (default 3)")
    parser.add_argument("--warmup-rounds", type=int, default=1, help="whole rounds left out of the timing (default 1)")
    parser.add_argument("--lora-rank", type=int, default=16)
    parser.add_argument("--max-seq-length", type=int, default=1024)
    parser.add_argument("--timeout", type=int, default=900, help="seconds one run may take before it is stopped")
    parser.add_argument(
        "--bare",
        type=int,
        default=0,
        metavar="N",
        help="after training, N timed bare model.generate calls with the trainer's generation config",
    )
    parser.add_argument(
        "--profile", action="store_true", help="with --bare: count kernel launches over 16 decoding steps"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)  # a run's JSON spec, in the child process
    args = parser.parse_args(argv)
    if not args.model and not args.table:
        parser.error("--model is required (or --table FOLDER to tabulate earlier runs)")
    if args.rounds < 1 or args.warmup_rounds < 0:
        parser.error(
            f"--rounds ({args.rounds}) must be at least 1 and --warmup-rounds ({args.warmup_rounds}) at least 0"
        )
    return args


def compiled_generation_trainer():
    """GRPOTrainer whose generation lets transformers compile the decoding step.

    TRL (1.15 and 1.16) builds ``self.generation_config = GenerationConfig(**generation_kwargs,
    disable_compile=True)`` and passes it to ``generate``; transformers' auto-compilation (a static
    cache's decoding step through ``torch.compile``, mode ``reduce-overhead``: CUDA graphs) is
    skipped whenever ``disable_compile`` is set, and ``generation_kwargs`` cannot unset it (the same
    keyword twice). This subclass unsets it on that public attribute after ``__init__``; with
    ``cache_implementation="static"`` the decoding step then compiles. The one-line equivalent:
    ``trainer.generation_config.disable_compile = False`` after building the trainer."""
    from trl import GRPOTrainer

    class CompiledGenerationGRPOTrainer(GRPOTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if getattr(self, "generation_config", None) is not None:
                self.generation_config.disable_compile = False

    return CompiledGenerationGRPOTrainer


GENERATION_FIELDS = (
    "cache_implementation",
    "disable_compile",
    "compile_config",
    "max_cache_len",
    "max_new_tokens",
    "do_sample",
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "repetition_penalty",
    "use_cache",
)


def transformers_model(model):
    """The transformers model under a PEFT wrapper (the module whose ``__call__`` generate runs)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def dynamo_counters() -> dict:
    """torch.compile's counters so far: frames and graphs compiled, graph breaks (instrumentation only)."""
    try:
        from torch._dynamo.utils import counters
    except Exception:  # noqa: BLE001 - no torch.compile here
        return {}
    stats = dict(counters.get("stats", {}))
    return {"unique_graphs": stats.get("unique_graphs", 0), "calls_captured": stats.get("calls_captured", 0),
            "graph_breaks": sum(counters.get("graph_break", {}).values())}  # fmt: skip


def generation_state(model, config) -> dict:
    """What a ``generate`` call gets: the config's cache and compile fields, and the model's modes."""
    import torch

    inner = transformers_model(model)
    fields = {name: getattr(config, name, None) for name in GENERATION_FIELDS} if config is not None else {}
    if fields.get("compile_config") is not None:
        fields["compile_config"] = str(fields["compile_config"])
    return {
        "generation_config": fields,
        "training": inner.training,
        "is_gradient_checkpointing": bool(getattr(inner, "is_gradient_checkpointing", False)),
        "layers_checkpointing": sum(bool(getattr(m, "gradient_checkpointing", False)) for m in inner.modules()),
        "grad_enabled": torch.is_grad_enabled(),
        "inference_mode": torch.is_inference_mode_enabled(),
        "model_type": getattr(inner.config, "model_type", None),
        "compiled_call": hasattr(inner, "_compiled_call"),
    }


def probe_generate(model, records: list, forward_calls: int = 3):
    """Wrap ``model.generate`` (instance attribute: TRL and Unsloth call it through the trainer's
    model) so each call appends its seconds and, for the first two calls, ``generation_state``; for
    an uncompiled first call, the first ``forward_calls`` forward passes' input length, ``use_cache``
    and cache (a hook inside a compiled region would break it, so compiled calls get none)."""
    import torch

    generate = model.generate
    inner = transformers_model(model)

    def probed(*args, **kwargs):
        config = kwargs.get("generation_config")
        record = generation_state(model, config) if len(records) < 2 else {}
        forwards, handle = [], None
        compiled = config is not None and not getattr(config, "disable_compile", False) and \
            getattr(config, "cache_implementation", None) == "static"  # fmt: skip
        if not records and not compiled:

            def hook(module, hook_args, hook_kwargs):
                if len(forwards) < forward_calls:
                    ids = hook_kwargs.get("input_ids", hook_args[0] if hook_args else None)
                    cache = hook_kwargs.get("past_key_values")
                    forwards.append(
                        {
                            "input_ids": list(ids.shape) if ids is not None else None,
                            "use_cache": hook_kwargs.get("use_cache"),
                            "cache": type(cache).__name__,
                            "cache_length": int(cache.get_seq_length()) if hasattr(cache, "get_seq_length") else None,
                            "training": module.training,
                        }
                    )

            handle = inner.register_forward_pre_hook(hook, with_kwargs=True)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        started = time.perf_counter()
        try:
            out = generate(*args, **kwargs)
        finally:
            if handle is not None:
                handle.remove()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        record.update(
            {
                "seconds": round(time.perf_counter() - started, 3),
                "compiled_call_after": hasattr(inner, "_compiled_call"),
                "dynamo": dynamo_counters(),
            }
        )
        if forwards:
            record["forward_calls"] = forwards
        records.append(record)
        return out

    model.generate = probed
    return probed


def completion_tokens(sequences, prompt_width: int, eos_ids) -> int:
    """Completion tokens as the trainer counts them: up to and including the first EOS."""
    import torch

    completions = sequences[:, prompt_width:]
    is_eos = torch.isin(completions, torch.tensor(list(eos_ids), device=completions.device))
    lengths = torch.where(
        is_eos.any(dim=1),
        is_eos.int().argmax(dim=1) + 1,
        torch.full_like(is_eos[:, 0], completions.shape[1], dtype=torch.long),
    )
    return int(lengths.sum())


def bare_generation(trainer, model, tokenizer, backend: str, repeats: int, profile: bool) -> dict:
    """``repeats`` timed ``model.generate`` calls (after one warm-up call) on the trainer's model with
    a copy of the config the trainer passes, on one round's batch of training prompts, in the state
    TRL generates in: training mode with gradient checkpointing off (Unsloth: ``for_inference``)."""
    import copy

    import torch

    config = copy.deepcopy(getattr(trainer, "generation_config", None))
    if config is None:
        return {"error": "the trainer has no generation_config"}
    args = trainer.args
    n_prompts = max(1, (args.per_device_train_batch_size * (args.steps_per_generation or 1)) // args.num_generations)
    ids = []
    for row in trainer.train_dataset.select(range(n_prompts)):
        prompt = list(tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=True,
                                                    return_dict=True)["input_ids"])  # fmt: skip
        ids += [prompt] * args.num_generations
    width = max(map(len, ids))
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id
    input_ids = torch.tensor([[pad_id] * (width - len(i)) + i for i in ids], device=device)
    mask = torch.tensor([[0] * (width - len(i)) + [1] * len(i) for i in ids], device=device)
    eos = config.eos_token_id if isinstance(config.eos_token_id, list) else [config.eos_token_id]
    cuda = torch.cuda.is_available()
    inner = transformers_model(model)
    was_training, was_checkpointing = inner.training, bool(getattr(inner, "is_gradient_checkpointing", False))
    if backend == "unsloth":
        from unsloth import FastLanguageModel

        FastLanguageModel.for_inference(model)
    else:
        model.train()  # TRL generates with the model in training mode
        if was_checkpointing:
            model.gradient_checkpointing_disable()
    state = generation_state(model, config)

    def call(new_tokens=None):
        run_config = copy.deepcopy(config)
        if new_tokens:
            run_config.max_new_tokens = new_tokens
        if cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        with torch.no_grad():
            out = model.generate(input_ids=input_ids, attention_mask=mask, generation_config=run_config)
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - started, completion_tokens(out, width, eos)

    result = {"completions": len(ids), "prompt_width": width, "state": state}
    try:
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        # Warm-up: a compiled static cache needs the full length (its shapes); eager, 32 tokens do.
        compiled = config.cache_implementation == "static" and not config.disable_compile
        warm_seconds, _ = call(None if compiled else min(32, config.max_new_tokens))
        calls = [call() for _ in range(repeats)]
        result.update({"warmup_seconds": round(warm_seconds, 2), "seconds": [round(t, 3) for t, _ in calls],
                       "tokens": [n for _, n in calls],
                       "tokens_per_second": round(sum(n for _, n in calls) / sum(t for t, _ in calls), 1),
                       "tokens_per_second_per_call": [round(n / t, 1) for t, n in calls],
                       "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3) if cuda else None,
                       "dynamo": dynamo_counters()})  # fmt: skip
        if profile and cuda:
            result["profile"] = profile_generation(call)
        if compiled:
            # The same model and config as TRL builds it (disable_compile=True): the static cache uncompiled.
            config.disable_compile = True
            call(min(32, config.max_new_tokens))
            calls = [call() for _ in range(repeats)]
            as_built = {"seconds": [round(t, 3) for t, _ in calls], "tokens": [n for _, n in calls],
                        "tokens_per_second": round(sum(n for _, n in calls) / sum(t for t, _ in calls), 1),
                        "tokens_per_second_per_call": [round(n / t, 1) for t, n in calls]}  # fmt: skip
            if profile and cuda:
                as_built["profile"] = profile_generation(call)
            result["disable_compile_true"] = as_built
    except Exception as error:  # noqa: BLE001 - reported, not fatal: the trainer's numbers stand
        result["error"] = f"{type(error).__name__}: {str(error)[:300]}"
    finally:
        if backend == "unsloth":
            from unsloth import FastLanguageModel

            FastLanguageModel.for_training(model)
        elif was_checkpointing:
            model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs=trainer.args.gradient_checkpointing_kwargs
            )
        model.train(was_training)
    return result


def profile_generation(call, new_tokens: int = 17) -> dict:
    """Kernel launches, CUDA-graph replays and host time of one ``call(new_tokens)``, per decoding step."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        seconds, _ = call(new_tokens)
    counts: dict[str, int] = {}
    for event in prof.key_averages():
        counts[event.key] = counts.get(event.key, 0) + event.count
    launches = sum(n for key, n in counts.items() if key.startswith(("cudaLaunchKernel", "cuLaunchKernel")))
    graphs = sum(n for key, n in counts.items() if key.startswith("cudaGraphLaunch"))
    steps = new_tokens - 1
    top = sorted(((e.key, e.count, round(e.self_cpu_time_total / 1000, 1)) for e in prof.key_averages()),
                 key=lambda row: -row[2])[:8]  # fmt: skip
    return {"new_tokens": new_tokens, "seconds_profiled": round(seconds, 3), "kernel_launches": launches,
            "kernel_launches_per_step": round(launches / steps, 1), "cuda_graph_launches": graphs,
            "cuda_graph_launches_per_step": round(graphs / steps, 2), "top_self_cpu_ms": top}  # fmt: skip


def gsm8k_prompts(n: int = 64):
    from grpo_helpers.gsm8k import prepare_gsm8k

    return prepare_gsm8k("train", n=n, seed=0)


def run_one(spec: dict) -> dict:
    """One GRPO run in this process; returns its measurements."""
    settings = dict(spec["settings"])
    load_in_4bit = settings.pop("load_in_4bit", True)
    compile_generation = settings.pop("compile_generation", False)
    backend = spec["backend"]
    started = time.perf_counter()

    from grpo_helpers.models import add_lora, load_model

    # The backend's import comes first: Unsloth must patch transformers and TRL before they load.
    model, tokenizer = load_model(
        spec["model"], max_seq_length=spec["max_seq_length"], load_in_4bit=load_in_4bit, backend=backend
    )
    model = add_lora(model, backend=backend, r=spec["lora_rank"], random_state=0)
    load_seconds = time.perf_counter() - started

    import torch
    from trl import GRPOTrainer

    from grpo_helpers.config import make_config
    from grpo_helpers.rewards import tutorial_rewards

    def build(max_steps):
        return make_config(
            spec["preset"],
            output_dir=str(Path(spec["out"]).with_suffix("")),
            max_steps=max_steps,
            save_strategy="no",
            seed=0,
            **{**spec["overrides"], **settings},
        )

    # Optimizer steps per generation round: the trainer generates once for steps_per_generation
    # micro-batches, that is for steps_per_generation / gradient_accumulation_steps optimizer steps.
    probe = build(1)
    per_round = max(
        1, (probe.steps_per_generation or probe.gradient_accumulation_steps) // probe.gradient_accumulation_steps
    )
    warmup_steps = spec["warmup_rounds"] * per_round
    config = build((spec["warmup_rounds"] + spec["rounds"]) * per_round)
    trainer_class = compiled_generation_trainer() if compile_generation else GRPOTrainer
    trainer = trainer_class(
        model=model,
        args=config,
        train_dataset=gsm8k_prompts(),
        processing_class=tokenizer,
        reward_funcs=tutorial_rewards(config.max_completion_length),
    )
    clock = step_clock()
    trainer.add_callback(clock)
    generations = timed_generation(trainer)
    probes: list[dict] = []
    probe_generate(trainer.model, probes)
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()

    step_seconds = [b - a for a, b in zip(clock.ends, clock.ends[1:], strict=False)]
    timed = step_seconds[warmup_steps:]
    # Seconds per optimizer step in each timed round (its generation and its per_round updates).
    round_means = [mean(timed[i : i + per_round]) for i in range(0, len(timed), per_round)]
    # Generation calls after warm-up: the ones that ran after the warm-up rounds had ended.
    warm_end = clock.ends[warmup_steps]
    timed_generations = [call for call in generations if call["started"] >= warm_end]
    gen_seconds = sum(call["seconds"] for call in timed_generations)
    gen_tokens = sum(call["tokens"] for call in timed_generations)
    peak = round(torch.cuda.max_memory_allocated() / 2**30, 3) if cuda else None
    peak_reserved = round(torch.cuda.max_memory_reserved() / 2**30, 3) if cuda else None
    result = {
        "label": spec["label"],
        "backend": backend,
        "load_in_4bit": load_in_4bit,
        "compile_generation": compile_generation,
        "trainer_class": type(trainer).__name__,
        "settings": {**spec["overrides"], **settings},
        "config": {
            name: getattr(config, name)
            for name in (
                "num_generations",
                "per_device_train_batch_size",
                "gradient_accumulation_steps",
                "steps_per_generation",
                "generation_batch_size",
                "max_completion_length",
                "temperature",
                "beta",
                "loss_type",
                "bf16",
                "fp16",
                "optim",
                "gradient_checkpointing",
                "use_vllm",
            )
        },
        "model_class": type(model).__name__,
        "load_seconds": round(load_seconds, 1),
        "step_seconds": [round(s, 2) for s in step_seconds],
        "steps_per_round": per_round,
        "warmup_rounds": spec["warmup_rounds"],
        "rounds": spec["rounds"],
        "round_seconds_per_step": [round(s, 3) for s in round_means],
        "seconds_per_step": round(mean(timed), 3),
        "steps_per_second": round(1 / mean(timed), 4),
        "generation_calls": [
            {"seconds": round(call["seconds"], 3), "tokens": call["tokens"], "completions": call["completions"]}
            for call in generations
        ],
        "generated_tokens_per_second": round(gen_tokens / gen_seconds, 1) if gen_seconds else None,
        "generated_tokens_per_second_per_round": [
            round(c["tokens"] / c["seconds"], 1) for c in timed_generations if c["seconds"]
        ],
        "generation_share": round(gen_seconds / sum(timed), 3) if timed else None,
        "peak_memory_gib": peak,
        "peak_reserved_gib": peak_reserved,
        "generate_probe": probes[:2] + [{"seconds": [p["seconds"] for p in probes]}],
        "dynamo": dynamo_counters(),
        "bare": None,
        "device": torch.cuda.get_device_name(0) if cuda else platform.processor() or "cpu",
        "versions": package_versions(),
    }
    if spec.get("bare"):
        # The trainer's numbers first: a run stopped by --timeout while timing bare generate keeps them.
        Path(spec["out"]).write_text(
            json.dumps({**result, "bare": {"error": "stopped while timing bare generate"}}, indent=2) + "\n"
        )
        result["bare"] = bare_generation(trainer, trainer.model, tokenizer, backend, spec["bare"], spec["profile"])
    return result


def child_main(spec_json: str) -> int:
    spec = json.loads(spec_json)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result = run_one(spec)
    Path(spec["out"]).write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{spec['label']}: {result['seconds_per_step']} s/step, {result['generated_tokens_per_second']} tokens/s, "
        f"peak {result['peak_memory_gib']} GiB",
        flush=True,
    )
    return 0


def run_in_child(spec: dict, timeout: int) -> dict:
    """Run ``spec`` in a fresh Python process; its result, or ``{"label", "error"}``."""
    started = time.perf_counter()
    out = Path(spec["out"])
    out.unlink(missing_ok=True)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.gpu_backends", "--model", spec["model"], "--child", json.dumps(spec)],
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        if out.exists():  # the trainer's numbers, written before bare generate was timed
            return {
                **json.loads(out.read_text()),
                "stopped": f"after {timeout} s (--timeout), while timing bare generate",
            }
        return {"label": spec["label"], "backend": spec["backend"], "error": f"stopped after {timeout} s (--timeout)"}
    if done.returncode != 0 or not out.exists():
        return {"label": spec["label"], "backend": spec["backend"], "error": f"exit code {done.returncode}"}
    result = json.loads(out.read_text())
    result["process_seconds"] = round(time.perf_counter() - started, 1)
    return result


def ratios(results: dict[str, dict], base: str, other: str) -> dict | None:
    """How ``base`` compares with ``other``: speed-up in steps/s and tokens/s, and memory ratio."""
    a, b = results.get(base), results.get(other)
    if not a or not b or "error" in a or "error" in b:
        return None
    ratio = {"steps_per_second": round(a["steps_per_second"] / b["steps_per_second"], 2)}
    if a["generated_tokens_per_second"] and b["generated_tokens_per_second"]:
        ratio["generated_tokens_per_second"] = round(
            a["generated_tokens_per_second"] / b["generated_tokens_per_second"], 2
        )
    if a["peak_memory_gib"] and b["peak_memory_gib"]:
        ratio["peak_memory"] = round(a["peak_memory_gib"] / b["peak_memory_gib"], 2)
    return ratio


def runs_table(results: list[dict]) -> str:
    head = [
        "run",
        "backend",
        "weights",
        "s/step (mean of the timed rounds)",
        "slowest, fastest round (s/step)",
        "generated tokens/s",
        "generation share",
        "peak GPU memory (GiB)",
    ]
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["label"], r["backend"], "", f"failed: {r['error']}"])
            continue
        share = f"{r['generation_share']:.0%}" if r["generation_share"] is not None else ""
        rounds = r.get("round_seconds_per_step") or [r["seconds_per_step"]]
        rows.append(
            [
                r["label"],
                BACKEND_TITLES[r["backend"]],
                "4-bit" if r["load_in_4bit"] else "16-bit",
                f"{r['seconds_per_step']:.2f}",
                f"{max(rounds):.2f}, {min(rounds):.2f} ({len(rounds)} rounds)",
                r["generated_tokens_per_second"],
                share,
                r["peak_memory_gib"],
            ]
        )
    return markdown_table(head, rows)


def spread(values) -> str:
    return f"{min(values):g}-{max(values):g}" if values else ""


def bare_table(results: list[dict]) -> str:
    """Generated tokens/s inside the trainer (each timed round) against bare generate on the same model."""
    head = [
        "run",
        "trainer",
        "cache, compile inside the trainer",
        "inside the trainer: tokens/s (rounds)",
        "bare generate: tokens/s (calls)",
        "inside / bare",
        "s/step",
        "peak GPU memory (GiB), training / bare",
    ]
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["label"], f"failed: {r['error']}"])
            continue
        bare = r.get("bare") or {}
        probe = (r.get("generate_probe") or [{}])[0]
        gen = probe.get("generation_config", {})
        setting = f"{gen.get('cache_implementation') or 'dynamic'}, " + (
            "compiled" if probe.get("compiled_call_after") else "eager"
        )
        inside, outside = r.get("generated_tokens_per_second"), bare.get("tokens_per_second")
        ratio = f"{inside / outside:.2f}" if inside and outside else ""
        bare_text = (
            f"{outside} ({spread(bare.get('tokens_per_second_per_call', []))})" if outside else bare.get("error", "")
        )
        rows.append(
            [
                r["label"],
                r.get("trainer_class", ""),
                setting,
                f"{inside} ({spread(r.get('generated_tokens_per_second_per_round', []))})",
                bare_text,
                ratio,
                f"{r['seconds_per_step']:.2f}",
                f"{r['peak_memory_gib']} / {bare.get('peak_memory_gib')}",
            ]
        )
        if bare.get("disable_compile_true"):
            built = bare["disable_compile_true"]
            rows.append(
                [
                    f"{r['label']}, bare only",
                    "the same config with disable_compile=True (as TRL builds it)",
                    f"{gen.get('cache_implementation')}, eager",
                    "",
                    f"{built['tokens_per_second']} ({spread(built['tokens_per_second_per_call'])})",
                ]
            )
    return markdown_table(head, rows)


def report(results: dict[str, dict]) -> str:
    """The table of ``results`` (by label), with the Unsloth / plain TRL ratio when both ran."""
    table = runs_table(list(results.values()))
    for base, other in (
        ("unsloth", "bitsandbytes"),
        ("unsloth-gen1", "bitsandbytes-gen1"),
        ("unsloth-gen4", "bitsandbytes-gen4"),
    ):
        ratio = ratios(results, base, other)
        if ratio:
            table += f"\n{base} / {other}: " + ", ".join(f"{k} x{v}" for k, v in ratio.items()) + "\n"
    return table


def load_results(folder: Path) -> dict[str, dict]:
    """The run JSONs in ``folder`` (every ``*.json`` but ``summary.json``), by label."""
    runs = [json.loads(p.read_text()) for p in folder.glob("*.json") if p.name != "summary.json"]
    runs = [run for run in runs if "backend" in run and "label" in run]  # other notes kept beside the runs
    if not runs:
        raise SystemExit(f"no run JSONs in {folder}")
    runs.sort(key=lambda run: (run["backend"] != "unsloth", run["load_in_4bit"] is False, run["label"]))
    return {run["label"]: run for run in runs}


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args.child)
    if args.table:
        loaded = load_results(args.table)
        print(report(loaded))
        if any(run.get("bare") for run in loaded.values()):
            print(bare_table(list(loaded.values())))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    common = {
        "model": args.model,
        "preset": args.preset,
        "overrides": parse_settings(args.overrides),
        "rounds": args.rounds,
        "warmup_rounds": args.warmup_rounds,
        "lora_rank": args.lora_rank,
        "max_seq_length": args.max_seq_length,
        "bare": args.bare,
        "profile": args.profile,
    }
    runs = [{"label": backend, "backend": backend, "settings": {}} for backend in args.backends]
    runs += [parse_variant(text) for text in args.variant]
    if not runs:
        raise SystemExit("nothing to run: give --backends or --variant")
    results = {}
    for run in runs:
        timing = {
            key: run["settings"].pop(key) for key in ("rounds", "warmup_rounds", "bare") if key in run["settings"]
        }
        spec = {**common, **timing, **run, "out": str(args.out / f"{run['label']}.json")}
        print(f"== {run['label']} ({run['backend']}, {run['settings'] or 'preset settings'})", flush=True)
        results[run["label"]] = run_in_child(spec, args.timeout)
    summary = {
        "common": common,
        "runs": list(results.values()),
        "unsloth_vs_bitsandbytes": ratios(results, "unsloth", "bitsandbytes"),
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    table = report(results)
    (args.out / "table.md").write_text(table)
    print(table)
    if any(r.get("bare") for r in results.values()):
        text = bare_table(list(results.values()))
        (args.out / "bare_table.md").write_text(text)
        print(text)
    return 0 if all("error" not in r for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
