"""GSM8K (Cobbe et al., 2021; MIT licence): from the Hub when it answers, else the bundled copy.

The package ships the original release (``grpo_helpers/data/gsm8k/``: 7,473 train and 1,319 test
problems, with its LICENSE and README), so the tutorial works offline. The Hub dataset
``openai/gsm8k`` (config ``main``) holds the same rows.
"""

from __future__ import annotations

from pathlib import Path

from grpo_helpers.default_model import hub_reachable

HUB_DATASET = ("openai/gsm8k", "main")
BUNDLED_DIR = Path(__file__).parent / "data" / "gsm8k"
SPLITS = ("train", "test")
SOURCES = ("auto", "hub", "bundled")


def load_gsm8k(split: str = "train", source: str = "auto"):
    """Return GSM8K's ``split`` as a ``datasets.Dataset`` with columns ``question`` and ``answer``.

    ``source="auto"`` uses the Hub when it answers within two seconds and the bundled copy
    otherwise; ``"hub"`` and ``"bundled"`` force one.
    """
    from datasets import load_dataset

    if split not in SPLITS:
        raise ValueError(f"split={split!r}: GSM8K has the splits {SPLITS}")
    if source not in SOURCES:
        raise ValueError(f"source={source!r}: use one of {SOURCES}")
    if source == "hub" or (source == "auto" and hub_reachable()):
        try:
            return load_dataset(*HUB_DATASET, split=split)
        except Exception as error:
            if source == "hub":
                raise
            print(f"GSM8K from the Hub failed ({type(error).__name__}); using the bundled copy.")
    return load_dataset("json", data_files=str(BUNDLED_DIR / f"{split}.jsonl"), split="train")
