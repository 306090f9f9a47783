#!/usr/bin/env bash
# The real SmolLM2-135M-Instruct on a GPU machine without internet (no hub), for the GPU
# benchmarks (docs/benchmarks.md): its offline GGUF (98 MB) travels there with the checkout. Where
# one copy is limited in size (64 MiB, as gpu_wheels.py checks by default) it goes in three parts,
# each copied with the checkout and stashed outside it on the GPU machine ($WORK stays between copies):
#   with internet: bash gpu_check/gpu_real_model.sh split      # .gguf/a (+ the gguf wheel), .gguf/b, .gguf/c
#                  python3 gpu_check/gpu_wheels.py             # .whl/ as for the GPU check
#   GPU machine:   bash gpu_check/gpu_real_model.sh stash      # after each copy: .whl/ and .gguf/a (the
#                                                              # first stash installs .whl/), .gguf/b, .gguf/c
#                  bash gpu_check/gpu_real_model.sh convert    # once the three parts are stashed
# Without a size limit: copy .whl/ and all of .gguf/ at once, then stash and convert.
# convert joins the parts, checks their sha256 against the one split wrote, and converts the GGUF
# with grpo_helpers.models.convert_gguf (the CPU path's code) into $MODEL_DIR (safetensors).
# Then: export PYTHONPATH=/tmp/gpu_real/site:$PWD and run a benchmark with --model $MODEL_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=/tmp/gpu_real
SITE=$WORK/site
MODEL_DIR=${MODEL_DIR:-/tmp/smollm2}
NAME=SmolLM2-135M-Instruct.Q4_1.gguf
case "${1:-}" in
split)
    source=$(.venv/bin/python -c "from grpo_helpers.models import offline_gguf_path; print(offline_gguf_path())")
    rm -rf .gguf && mkdir -p .gguf/a .gguf/b .gguf/c
    grep -qx '/.gguf/' .git/info/exclude 2>/dev/null || echo '/.gguf/' >>.git/info/exclude
    dd status=none bs=1M count=22 if="$source" of=.gguf/a/part
    dd status=none bs=1M skip=22 count=50 if="$source" of=.gguf/b/part
    dd status=none bs=1M skip=72 if="$source" of=.gguf/c/part
    sha256sum "$source" | cut -d' ' -f1 >.gguf/c/sha256
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 -d .gguf/a gguf==0.19.0
    du -sh .gguf/*
    ;;
stash) # keep the carried parts outside the checkout; the first call also installs the wheels
    mkdir -p "$WORK/parts"
    for part in a b c; do [ -f ".gguf/$part/part" ] && cp ".gguf/$part/part" "$WORK/parts/$part"; done
    [ -f .gguf/c/sha256 ] && cp .gguf/c/sha256 "$WORK/parts/sha256"
    if ls .whl/*.whl >/dev/null 2>&1; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --disable-pip-version-check --target "$SITE" .whl/*.whl .gguf/a/gguf-*.whl
        rm -rf "$WORK/tokenizer" && cp -r .whl/model "$WORK/tokenizer" # config + tokenizer, for random-init models
    fi
    ls -la "$WORK/parts"
    ;;
convert)
    cat "$WORK/parts/a" "$WORK/parts/b" "$WORK/parts/c" >"$WORK/$NAME"
    [ "$(sha256sum "$WORK/$NAME" | cut -d' ' -f1)" = "$(cat "$WORK/parts/sha256")" ] || { echo "parts do not match"; exit 1; }
    PYTHONPATH=$SITE:$PWD python3 -c "from pathlib import Path; from grpo_helpers.models import convert_gguf; \
print(convert_gguf(Path('$WORK/$NAME'), Path('$MODEL_DIR')))"
    ;;
*)
    echo "usage: $0 split|stash|convert"
    exit 2
    ;;
esac
