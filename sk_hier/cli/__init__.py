"""The ``sk-hier`` command: one sub-command per module of this package.

Each sub-command module defines ``add_parser(subparsers)``, which registers its
parser and sets ``func(args) -> int``. Errors a user can fix (bad input, missing
files, missing optional packages) are printed as one clear message, not a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .._version import __version__

__all__ = ["main"]

# Order is the order of ``sk-hier --help``.
COMMANDS = ("render", "embed", "fit", "tag", "bench")


class CLIError(Exception):
    """An error whose message is meant for the user as it is."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sk-hier",
        description="Hierarchical multi-label tagging: render audio, embed it, "
        "train and benchmark taggers, tag new audio.",
    )
    parser.add_argument("--version", action="version", version=f"sk-hier {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sk-hier``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("sk-hier: interrupted", file=sys.stderr)
        return 130
    except (CLIError, ValueError, OSError, ImportError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"sk-hier {args.command}: error: {msg}", file=sys.stderr)
        return 1
