"""How much memory a GRPO step needs and how long it takes, for a model on a machine: an
estimate, not a measurement. It lives here, among the benchmarks, and no longer in grpo_helpers,
the config widget or notebook 05, because it misses what benchmarks/ measures today by more than
25 % on presets it was shown for: quick_cpu on the 2-core CPU is estimated at 20.7 s a step
against 33.8-36.0 s measured, and "basic" on the H100 with the GPU default steps_per_generation=4
at 3.3 s against 5.6 s (Unsloth). ``calibration()`` prints it against every measured point;
tests/test_estimate.py keeps its arithmetic honest. Import it with benchmarks/ on sys.path.

Method (all sizes per device, for one optimizer step):

- Tokens. G completions per prompt, a generation batch of B = per_device_train_batch_size x
  steps_per_generation completions, each assumed to run to max_completion_length T (the upper
  bound; early stops make steps shorter), after a prompt of P tokens.
- Time per optimizer step = (generation + training of the generation batch) / R, where R =
  steps_per_generation / gradient_accumulation_steps optimizer steps share one generation round.
  generation = T x (L x o + max(weight bytes / memory bandwidth, 2 N B / F)): T decoding steps,
  each paying a fixed cost o per layer (kernel launches, Python, 4-bit dequantisation: this
  dominates for small models) or the cost of reading the weights or of the arithmetic.
  training = k N B (P + T) / F + (passes x L x o per micro-batch): k = 4 for a LoRA forward and
  backward, + 2 with gradient checkpointing (the forward again), + 2 with beta > 0 (the reference
  model's forward). N = parameters in the matmuls (blocks + the vocabulary projection), L =
  layers, F = effective arithmetic rate of the device.
- Memory = weights (4-bit blocks at 4.5 bits/parameter with their scales, 16-bit embeddings; 32-bit
  everything on a CPU) + LoRA adapters with their gradients and Adam state (16 bytes/parameter,
  10 with 8-bit Adam) + KV cache of the generation batch + activations of one micro-batch (with
  gradient checkpointing one saved hidden state per layer, which Unsloth offloads to CPU RAM, plus
  one layer's inputs; every layer's inputs without it) + the completion logits in the model's
  precision (micro-batch x T x vocabulary; TRL's log-softmax kernel makes no float32 copy); on a
  CPU, + the Python process itself (torch, transformers and TRL loaded).

Fitted and assumed constants, and the measurements they come from (``CALIBRATION``; the
estimate is for steps after the first: Unsloth compiles for 1-2 steps, 30-60 s each):

- CPU: one GRPO step with SmolLM2-135M, 8 completions of 96 tokens, took 33-46 s on a 2-core
  machine (shared with other work). Fitted: F = 24 GFLOP/s per core, o = 0.5 ms per layer.
- H100, measured through this package (load_model, add_lora r=16 on all projections, make_config
  "basic" with beta=0, 8 completions x 256 tokens, bf16, TRL 1.15, Unsloth 2026.10.9) on
  random-init models, whose completions always run to the limit: a 0.40B Qwen2-shape model
  (hidden 896, 24 layers, SmolLM2's 49,152-token vocabulary) took 9.1-11.3 s a step with Unsloth
  and 17.2-24.3 s with transformers + bitsandbytes; the SmolLM2-135M shape (Llama, 30 layers)
  took 1.9-3.6 s with Unsloth. Fitted: o per layer and token = 1.66 ms (Unsloth, Qwen2), 0.35 ms
  (Unsloth, Llama: Unsloth's fast Llama decoding) and 3.1 ms (bitsandbytes). The memory formula
  is not fitted; ``calibration()`` prints its error against the measured peaks.
- Reported earlier by another session for the same 0.40B setup (not used for fitting): Unsloth
  11-15 s and 0.60 GiB, plain TRL 15-19 s and 0.67 GiB a step.
- Checked, not fitted (benchmarks/gpu_backends.py, 2026-11-23, H100, "basic" with beta=0.04, 8
  completions x 256 tokens, 4-bit, random-init Qwen2.5-1.5B shape with SmolLM2's vocabulary):
  Unsloth 10.95-13.1 s a step (estimate 12.3 s), peak 1.44 GiB; transformers + bitsandbytes
  23.1-31.6 s (estimate 22.8 s), peak 2.37 GiB. With steps_per_generation=4 (32 completions per
  round, 4 steps a round) the estimate is low for Unsloth (3.3 s against 5.6 s measured: its
  decoding slowed from 10 s to 15 s a round at 4x the batch) and near for plain TRL (6.1 s against
  6.7 s, its decoding did not slow).
- Missed, not fitted: the current quick_cpu (2 prompts x 4 completions x 48 tokens, the tutorial's
  150-token prompt with its worked example) took 33.8-36.0 s a step on the idle 2-core machine
  (benchmarks/cpu_learning.py, 2 threads); the estimate says 20.7 s. Read CPU estimates as a floor.
- Checked, not fitted: an earlier quick_cpu (4 completions x 64 tokens, no gradient checkpointing)
  on the 2-core machine took 10.5-12.1 s a step after a 16 s first step; the estimate says 12.0 s.
  Its peak RAM was 3.4 GiB against an estimated 2.1 GiB: on a CPU the estimate leaves out the
  memory allocator's cached blocks and PyTorch's own working buffers, so read it as a floor there.
- Assumed, not measured: bitsandbytes on Llama-shape models (the Qwen2 value), the other GPUs'
  effective rates (about 30 % of the datasheet's dense 16-bit peak), a 1.5x slower host on Colab
  and Kaggle (their CPUs launch the kernels), the prompt length P = 150 tokens, and the CPU
  process size (0.7 GiB).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from grpo_helpers.environment import Hardware, choose_backend
from grpo_helpers.models import LORA_TARGET_MODULES

GIB = 2**30
PROMPT_TOKENS = 150  # a GSM8K question in the tutorial's chat template, roughly
CPU_FLOPS_PER_CORE = 24e9  # fitted to the CPU calibration point
CPU_OVERHEAD_S = 0.5e-3  # per layer and decoded token on a CPU, fitted with it
CPU_PROCESS_GIB = 0.7  # Python with torch, transformers and TRL imported (assumed)
# Per layer and decoded token on an H100, by backend and model family (fitted; see above).
GPU_OVERHEAD_S = {
    ("unsloth", "llama"): 0.35e-3,
    ("unsloth", "qwen2"): 1.66e-3,
    ("bitsandbytes", "llama"): 3.1e-3,
    ("bitsandbytes", "qwen2"): 3.1e-3,
    ("transformers", "llama"): 1.5e-3,
    ("transformers", "qwen2"): 1.5e-3,
}
FAMILIES = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2", "qwen3": "qwen2"}  # model_type -> family
LORA_TARGETS = LORA_TARGET_MODULES


@dataclass(frozen=True)
class ModelShape:
    """The numbers of a decoder-only transformer that memory and time depend on."""

    name: str
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied: bool = True
    family: str = "llama"  # how fast Unsloth decodes it: "llama", "qwen2" or "other" (the slower)

    @classmethod
    def from_config(cls, config, name: str = "") -> ModelShape:
        get = config.get if isinstance(config, dict) else lambda k, d=None: getattr(config, k, d)
        heads = get("num_attention_heads")
        return cls(
            name=name or get("_name_or_path", "") or "model",
            hidden=get("hidden_size"),
            intermediate=get("intermediate_size"),
            layers=get("num_hidden_layers"),
            heads=heads,
            kv_heads=get("num_key_value_heads") or heads,
            head_dim=get("head_dim") or get("hidden_size") // heads,
            vocab=get("vocab_size"),
            tied=bool(get("tie_word_embeddings", True)),
            family=FAMILIES.get(get("model_type", ""), "other"),
        )

    def projections(self) -> dict[str, tuple[int, int]]:
        q, kv, h, i = self.heads * self.head_dim, self.kv_heads * self.head_dim, self.hidden, self.intermediate
        return {
            "q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h),
            "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h),
        }  # fmt: skip

    @property
    def block_params(self) -> int:
        return self.layers * sum(a * b for a, b in self.projections().values())

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied else 2)

    @property
    def total_params(self) -> int:
        return self.block_params + self.embedding_params

    @property
    def matmul_params(self) -> int:
        """Parameters each token goes through: the blocks and the vocabulary projection."""
        return self.block_params + self.vocab * self.hidden

    def lora_params(self, r: int = 16, targets=LORA_TARGETS) -> int:
        return self.layers * sum(r * (a + b) for name, (a, b) in self.projections().items() if name in targets)


def _shape(name, hidden, intermediate, layers, heads, kv_heads, head_dim, vocab):
    family = "qwen2" if "qwen" in name.lower() else "llama"
    return ModelShape(name, hidden, intermediate, layers, heads, kv_heads, head_dim, vocab, True, family)


# Published configs of the models the tutorial suggests (all with tied embeddings).
KNOWN_MODELS = {
    shape.name: shape
    for shape in (
        _shape("HuggingFaceTB/SmolLM2-135M-Instruct", 576, 1536, 30, 9, 3, 64, 49152),
        _shape("HuggingFaceTB/SmolLM2-360M-Instruct", 960, 2560, 32, 15, 5, 64, 49152),
        _shape("HuggingFaceTB/SmolLM2-1.7B-Instruct", 2048, 8192, 24, 32, 32, 64, 49152),
        _shape("unsloth/Qwen2.5-0.5B-Instruct", 896, 4864, 24, 14, 2, 64, 151936),
        _shape("unsloth/Qwen2.5-1.5B-Instruct", 1536, 8960, 28, 12, 2, 128, 151936),
        _shape("unsloth/Qwen2.5-3B-Instruct", 2048, 11008, 36, 16, 2, 128, 151936),
        _shape("unsloth/Llama-3.2-1B-Instruct", 2048, 8192, 16, 32, 8, 64, 128256),
        _shape("unsloth/Llama-3.2-3B-Instruct", 3072, 8192, 28, 24, 8, 128, 128256),
    )
}
# The calibration model: Qwen2.5-0.5B's blocks with the SmolLM2 tokenizer's vocabulary (0.40B).
CALIBRATION_GPU_MODEL = _shape("Qwen2-shape 0.40B (calibration)", 896, 4864, 24, 14, 2, 64, 49152)  # family qwen2
BENCHMARK_GPU_MODEL = _shape("Qwen2.5-1.5B shape, SmolLM2 vocabulary (benchmark)", 1536, 8960, 28, 12, 2, 128, 49152)


def _key(name: str) -> str:
    base = name.rstrip("/").rsplit("/", 1)[-1].lower()
    for suffix in ("-unsloth-bnb-4bit", "-bnb-4bit"):
        base = base.removesuffix(suffix)
    return base


def model_shape(model) -> ModelShape:
    """The shape of ``model``: a loaded model (its config), a local folder with config.json, one
    of ``KNOWN_MODELS`` by name (any organisation prefix), or a Hub id whose config can be read."""
    if isinstance(model, ModelShape):
        return model
    if hasattr(model, "config"):
        return ModelShape.from_config(model.config)
    name = str(model)
    config_file = Path(name).expanduser() / "config.json"
    if config_file.is_file():
        return ModelShape.from_config(json.loads(config_file.read_text()), name=name)
    for known, shape in KNOWN_MODELS.items():
        if _key(known) == _key(name):
            return shape
    try:  # a Hub id: its config.json is a few kB
        from transformers import AutoConfig

        return ModelShape.from_config(AutoConfig.from_pretrained(name).get_text_config(), name=name)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"model={name!r}: its shape is not known here and its config could not be read ({type(error).__name__}). "
            f"Pass the loaded model or a local folder with config.json, or one of: {', '.join(KNOWN_MODELS)}"
        ) from error


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    flops: float  # effective dense 16-bit (GPU) or 32-bit (CPU) arithmetic, FLOP/s
    bandwidth: float  # memory bandwidth, bytes/s
    host_factor: float = 1.0  # how much slower the host launches kernels than the H100 machine's


GPU_PROFILES = (  # name as it appears in torch.cuda.get_device_name; flops about 30 % of peak (assumed)
    DeviceProfile("H200", 300e12, 4.8e12),
    DeviceProfile("H100", 300e12, 3.35e12),
    DeviceProfile("A100", 100e12, 1.6e12),
    DeviceProfile("L4", 40e12, 0.3e12, 1.2),
    DeviceProfile("A10", 40e12, 0.6e12, 1.2),
    DeviceProfile("V100", 35e12, 0.9e12, 1.2),
    DeviceProfile("T4", 20e12, 0.32e12, 1.5),
)
GENERIC_GPU = DeviceProfile("GPU", 30e12, 0.5e12, 1.2)

# A free Colab GPU, for planning on any machine.
T4 = Hardware(
    device="cuda", platform="colab", cpu_count=2, ram_gib=12.7, gpu_name="Tesla T4", vram_gib=15.0,
    compute_capability=(7, 5), bf16=False,
)  # fmt: skip


def device_profile(hardware: Hardware) -> DeviceProfile:
    if not hardware.has_cuda:
        return DeviceProfile("CPU", CPU_FLOPS_PER_CORE * hardware.cpu_count, 0.0)
    name = (hardware.gpu_name or "").upper()
    profile = next((p for p in GPU_PROFILES if p.name in name), GENERIC_GPU)
    if hardware.platform in ("colab", "kaggle") and profile.host_factor < 1.5:
        profile = DeviceProfile(profile.name, profile.flops, profile.bandwidth, 1.5)
    return profile


@dataclass
class StepEstimate:
    where: str
    backend: str
    seconds: float
    generation_s: float
    training_s: float
    memory_gib: float
    memory_parts: dict = field(default_factory=dict)
    capacity_gib: float | None = None  # VRAM on a GPU, RAM on a CPU

    @property
    def fits(self) -> bool:
        return self.capacity_gib is None or self.memory_gib <= 0.9 * self.capacity_gib

    def summary(self) -> str:
        memory = "GPU memory" if self.backend != "transformers" or "GPU" in self.where else "RAM"
        room = f" of {self.capacity_gib:.0f} GiB" if self.capacity_gib else ""
        warning = "" if self.fits else "  (does not fit: lower the batch, num_generations or max_completion_length)"
        return (
            f"{self.where} [{self.backend}]: ~{self.seconds:.0f} s/step (generation {self.generation_s:.0f} s, "
            f"training {self.training_s:.0f} s), ~{self.memory_gib:.2f} GiB {memory}{room}{warning}"
        )


def _get(settings, name, default):
    if isinstance(settings, dict):
        return settings.get(name, default)
    return getattr(settings, name, default)


def estimate_step(
    settings,
    model,
    hardware: Hardware,
    backend: str | None = None,
    prompt_tokens: int = PROMPT_TOKENS,
    lora_r: int = 16,
) -> StepEstimate:
    """Estimate one GRPO step of ``settings`` (a GRPOConfig or a dict of its fields) for ``model``
    (see ``model_shape``) on ``hardware``; ``backend`` defaults to the one chosen for it."""
    shape = model_shape(model)
    backend = backend or ("unsloth" if hardware.platform in ("colab", "kaggle") and hardware.has_cuda else choose_backend(hardware))
    per_device = _get(settings, "per_device_train_batch_size", 8)
    accumulation = _get(settings, "gradient_accumulation_steps", 1) or 1
    steps = _get(settings, "steps_per_generation", None) or accumulation  # micro-batches per generation round
    rounds = max(steps / accumulation, 1.0)  # optimizer steps fed by one generation round
    completion = _get(settings, "max_completion_length", 256)
    checkpointing = bool(_get(settings, "gradient_checkpointing", True))
    beta = _get(settings, "beta", 0.0)
    eight_bit = "8bit" in str(getattr(_get(settings, "optim", ""), "value", _get(settings, "optim", "")))
    batch, sequence = per_device * steps, prompt_tokens + completion

    profile = device_profile(hardware)
    on_gpu = hardware.has_cuda
    if on_gpu:
        per_family = {f: v for (b, f), v in GPU_OVERHEAD_S.items() if b == backend}
        overhead = per_family.get(shape.family, max(per_family.values())) * profile.host_factor
    else:
        overhead = CPU_OVERHEAD_S
    four_bit = on_gpu and backend in ("unsloth", "bitsandbytes")
    act = 2 if on_gpu else 4
    weight_bytes = shape.block_params * (4.5 / 8 if four_bit else act) + shape.embedding_params * act

    n = shape.matmul_params
    k = 4 + (2 if checkpointing else 0) + (2 if beta > 0 else 0)
    per_token = max(weight_bytes / profile.bandwidth if profile.bandwidth else 0.0, 2 * n * batch / profile.flops)
    generation_s = completion * (shape.layers * overhead + per_token)
    training_s = k * n * batch * sequence / profile.flops + steps * (k / 2) * shape.layers * overhead

    layer_width = 6 * shape.hidden + 3 * shape.intermediate
    if not checkpointing:
        saved_layers = shape.layers * layer_width
    elif backend == "unsloth":  # Unsloth's checkpointing offloads the saved hidden states to CPU RAM
        saved_layers = layer_width
    else:
        saved_layers = shape.layers * shape.hidden + layer_width
    parts = {
        "weights": weight_bytes,
        "LoRA + Adam": shape.lora_params(lora_r) * (10 if eight_bit else 16),
        "KV cache": 2 * shape.layers * shape.kv_heads * shape.head_dim * sequence * batch * act,
        "activations": per_device * sequence * act * saved_layers,
        "logits": per_device * completion * shape.vocab * act,
    }
    if not on_gpu:
        parts["process"] = CPU_PROCESS_GIB * GIB
    where = f"{hardware.gpu_name} GPU" if on_gpu else f"CPU ({hardware.cpu_count} cores)"
    return StepEstimate(
        where=where,
        backend=backend,
        seconds=(generation_s + training_s) / rounds,
        generation_s=generation_s / rounds,
        training_s=training_s / rounds,
        memory_gib=sum(parts.values()) / GIB,
        memory_parts={name: value / GIB for name, value in parts.items()},
        capacity_gib=hardware.vram_gib if on_gpu else hardware.ram_gib,
    )


_H100 = Hardware(device="cuda", platform="local", cpu_count=16, ram_gib=128.0, gpu_name="NVIDIA H100 80GB HBM3",
                 vram_gib=79.2, compute_capability=(9, 0), bf16=True)  # fmt: skip
_CALIBRATION_RUN = {"num_generations": 8, "per_device_train_batch_size": 8, "gradient_accumulation_steps": 1,
                    "beta": 0.0, "gradient_checkpointing": True}  # fmt: skip

# Measured steps: (what, settings, model, hardware, backend, measured seconds per step (low, high),
# measured peak memory GiB or None, whether the constants above were fitted to it).
_GPU_RUN = {**_CALIBRATION_RUN, "max_completion_length": 256, "optim": "adamw_8bit"}
_SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"
_CPU2 = Hardware(device="cpu", platform="local", cpu_count=2, ram_gib=8.0)
CALIBRATION = (
    ("CPU 2 cores, SmolLM2-135M, 8 x 96 tokens", {**_CALIBRATION_RUN, "max_completion_length": 96},
     _SMOL, _CPU2, "transformers", (33, 46), None, True),
    ("H100, 0.40B Qwen2-shape, 8 x 256, Unsloth", _GPU_RUN, CALIBRATION_GPU_MODEL, _H100, "unsloth",
     (9.1, 11.3), 0.613, True),
    ("H100, 0.40B Qwen2-shape, 8 x 256, bitsandbytes", _GPU_RUN, CALIBRATION_GPU_MODEL, _H100, "bitsandbytes",
     (17.2, 24.3), 1.039, True),
    ("H100, SmolLM2-135M shape, 8 x 256, Unsloth", _GPU_RUN, _SMOL, _H100, "unsloth", (1.9, 3.6), 0.447, True),
    # Checks, not used for fitting.
    ("H100, SmolLM2-135M shape, 8 x 128, Unsloth (two runs)", {**_GPU_RUN, "max_completion_length": 128}, _SMOL,
     _H100, "unsloth", (1.33, 2.02), 0.477, False),
    ("H100, 0.40B Qwen2-shape, 8 x 256, Unsloth (reported earlier)", _GPU_RUN, CALIBRATION_GPU_MODEL, _H100,
     "unsloth", (11, 15), 0.60, False),
    ("H100, 0.40B Qwen2-shape, 8 x 256, plain TRL (reported earlier)", _GPU_RUN, CALIBRATION_GPU_MODEL, _H100,
     "bitsandbytes", (15, 19), 0.67, False),
    ("H100, Qwen2.5-1.5B shape, 8 x 256, beta 0.04, Unsloth (gpu_backends.py)", {**_GPU_RUN, "beta": 0.04},
     BENCHMARK_GPU_MODEL, _H100, "unsloth", (10.95, 13.1), 1.439, False),
    ("H100, Qwen2.5-1.5B shape, 8 x 256, beta 0.04, bitsandbytes (gpu_backends.py)", {**_GPU_RUN, "beta": 0.04},
     BENCHMARK_GPU_MODEL, _H100, "bitsandbytes", (23.1, 31.6), 2.366, False),
    ("CPU 2 cores, SmolLM2-135M, quick_cpu 4 x 64 tokens", {"num_generations": 4, "per_device_train_batch_size": 4,
     "gradient_accumulation_steps": 1, "max_completion_length": 64, "beta": 0.0, "gradient_checkpointing": False},
     _SMOL, _CPU2, "transformers", (10.5, 12.1), 3.41, False),
)  # fmt: skip


def calibration() -> list[dict]:
    """The estimate against each measured point, with its error (estimate / measured - 1, against
    the middle of the measured range) and whether the time constants were fitted to that point."""
    rows = []
    for what, settings, model, hardware, backend, seconds, memory, fitted in CALIBRATION:
        estimate = estimate_step(settings, model, hardware, backend=backend)
        middle = sum(seconds) / 2
        row = {
            "run": what,
            "fitted": fitted,
            "measured s/step": f"{seconds[0]}-{seconds[1]}",
            "estimated s/step": round(estimate.seconds, 1),
            "time error": f"{estimate.seconds / middle - 1:+.0%}",
        }
        if memory is not None:
            row.update({"measured GiB": memory, "estimated GiB": round(estimate.memory_gib, 2),
                        "memory error": f"{estimate.memory_gib / memory - 1:+.0%}"})  # fmt: skip
        rows.append(row)
    return rows


METHOD = __doc__


if __name__ == "__main__":  # python benchmarks/estimate.py: the estimate against every measured point
    for row in calibration():
        print(" | ".join(f"{key}: {value}" for key, value in row.items()))
