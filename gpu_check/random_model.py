"""A random-init bf16 model of a real config, with the real tokenizer, for the GPU machine (no weights can be
downloaded there): gpu_check.sh builds the notebooks' and unit tests' model with it, cell_times.sh its own.

    python3 gpu_check/random_model.py .whl/model /tmp/gpu_check/cache/SmolLM2-135M-Instruct
"""

import json
import sys
import time
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer


def main(source: Path, target: Path) -> None:
    started = time.time()
    config = AutoConfig.from_pretrained(source)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(source).save_pretrained(target)
    marker_file = source / "grpo_conversion.json"
    marker = json.loads(marker_file.read_text()) if marker_file.is_file() else {}
    marker["gpu_check"] = "random-init bf16 weights of this config, made by gpu_check/random_model.py"
    (target / "grpo_conversion.json").write_text(json.dumps(marker) + "\n")
    n = sum(p.numel() for p in model.parameters())
    print(f"random-init {config.architectures[0]}, {n:,} parameters, bf16, at {target} ({time.time() - started:.0f} s)")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python3 gpu_check/random_model.py SOURCE_FOLDER TARGET_FOLDER")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
