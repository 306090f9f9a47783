"""The results ledger, docs/results/: every run's summary.md has the required keys and lists the run's files,
the committed index is what ``benchmarks.results_index`` makes from the summaries now, and every run folder the
README, docs/ and the notebooks name exists."""

import json
import re
from pathlib import Path

from benchmarks import results_index

ROOT = Path(__file__).resolve().parents[1]
RUN_NAME = re.compile(r"results/(\d{4}-\d{2}-\d{2}_[A-Za-z0-9_.-]+?)(?=[/)`'\"\s]|$)")


def test_every_run_folder_has_a_complete_summary():
    folders = results_index.run_folders()
    assert folders
    assert [problem for folder in folders for problem in results_index.problems(folder)] == []


def test_the_committed_index_is_what_the_script_makes_now():
    committed = (results_index.RESULTS / results_index.INDEX).read_text()
    stale = "docs/results/README.md is stale: run python -m benchmarks.results_index"
    assert committed == results_index.index(), stale


def test_a_summary_missing_a_key_or_a_file_is_refused(tmp_path):
    header = {key: "x" for key in results_index.REQUIRED}
    header.update(date="2026-01-01", benchmark="b", machine="m", headline={"s/step": "1.0"}, files=["a.json"])
    good, bad = tmp_path / "2026-01-01_b_m", tmp_path / "2026-01-02_b_m"
    for folder, summary in ((good, header), (bad, {k: v for k, v in header.items() if k != "commit"})):
        folder.mkdir()
        (folder / "a.json").write_text("{}")
        (folder / results_index.SUMMARY).write_text("---\n" + json.dumps(summary) + "\n---\n\nNotes.\n")
    assert results_index.problems(good) == []
    assert results_index.problems(bad) == ["2026-01-02_b_m: no 'commit' in summary.md"]
    (good / "b.csv").write_text("")
    assert results_index.problems(good) == ["2026-01-01_b_m: b.csv is not in 'files'"]
    assert results_index.main(["--root", str(tmp_path), "--check"]) == 1


def test_every_run_folder_named_in_the_docs_and_notebooks_exists():
    texts = {path: path.read_text() for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        texts[path] = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown")
    named = {(path.name, name) for path, text in texts.items() for name in RUN_NAME.findall(text)}
    assert named, "no run folder is named anywhere"
    assert sorted((where, name) for where, name in named if not (results_index.RESULTS / name).is_dir()) == []
