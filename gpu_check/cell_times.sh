#!/usr/bin/env bash
# Seconds per code cell of one notebook in full mode (no GRPO_QUICK) on the GPU machine, with a random-init
# model of the default model's shape (its completions run to the length limit, as a small model's loops
# do): where a full-mode chapter spends its time. From the repository root there, after copying .whl/:
#     bash gpu_check/cell_times.sh notebooks/07_evaluate_and_share.ipynb [SECONDS]
set -u
NOTEBOOK=$1 LIMIT=${2:-400}
cd "$(dirname "$0")/.."
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/s .whl/*.whl 2>&1 | tail -1
export PYTHONPATH=/tmp/s:$PWD
python3 -m benchmarks.random_model .whl/model --tokenizer .whl/model --out /tmp/rand || exit 1
export GRPO_QUICK=0 GRPO_MODEL=/tmp/rand GRPO_RUN_DIR=/tmp/run07 GRPO_INSTALL=check HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 GRPO_CACHE_DIR=/tmp/cache
cd "$(dirname "$NOTEBOOK")" && timeout "$LIMIT" python3 - "$(basename "$NOTEBOOK")" <<'PY'
import sys, time, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
client = NotebookClient(nb, timeout=600, kernel_name="python3")
started = time.time()
with client.setup_kernel():
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code": continue
        t = time.time()
        try:
            client.execute_cell(cell, i)
        except Exception as e:
            print(f"cell {i}: FAILED {type(e).__name__} {str(e)[-300:]}", flush=True); break
        print(f"cell {i}: {time.time() - t:6.1f} s (total {time.time() - started:6.1f}) {cell.source.splitlines()[0][:70]}", flush=True)
PY
