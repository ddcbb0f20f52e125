"""How fast audio embeds: LogMel x real time per core, musicnn seconds per 10-s clip.

Embeds ``--n-clips`` WAV files (synthetic 10-s multi-tone clips at 22,050 Hz written
to a temporary folder, or the ``*.wav`` files of ``--audio-dir``, e.g. a rendered
folder's ``audio/``) with each embedder, each in a fresh process so that its peak
resident memory is its own. File reading, validation, resampling and pooling are
included; the one-off model load is not (it is reported apart). Prints wall and CPU
time, the real-time factor and seconds per 10 s of audio.

    python benchmarks/embed_speed.py                         # 20 clips, 1 thread
    python benchmarks/embed_speed.py --threads 2 --audio-dir data/timgm6mb/audio
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

TARGETS = {"logmel": "x real time per core >= 1000", "musicnn": "s per 10-s clip <= 0.25"}


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


def _measure(name: str, paths: list[str], threads: int, queue) -> None:
    import soundfile as sf
    import torch

    from sk_hier.embeddings import make_embedder

    torch.set_num_threads(threads)
    emb = make_embedder(name)
    t0 = time.perf_counter()
    emb.fit().transform(paths[:1])  # model load, librosa/numba warm-up
    setup = time.perf_counter() - t0
    audio_s = sum(sf.info(p).duration for p in paths)
    c0, w0 = time.process_time(), time.perf_counter()
    X = emb.transform(paths)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    queue.put(
        {
            "embedder": name,
            "clips": len(paths),
            "dim": X.shape[1],
            "audio_s": audio_s,
            "setup_s": setup,
            "wall_s": wall,
            "cpu_s": cpu,
            "peak_mib": _peak_mib(),
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-clips", type=int, default=20)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per clip")
    parser.add_argument("--audio-dir", type=Path, default=None, help="use these *.wav files")
    parser.add_argument("--embedders", default="logmel,musicnn")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        if args.audio_dir is not None:
            paths = sorted(args.audio_dir.glob("*.wav"))[: args.n_clips]
            if not paths:
                parser.error(f"no *.wav files in {args.audio_dir}")
        else:
            paths = _write_clips(Path(tmp), args.n_clips, args.duration)
        ctx = mp.get_context("spawn")
        rows = []
        for name in args.embedders.split(","):
            queue = ctx.Queue()
            proc = ctx.Process(
                target=_measure, args=(name, [str(p) for p in paths], args.threads, queue)
            )
            proc.start()
            rows.append(queue.get())
            proc.join()

    print(f"{len(paths)} clips, torch threads: {args.threads}, 1 process")
    header = (
        f"{'embedder':<9}{'dim':>5}{'audio s':>9}{'load s':>8}{'wall s':>8}{'CPU s':>8}"
        f"{'x RT wall':>11}{'x RT/core':>11}{'s/10 s':>8}{'peak MiB':>10}  target"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        rt_wall = r["audio_s"] / r["wall_s"]
        rt_core = r["audio_s"] / r["cpu_s"]  # CPU time: per core, whatever the thread count
        per10 = 10.0 * r["wall_s"] / r["audio_s"]
        print(
            f"{r['embedder']:<9}{r['dim']:>5}{r['audio_s']:>9.0f}{r['setup_s']:>8.2f}"
            f"{r['wall_s']:>8.2f}{r['cpu_s']:>8.2f}{rt_wall:>11.0f}{rt_core:>11.0f}"
            f"{per10:>8.3f}{r['peak_mib']:>10.0f}  {TARGETS.get(r['embedder'], '')}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
