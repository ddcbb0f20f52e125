"""Start-up time: ``sk-hier --help`` and ``import sk_hier`` beside ``import sklearn``.

Each command runs in fresh processes (``--runs`` each, default 5), interleaved so
that a busy machine slows all of them alike; the medians are printed side by side
with the targets: ``sk-hier --help`` <= 0.5 s and ``import sk_hier`` <= ``import
sklearn`` + 0.3 s.

Run: ``python benchmarks/startup.py [--runs 5]``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python (empty)": [sys.executable, "-c", "pass"],
    "import sklearn": [sys.executable, "-c", "import sklearn.base"],
    "import sk_hier": [sys.executable, "-c", "import sk_hier"],
    "import sk_hier + HierarchicalTagger": [
        sys.executable,
        "-c",
        "from sk_hier import HierarchicalTagger",
    ],
    "import torch": [sys.executable, "-c", "import torch"],
    "sk-hier --help": [sys.executable, "-m", "sk_hier.cli", "--help"],
    "sk-hier fit (argument error)": [sys.executable, "-m", "sk_hier.cli", "fit"],
}


def _time(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per command")
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for cmd in COMMANDS.values():  # warm the file cache once
        _time(cmd)
    for _ in range(args.runs):
        for name, cmd in COMMANDS.items():
            times[name].append(_time(cmd))
    med = {name: statistics.median(t) for name, t in times.items()}
    print(f"median of {args.runs} fresh processes each (seconds)")
    for name, value in med.items():
        print(f"  {name:<38} {value:6.3f}")
    help_ok = med["sk-hier --help"] <= 0.5
    import_ok = med["import sk_hier"] <= med["import sklearn"] + 0.3
    print(
        f"sk-hier --help: {med['sk-hier --help']:.3f} s (target <= 0.5 s): "
        f"{'met' if help_ok else 'NOT met'}"
    )
    print(
        f"import sk_hier: {med['import sk_hier']:.3f} s vs import sklearn "
        f"{med['import sklearn']:.3f} s + 0.3 s: {'met' if import_ok else 'NOT met'}"
    )
    return 0 if help_ok and import_ok else 1


if __name__ == "__main__":
    sys.exit(main())
