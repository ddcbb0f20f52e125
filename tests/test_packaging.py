"""Packaging: the command line entry point, the version, the licence file."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

import sk_hier
from sk_hier.cli import COMMANDS, build_parser, main

ROOT = Path(__file__).resolve().parent.parent


def test_help_lists_every_command():
    text = build_parser().format_help()
    for name in COMMANDS:
        assert name in text, name


def test_main_help_exits_cleanly(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out, name


def test_version_matches_installed_metadata():
    assert sk_hier.__version__ == importlib.metadata.version("sk-hier")


def test_license_file_exists():
    assert (ROOT / "LICENSE").is_file()
