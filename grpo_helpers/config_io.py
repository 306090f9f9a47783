"""Save a GRPOConfig to a JSON file and load it back (notebook 05 saves, notebook 06 loads).

The file holds the settings that make this config what it is: every field that differs from
TRL's own default (not Unsloth's, so the file means the same in both environments), plus the fields the presets set and the precision (written even when they equal
the default, because defaults differ between TRL versions and Unsloth's config class). Loading
builds ``GRPOConfig(**settings)`` again, so the loaded config equals the saved one.

Nothing is left out quietly: a secret (``hub_token``) is not written and the save says so; a
value that JSON cannot hold is an error naming the field.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import warnings
from pathlib import Path

from grpo_helpers.config import build_config, report_problems
from grpo_helpers.config_checks import ConfigWarning, check_names, find_problems
from grpo_helpers.hardware import Hardware, detect_hardware
from grpo_helpers.presets import PRECISION_FIELDS, PRESET_FIELDS
from grpo_helpers.settings import run_dir
from grpo_helpers.trl_api import config_fields, field_default, grpo_config_class, plain_grpo_config_class, trl_version

CONFIG_FILE = "grpo_config.json"
FORMAT = "grpo_helpers/grpo_config"
FORMAT_VERSION = 1
SECRET_FIELDS = ("hub_token",)
# Resolved by GRPOConfig from other fields; written only when they were chosen on purpose.
DERIVED_FIELDS = ("generation_batch_size", "steps_per_generation")


def default_config_path() -> Path:
    """``run_dir() / "grpo_config.json"``: where notebook 05 saves and notebook 06 looks."""
    return run_dir() / CONFIG_FILE


def _to_json(name: str, value):
    if name == "report_to" and value == []:
        return "none"  # what TRL reads back as "no tracker"; [] means the same
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _to_json(f"{name}.{k}", v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(name, v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_json(f"{name}.{k}", v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Path):
        return str(value)
    raise ValueError(
        f"{name}: a {type(value).__name__} cannot be written to JSON; set it to a plain value (number, text, "
        "list, dict) or set it again after load_config"
    )


def _changed(name, value, reference) -> bool:
    if hasattr(reference, name):
        return value != getattr(reference, name)
    return value != field_default(name)  # a field of Unsloth's config class only


def config_to_settings(config) -> dict:
    """The settings that rebuild ``config``: fields that differ from TRL's default GRPOConfig built
    for the same device, plus the preset and precision fields."""
    values = {name: getattr(config, name) for name in config_fields() if hasattr(config, name)}
    reference = plain_grpo_config_class()(**{k: values[k] for k in ("output_dir", "bf16", "fp16", "use_cpu")})
    keep = set(PRESET_FIELDS) | set(PRECISION_FIELDS) | {"output_dir"}
    settings = {
        name: value
        for name, value in values.items()
        if name not in DERIVED_FIELDS and (name in keep or _changed(name, value, reference))
    }
    if config.steps_per_generation != config.gradient_accumulation_steps:
        settings["steps_per_generation"] = config.steps_per_generation  # one of the two, never both
    return settings


def save_config(config, path: str | Path | None = None, note: str = "") -> Path:
    """Write ``config`` to ``path`` (default ``run_dir() / "grpo_config.json"``) as JSON; returns the path."""
    path = Path(path) if path is not None else default_config_path()
    settings = config_to_settings(config)
    for name in SECRET_FIELDS:
        if settings.pop(name, None) is not None:
            warnings.warn(
                f"{name} is a secret and was not written to {path}: set it again after load_config "
                "(or log in with `huggingface-cli login` instead)",
                ConfigWarning,
                stacklevel=2,
            )
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "trl_version": trl_version(),
        "note": note,
        "settings": {name: _to_json(name, value) for name, value in sorted(settings.items())},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def load_config(path: str | Path | None = None, hardware: Hardware | None = None, check: bool = True, **overrides):
    """Build the GRPOConfig saved at ``path`` (default ``run_dir() / "grpo_config.json"``).

    ``overrides`` replace saved settings (``load_config(max_steps=10)``). With ``check`` (the
    default) the settings go through make_config's checks for this machine (``hardware``, detected
    when not given), so a config saved on a GPU and loaded on a CPU says what to change.
    """
    path = Path(path) if path is not None else default_config_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"No saved GRPO config at {path}: run notebook 05 (it saves one there), or pass the path of "
            "your file, or build one with make_config()"
        )
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}): save it again with save_config(config, path)") from error
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"{path} is not a config written by save_config (no \"format\": \"{FORMAT}\")")
    if document.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has format_version {document.get('format_version')!r}; this grpo_helpers reads "
            f"{FORMAT_VERSION}: save it again with this version"
        )
    problems = check_names(overrides)
    problems.raise_errors("load_config overrides")
    settings = {**document["settings"], **overrides}
    unknown = sorted(set(settings) - set(config_fields()))
    if unknown:
        raise ValueError(
            f"{path} has settings this TRL ({trl_version()}) does not know: {unknown}. It was saved with TRL "
            f"{document.get('trl_version')}: remove them from the file, or install that TRL version"
        )
    if not check:
        return grpo_config_class()(**settings)
    hardware = hardware or detect_hardware()
    report_problems(find_problems(settings, hardware), f"the config in {path}", stacklevel=2)
    return build_config(settings, hardware)

