"""The quality benchmark: every strategy and baseline on rendered audio.

A thin wrapper around ``sk-hier bench`` (see ``sk_hier.benchmarking.quality``):

    python benchmarks/quality.py --quick   # a few minutes on 2 cores once set up
    python benchmarks/quality.py --full    # the full run (resumable)

Results go to ``benchmarks/results/{quick,full}/`` (``quality.csv``, ``summary.md``,
``per_instrument_ap.csv``, ``provenance.json``, ``figures/``).
"""

import sys

from sk_hier.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
