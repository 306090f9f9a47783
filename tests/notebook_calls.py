"""The keyword arguments of the notebooks' calls, for the structure and API tests."""

import ast

from benchmarks.common.notebook_cells import notebooks, python_source, read


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
