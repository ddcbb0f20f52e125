"""Render pages of the built HTML documentation to PNG with headless Chromium.

Build the docs first (``make docs``), then::

    python scripts/screenshot_docs.py            # index + one gallery page
    python scripts/screenshot_docs.py user_guide/cli.html benchmark.html

Screenshots go to ``docs/_build/screenshots/``. Needs Debian's ``chromium``
(``apt-get install -y chromium``); no network access is made.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "docs" / "_build" / "html"
OUT = ROOT / "docs" / "_build" / "screenshots"
DEFAULT_PAGES = ("index.html", "auto_examples/plot_attention_maps.html")
FLAGS = (
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def find_chromium() -> str:
    """The Chromium executable, or exit with the command that installs it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("Chromium not found: apt-get update && apt-get install -y chromium")


def screenshot(browser: str, page: Path, out: Path, size: str, timeout: float) -> None:
    """Render one HTML file to ``out`` with a fresh, throw-away browser profile."""
    flags = list(FLAGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    with tempfile.TemporaryDirectory(prefix="sk_hier_chromium_") as profile:
        cmd = [
            browser,
            *flags,
            f"--user-data-dir={profile}",
            f"--window-size={size}",
            f"--screenshot={out}",
            page.as_uri(),
        ]
        subprocess.run(cmd, check=True, capture_output=True, timeout=timeout)
    if not out.is_file():
        raise RuntimeError(f"Chromium wrote no screenshot for {page}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "pages", nargs="*", default=list(DEFAULT_PAGES), help="pages relative to the HTML root"
    )
    parser.add_argument("--html", type=Path, default=HTML, help="built HTML folder")
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the PNG files")
    parser.add_argument("--window-size", default="1280,1600", help="WIDTH,HEIGHT in pixels")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per page")
    args = parser.parse_args(argv)

    browser = find_chromium()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.pages:
        page = (args.html / name).resolve()
        if not page.is_file():
            sys.exit(f"{page} does not exist: build the docs first (make docs)")
        out = args.out / (name.removesuffix(".html").replace("/", "__") + ".png")
        screenshot(browser, page, out, args.window_size, args.timeout)
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
