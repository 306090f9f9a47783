"""Every notebook is a chapter with the same first cells, and is committed clean."""
import ast
import re

import pytest

from notebook_cells import notebooks, python_source, read

NOTEBOOKS = notebooks()


def test_the_learning_path_is_numbered_without_gaps():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers == list(range(len(numbers))) and len(numbers) >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_clean(path):
    nb = read(path)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "clear the outputs before committing"
    assert "widgets" not in nb.metadata, "widget state is saved in the notebook: clear it before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_shape(path):
    cells = read(path).cells
    title = cells[0].source
    assert title.startswith("# ") and "**Goal" in title
    for badge in ("colab.research.google.com/github/", "kaggle.com/kernels/welcome", "mybinder.org/v2/gh/"):
        assert re.search(re.escape(badge) + r"\S*" + re.escape(path.name), title), f"{badge} badge must open {path.name}"
    assert cells[1].metadata.get("tags") == ["install"] and cells[2].metadata.get("tags") == ["hardware"]
    assert "## Recap" in cells[-1].source
    if path != NOTEBOOKS[-1]:
        assert "**Next:**" in cells[-1].source
    for cell in cells:
        if cell.cell_type == "code":
            ast.parse(python_source(cell))  # valid Python once the magics are set aside


def test_install_and_hardware_cells_are_shared():
    first = read(NOTEBOOKS[0]).cells
    for path in NOTEBOOKS[1:]:
        cells = read(path).cells
        assert cells[1].source == first[1].source, f"{path.name}: the install cell differs from {NOTEBOOKS[0].name}'s"
        assert cells[2].source == first[2].source, f"{path.name}: the hardware cell differs"


def test_unsloth_is_only_called_behind_the_backend_check():
    for path in NOTEBOOKS:
        for cell in read(path).cells:
            if cell.cell_type == "code" and "from unsloth import" in cell.source:
                assert 'if BACKEND == "unsloth":' in cell.source, f"{path.name}: guard Unsloth with the backend check"
