import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/notebook_cells.py, tests/tiny_model.py

from tiny_model import save_tiny_model  # noqa: E402


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    """The tiny random-init model (tests/tiny_model.py), written once per test session.

    Tests load it read-only; a test that changes a model changes its own loaded copy."""
    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "model")
