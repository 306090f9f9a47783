#!/usr/bin/env python3
"""The GPU check's summary: what ran on the GPU machine, in ``gpu_summary.md`` and ``gpu_summary.json``.

    python3 gpu_check/gpu_summary.py probe > machine.json      # GPU, driver, CUDA, package versions
    python3 gpu_check/gpu_summary.py write --out DIR [--machine machine.json] [--steps steps.tsv]
                                     [--progress progress.jsonl] [--junit a.xml ...]

``write`` reads the per-test lines that gpu_check/gpu_check_plugin.py appends as tests finish
(``--progress``) or, without them, pytest's junit XML files, and writes both summaries into
``--out``. It never fails on missing or partial inputs: a run stopped half-way still gets a
summary, with the notebooks and tests that did not finish listed as such.
Standard library only (the JSON is also what tests/test_gpu_check.py reads).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["torch", "transformers", "trl", "peft", "unsloth", "unsloth_zoo", "bitsandbytes", "datasets",
            "accelerate", "torchao", "triton", "pandas", "pytest", "pytest-xdist", "nbmake", "ipykernel"]  # fmt: skip
# a notebook run by nbmake (notebooks/05_x.ipynb::..., or classname notebooks.05_x...), not a unit test
# whose parameter names a notebook (tests/test_notebook_structure.py::test_chapter_shape[05_x.ipynb])
# (notebooks/full/05_x.ipynb: a copy run in full mode, GPU_CHECK_FULL_MODEL)
NOTEBOOK = re.compile(r"^notebooks[/.](?:full[/.])?(\d\d_[A-Za-z0-9_\-]+\.ipynb)")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
NOTEBOOK_RESULT = {"error": "failed", "xpassed": "passed", "stopped": "stopped at the deadline"}
RANK = {"error": 6, "failed": 5, "stopped": 4, "xpassed": 3, "passed": 2, "xfailed": 1, "skipped": 0}
NOTEBOOK_LINES, UNIT_LINES, UNIT_FAILURES_SHOWN = 20, 8, 40
EXIT_MEANING = {
    124: ": stopped at the deadline",
    137: ": killed at the deadline",
    2: ": interrupted or usage error",
    3: ": internal error",
    4: ": usage error (a conftest or option failed)",
    5: ": no tests collected",
}


# ---- on the machine ---------------------------------------------------------------------------


def probe() -> dict:
    """GPU name, memory, driver and CUDA versions, and the versions of the packages that matter."""
    from datetime import datetime, timezone

    machine: dict = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": sys.version.split()[0],
    }
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30).stdout  # fmt: skip
        machine["gpus"] = [dict(zip(("name", "memory", "driver"), (x.strip() for x in line.split(",")), strict=False))
                           for line in out.strip().splitlines() if line.strip()]  # fmt: skip
    except (OSError, subprocess.SubprocessError) as error:
        machine["gpus"] = []
        machine["nvidia_smi_error"] = str(error)
    try:
        import torch

        machine["torch_cuda"] = torch.version.cuda
        machine["cuda_available"] = torch.cuda.is_available()
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            machine["torch_device"] = (
                f"{props.name}, {props.total_memory / 2**30:.0f} GiB, sm_{props.major}{props.minor}"
            )
    except Exception as error:  # a broken torch is a result too
        machine["torch_error"] = f"{type(error).__name__}: {error}"
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    machine["versions"] = versions
    return machine


# ---- reading results ----------------------------------------------------------------------------


def _tail(text: str, lines: int) -> str:
    kept = [line.rstrip() for line in _ANSI.sub("", text or "").splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def notebook_of(*names: str) -> str | None:
    for name in names:
        match = NOTEBOOK.search(name or "")
        if match:
            return match.group(1)
    return None


def read_progress(path: Path) -> tuple[list[dict], list[str]]:
    """``(results, collected node ids)`` from the plugin's JSON lines; a torn last line is skipped."""
    results, collected, interrupted = [], [], {}
    if not path or not Path(path).is_file():
        return results, collected
    entries = []
    for line in Path(path).read_text(errors="replace").splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    for entry in entries:
        if entry.get("event") == "interrupted":
            interrupted.setdefault(entry.get("run"), entry.get("time", 0))
    for entry in entries:
        if entry.get("event") == "collected":
            collected.extend(entry.get("nodeids", []))
        elif entry.get("event") == "result":
            outcome = entry["outcome"]
            stopped_at = interrupted.get(entry.get("run"))
            if outcome in ("failed", "error") and stopped_at is not None and entry.get("time", 0) >= stopped_at:
                outcome = "stopped"  # it was running when the deadline interrupted its run
            results.append(
                {
                    "id": entry["nodeid"],
                    "outcome": outcome,
                    "seconds": float(entry.get("seconds") or 0),
                    "message": entry.get("message", ""),
                }
            )
    return results, collected


def read_junit(paths: list[Path]) -> list[dict]:
    """One result per ``<testcase>`` of pytest's junit XML files (missing or broken files are skipped)."""
    results = []
    for path in paths:
        try:
            tree = ET.parse(path)
        except (OSError, ET.ParseError):
            continue
        for case in tree.iter("testcase"):
            classname, name = case.get("classname", ""), case.get("name", "")
            outcome, message = "passed", ""
            for child in case:
                if child.tag in ("failure", "error", "skipped"):
                    outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                    if child.tag == "skipped" and child.get("type") == "pytest.xfail":
                        outcome = "xfailed"
                    message = "\n".join(x for x in (child.get("message", ""), child.text or "") if x)
            file = case.get("file", "")
            node = f"{file or classname.replace('.', '/')}::{name}"
            results.append({"id": node, "outcome": outcome, "seconds": float(case.get("time") or 0),
                            "message": message, "names": (file, classname, name)})  # fmt: skip
    return results


def merge(results: list[dict]) -> dict[str, dict]:
    """One entry per test: the worst outcome of its phases (setup, call, teardown), their time added."""
    merged: dict[str, dict] = {}
    for result in results:
        entry = merged.setdefault(result["id"], {"outcome": result["outcome"], "seconds": 0.0, "message": "",
                                                 "names": result.get("names", (result["id"],))})  # fmt: skip
        entry["seconds"] += result["seconds"]
        if RANK.get(result["outcome"], 0) >= RANK.get(entry["outcome"], 0):
            entry["outcome"] = result["outcome"]
            entry["message"] = result["message"] or entry["message"]
    return merged


# ---- the summary --------------------------------------------------------------------------------


STEP_LINES = 15


def read_steps(path: Path | None) -> list[dict]:
    """``name<TAB>exit code<TAB>seconds[<TAB>log]`` lines written by gpu_check.sh. A step that ended
    with an exit code other than 0 (all passed) and 1 (some tests failed) gets its log's last lines:
    an install that failed, a pytest run that could not start or was stopped at the deadline."""
    steps = []
    if path and Path(path).is_file():
        for line in Path(path).read_text().splitlines():
            parts = line.split("\t")
            if len(parts) < 3:
                continue
            step = {"step": parts[0], "exit_code": int(parts[1]), "seconds": round(float(parts[2]))}
            if step["exit_code"] not in (0, 1) and len(parts) > 3 and Path(parts[3]).is_file():
                step["last_lines"] = _tail(Path(parts[3]).read_text(errors="replace"), STEP_LINES)
            steps.append(step)
    return steps


def summarize(results: list[dict], collected: list[str], machine: dict, steps: list[dict],
              notebooks: list[str], full: list[str] = (), full_model: str | None = None) -> dict:  # fmt: skip
    """``full``: the notebooks run in full mode with ``full_model`` (GPU_CHECK_FULL_MODEL), the rest quick."""
    merged = merge(results)
    nb_results, unit = {}, {}
    for node, entry in merged.items():
        notebook = notebook_of(node, *entry["names"])
        if notebook:
            nb_results[notebook] = entry
        else:
            unit[node] = entry
    notebook_rows = []
    for name in sorted(set(notebooks) | set(nb_results)):
        entry = nb_results.get(name)
        if entry is None:
            notebook_rows.append({"notebook": name, "mode": f"full, {full_model}" if name in full else "quick",
                                  "result": "not finished", "seconds": None, "failure": ""})  # fmt: skip
            continue
        result = NOTEBOOK_RESULT.get(entry["outcome"], entry["outcome"])
        notebook_rows.append(
            {
                "notebook": name,
                "mode": f"full, {full_model}" if name in full else "quick",
                "result": result,
                "seconds": round(entry["seconds"], 1),
                "failure": _tail(entry["message"], NOTEBOOK_LINES) if result == "failed" else "",
            }
        )
    counts = {key: 0 for key in ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "stopped")}
    for entry in unit.values():
        counts[entry["outcome"]] = counts.get(entry["outcome"], 0) + 1
    unit_collected = [n for n in dict.fromkeys(collected) if not notebook_of(n)]
    counts["not finished"] = len([n for n in unit_collected if n not in unit])
    failures = [{"test": node, "outcome": e["outcome"], "seconds": round(e["seconds"], 1),
                 "last_lines": _tail(e["message"], UNIT_LINES)}
                for node, e in sorted(unit.items()) if e["outcome"] in ("failed", "error")]  # fmt: skip
    slowest = sorted(((round(e["seconds"], 1), node) for node, e in unit.items()), reverse=True)[:5]
    ok = (all(s["exit_code"] == 0 for s in steps) and not failures and counts["not finished"] == 0
          and all(row["result"] in ("passed", "skipped") for row in notebook_rows))  # fmt: skip
    unit_seconds = round(sum(e["seconds"] for e in unit.values()), 1)
    return {
        "status": "passed" if ok else "failed",
        "machine": machine,
        "steps": steps,
        "notebooks": notebook_rows,
        "unit_tests": counts,
        "unit_test_seconds": unit_seconds,
        "slowest_unit_tests": [{"test": n, "seconds": s} for s, n in slowest],
        "unit_failures": failures,
    }


def render_md(summary: dict) -> str:
    machine, versions = summary.get("machine", {}), summary.get("machine", {}).get("versions", {})
    gpus = "; ".join(f"{g.get('name')} ({g.get('memory')}, driver {g.get('driver')})" for g in machine.get("gpus", []))
    partial = " (a partial check: some notebooks, no unit tests)" if summary.get("only") else ""
    lines = [f"# GPU check: {summary['status']}{partial}", ""]
    if machine.get("date"):
        lines.append(
            f"Run on {machine['date']}, by `bash gpu_check/gpu_check.sh` on the GPU machine (docs/gpu-check.md)."
        )
        lines.append("")
    lines += [f"- Machine: {gpus or 'no GPU seen by nvidia-smi'}; CUDA (torch) {machine.get('torch_cuda')}; "
              f"Python {machine.get('python')}"]  # fmt: skip
    if machine.get("torch_error"):
        lines.append(f"- torch failed: {machine['torch_error']}")
    if versions:
        lines.append("- Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v))
        missing = [k for k, v in versions.items() if not v]
        if missing:
            lines.append("- Not installed: " + ", ".join(missing))
    if summary.get("steps"):
        lines.append(
            "- Steps: "
            + ", ".join(
                f"{s['step']} {'ok' if s['exit_code'] == 0 else 'exit ' + str(s['exit_code'])} ({s['seconds']} s)"
                for s in summary["steps"]
            )
        )
    for step in summary.get("steps", []):
        if step.get("last_lines"):
            meaning = EXIT_MEANING.get(step["exit_code"], "")
            lines += ["", f"Step '{step['step']}' ended with exit code {step['exit_code']}"
                      f"{meaning}; its last lines:", "", "```", step["last_lines"], "```"]  # fmt: skip
    install = summary.get("install_cell")
    if install:
        runs = {r["run"]: r for r in install.get("runs", [])}
        lines += ["", f"## The install cell in install mode: {install['status']}", "",
                  f"First run (a new environment with the machine's own packages, pip reading .whl/): "
                  f"{runs.get('first run', {}).get('seconds')} s, installed "
                  + (", ".join(install.get("planned", {}).values()) or "nothing"),
                  f"Second run: {runs.get('second run', {}).get('seconds')} s"
                  + (", nothing to install" if install["status"] == "passed" else "")]  # fmt: skip
        lines += [f"- problem: {p}" for p in install.get("problems", [])]
    counts = summary["unit_tests"]
    lines += ["", "## Notebooks (nbmake; quick: GRPO_QUICK=1, a random-init model; full: no GRPO_QUICK, a real one)",
              "", "| notebook | mode | result | seconds |", "| --- | --- | --- | ---: |"]  # fmt: skip
    for row in summary["notebooks"]:
        seconds = "" if row["seconds"] is None else row["seconds"]
        lines.append(f"| {row['notebook']} | {row.get('mode', 'quick')} | {row['result']} | {seconds} |")
    lines += [
        "",
        "## Unit tests",
        "",
        ", ".join(f"{v} {k}" for k, v in counts.items() if v or k in ("passed", "failed"))
        + f" ({summary.get('unit_test_seconds', 0)} s of test time)",
    ]
    for row in summary["notebooks"]:
        if row["failure"]:
            lines += ["", f"## {row['notebook']} failed: last lines", "", "```", row["failure"], "```"]
    if summary["unit_failures"]:
        lines += ["", "## Unit test failures: last lines", ""]
        for failure in summary["unit_failures"][:UNIT_FAILURES_SHOWN]:
            lines += [f"- `{failure['test']}` ({failure['outcome']})", "", "```", failure["last_lines"], "```"]
        if len(summary["unit_failures"]) > UNIT_FAILURES_SHOWN:
            lines.append(f"... and {len(summary['unit_failures']) - UNIT_FAILURES_SHOWN} more (gpu_summary.json)")
    return "\n".join(lines) + "\n"


def write(out: Path, machine: dict, steps: list[dict], progress: Path | None, junit: list[Path],
          notebooks: list[str] | None = None, full: list[str] = (), full_model: str | None = None) -> dict:  # fmt: skip
    """``notebooks``: the paths or names this run was asked to run (GPU_CHECK_ONLY); None: all of them.
    ``full``: those run in full mode with ``full_model``. ``out/install_cell.json`` (gpu_check/install_cell.py),
    when there, is part of the summary and of its status."""
    results, collected = read_progress(progress) if progress else ([], [])
    if not results:
        results = read_junit(junit)
    only = bool(notebooks)
    notebooks = (
        [Path(n).name for n in notebooks]
        if only
        else [p.name for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))]
    )
    summary = summarize(results, collected, machine, steps, notebooks, [Path(n).name for n in full], full_model)
    install_file = out / "install_cell.json"
    if install_file.is_file():
        try:
            summary["install_cell"] = json.loads(install_file.read_text())
        except ValueError:
            summary["install_cell"] = {"status": "failed", "problems": [f"{install_file} is not JSON"]}
        if summary["install_cell"].get("status") != "passed":
            summary["status"] = "failed"
    if only:
        summary["only"] = notebooks  # GPU_CHECK_ONLY or GPU_CHECK_FULL_ONLY: these notebooks, no unit tests
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "gpu_summary.md").write_text(render_md(summary))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("probe", help="print the machine's GPU and package versions as JSON")
    w = sub.add_parser("write", help="write gpu_summary.md and gpu_summary.json")
    w.add_argument("--out", type=Path, required=True)
    w.add_argument("--machine", type=Path)
    w.add_argument("--steps", type=Path)
    w.add_argument("--progress", type=Path)
    w.add_argument("--junit", type=Path, nargs="*", default=[])
    w.add_argument("--notebooks", nargs="*", help="the notebooks GPU_CHECK_ONLY named (default: every notebook)")
    w.add_argument("--full", nargs="*", default=[], help="the notebooks run in full mode (GPU_CHECK_FULL_MODEL)")
    w.add_argument("--full-model", help="the model they ran with")
    args = parser.parse_args(argv)
    if args.command == "probe":
        print(json.dumps(probe(), indent=1))
        return 0
    machine = {}
    if args.machine and args.machine.is_file():
        try:
            machine = json.loads(args.machine.read_text())
        except ValueError:
            machine = {}
    summary = write(args.out, machine, read_steps(args.steps), args.progress, args.junit, args.notebooks, args.full,
                    args.full_model)  # fmt: skip
    print((args.out / "gpu_summary.md").read_text())
    return 0 if summary["status"] == "passed" else 1


if __name__ == "__main__":
    sys.exit(main())
