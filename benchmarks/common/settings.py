"""``NAME=VALUE`` command-line settings (``--set learning_rate=2e-4``) as a dict of Python values."""

from __future__ import annotations

import ast


def parse_value(text: str):
    """``text`` as a Python literal (number, bool, None, list...) where it is one, else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_settings(pairs: list[str]) -> dict:
    """``["name=value", ...]`` as ``{name: value}``; exits with a message on a pair without ``=``."""
    settings = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not name or not sep:
            raise SystemExit(f"expected NAME=VALUE, got {pair!r}")
        settings[name] = parse_value(text)
    return settings
