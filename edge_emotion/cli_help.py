"""What every command's ``--help`` shows: each option's default beside its description, the
description and example as written, and the name the command was started by
(``edge-emotion-run`` or ``python -m edge_emotion.run``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs (examples) keep their line breaks; an option's help ends
    with ``(default: X)`` unless it names its default itself or has none (``None``, a
    flag's ``False``)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text.lower()
            or any(default is d for d in (None, False, argparse.SUPPRESS))
            or (not action.option_strings and action.nargs not in ("?", "*"))
        ):
            return text
        if isinstance(default, (list, tuple)):
            default = " ".join(str(d) for d in default)
        # the help string is %-formatted later: a % in a default must stay literal
        return f"{text} (default: {str(default).replace('%', '%%')})"


def command_name(module: str) -> str:
    """The name a person typed: the console script (``edge-emotion-train``) when started
    by one, else ``python -m <module>``."""
    started = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    # our console scripts are all edge-emotion-*; anything else (python -m, pytest, a
    # script importing main) is told the module form
    return started if started.startswith("edge-emotion-") else f"python -m {module}"


def apply_help_format(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """:class:`HelpFormatter` for ``parser`` and every subcommand's parser below it."""
    parser.formatter_class = HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                apply_help_format(sub)
    return parser
