"""Reading the notebooks' code for the structure and API tests."""
import ast
import textwrap
from pathlib import Path

import nbformat

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"


def notebooks():
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def read(path):
    return nbformat.read(path, as_version=4)


def python_source(cell) -> str:
    """A code cell's Python, with IPython magics and shell lines blanked out."""
    lines = [
        line[: len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!")) else line
        for line in cell.source.splitlines()
    ]
    return textwrap.dedent("\n".join(lines))


def keyword_sources(name_suffix: str):
    """(notebook, {keyword: its value's source}) for every call whose dotted name ends with ``name_suffix``."""
    found = []
    for path in notebooks():
        for cell in read(path).cells:
            if cell.cell_type != "code":
                continue
            for node in ast.walk(ast.parse(python_source(cell))):
                if isinstance(node, ast.Call) and ast.unparse(node.func).endswith(name_suffix):
                    found.append((path.name, {k.arg: ast.unparse(k.value) for k in node.keywords if k.arg}))
    return found


def keyword_calls(name_suffix: str):
    """(notebook, keyword names) for every call whose dotted name ends with ``name_suffix``."""
    return [(notebook, list(keywords)) for notebook, keywords in keyword_sources(name_suffix)]


def cell_namespace(name: str, cell_id: str, namespace: dict | None = None) -> dict:
    """Run one code cell of a notebook (by id) in ``namespace`` and return it."""
    path = next(p for p in notebooks() if p.name.startswith(name))
    cell = next(c for c in read(path).cells if c.get("id") == cell_id)
    namespace = {} if namespace is None else namespace
    exec(compile(python_source(cell), f"{path.name}:{cell_id}", "exec"), namespace)
    return namespace
