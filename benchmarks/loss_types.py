"""The loss-type study (issue 28, notebook 11): every ``loss_type`` of the installed TRL, and GSPO
(``importance_sampling_level="sequence"``), trained on one fixed budget, several seeds each.

    python3 -m benchmarks.loss_types run --out /tmp/loss_types --model /tmp/smollm2 --seeds 0 1 2
    python3 -m benchmarks.loss_types table /tmp/loss_types          # table.md and loss_types.json there

``run`` starts one ``benchmarks.cpu_learning`` process per (variant, seed), ``--parallel`` at a time (on
one GPU they share it; on a CPU give each one thread), each in ``OUT/<variant>/seed<N>/``, and packs
``OUT.tgz`` after every finished run (what a time limit stops is still there). Every run has the same
budget: the ``quick_cpu`` preset (the tutorial's CPU run) on the CPU curriculum (``--curriculum``
one-step, two-step, then easy GSM8K problems, in that order), greedy accuracy on held-out generated
problems before and after (``--task-eval-problems``), the preset's other settings unchanged; each
variant changes ``loss_type`` and what that loss type needs besides its name
(``grpo_helpers.config.LOSS_COMPANIONS``). ``table`` reads the runs' ``summary.json`` files and
writes the per-variant mean and spread over seeds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from grpo_helpers.config import LOSS_COMPANIONS, PRESETS, accepted_loss_types

GSPO = {"loss_type": "grpo", "importance_sampling_level": "sequence"}  # TRL's paper index: GSPO is grpo + this


def variants() -> dict[str, dict]:
    """Variant name -> the GRPOConfig settings it changes: each loss type with its companions, and GSPO."""
    found = {loss: {"loss_type": loss, **LOSS_COMPANIONS.get(loss, {})} for loss in accepted_loss_types()}
    return {**found, "gspo": dict(GSPO)}


def curriculum_steps(curriculum: list[int], preset: str = "quick_cpu") -> int:
    """The steps that go through the curriculum once: its problems over the prompts a step takes."""
    settings = PRESETS[preset]
    return sum(curriculum) // (settings["per_device_train_batch_size"] // settings["num_generations"])


def run_command(variant: str, seed: int, args) -> list[str]:
    """The ``benchmarks.cpu_learning`` command of one run: the curriculum once, in order."""
    one, two, gsm8k = args.curriculum
    command = [sys.executable, "-m", "benchmarks.cpu_learning", "--seeds", str(seed), "--threads", str(args.threads),
               "--curriculum", str(one), str(two), str(gsm8k), "--eval-problems", "0",
               "--task-eval-problems", str(args.eval_problems), "--held-out", "one-step",
               "--passk-problems", str(args.passk_problems), "--out", str(args.out / variant)]  # fmt: skip
    if args.model:
        command += ["--model", args.model]
    for name, value in {"max_steps": curriculum_steps(args.curriculum), **variants()[variant]}.items():
        command += ["--set", f"{name}={value}"]
    return command


def pack(out: Path) -> Path:
    archive = out.with_suffix(".tgz")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(out, arcname=out.name)
    return archive


def run(args) -> int:
    chosen = args.variants or list(variants())
    unknown = sorted(set(chosen) - set(variants()))
    if unknown:
        raise SystemExit(f"unknown variants {unknown}: choose from {', '.join(variants())}")
    queue = [(variant, seed) for seed in args.seeds for variant in chosen]
    args.out.mkdir(parents=True, exist_ok=True)
    running: dict[subprocess.Popen, tuple[str, int, float]] = {}
    failed = 0
    started = time.time()
    while queue or running:
        while queue and len(running) < args.parallel:
            variant, seed = queue.pop(0)
            log = args.out / f"{variant}_seed{seed}.log"
            process = subprocess.Popen(run_command(variant, seed, args), stdout=log.open("w"), stderr=subprocess.STDOUT)
            running[process] = (variant, seed, time.time())
        time.sleep(2)
        for process in [p for p in running if p.poll() is not None]:
            variant, seed, began = running.pop(process)
            failed += process.returncode != 0
            print(f"{variant} seed {seed}: exit {process.returncode} after {time.time() - began:.0f} s "
                  f"({time.time() - started:.0f} s in all)", flush=True)  # fmt: skip
            pack(args.out)
    pack(args.out)
    return 1 if failed else 0


def spread(values: list[float]) -> str:
    """Mean and, with more than one value, the sample standard deviation and the range."""
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def collect(out: Path) -> dict[str, list[dict]]:
    """Variant -> its runs' summaries, by seed."""
    runs: dict[str, list[dict]] = {}
    for path in sorted(out.glob("*/seed*/summary.json")):
        runs.setdefault(path.parent.parent.name, []).append(json.loads(path.read_text()))
    return {name: sorted(found, key=lambda s: s["seed"]) for name, found in runs.items()}


PATH_FIGURES = ("correctness_per_step", "reward_first_quarter", "reward_last_quarter", "mean_completion_length",
                "clipped_ratio_mean", "frac_reward_zero_std_mean")  # fmt: skip


def same_paths(runs: dict[str, list[dict]]) -> dict[int, list[list[str]]]:
    """Seed -> the variants grouped by their run's path: equal in every figure of ``PATH_FIGURES`` (to the last
    digit written) and in what they got right after, as runs whose gradients are equal at every step are."""
    paths: dict[int, dict[str, list[str]]] = {}
    for name, found in runs.items():
        for summary in found:
            after = {held_out: (run["correct"], run["format_rate"]) for held_out, run in summary["eval_after"].items()}
            key = json.dumps([{figure: summary[figure] for figure in PATH_FIGURES}, after], sort_keys=True)
            paths.setdefault(summary["seed"], {}).setdefault(key, []).append(name)
    return {seed: list(groups.values()) for seed, groups in sorted(paths.items())}


def table(args) -> int:
    runs = collect(args.out)
    if not runs:
        raise SystemExit(f"no runs in {args.out} (expected <variant>/seed<N>/summary.json)")
    order = [name for name in variants() if name in runs] + sorted(set(runs) - set(variants()))
    lines = [
        "| variant | settings | seeds | held-out right before | held-out right after | right after, by seed "
        "| change (points) | correctness reward, last quarter | s/step |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    curves = {}
    for name in order:
        found = runs[name]
        before = [s["eval_before"]["generated"]["accuracy"] for s in found]
        by_seed = [s["eval_after"]["generated"] for s in found]
        after = [run["accuracy"] for run in by_seed]
        rights = ", ".join("{correct}/{problems}".format(**run) for run in by_seed)
        settings = ", ".join(f"{k}={v}" for k, v in found[0]["overrides"].items() if k != "max_steps")
        lines.append(
            f"| {name} | {settings} | {', '.join(str(s['seed']) for s in found)} | {spread(before)} | {spread(after)} "
            f"| {rights} "
            f"| {spread([100 * (a - b) for a, b in zip(after, before, strict=True)])} "
            f"| {spread([s['correctness_last_quarter'] for s in found])} "
            f"| {statistics.mean(s['seconds_per_step'] for s in found):.2f} |"
        )
        curves[name] = {
            "settings": found[0]["overrides"],
            "runs": [
                {
                    "seed": s["seed"],
                    "correctness_per_step": s["correctness_per_step"],
                    "held_out_before": s["eval_before"]["generated"],
                    "held_out_after": s["eval_after"]["generated"],
                    "seconds_per_step": s["seconds_per_step"],
                    "command": s["command"],
                }
                for s in found
            ],
        }
    lines += ["", "Runs of one seed that took the same path (the same figures at every step and after):", ""]
    for seed, groups in same_paths(runs).items():
        lines.append(f"- seed {seed}: " + "; ".join(" = ".join(group) for group in groups))
    (args.out / "table.md").write_text("\n".join(lines) + "\n")
    (args.out / "loss_types.json").write_text(json.dumps(curves, indent=1) + "\n")
    print("\n".join(lines))
    return 0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("run", help="train every variant with every seed")
    start.add_argument("--out", type=Path, required=True)
    start.add_argument("--model", default=None, help="a model folder (default: the offline default model)")
    start.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    start.add_argument("--variants", nargs="+", default=None, help=f"default: all ({', '.join(variants())})")
    start.add_argument("--curriculum", type=int, nargs=3, default=[16, 8, 4], metavar=("ONE", "TWO", "GSM8K"))
    start.add_argument("--eval-problems", type=int, default=128, help="held-out one-step problems, greedy")
    start.add_argument("--passk-problems", type=int, default=0)
    start.add_argument("--parallel", type=int, default=9, help="runs at a time")
    start.add_argument("--threads", type=int, default=1, help="torch threads per run")
    show = commands.add_parser("table", help="the per-variant table of a finished study")
    show.add_argument("out", type=Path)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    return run(args) if args.command == "run" else table(args)


if __name__ == "__main__":
    raise SystemExit(main())
