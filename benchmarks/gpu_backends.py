"""GPU benchmark: the same GRPO run with the Unsloth backend and with plain transformers +
bitsandbytes 4-bit + PEFT + TRL, each backend in its own process (Unsloth patches TRL and
transformers when imported, so they cannot share one).

    python benchmarks/gpu_backends.py --model MODEL_FOLDER --out benchmarks/results/gpu

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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from package_versions import package_versions  # noqa: E402
from settings_args import parse_settings  # noqa: E402
from step_timing import step_clock, timed_generation  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "gpu"
BACKEND_NAMES = ("unsloth", "bitsandbytes", "transformers")
# What each backend is called in the tables.
BACKEND_TITLES = {"unsloth": "Unsloth + TRL", "bitsandbytes": "transformers + bitsandbytes + PEFT + TRL",
                  "transformers": "transformers + PEFT + TRL"}


def parse_variant(text: str) -> dict:
    """``label:backend[:name=value,...]``. Three settings are the benchmark's own:
    ``load_in_4bit=False`` loads the model in 16 bits, ``rounds`` and ``warmup_rounds`` replace
    ``--rounds``/``--warmup-rounds`` for this run; every other one is a GRPOConfig field."""
    parts = text.split(":", 2)
    if len(parts) < 2 or parts[1] not in BACKEND_NAMES:
        raise SystemExit(f"--variant expects LABEL:BACKEND[:NAME=VALUE,...] with BACKEND one of {BACKEND_NAMES}, got {text!r}")
    settings = parse_settings(parts[2].split(",")) if len(parts) == 3 and parts[2] else {}
    return {"label": parts[0], "backend": parts[1], "settings": settings}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a model folder (the device has no Hub: see random_model.py)")
    parser.add_argument("--table", type=Path, metavar="FOLDER",
                        help="only print the table and ratios of the run JSONs in FOLDER (runs made by several calls)")
    parser.add_argument("--backends", nargs="*", default=["unsloth", "bitsandbytes"], choices=BACKEND_NAMES)
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL:BACKEND[:NAME=VALUE,...]",
                        help="an extra run with other settings (repeatable)")
    parser.add_argument("--preset", default="basic")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                        help="a GRPOConfig field for every run, e.g. --set max_completion_length=256")
    parser.add_argument("--rounds", type=int, default=3, help="timed generation rounds per run (default 3)")
    parser.add_argument("--warmup-rounds", type=int, default=1, help="whole rounds left out of the timing (default 1)")
    parser.add_argument("--lora-rank", type=int, default=16)
    parser.add_argument("--max-seq-length", type=int, default=1024)
    parser.add_argument("--timeout", type=int, default=900, help="seconds one run may take before it is stopped")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)  # a run's JSON spec, in the child process
    args = parser.parse_args(argv)
    if not args.model and not args.table:
        parser.error("--model is required (or --table FOLDER to tabulate earlier runs)")
    if args.rounds < 1 or args.warmup_rounds < 0:
        parser.error(f"--rounds ({args.rounds}) must be at least 1 and --warmup-rounds ({args.warmup_rounds}) at least 0")
    return args


def gsm8k_prompts(n: int = 64):
    from grpo_helpers.gsm8k import prepare_gsm8k

    return prepare_gsm8k("train", n=n, seed=0)


def run_one(spec: dict) -> dict:
    """One GRPO run in this process; returns its measurements."""
    settings = dict(spec["settings"])
    load_in_4bit = settings.pop("load_in_4bit", True)
    backend = spec["backend"]
    started = time.perf_counter()

    from grpo_helpers.models import add_lora, load_model

    # The backend's import comes first: Unsloth must patch transformers and TRL before they load.
    model, tokenizer = load_model(spec["model"], max_seq_length=spec["max_seq_length"], load_in_4bit=load_in_4bit, backend=backend)
    model = add_lora(model, backend=backend, r=spec["lora_rank"], random_state=0)
    load_seconds = time.perf_counter() - started

    import torch
    from trl import GRPOTrainer

    from grpo_helpers.config import make_config
    from grpo_helpers.rewards import tutorial_rewards

    def build(max_steps):
        return make_config(spec["preset"], output_dir=str(Path(spec["out"]).with_suffix("")), max_steps=max_steps,
                           save_strategy="no", seed=0, **{**spec["overrides"], **settings})

    # Optimizer steps per generation round: the trainer generates once for steps_per_generation
    # micro-batches, that is for steps_per_generation / gradient_accumulation_steps optimizer steps.
    probe = build(1)
    per_round = max(1, (probe.steps_per_generation or probe.gradient_accumulation_steps) // probe.gradient_accumulation_steps)
    warmup_steps = spec["warmup_rounds"] * per_round
    config = build((spec["warmup_rounds"] + spec["rounds"]) * per_round)
    trainer = GRPOTrainer(model=model, args=config, train_dataset=gsm8k_prompts(), processing_class=tokenizer,
                          reward_funcs=tutorial_rewards(config.max_completion_length))
    clock = step_clock()
    trainer.add_callback(clock)
    generations = timed_generation(trainer)
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()

    step_seconds = [b - a for a, b in zip(clock.ends, clock.ends[1:])]
    timed = step_seconds[warmup_steps:]
    # Seconds per optimizer step in each timed round (its generation and its per_round updates).
    round_means = [mean(timed[i : i + per_round]) for i in range(0, len(timed), per_round)]
    # Generation calls after warm-up: the ones that ran after the warm-up rounds had ended.
    warm_end = clock.ends[warmup_steps]
    timed_generations = [call for call in generations if call["started"] >= warm_end]
    gen_seconds = sum(call["seconds"] for call in timed_generations)
    gen_tokens = sum(call["tokens"] for call in timed_generations)
    return {
        "label": spec["label"],
        "backend": backend,
        "load_in_4bit": load_in_4bit,
        "settings": {**spec["overrides"], **settings},
        "config": {name: getattr(config, name) for name in (
            "num_generations", "per_device_train_batch_size", "gradient_accumulation_steps", "steps_per_generation",
            "generation_batch_size", "max_completion_length", "temperature", "beta", "loss_type", "bf16", "fp16",
            "optim", "gradient_checkpointing", "use_vllm")},
        "model_class": type(model).__name__,
        "load_seconds": round(load_seconds, 1),
        "step_seconds": [round(s, 2) for s in step_seconds],
        "steps_per_round": per_round, "warmup_rounds": spec["warmup_rounds"], "rounds": spec["rounds"],
        "round_seconds_per_step": [round(s, 3) for s in round_means],
        "seconds_per_step": round(mean(timed), 3),
        "steps_per_second": round(1 / mean(timed), 4),
        "generation_calls": [{"seconds": round(call["seconds"], 3), "tokens": call["tokens"], "completions": call["completions"]}
                             for call in generations],
        "generated_tokens_per_second": round(gen_tokens / gen_seconds, 1) if gen_seconds else None,
        "generation_share": round(gen_seconds / sum(timed), 3) if timed else None,
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3) if cuda else None,
        "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / 2**30, 3) if cuda else None,
        "device": torch.cuda.get_device_name(0) if cuda else platform.processor() or "cpu",
        "versions": package_versions(),
    }


def child_main(spec_json: str) -> int:
    spec = json.loads(spec_json)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result = run_one(spec)
    Path(spec["out"]).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{spec['label']}: {result['seconds_per_step']} s/step, {result['generated_tokens_per_second']} tokens/s, "
          f"peak {result['peak_memory_gib']} GiB", flush=True)
    return 0


def run_in_child(spec: dict, timeout: int) -> dict:
    """Run ``spec`` in a fresh Python process; its result, or ``{"label", "error"}``."""
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, __file__, "--model", spec["model"], "--child", json.dumps(spec)],
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"label": spec["label"], "backend": spec["backend"], "error": f"stopped after {timeout} s (--timeout)"}
    out = Path(spec["out"])
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
        ratio["generated_tokens_per_second"] = round(a["generated_tokens_per_second"] / b["generated_tokens_per_second"], 2)
    if a["peak_memory_gib"] and b["peak_memory_gib"]:
        ratio["peak_memory"] = round(a["peak_memory_gib"] / b["peak_memory_gib"], 2)
    return ratio


def markdown_table(results: list[dict]) -> str:
    lines = ["| run | backend | weights | s/step (mean of the timed rounds) | slowest, fastest round (s/step) | "
             "generated tokens/s | generation share | peak GPU memory (GiB) |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['label']} | {r['backend']} | | failed: {r['error']} | | | | |")
            continue
        share = f"{r['generation_share']:.0%}" if r["generation_share"] is not None else ""
        rounds = r.get("round_seconds_per_step") or [r["seconds_per_step"]]
        lines.append(f"| {r['label']} | {BACKEND_TITLES[r['backend']]} | {'4-bit' if r['load_in_4bit'] else '16-bit'} | "
                     f"{r['seconds_per_step']:.2f} | {max(rounds):.2f}, {min(rounds):.2f} ({len(rounds)} rounds) | "
                     f"{r['generated_tokens_per_second']} | {share} | {r['peak_memory_gib']} |")
    return "\n".join(lines) + "\n"


def report(results: dict[str, dict]) -> str:
    """The table of ``results`` (by label), with the Unsloth / plain TRL ratio when both ran."""
    table = markdown_table(list(results.values()))
    for base, other in (("unsloth", "bitsandbytes"), ("unsloth-gen1", "bitsandbytes-gen1"), ("unsloth-gen4", "bitsandbytes-gen4")):
        ratio = ratios(results, base, other)
        if ratio:
            table += f"\n{base} / {other}: " + ", ".join(f"{k} x{v}" for k, v in ratio.items()) + "\n"
    return table


def load_results(folder: Path) -> dict[str, dict]:
    """The run JSONs in ``folder`` (every ``*.json`` but ``summary.json``), by label."""
    runs = [json.loads(p.read_text()) for p in folder.glob("*.json") if p.name != "summary.json"]
    if not runs:
        raise SystemExit(f"no run JSONs in {folder}")
    runs.sort(key=lambda run: (run["backend"] != "unsloth", run["load_in_4bit"] is False, run["label"]))
    return {run["label"]: run for run in runs}


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args.child)
    if args.table:
        print(report(load_results(args.table)))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    common = {"model": args.model, "preset": args.preset, "overrides": parse_settings(args.overrides), "rounds": args.rounds,
              "warmup_rounds": args.warmup_rounds, "lora_rank": args.lora_rank, "max_seq_length": args.max_seq_length}
    runs = [{"label": backend, "backend": backend, "settings": {}} for backend in args.backends]
    runs += [parse_variant(text) for text in args.variant]
    if not runs:
        raise SystemExit("nothing to run: give --backends or --variant")
    results = {}
    for run in runs:
        timing = {key: run["settings"].pop(key) for key in ("rounds", "warmup_rounds") if key in run["settings"]}
        spec = {**common, **timing, **run, "out": str(args.out / f"{run['label']}.json")}
        print(f"== {run['label']} ({run['backend']}, {run['settings'] or 'preset settings'})", flush=True)
        results[run["label"]] = run_in_child(spec, args.timeout)
    summary = {"common": common, "runs": list(results.values()),
               "unsloth_vs_bitsandbytes": ratios(results, "unsloth", "bitsandbytes")}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    table = report(results)
    (args.out / "table.md").write_text(table)
    print(table)
    return 0 if all("error" not in r for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
