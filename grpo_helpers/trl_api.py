"""What the installed TRL accepts, read from TRL itself rather than written down here.

The tutorial runs on two TRL versions (1.16 in the CPU environment, 1.15 with Unsloth on a GPU)
and Unsloth replaces ``trl.GRPOConfig`` with its own subclass when it is imported. So the config
code asks the installed classes: which fields ``GRPOConfig`` has, which loss types its
documentation lists, which arguments ``GRPOTrainer`` takes.
"""

from __future__ import annotations

import dataclasses
import re
from functools import lru_cache

# The four loss types seed 003 teaches. Used only if TRL's documentation of ``loss_type`` can no
# longer be parsed (the API-drift test in tests/test_config.py fails first in that case).
SEED_LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo")


def grpo_config_class():
    """``trl.GRPOConfig`` as it is now (Unsloth's subclass when Unsloth has patched TRL)."""
    from trl import GRPOConfig

    return GRPOConfig


def plain_grpo_config_class():
    """TRL's own GRPOConfig, even after Unsloth has put its subclass in ``trl.GRPOConfig``."""
    from trl.trainer.grpo_config import GRPOConfig

    return GRPOConfig


def trl_version() -> str:
    import trl

    return trl.__version__


def config_fields() -> dict:
    """``{name: dataclasses.Field}`` for every field ``GRPOConfig(...)`` accepts."""
    return {f.name: f for f in dataclasses.fields(grpo_config_class()) if f.init}


def field_default(name: str):
    """The class-level default of a ``GRPOConfig`` field (before ``__post_init__`` resolves it)."""
    field = config_fields()[name]
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    raise ValueError(f"GRPOConfig.{name} has no default: give it a value")


@lru_cache(maxsize=4)
def _loss_types_of(help_text: str, class_doc: str) -> tuple[str, ...]:
    found: list[str] = []
    sentence = re.search(r"Supported values are (.+?)\.\s", help_text, flags=re.S)
    if sentence:
        found += re.findall(r"'([a-z_]+)'", sentence.group(1))
    # The class docstring lists them as bullets: - `"grpo"`: ...
    block = class_doc.split("loss_type (", 1)[-1].split("mask_truncated_completions (", 1)[0] if class_doc else ""
    found += re.findall(r'- `"([a-z_]+)"`', block)
    return tuple(dict.fromkeys(found))


def accepted_loss_types() -> tuple[str, ...]:
    """The ``loss_type`` values the installed TRL documents, in its order."""
    cls = grpo_config_class()
    help_text = config_fields()["loss_type"].metadata.get("help", "")
    found = _loss_types_of(help_text, cls.__doc__ or "")
    return found or SEED_LOSS_TYPES


def trainer_arguments() -> tuple[str, ...]:
    """The keyword arguments ``GRPOTrainer(...)`` accepts.

    Unsloth's trainer subclass takes ``**kwargs`` and hands them to TRL's, so the classes are read
    along the inheritance chain until one ``__init__`` names all it takes.
    """
    import inspect

    from trl import GRPOTrainer

    names: dict[str, None] = {}
    for cls in GRPOTrainer.__mro__:
        if "__init__" not in vars(cls):
            continue
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
        names.update((p.name, None) for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return tuple(names)
