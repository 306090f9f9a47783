"""The notebooks' code cells, found by tag: what the tests and the benchmarks run of a notebook.

A cell another program runs carries a tag in its metadata (``"tags": ["grpo-train"]``; in
JupyterLab: the property inspector, *Common Tools*, *Cell Tags*); a tag names one cell of its
notebook. ``run_cell("08", "grpo-train")`` runs notebook 08's training-loop cell in a fresh
namespace and returns it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"


def notebooks() -> list[Path]:
    """The chapters, in order: ``notebooks/NN_*.ipynb``."""
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def notebook(number: str) -> Path:
    """The chapter whose file name starts with ``number`` (``"08"``)."""
    found = [path for path in notebooks() if path.name.startswith(f"{number}_")]
    if len(found) != 1:
        raise LookupError(f"expected one notebook {number}_*.ipynb in {NOTEBOOK_DIR}, found {len(found)}")
    return found[0]


def read(path: Path):
    return nbformat.read(path, as_version=4)


def python_source(cell) -> str:
    """A code cell's Python, with IPython magics and shell lines blanked out."""
    lines = [
        line[: len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!")) else line
        for line in cell.source.splitlines()
    ]
    return textwrap.dedent("\n".join(lines))


def tagged_cell(number: str, tag: str):
    """The one code cell of notebook ``number`` tagged ``tag``."""
    path = notebook(number)
    cells = [c for c in read(path).cells if c.cell_type == "code" and tag in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise LookupError(f"{path.name}: expected one code cell tagged {tag!r}, found {len(cells)}")
    return cells[0]


def run_cell(number: str, tag: str, namespace: dict | None = None, replace=()) -> dict:
    """Run the cell of notebook ``number`` tagged ``tag`` in ``namespace`` (a new one by default) and
    return it; ``replace`` holds ``(old, new)`` text changes made first, each of which must apply."""
    source = python_source(tagged_cell(number, tag))
    for old, new in replace:
        if old not in source:
            raise ValueError(f"notebook {number}'s cell {tag!r} no longer contains {old!r}")
        source = source.replace(old, new)
    namespace = {} if namespace is None else namespace
    exec(compile(source, f"{notebook(number).name}:{tag}", "exec"), namespace)
    return namespace
