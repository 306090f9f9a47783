"""The CPU tables of docs/benchmarks.md, from the summaries ``benchmarks.cpu_learning`` wrote.

.venv/bin/python -m benchmarks.cpu_table                 # benchmarks/results/seed*/summary.json
.venv/bin/python -m benchmarks.cpu_table path/to/results
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from benchmarks.common.tables import markdown_table


def rows(folder: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(folder.glob("**/seed*/summary.json"))]


def accuracy(result: dict | None) -> str:
    """``6.2% [1.7-20.2%] (2/32)``: the accuracy, its 95% interval and the counts."""
    if not result:
        return "-"
    low, high = result["ci95"]
    return f"{result['accuracy']:.1%} [{low:.1%}-{high:.1%}] ({result['correct']}/{result['problems']})"


def passk(result: dict | None) -> str:
    if not result:
        return "-"
    k = result["k"]
    return f"pass@1 {result['pass@1']:.1%}, pass@{k} {result[f'pass@{k}']:.0%}"


def arm(s: dict) -> str:
    task = f"curriculum {tuple(s['curriculum'])}" if s.get("curriculum") else s.get("task", "gsm8k")
    return f"{s['seed']}, {task}, " + (
        f"primed ({s['priming']['examples']} solutions, {s['priming']['steps']} SFT steps)"
        if s.get("priming")
        else "not primed"
    )


def table(summaries: list[dict]) -> str:
    head = [
        "seed, arm",
        "wall clock (s)",
        "s/step",
        "correctness reward, first -> last quarter",
        "groups with zero correctness std",
        "held-out GSM8K before -> after",
        "held-out generated before -> after",
        "pass@k generated (one-step) before -> after",
        "format rate (GSM8K) before -> after",
        "load average (1 min) before, after",
    ]
    lines = []
    key = "gsm8k_test"
    for s in summaries:
        before, after = s["eval_before"], s["eval_after"]
        start = s.get("eval_primed") or {}
        lines.append(
            [
                arm(s),
                str(s["wall_clock_seconds"]),
                str(s["seconds_per_step"]),
                f"{s['correctness_first_quarter']} -> {s['correctness_last_quarter']}",
                f"{s['correctness_zero_std_share']:.0%}",
                f"{accuracy(before.get('gsm8k_test'))} -> {accuracy(after.get('gsm8k_test'))}",
                f"{accuracy(before.get('generated'))} -> "
                + (f"{accuracy(start['generated'])} (primed) -> " if start else "")
                + accuracy(after.get("generated")),
                f"{passk(before.get('passk_generated'))} -> {passk(after.get('passk_generated'))}",
                " -> ".join(f"{m[key]['format_rate']:.0%}" if key in m else "-" for m in (before, after)),
                f"{s['load_average_before'][0]}, {s['load_average_after'][0]}",
            ]
        )
    return markdown_table(head, lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    folder = Path(argv[0]) if argv else Path(__file__).resolve().parent / "results"
    summaries = [s for s in rows(folder) if "correctness_first_quarter" in s]
    if not summaries:
        raise SystemExit(f"no seed*/summary.json of the current benchmarks.cpu_learning under {folder}: run it first")
    print(table(summaries), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
