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


@pytest.fixture
def unsloth_like_grpo_config(monkeypatch):
    """trl.GRPOConfig replaced by one that repairs a batch holding no whole groups, as Unsloth's does (it sets
    per_device_train_batch_size to num_generations and says so, instead of raising: notebook 05 shows it)."""
    import trl

    class RepairingGRPOConfig(trl.GRPOConfig):
        def __post_init__(self):
            if self.per_device_train_batch_size % self.num_generations:
                self.per_device_train_batch_size = self.num_generations
            super().__post_init__()

    monkeypatch.setattr(trl, "GRPOConfig", RepairingGRPOConfig)
    return RepairingGRPOConfig
