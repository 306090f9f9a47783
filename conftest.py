"""Test-wide set-up for `pytest tests`, `pytest --nbmake notebooks` and `make test` alike.

The notebooks pass files along through the run folder (05 saves the config, 06 the adapter, 07
reads both). A test run gets a new, empty one unless GRPO_RUN_DIR names one, so nothing left in
runs/latest by `make run` or `make lab` changes what a test sees.
"""

import atexit
import os
import shutil
import tempfile

if not os.environ.get("GRPO_RUN_DIR"):
    os.environ["GRPO_RUN_DIR"] = tempfile.mkdtemp(prefix="grpo-test-run.")
    atexit.register(shutil.rmtree, os.environ["GRPO_RUN_DIR"], ignore_errors=True)
