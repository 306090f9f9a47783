#!/usr/bin/env bash
# The GPU check: the unit tests and every notebook (nbmake, GRPO_QUICK=1) under Unsloth on a CUDA
# GPU, with a short summary, on a GPU machine without internet (docs/gpu-check.md): on a machine
# with PyPI, `python3 gpu_check/gpu_wheels.py` fills .whl/ (the wheels and the model's config and
# tokenizer); copy the checkout with .whl/ to the GPU machine and run, from the repository root there:
#     bash gpu_check/gpu_check.sh
#
# 1. installs .whl/*.whl offline into $WORK/site (PYTHONPATH; the machine's torch stays);
# 2. builds a random-init bf16 model from .whl/model/config.json with the real tokenizer
#    (python3 -m benchmarks.random_model), where the notebooks (GRPO_MODEL) and the unit tests (the offline
#    copy of the default model, through GRPO_CACHE_DIR) find it: no weights can be downloaded there;
# 3. runs two pytest runs side by side: notebooks 04-07 one after the other (each reads what the
#    one before wrote to GRPO_RUN_DIR), and the unit tests with notebooks 00-03 and 08 on (pytest-xdist);
# 4. writes $OUT/gpu_summary.md and gpu_summary.json (machine, versions, per-notebook result and
#    seconds, unit-test counts, failures' last lines), the junit XML, the per-test progress lines
#    and the whole log: also when a step fails or the time runs out (EXIT trap).
# Everything stops by GPU_CHECK_BUDGET seconds (default 570; a full check took 350-391 s on an H200), so that where
# one command has a time limit, a budget under it still brings the summary back.
# GPU_CHECK_ONLY="notebooks/07_evaluate_and_share.ipynb ..." runs only those
# notebooks (no unit tests): a quick look after a change, not the check.
# The install cell runs in install mode first (gpu_check/install_cell.py), in a new environment that sees
# only the machine's own packages, pip reading .whl/ instead of PyPI.
# GPU_CHECK_FULL_MODEL=/tmp/smollm2 (a model folder with real weights: gpu_check/gpu_real_model.sh convert):
# notebooks 05-07 run in full mode (no GRPO_QUICK) with that model, one after the other, 06 training
# GPU_CHECK_FULL_STEPS (default 12) steps of the config 05 saved, and their executed copies go to
# $OUT/executed.tgz (one file: the device tool brings back a few files a call). GPU_CHECK_FULL_ONLY=1 with it:
# notebook 04 and the full-mode chapters only, no unit tests beside them (a partial check).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
BUDGET=${GPU_CHECK_BUDGET:-570}
WORKERS=${GPU_CHECK_WORKERS:-4}
WORK=${GPU_CHECK_WORK:-/tmp/gpu_check}
OUT=${OUT:-$WORK/out}
SITE=$WORK/site
CACHE=$WORK/cache
MODEL=$CACHE/SmolLM2-135M-Instruct # where the offline copy of the default model is looked for
STEPS=$WORK/steps.tsv
FULL=() # the notebooks run in full mode (below)
rm -rf "$WORK/run" "$WORK/executed" "$WORK/unsloth_compiled" "$STEPS" "$WORK"/pytest_*.log "$WORK"/step_*.log
mkdir -p "$OUT" "$WORK" "$CACHE"
rm -f "$OUT"/gpu_summary.* "$OUT"/junit_*.xml "$OUT/progress.jsonl"
exec > >(tee "$OUT/gpu_check.log") 2>&1
TEE_PID=$!
echo "== GPU check, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), budget ${BUDGET} s"

finish() {
    local code=$?
    trap - EXIT INT TERM
    for log in "$WORK"/pytest_*.log; do
        [ -f "$log" ] && { echo; echo "===== $(basename "$log")"; cat "$log"; }
    done
    echo
    echo "== summary (after ${SECONDS} s)"
    local only=() # GPU_CHECK_ONLY: the summary lists those notebooks only, and says it is a partial check
    [ -n "${GPU_CHECK_ONLY:-}" ] && read -r -a only <<<"--notebooks $GPU_CHECK_ONLY"
    [ -n "${GPU_CHECK_FULL_ONLY:-}" ] && [ "${#FULL[@]}" -gt 0 ] && only=(--notebooks "${CHAIN[@]}" "${FULL[@]}")
    [ "${#FULL[@]}" -gt 0 ] && only+=(--full "${FULL[@]}" --full-model "$GPU_CHECK_FULL_MODEL")
    timeout 60 python3 "$ROOT/gpu_check/gpu_summary.py" write --out "$OUT" --machine "$WORK/machine.json" \
        --steps "$STEPS" --progress "$OUT/progress.jsonl" --junit "$OUT"/junit_*.xml "${only[@]}"
    local status=$?
    [ "$code" -ne 0 ] && status=$code
    exec >&- 2>&-
    for _ in 1 2 3 4 5 6 7 8 9 10; do # the log is complete before the call returns (5 s at most)
        kill -0 "$TEE_PID" 2>/dev/null || break
        sleep 0.5
    done
    exit "$status"
}
trap finish EXIT
trap 'echo "stopped by a signal"; exit 130' INT TERM

# step NAME COMMAND...: run it, its output also in $WORK/step_NAME.log; its exit code, seconds and
# log go to $STEPS for the summary
step() {
    local name=$1 started=$SECONDS code
    shift
    echo "== $name"
    "$@" 2>&1 | tee "$WORK/step_$name.log"
    code=${PIPESTATUS[0]}
    printf '%s\t%s\t%s\t%s\n' "$name" "$code" "$((SECONDS - started))" "$WORK/step_$name.log" >>"$STEPS"
    return "$code"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
ls .whl/*.whl >/dev/null 2>&1 || {
    echo "no wheels in .whl/: run python3 gpu_check/gpu_wheels.py where there is internet, and copy .whl/ here"
    exit 2
}

# The notebooks' install cell in install mode, as on a new Colab runtime: a new environment whose .pth
# lists this Python's site folders (the machine's torch, transformers ...: the platform's packages), pip
# reading .whl/ instead of PyPI (pip's own PIP_* settings). PIP_NO_DEPS: .whl/ holds what the machine lacks,
# not the whole tree of unsloth's declared dependencies (xformers, torchvision, diffusers ...: hundreds of MiB).
install_cell() {
    local env=$WORK/new_runtime purelib
    rm -rf "$env"
    python3 -m venv --without-pip "$env" || return 1
    purelib=$("$env/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))') || return 1
    python3 -c 'import site; print("\n".join([*site.getsitepackages(), site.getusersitepackages()]))' \
        >"$purelib/machine_site.pth" || return 1
    PYTHONPATH=$ROOT PIP_NO_INDEX=1 PIP_FIND_LINKS=$ROOT/.whl PIP_NO_DEPS=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
        GRPO_INSTALL=install "$env/bin/python" gpu_check/install_cell.py --out "$OUT"
}
step "install cell" install_cell

step install python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --disable-pip-version-check --target "$SITE" .whl/*.whl || exit 1
export PYTHONPATH="$SITE:$ROOT:$ROOT/gpu_check${PYTHONPATH:+:$PYTHONPATH}" # gpu_check_plugin
python3 gpu_check/gpu_summary.py probe >"$WORK/machine.json" || true

step model python3 -m benchmarks.random_model "$ROOT/.whl/model" --tokenizer "$ROOT/.whl/model" --out "$MODEL" || exit 1

export GRPO_QUICK=1 GRPO_MODEL=$MODEL GRPO_CACHE_DIR=$CACHE GRPO_RUN_DIR=$WORK/run GRPO_INSTALL=check
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
export GPU_CHECK_PROGRESS=$OUT/progress.jsonl GPU_CHECK_COMPILE_ROOT=$WORK/unsloth_compiled
: >"$GPU_CHECK_PROGRESS"

LEFT=$((BUDGET - SECONDS - 45)) # time for pytest; the rest: a stopped run's clean-up and the summary
[ "$LEFT" -gt 60 ] || { echo "only ${LEFT} s left for the tests"; exit 1; }
echo "== pytest: ${LEFT} s left; notebooks 04-07 in one run, the unit tests and the other notebooks in another"
PYTEST=(python3 -m pytest -p gpu_check_plugin -p no:cacheprovider -o junit_family=xunit1 -ra
    --nbmake --nbmake-timeout="$LEFT")
PARALLEL=()
python3 -c "import xdist" 2>/dev/null && PARALLEL=(-n "$WORKERS" --dist load)
NOTEBOOKS=(notebooks/[0-9][0-9]_*.ipynb) # sorted by the glob
CHAIN=() REST=(tests)
for nb in "${NOTEBOOKS[@]}"; do
    # 04-07 pass files along (GRPO_RUN_DIR); 08 on stand alone, so they run beside the unit tests: in one
    # chain notebooks 04-09 took 449 s on an H200 and left notebook 10 no time (2026-12-02)
    case $(basename "$nb") in 0[4-7]_*) CHAIN+=("$nb") ;; *) REST+=("$nb") ;; esac
done
# notebooks 05-07 in full mode with a real model (GPU_CHECK_FULL_MODEL): they replace the quick 05-07
if [ -n "${GPU_CHECK_FULL_MODEL:-}" ]; then
    FULL=(notebooks/0[5-7]_*.ipynb)
    CHAIN=(notebooks/04_*.ipynb)
    [ -n "${GPU_CHECK_FULL_ONLY:-}" ] && REST=() # the full-mode chapters alone: the GPU is theirs
fi
if [ -n "${GPU_CHECK_ONLY:-}" ]; then # a quick look at some notebooks only: GPU_CHECK_ONLY="notebooks/07_x.ipynb ..."
    read -r -a CHAIN <<<"$GPU_CHECK_ONLY"
    REST=() FULL=()
fi

run_pytest() { # NAME LABEL ARGS...: one pytest run under the deadline, its output in $WORK/pytest_LABEL.log
    local name=$1 label=$2 started=$SECONDS t0 code
    shift 2
    t0=$(date +%s)
    GPU_CHECK_LABEL=$label timeout -s INT -k 20 "$LEFT" "${PYTEST[@]}" --junitxml="$OUT/junit_$label.xml" "$@" \
        >"$WORK/pytest_$label.log" 2>&1
    code=$?
    if [ "$code" -eq 124 ] || [ "$code" -eq 137 ]; then # SIGINT at the deadline, SIGKILL 20 s later
        # what failed from the deadline on was stopped by it
        echo "pytest $label: stopped at the deadline (${LEFT} s)"
        printf '{"event": "interrupted", "run": "%s", "time": %s}\n' "$label" "$((t0 + LEFT))" >>"$GPU_CHECK_PROGRESS"
    fi
    echo "pytest $label: exit code $code after $((SECONDS - started)) s"
    printf '%s\t%s\t%s\t%s\n' "$name" "$code" "$((SECONDS - started))" "$WORK/pytest_$label.log" >>"$STEPS"
    return "$code"
}
# full_chain: 05, 06, 07 in full mode, each its own pytest run, in their own run folder; between 05 and 06 the
# saved config's max_steps is shortened as a learner would shorten it in 05 (the one change to the chapters)
full_chain() {
    local nb code=0
    export GRPO_QUICK=0 GRPO_MODEL=$GPU_CHECK_FULL_MODEL GRPO_RUN_DIR=$WORK/full_run
    rm -rf "$GRPO_RUN_DIR" notebooks/full
    # copies, executed in place (--overwrite, for $OUT/executed.tgz) beside the committed ones the unit tests read
    mkdir -p notebooks/full && cp "${FULL[@]}" notebooks/full/
    for nb in "${FULL[@]/#notebooks/notebooks/full}"; do
        LEFT=$((BUDGET - SECONDS - 45)) # what is left of the budget, for this notebook and the ones after it
        [ "$LEFT" -gt 30 ] || { echo "no time left for $nb"; return 1; }
        run_pytest "pytest $(basename "$nb" .ipynb) (full mode)" "full$(basename "$nb" | cut -c1-2)" \
            --overwrite "$nb" || code=1
        mkdir -p "$WORK/executed" && cp "$nb" "$WORK/executed/" && tar czf "$OUT/executed.tgz" -C "$WORK" executed
        case $(basename "$nb") in 05_*)
            python3 - "$GRPO_RUN_DIR/grpo_config.json" "${GPU_CHECK_FULL_STEPS:-12}" <<'PY' || code=1
import json, sys
path, steps = sys.argv[1], int(sys.argv[2])
config = json.load(open(path))
print(f"{path}: max_steps {config.get('max_steps')} -> {steps} (the GPU check's one change)")
config["max_steps"] = steps
json.dump(config, open(path, "w"), indent=1)
PY
            ;;
        esac
    done
    return "$code"
}
if [ "${#FULL[@]}" -gt 0 ]; then
    full_chain &
    full=$!
fi
first=$(basename "${CHAIN[0]}" | cut -c1-2) last=$(basename "${CHAIN[-1]}" | cut -c1-2)
[ "$first" = "$last" ] && chain_name="pytest notebook $first" || chain_name="pytest notebooks $first-$last"
run_pytest "$chain_name" chain "${CHAIN[@]}" &
chain=$!
rest_code=0
if [ "${#REST[@]}" -gt 0 ]; then
    run_pytest "pytest unit tests + notebooks 00-03, 08 on" rest "${PARALLEL[@]}" "${REST[@]}" &
    rest=$!
fi
wait "$chain"
chain_code=$?
if [ "${#REST[@]}" -gt 0 ]; then
    wait "$rest"
    rest_code=$?
fi
full_code=0
if [ "${#FULL[@]}" -gt 0 ]; then
    wait "$full"
    full_code=$?
fi
[ "$chain_code" -eq 0 ] && [ "$rest_code" -eq 0 ] && [ "$full_code" -eq 0 ]
