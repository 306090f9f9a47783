"""The CPU table of docs/benchmarks.md, from the summaries cpu_learning.py wrote.

    .venv/bin/python benchmarks/cpu_table.py                 # benchmarks/results/seed*/summary.json
    .venv/bin/python benchmarks/cpu_table.py path/to/results
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

COLUMNS = (
    ("seed", "seed"),
    ("wall clock (s)", "wall_clock_seconds"),
    ("s/step", "seconds_per_step"),
    ("generated tokens/s", "generated_tokens_per_second"),
    ("reward, first quarter", "reward_first_quarter"),
    ("reward, last quarter", "reward_last_quarter"),
    ("last / first", "reward_ratio_last_to_first"),
)


def rows(folder: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(folder.glob("seed*/summary.json"))]


def table(summaries: list[dict]) -> str:
    head = [name for name, _ in COLUMNS] + ["accuracy before -> after", "format before -> after", "load average (1 min) before, after"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summaries:
        before, after = s["eval_before"], s["eval_after"]
        cells = [str(s[key]) for _, key in COLUMNS] + [
            f"{before['accuracy']:.1%} -> {after['accuracy']:.1%} (n={after['problems']})",
            f"{before['format_rate']:.1%} -> {after['format_rate']:.1%}",
            f"{s['load_average_before'][0]}, {s['load_average_after'][0]}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    folder = Path(argv[0]) if argv else Path(__file__).resolve().parent / "results"
    summaries = rows(folder)
    if not summaries:
        raise SystemExit(f"no seed*/summary.json under {folder}: run benchmarks/cpu_learning.py first")
    print(table(summaries))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
