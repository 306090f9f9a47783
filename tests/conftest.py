import sys
from pathlib import Path

import pytest

from benchmarks.common.random_models import save_tiny_model

sys.path.insert(0, str(Path(__file__).parent))  # tests/notebook_calls.py, tests/tiny_model.py


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    """The tiny random-init model (benchmarks.common.random_models' ``tiny`` shape), written once per test session.

    Tests load it read-only; a test that changes a model changes its own loaded copy."""
    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "model")
