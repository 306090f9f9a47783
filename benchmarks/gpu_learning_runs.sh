#!/usr/bin/env bash
# The GPU learning ablation (docs/benchmarks.md, *GPU learning benchmark*): several
# benchmarks.gpu_learning runs side by side on one GPU, each in its own process and folder.
#   bash benchmarks/gpu_learning_runs.sh MODEL_DIR OUT_DIR TRAIN_SECONDS SET
# SET names the runs (below; TRAIN_SECONDS applies where a run has no --train-until); OUT_DIR/<run>/ gets each run's files and log.txt, OUT_DIR.tgz all of them. Each run is stopped
# after DEADLINE seconds (default 560) and keeps what it measured by then (measurements.json).
# GPU_LEARNING_COMMIT is recorded as the commit (a copied tree may have no .git).
set -uo pipefail
cd "$(dirname "$0")/.."
model=$1 out=$2 seconds=$3 set=$4
deadline=${DEADLINE:-560}
commit=${GPU_LEARNING_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
sft=(--sft-steps 300 --sft-batch 32)
edge=(--edge --probe-problems 512)
# the priming of the sets after the base model was measured: 200 SFT steps, the primed model not measured apart
priming=(--no-before --no-after-sft --sft-steps 200 --sft-batch 32)

run() {
    local name=$1
    shift
    mkdir -p "$out/$name"
    OMP_NUM_THREADS=4 UNSLOTH_COMPILE_LOCATION="/tmp/unsloth_cache_$name" timeout "$deadline" \
        python3 -m benchmarks.gpu_learning --model "$model" --out "$out/$name" --commit "$commit" \
        --train-seconds "$seconds" --passk-problems 500 "$@" >"$out/$name/log.txt" 2>&1 &
}

case "$set" in
seeds) # the recipe: format priming, then GRPO on the problems at the edge, three seeds
    for seed in 0 1 2; do run "sft_edge_grpo_s$seed" --seed "$seed" "${sft[@]}" "${edge[@]}"; done
    run grpo_edge_s0 --seed 0 "${edge[@]}" # without the priming
    ;;
primed) # the base model measured by a "seeds" run: format priming, then GRPO until 290 s after the start,
    # two seeds; and priming alone. Each run then measures its model on all 1,319 test problems.
    short=(--no-before --sft-steps 200 --sft-batch 32 --probe-problems 64 --passk-problems 200 --passk-batch 200)
    for seed in 0 1; do run "sft_grpo_s$seed" --seed "$seed" "${short[@]}" --train-until 290; done
    run sft_only_s0 --seed 0 "${short[@]}" --train-seconds 0
    ;;
edge_primed) # GRPO after priming, where it has a signal: format priming, then GRPO on the probed train problems
    # the primed model solved sometimes but not always, two seeds, until 400 s after the start; then all
    # 1,319 test problems at 320 tokens (2% of the base model's completions ended between 256 and 512)
    short=("${priming[@]}" --edge --probe-problems 256 --passk-problems 200 --passk-batch 200 --eval-tokens 320)
    for seed in 0 1; do run "sft_edge_grpo_s$seed" --seed "$seed" "${short[@]}" --train-until 400; done
    ;;
edge_primed_passk) # the edge_primed recipe, two more seeds, GRPO until 330 s so that the sampled pass@1 / pass@8
    # after it (100 test problems) fits before the deadline; beside them notebook 06's run as a script
    # (scripts/train_grpo.py, the GPU preset `basic`, GSM8K) for its seconds a step and correctness curve
    short=("${priming[@]}" --edge --probe-problems 256 --passk-problems 100 --passk-batch 100 --eval-tokens 320)
    for seed in 2 3; do run "sft_edge_grpo_s$seed" --seed "$seed" "${short[@]}" --train-until 330; done
    mkdir -p "$out/train_grpo_basic"
    OMP_NUM_THREADS=4 timeout "$deadline" python3 scripts/train_grpo.py --model "$model" --preset basic \
        --output-dir "$out/train_grpo_basic" >"$out/train_grpo_basic/log.txt" 2>&1 &
    ;;
curriculum_primed) # the curriculum instead of the edge: format priming, then GRPO on notebook 10's generated problems,
    # easy first (40 one-step, 40 two-step, then 80 short GSM8K train problems, in order), one run alone on the GPU
    run sft_curriculum_grpo_s0 --seed 0 "${priming[@]}" --task curriculum \
        --train-problems 160 --probe-problems 64 --passk-problems 100 --passk-batch 100 --eval-tokens 320 \
        --train-until "${TRAIN_UNTIL:-250}"
    ;;
ablation) # what each piece adds: no edge selection, the curriculum, priming alone for longer
    run sft_grpo_s0 --seed 0 "${sft[@]}"
    run sft_curriculum_grpo_s0 --seed 0 "${sft[@]}" --task curriculum
    run grpo_s0 --seed 0
    ;;
*)
    echo "usage: $0 MODEL_DIR OUT_DIR TRAIN_SECONDS seeds|primed|edge_primed|edge_primed_passk|curriculum_primed|ablation"
    exit 2
    ;;
esac
wait
# one archive beside OUT_DIR: the device tool brings back a few files a call, not a folder of them
tar czf "$out.tgz" --exclude=checkpoints --exclude=adapter -C "$(dirname "$out")" "$(basename "$out")"
for log in "$out"/*/log.txt; do
    echo "== $log"
    grep -E "^(before|after_sft|after|format priming|held-out|can this run|training on)" "$log" | cut -c1-400
    tail -n 3 "$log" | cut -c1-300
done
