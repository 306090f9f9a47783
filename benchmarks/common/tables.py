"""The Markdown tables the benchmarks print and write (``table.md``)."""

from __future__ import annotations


def markdown_table(head: list[str], rows: list[list]) -> str:
    """``head`` and ``rows`` as a Markdown table, one line each, ending with a newline; a row with
    fewer cells than ``head`` (a failed run: its label and the error) is filled with empty ones."""
    if any(len(row) > len(head) for row in rows):
        raise ValueError(f"a row has more cells than the {len(head)} columns: {max(rows, key=len)}")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join([*map(str, row), *[""] * (len(head) - len(row))]) + " |" for row in rows]
    return "\n".join(lines) + "\n"
