"""``NAME=VALUE`` command-line settings (``--set learning_rate=2e-4``) as a dict of Python values."""

from __future__ import annotations

import ast


def parse_value(text: str):
    """``text`` as a Python literal (number, bool, None, list...) where it is one, else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def add_settings_argument(parser, help: str, none_when_absent: bool = False) -> None:
    """The repeatable ``--set NAME=VALUE`` option, into ``args.overrides`` (read it with ``parse_settings``);
    ``none_when_absent``: ``None`` rather than ``[]`` when it is not given (a script with its own default)."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=None if none_when_absent else [],
        metavar="NAME=VALUE",
        help=help,
    )


def parse_settings(pairs: list[str]) -> dict:
    """``["name=value", ...]`` as ``{name: value}``; exits with a message on a pair without ``=``."""
    settings = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not name or not sep:
            raise SystemExit(f"expected NAME=VALUE, got {pair!r}")
        settings[name] = parse_value(text)
    return settings
