"""Every notebook is a chapter with the same first cells, and is committed clean."""

import ast
import json
import re
from pathlib import Path

import pytest

from benchmarks.common.notebook_cells import notebooks, python_source, read, tagged_cell

NOTEBOOKS = notebooks()
NOTEBOOKS_DIR = NOTEBOOKS[0].parent


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
    ids = [cell.get("id") for cell in json.loads(path.read_text())["cells"]]  # the file as committed, not normalised
    assert None not in ids, f"cell {ids.index(None)} has no id (nbformat 4.5): give it one, e.g. nbformat's normalize()"
    assert len(set(ids)) == len(ids), "two cells share an id: make each cell's id unique"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_shape(path):
    cells = read(path).cells
    title = cells[0].source
    assert title.startswith("# ") and "**Goal" in title
    for badge in ("colab.research.google.com/github/", "kaggle.com/kernels/welcome", "mybinder.org/v2/gh/"):
        assert re.search(re.escape(badge) + r"\S*" + re.escape(path.name), title), (
            f"{badge} badge must open {path.name}"
        )
    assert cells[1].metadata.get("tags") == ["install"] and cells[2].metadata.get("tags") == ["hardware"]
    assert "## Recap" in cells[-1].source
    if path != NOTEBOOKS[-1]:
        assert "**Next:**" in cells[-1].source
    for cell in cells:
        if cell.cell_type == "code":
            ast.parse(python_source(cell))  # valid Python once the magics are set aside


def test_a_tag_names_one_code_cell():
    """Tests and benchmarks run cells by tag (benchmarks.common.notebook_cells): each tag but the
    install and hardware cells' marks one code cell of its notebook."""
    for path in NOTEBOOKS:
        cells = read(path).cells
        tags = [tag for cell in cells for tag in cell.metadata.get("tags", []) if tag not in ("install", "hardware")]
        assert len(tags) == len(set(tags)), f"{path.name}: a tag is on several cells: {tags}"
        for tag in tags:
            tagged_cell(path.name[:2], tag)  # raises unless exactly one code cell carries it
    assert tagged_cell("08", "grpo-train").source.count("def grpo_train(") == 1  # what scratch_vs_trl runs


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


HEAVY = ("transformers", "trl", "peft")  # what Unsloth must be imported before (it patches them)


def imported_modules(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_unsloth_comes_before_transformers_trl_and_peft():
    """Unsloth patches transformers, TRL and PEFT, so it must be imported first. Every notebook's first two
    cells are the same (test_install_and_hardware_cells_are_shared): run them as a notebook would (install in
    check-only mode): what they import must not bring transformers, TRL or PEFT, and the hardware cell imports
    Unsloth itself when BACKEND == 'unsloth' (no Unsloth on a CPU, so that branch is read, not run)."""
    import os
    import subprocess
    import sys

    cells = [c for c in read(NOTEBOOKS[0]).cells if c.cell_type == "code"][:2]
    guarded = [
        n
        for n in ast.walk(ast.parse(python_source(cells[1])))
        if isinstance(n, ast.If) and ast.unparse(n.test) == "BACKEND == 'unsloth'"
    ]
    assert guarded and "unsloth" in imported_modules(ast.unparse(guarded[0])), (
        "the hardware cell must import unsloth when BACKEND == 'unsloth'"
    )
    script = "\n".join(python_source(c) for c in cells)
    script += f"\nimport sys\nearly = [m for m in {HEAVY!r} if m in sys.modules]\nassert not early, early\n"
    env = {**os.environ, "GRPO_INSTALL": "check", "GRPO_BACKEND": "transformers"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_every_4bit_load_uses_the_settings_of_load_model():
    """Notebook 01 writes the bitsandbytes load out in full (the others import load_model): the same NF4 settings,
    names and values, as models.load_model."""
    import grpo_helpers.models as models
    from notebook_calls import keyword_sources

    taught = [
        {k.arg: ast.unparse(k.value) for k in node.keywords}
        for node in ast.walk(ast.parse(Path(models.__file__).read_text()))
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "BitsAndBytesConfig"
    ]
    assert len(taught) == 1 and taught[0]["bnb_4bit_quant_type"] == "'nf4'"
    calls = keyword_sources("BitsAndBytesConfig")
    assert [notebook for notebook, _ in calls] == ["01_load_4bit_model.ipynb"]
    constants = {name: value for name, value in taught[0].items() if name != "bnb_4bit_compute_dtype"}  # a variable
    for notebook, keywords in calls:
        assert set(keywords) == set(taught[0]), (
            f"{notebook}: BitsAndBytesConfig({keywords}) against load_model's {taught[0]}"
        )
        assert {name: keywords[name] for name in constants} == constants, f"{notebook}: BitsAndBytesConfig({keywords})"
    # the compute dtype is a variable on both sides: the dtype each picks, on a GPU with and without bfloat16
    taught_dtype = assigned_source(Path(models.__file__).read_text(), taught[0]["bnb_4bit_compute_dtype"])
    for notebook, keywords in calls:
        cell = next(
            python_source(c)
            for c in read(NOTEBOOKS_DIR / notebook).cells
            if c.cell_type == "code" and "BitsAndBytesConfig(" in c.source
        )
        their_dtype = assigned_source(cell, keywords["bnb_4bit_compute_dtype"])
        for bf16 in (True, False):
            assert gpu_dtype(their_dtype, bf16) == gpu_dtype(taught_dtype, bf16), (
                f"{notebook}: bnb_4bit_compute_dtype={their_dtype} against load_model's {taught_dtype} (bf16={bf16})"
            )


def assigned_source(source: str, name: str) -> str:
    """The source of the value last assigned to ``name`` above the BitsAndBytesConfig call in ``source``."""
    tree = ast.parse(source)
    call = next(
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("BitsAndBytesConfig")
    )
    values = sorted(
        (node.lineno, ast.unparse(node.value))
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and node.lineno < call
        and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    )
    assert values, f"no assignment to {name} above BitsAndBytesConfig(...)"
    return values[-1][1]


def gpu_dtype(expression: str, bf16: bool):
    """What a dtype expression picks on a CUDA GPU (``dtype`` not given, as the notebooks call load_model)."""
    import types

    import torch

    hardware = types.SimpleNamespace(bf16=bf16, has_cuda=True, device="cuda")
    return eval(expression, {"torch": torch, "hardware": hardware, "dtype": None})


# What a committed notebook must never hold: a credential someone pasted (Hugging Face, OpenAI-style,
# GitHub, AWS and Google keys, or a quoted value assigned to something named like a key/token/secret/
# password) and an absolute path of the machine it was run on (it would not exist on a learner's).
SECRETS = {
    "Hugging Face token": r"\bhf_[A-Za-z0-9]{20,}",
    "OpenAI-style key": r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}",
    "GitHub token": r"\b(?:ghp|gho|ghu|ghs|github_pat)_[A-Za-z0-9_]{20,}",
    "AWS access key": r"\bAKIA[0-9A-Z]{16}\b",
    "Google API key": r"\bAIza[0-9A-Za-z_-]{35}\b",
    "a key assigned in code": r"(?i)\b\w*(?:api[_-]?key|token|secret|password)\w*\b"
    r"['\"]?\s*[:=]\s*['\"][^'\"\s]{8,}['\"]",
}
ABSOLUTE_PATHS = {
    "a home folder": r"/home/\w",
    "root's home": r"/root\b",
    "this workspace": r"/work/",
    "a Windows drive": r"\b[A-Za-z]:(?:\\\\|\\|/)\w",
    "a macOS home": r"/Users/\w",
}


def leaks(text: str) -> list[str]:
    found = []
    for what, pattern in {**SECRETS, **ABSOLUTE_PATHS}.items():
        found += [f"{what}: {m.group(0)[:12]}..." for m in re.finditer(pattern, text)]
    return found


def test_leak_patterns_catch_what_they_should():
    for text in (
        'login(token="hf_' + "a1B2" * 8 + '")',
        "OPENAI_API_KEY = 'sk-" + "x" * 40 + "'",
        '"api_key": "0123456789abcdef"',
        "open('/home/ada/runs/x.csv')",
        "cd /root/models",
        "/work/main/notebooks",
        r"C:\\Users\\ada\\model",
        "AKIAABCDEFGHIJKLMNOP",
    ):
        assert leaks(text), text
    for text in (
        "the WANDB_API_KEY environment variable",
        "max_new_tokens=32",
        'token = os.environ["HF_TOKEN"]',
        "https://github.com/grpo-tutorial/grpo-unsloth-gsm8k",
        "runs/latest/adapter",
        "task-specific",
    ):
        assert not leaks(text), text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_secret_or_absolute_path(path):
    """The whole file (sources, metadata and any output) holds no credential and no absolute path."""
    found = leaks(path.read_text(encoding="utf-8"))
    assert not found, f"{path.name}: remove {found} (use an environment variable or a path relative to the run folder)"
