"""How fast audio embeds: the fast paths against the reference paths, side by side.

Embeds ``--n-clips`` WAV files (synthetic 10-s multi-tone clips at 22,050 Hz written
to a temporary folder, or the ``*.wav`` files of ``--audio-dir``, e.g. a rendered
folder's ``audio/``) with LogMel and musicnn, each through its reference path (the
direct computation the package keeps in ``_logmel_reference`` / ``_musicnn_reference``,
and the file loading it had, kept in ``_loading_reference``: each file read into memory,
hashed whether or not a cache is used, decoded from a ``BytesIO``) and its fast path,
at 1 and 2 torch threads. Every configuration runs in its own process, so that its
peak resident memory (``ru_maxrss``) is its own; the processes take turns, one
transform each per round for ``--repeat`` rounds, and the fastest round of each is
kept: a busy machine only ever adds time, and taking turns, both paths see the same
changes of load. File reading, validation, resampling and pooling are included; the one-off model
load is not. Prints the table, one "speed-up" line per embedder and thread count (per
core: CPU time; at 2 threads also wall time), and how far the fast outputs are from the
reference outputs. ``--profile`` adds where the fast paths spend their time.

    python benchmarks/embed_speed.py                 # 20 clips, 1 and 2 threads
    python benchmarks/embed_speed.py --quick         # 6 clips, one repeat
    python benchmarks/embed_speed.py --embedders logmel --n-clips 200   # a stable log-mel ratio
    python benchmarks/embed_speed.py --profile --audio-dir data/timgm6mb/audio
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

EMBEDDERS = ("logmel", "musicnn")
IMPLEMENTATIONS = ("reference", "fast")


def _peak_mib() -> float:
    # ru_maxrss is in KiB on Linux, in bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def _write_clips(folder: Path, n_clips: int, duration: float, sr: int = 22050) -> list[Path]:
    import soundfile as sf

    rng = np.random.default_rng(0)
    t = np.arange(int(duration * sr)) / sr
    paths = []
    for i in range(n_clips):
        # A few partials with a slow envelope and some noise: busy enough to be real work.
        y = sum(
            0.15
            * np.sin(2 * np.pi * f * t)
            * (0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.1, 2) * t))
            for f in rng.uniform(80, 4000, 6)
        )
        y = y + 0.01 * rng.normal(size=t.size)
        paths.append(folder / f"clip{i:04d}.wav")
        sf.write(paths[-1], (0.5 * y / np.max(np.abs(y))).astype(np.float32), sr, subtype="PCM_16")
    return paths


def _make(name: str, implementation: str):
    from sk_hier.embeddings import make_embedder

    emb = make_embedder(name)
    # The reference path: the direct computation kept for checks like this one.
    emb._reference = implementation == "reference"
    return emb.fit()


def _measure(config: tuple, paths: list[str], commands, results) -> None:
    """One configuration in its own process: a timed transform per command, then a summary."""
    import soundfile as sf
    import torch

    name, implementation, threads = config
    torch.set_num_threads(threads)
    emb = _make(name, implementation)
    commands.get()  # the warm-ups take turns too
    t0 = time.perf_counter()
    emb.transform(paths[:2])  # model load, librosa/numba warm-up
    setup = time.perf_counter() - t0
    results.put(None)
    walls, cpus = [], []
    while commands.get():
        c0, w0 = time.process_time(), time.perf_counter()
        X = emb.transform(paths)
        cpus.append(time.process_time() - c0)
        walls.append(time.perf_counter() - w0)
        results.put(None)
    results.put(
        {
            "config": config,
            "audio_s": sum(sf.info(p).duration for p in paths),
            "setup_s": setup,
            "wall_s": min(walls),
            "cpu_s": min(cpus),
            "peak_mib": _peak_mib(),
            "X": X,
        }
    )


def _run_all(paths: list[str], threads: list[int], repeat: int, embedders=EMBEDDERS) -> dict:
    """Per thread count, one process per configuration, all started at once and timed in
    turns (one transform each per round): a change in the machine's load between the
    paths then touches both alike, and the fastest round of each is kept."""
    ctx = mp.get_context("spawn")
    rows = {}
    for n_threads in threads:
        configs = [(n, i, n_threads) for n in embedders for i in IMPLEMENTATIONS]
        queues = {c: (ctx.Queue(), ctx.Queue()) for c in configs}
        procs = [ctx.Process(target=_measure, args=(c, paths, *queues[c])) for c in configs]
        for proc in procs:
            proc.start()
        for _ in range(1 + repeat):  # the warm-up, then the timed rounds
            for commands, results in queues.values():
                commands.put(True)
                results.get()  # one at a time: the configurations never overlap
        for config, (commands, results) in queues.items():
            commands.put(False)
            rows[config] = results.get()
        for proc in procs:
            proc.join()
    return rows


def _print_table(rows: dict) -> None:
    header = (
        f"{'embedder':<9}{'path':<11}{'thr':>4}{'load s':>8}{'wall s':>8}{'CPU s':>8}"
        f"{'x RT wall':>11}{'x RT/core':>11}{'s/10 s':>8}{'peak MiB':>10}"
    )
    print(header)
    print("-" * len(header))
    for (name, implementation, n_threads), r in rows.items():
        rt_wall = r["audio_s"] / r["wall_s"]
        rt_core = r["audio_s"] / r["cpu_s"]  # CPU time: per core, whatever the thread count
        per10 = 10.0 * r["cpu_s"] / r["audio_s"]
        print(
            f"{name:<9}{implementation:<11}{n_threads:>4}{r['setup_s']:>8.2f}{r['wall_s']:>8.2f}"
            f"{r['cpu_s']:>8.2f}{rt_wall:>11.0f}{rt_core:>11.0f}{per10:>8.3f}{r['peak_mib']:>10.0f}"
        )


def _print_speedups(rows: dict, threads: list[int], embedders=EMBEDDERS) -> None:
    for name in embedders:
        for n_threads in threads:
            ref, fast = rows[name, "reference", n_threads], rows[name, "fast", n_threads]
            per_core = ref["cpu_s"] / fast["cpu_s"]
            line = (
                f"{name} speed-up per core at {n_threads} thread(s): {per_core:.2f}x "
                f"({ref['audio_s'] / ref['cpu_s']:.0f} -> {fast['audio_s'] / fast['cpu_s']:.0f}"
                " x real time per core)"
            )
            if n_threads > 1:
                line += f"; wall-clock speed-up {ref['wall_s'] / fast['wall_s']:.2f}x"
            print(line)
        for n_threads in threads:
            ref_x = rows[name, "reference", n_threads]["X"]
            diff = np.abs(rows[name, "fast", n_threads]["X"] - ref_x).max()
            scale = np.abs(ref_x).max()
            print(
                f"{name} fast vs reference at {n_threads} thread(s): max |difference| "
                f"{diff:.2g} = {diff / scale / 2**-23:.0f} float32 eps x largest |value| "
                f"({scale:.3g})"
            )


def _profile(paths: list[str], embedders=EMBEDDERS) -> None:
    """Where the fast paths spend their time: torch operators, then Python functions."""
    import cProfile
    import pstats

    import torch
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(1)
    for name in embedders:
        emb = _make(name, "fast")
        emb.transform(paths[:2])
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            emb.transform(paths)
        print(f"\n== {name} (fast path, 1 thread): torch operators by own CPU time")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
        stats = cProfile.Profile()
        stats.runcall(emb.transform, paths)
        print(f"== {name} (fast path, 1 thread): Python functions by own time")
        pstats.Stats(stats).sort_stats("tottime").print_stats(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-clips", type=int, default=20)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per clip")
    parser.add_argument("--audio-dir", type=Path, default=None, help="use these *.wav files")
    parser.add_argument("--threads", default="1,2", help="torch thread counts (default 1,2)")
    parser.add_argument("--repeat", type=int, default=3, help="transforms per configuration")
    parser.add_argument("--quick", action="store_true", help="6 clips, one repeat")
    parser.add_argument(
        "--embedders",
        default=",".join(EMBEDDERS),
        help="which to time (e.g. logmel with --n-clips 200: its 20 default clips take "
        "only ~0.06 s, too short for a stable ratio)",
    )
    parser.add_argument("--profile", action="store_true", help="also profile the fast paths")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_clips, args.repeat = min(args.n_clips, 6), 1
    threads = [int(t) for t in args.threads.split(",")]
    embedders = tuple(e for e in args.embedders.split(",") if e)
    if not embedders or set(embedders) - set(EMBEDDERS):
        parser.error(f"--embedders: choose among {', '.join(EMBEDDERS)}")

    with tempfile.TemporaryDirectory() as tmp:
        if args.audio_dir is not None:
            paths = sorted(args.audio_dir.glob("*.wav"))[: args.n_clips]
            if not paths:
                parser.error(f"no *.wav files in {args.audio_dir}")
        else:
            paths = _write_clips(Path(tmp), args.n_clips, args.duration)
        paths = [str(p) for p in paths]
        rows = _run_all(paths, threads, args.repeat, embedders)
        print(f"{len(paths)} clips, fastest of {args.repeat} transform(s), 1 process each")
        _print_table(rows)
        _print_speedups(rows, threads, embedders)
        if args.profile:
            _profile(paths, embedders)
    return 0


if __name__ == "__main__":
    sys.exit(main())
