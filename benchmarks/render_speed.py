"""How fast clips render, per soundfont: x real time and peak memory.

Renders ``--n-clips`` clips of ``--duration`` seconds with each soundfont into a
temporary folder (MIDI composition, synthesis, loudness normalisation and the WAV/MIDI
files included) and prints, per soundfont, the real-time factor of the whole
``render_dataset`` call, the same without the one-off soundfont load and hashing, the
synthesis alone, and the peak resident memory of the process so far.

    python benchmarks/render_speed.py                # 50 x 10 s, timgm6mb and fluidr3
    python benchmarks/render_speed.py --n-clips 200 --n-jobs 2
    python benchmarks/render_speed.py --soundfonts timgm6mb --augment none,light,strong
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from sk_hier.datasets import _synth
from sk_hier.datasets.render import render_dataset, resolve_soundfont

TARGET = 400.0  # x real time, single process


def _peak_mib() -> float:
    # ru_maxrss is in KiB on Linux, in bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def bench(
    soundfont: str, n_clips: int, duration: float, n_jobs: int, tmp: Path, augment: str = "none"
) -> dict:
    name, path = resolve_soundfont(soundfont)
    t0 = time.perf_counter()
    _synth.get_engine(path, 22050)
    _synth.sha256_of(path)
    setup = time.perf_counter() - t0
    synth = [0.0]
    real = _synth.Engine.render

    def timed(self, *args, **kwargs):
        t = time.perf_counter()
        try:
            return real(self, *args, **kwargs)
        finally:
            synth[0] += time.perf_counter() - t

    _synth.Engine.render = timed  # the synthesis alone (serial runs only)
    try:
        summary = render_dataset(
            tmp / f"{name}_{augment}",
            n_clips=n_clips,
            augment=augment,
            seed=0,
            soundfont=soundfont,
            duration=duration,
            n_jobs=n_jobs,
            progress=False,
        )
    finally:
        _synth.Engine.render = real
    audio = summary.audio_seconds
    return {
        "soundfont": name if augment == "none" else f"{name}+{augment}",
        "load_s": setup,
        "total_x": audio / (summary.seconds + setup),
        "warm_x": audio / summary.seconds,
        "synth_x": audio / synth[0] if synth[0] else float("nan"),
        "peak_mib": _peak_mib(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-clips", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--soundfonts", default="timgm6mb,fluidr3")
    parser.add_argument(
        "--augment", default="none", help="augmentation levels to time, e.g. none,light,strong"
    )
    args = parser.parse_args(argv)
    print(
        f"{args.n_clips} clips x {args.duration:g} s, n_jobs={args.n_jobs}, 22,050 Hz "
        f"(target >= {TARGET:.0f}x real time); peak memory before rendering: "
        f"{_peak_mib():.0f} MiB (the imports)"
    )
    print(f"{'soundfont':16s} {'load s':>7s} {'total x':>8s} {'warm x':>7s} "
          f"{'synth x':>8s} {'peak MiB':>9s}")  # fmt: skip
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        runs = [(sf, a) for sf in args.soundfonts.split(",") for a in args.augment.split(",")]
        for sf, augment in runs:
            r = bench(sf, args.n_clips, args.duration, args.n_jobs, Path(tmp), augment)
            print(
                f"{r['soundfont']:16s} {r['load_s']:7.2f} {r['total_x']:8.0f} "
                f"{r['warm_x']:7.0f} {r['synth_x']:8.0f} {r['peak_mib']:9.0f}"
            )
            ok &= augment != "none" or r["warm_x"] >= TARGET
    print(
        "total: the whole call including the soundfont load; warm: without it; synth: "
        "tinysoundfont alone (serial runs); peak: this process so far (workers not counted)."
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
