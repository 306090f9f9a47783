"""The results ledger's index: docs/results/README.md, one row per run, made from the runs' summaries.

    .venv/bin/python -m benchmarks.results_index            # (re)writes docs/results/README.md
    .venv/bin/python -m benchmarks.results_index --check    # exit 1 if the committed index is out of date

Every run is a folder ``docs/results/<date>_<benchmark>_<machine>[_<call>]/`` (``_<call>`` only where one
day holds several runs of a benchmark on a machine) with the run's files as the benchmark wrote them and a
``summary.md``. That file starts with a JSON header between two ``---`` lines (JSON is YAML, so GitHub shows
it as front matter), then notes in Markdown. The header's keys (``REQUIRED``):

- ``date``, ``benchmark``, ``machine``: the folder's name is made of them;
- ``machine_details``: the machine in words (CPU or GPU, cores, what else ran);
- ``what``: what the run measured, in one line;
- ``command``: the command line, or a list of them;
- ``commit``: the commit of the code the run measured, or ``"unknown (before the ledger)"``;
- ``committed_at``: the commit that added the files to the repository (``git log --follow`` of a file);
- ``versions``: the library versions, as the run's files record them;
- ``headline``: the few figures the README, the notebooks and ``docs/benchmarks.md`` quote, label -> figure;
- ``files``: every other file in the folder, relative to it.

To add a run: copy its files into a new folder, write its ``summary.md``, run this script, commit all three.
"""

import argparse
import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
INDEX = "README.md"
SUMMARY = "summary.md"
UNKNOWN_COMMIT = "unknown (before the ledger)"
REQUIRED = ("date", "benchmark", "machine", "machine_details", "what", "command", "commit", "committed_at",
            "versions", "headline", "files")  # fmt: skip


def read_summary(folder: Path) -> dict:
    """The JSON header of ``folder/summary.md`` (between its first two ``---`` lines)."""
    lines = (folder / SUMMARY).read_text().splitlines()
    if not lines or lines[0] != "---" or "---" not in lines[1:]:
        raise ValueError(f"{folder / SUMMARY}: it must start with a JSON header between two '---' lines")
    end = lines.index("---", 1)
    return json.loads("\n".join(lines[1:end]))


def run_folders(root: Path = RESULTS) -> list[Path]:
    """The run folders: every folder directly under ``root``, by name (so by date)."""
    return sorted(path for path in root.iterdir() if path.is_dir())


def problems(folder: Path) -> list[str]:
    """What is wrong with a run folder's summary: missing keys, a name that does not match, unlisted files."""
    if not (folder / SUMMARY).is_file():
        return [f"{folder.name}: no {SUMMARY}"]
    summary = read_summary(folder)
    found = [f"{folder.name}: no {key!r} in {SUMMARY}" for key in REQUIRED if key not in summary]
    if found:
        return found
    stem = f"{summary['date']}_{summary['benchmark']}_{summary['machine']}"
    if folder.name != stem and not folder.name.startswith(stem + "_"):
        found.append(f"{folder.name}: the name does not start with date_benchmark_machine = {stem}")
    if not summary["headline"]:
        found.append(f"{folder.name}: no headline figures")
    on_disk = {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()} - {SUMMARY}
    listed = set(summary["files"])
    found += [f"{folder.name}: {name} is listed but missing" for name in sorted(listed - on_disk)]
    found += [f"{folder.name}: {name} is not in 'files'" for name in sorted(on_disk - listed)]
    return found


def short_commit(commit: str) -> str:
    """A commit hash's first 7 characters (and nothing more: the rest of the field is for summary.md)."""
    return "unknown" if commit.startswith("unknown") else commit.split()[0][:7]


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def index(root: Path = RESULTS) -> str:
    """The index table, as ``docs/results/README.md`` holds it."""
    rows = []
    for folder in run_folders(root):
        summary = read_summary(folder)
        figures = "; ".join(f"{label}: {value}" for label, value in summary["headline"].items())
        rows.append(f"| {summary['date']} | {summary['benchmark']} | {summary['machine']} | "
                    f"{short_commit(summary['commit'])} | {short_commit(summary['committed_at'])} | "
                    f"{cell(figures)} | [{folder.name}]({folder.name}/) |")  # fmt: skip
    return "\n".join([
        "# Benchmark results: the ledger",
        "",
        "One folder per run: the files the benchmark wrote and a `summary.md` (command, commit, versions, machine,",
        "date, headline figures). This table is made from the summaries by `python -m benchmarks.results_index`",
        "(do not edit it by hand; `tests/test_results_index.py` checks it is up to date). *commit*: the code the",
        "run measured, where it was recorded; *committed at*: the commit that added the run's files. Method and",
        "discussion: [`docs/benchmarks.md`](../benchmarks.md). To add a run: a new folder with its files and a",
        "`summary.md` whose JSON header has the keys `benchmarks/results_index.py` lists, then this script.",
        "",
        "| date | benchmark | machine | commit | committed at | headline figures | run |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
    ])  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=RESULTS, help="the ledger folder (default: docs/results)")
    parser.add_argument("--check", action="store_true", help="only say whether the committed index is current")
    args = parser.parse_args(argv)
    found = [problem for folder in run_folders(args.root) for problem in problems(folder)]
    if found:
        print("\n".join(found), file=sys.stderr)
        return 1
    text, path = index(args.root), args.root / INDEX
    if args.check:
        current = path.is_file() and path.read_text() == text
        print(f"{path}: {'up to date' if current else 'out of date: run python -m benchmarks.results_index'}")
        return 0 if current else 1
    path.write_text(text)
    print(f"wrote {path} ({len(run_folders(args.root))} runs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
