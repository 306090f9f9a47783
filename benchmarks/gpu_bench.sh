#!/usr/bin/env bash
# benchmarks.gpu_backends on a GPU machine without internet (no package registry, no Hub):
#     bash benchmarks/gpu_bench.sh ARGS...      from the repository root, with .whl/ copied along
# after `python3 gpu_check/gpu_wheels.py` on a machine with internet has filled .whl/ (the wheels
# and the tokenizer). Installs .whl/*.whl offline into $WORK/site (the machine's torch and
# transformers stay), builds the random-init model of BENCH_SHAPE (default qwen2.5-1.5b, the
# tutorial's GPU model) with the carried SmolLM2 tokenizer (benchmarks.random_model), then runs
# `python3 -m benchmarks.gpu_backends --model MODEL --out $OUT/runs ARGS...`. $WORK (BENCH_WORK,
# default /tmp/gpu_bench) is kept between runs: the wheels and the model are not made twice.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
WORK=${BENCH_WORK:-/tmp/gpu_bench}
SITE=$WORK/site
SHAPE=${BENCH_SHAPE:-qwen2.5-1.5b}
MODEL=$WORK/model-$SHAPE
OUT=${OUT:-$WORK/out}
mkdir -p "$WORK" "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
git rev-parse HEAD 2>/dev/null | sed 's/^/commit: /'
if [ ! -f "$SITE/.done" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --disable-pip-version-check \
        --target "$SITE" .whl/*.whl || exit 1
    touch "$SITE/.done"
fi
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export UNSLOTH_COMPILE_LOCATION=$WORK/unsloth_compiled
if [ ! -f "$MODEL/config.json" ]; then
    python3 -m benchmarks.random_model "$SHAPE" --tokenizer .whl/model --out "$MODEL" || exit 1
fi
echo "== $SECONDS s: benchmarks.gpu_backends --model $MODEL --out $OUT/runs $*"
python3 -m benchmarks.gpu_backends --model "$MODEL" --out "$OUT/runs" "$@"
code=$?
echo "== done after $SECONDS s (exit $code)"
exit $code
