#!/usr/bin/env python3
"""The notebooks' install cell in install mode, as a learner's first run on Colab runs it (gpu_check.sh).

    PIP_NO_INDEX=1 PIP_FIND_LINKS=.whl PIP_NO_DEPS=1 ENV/bin/python gpu_check/install_cell.py --out DIR

runs the setup cell of notebook 00 (every notebook's first code cell is the same one) twice in this
interpreter: the first run must install what the machine lacks (pip reading the wheel folder instead of
PyPI: ``PIP_*`` variables are pip's own settings) and leave every ``gpu.txt`` pin it planned installed at its
version; the second must find nothing to install and install nothing, the seconds a learner waits when
the pins are met. Writes ``DIR/install_cell.json`` (what each run printed, its seconds, what was planned
and installed) and exits 1 when a run fails either check. Standard library only, apart from what the cell
imports (grpo_helpers).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import io
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "00_start_here.ipynb"
_MAGIC = re.compile(r"^(\s*)%pip\b.*$", re.MULTILINE)


def setup_cell(notebook: Path = NOTEBOOK) -> str:
    """The notebook's first code cell as plain Python: a ``%pip`` line (an IPython magic, reached only where
    grpo_helpers is not importable) becomes an error saying so."""
    cells = json.loads(notebook.read_text())["cells"]
    source = "".join(next(c for c in cells if c["cell_type"] == "code")["source"])
    if "ensure_environment()" not in source:
        raise SystemExit(f"{notebook}: its first code cell does not call ensure_environment()")
    error = r'\1raise SystemExit("grpo_helpers is not importable here: put the checkout on PYTHONPATH")'
    return _MAGIC.sub(error, source)


def run_cell(source: str) -> tuple[str, float, str | None]:
    """(what the cell printed, seconds, the error it raised or None)."""
    output, error = io.StringIO(), None
    started = time.perf_counter()
    with contextlib.redirect_stdout(output):
        try:
            exec(compile(source, "install cell", "exec"), {"__name__": "__main__"})
        except BaseException as raised:  # noqa: BLE001  reported, the check fails
            error = f"{type(raised).__name__}: {raised}"
    seconds = round(time.perf_counter() - started, 1)
    print(output.getvalue(), end="", flush=True)
    return output.getvalue(), seconds, error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    from grpo_helpers.environment import cuda_available
    from grpo_helpers.install import plan_install

    source = setup_cell()
    plan = plan_install(cuda_available())
    planned = {step.name: step.requirement for step in plan.install + plan.install_without_deps}
    runs, problems = [], []
    for label in ("first run", "second run"):
        print(f"== install cell, {label}", flush=True)
        printed, seconds, error = run_cell(source)
        importlib.invalidate_caches()
        runs.append({"run": label, "seconds": seconds, "error": error, "printed": printed})
        if error:
            problems.append(f"{label}: {error}")
    installed = {}
    for name in planned:
        try:
            installed[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed[name] = None
    # an exact pin must be met exactly; a range (torch, where the platform's is missing) by any version
    wrong = {n: v for n, v in installed.items() if v is None or ("==" in planned[n] and v != planned[n].split("==")[1])}
    if not planned:
        problems.append("the first run planned nothing: this interpreter already had every pin (not a new machine)")
    if wrong:
        problems.append(f"after the first run these are not at their pins: {wrong} (planned {planned})")
    if "Nothing to install." not in runs[1]["printed"]:
        problems.append("the second run did not find everything installed")
    report = {
        "status": "failed" if problems else "passed",
        "python": sys.executable,
        "planned": planned,
        "installed": installed,
        "runs": runs,
        "problems": problems,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "install_cell.json").write_text(json.dumps(report, indent=1) + "\n")
    print(
        f"install cell: {report['status']}; first run {runs[0]['seconds']} s installed {len(planned)} packages "
        f"({', '.join(planned.values())}); second run {runs[1]['seconds']} s"
        + "".join(f"\n  problem: {p}" for p in problems),
        flush=True,
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
