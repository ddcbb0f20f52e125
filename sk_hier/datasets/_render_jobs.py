"""The work of a render: which source plays which clip, one clip per job, the tables.

A job is a plain dict so that it runs in any process; every draw (the source of a
clip, its mix levels, its effects) is seeded from the set's seed and the clip's index,
so the output never depends on ``n_jobs`` or on which clips a process rendered before.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from .._io import atomic_write
from ..hierarchy import Hierarchy
from ._folder import label_matrix
from ._midi_gen import generate_clip_midi
from ._synth import get_engine, midi_bytes, normalize_loudness, to_mono, wav_bytes
from .augment import augment_audio, json_ready, mix_plan
from .soundfonts import SOUNDFONTS

_DRAW_STREAM = 7  # sub-stream of the set's seed for the per-clip source draw
_AUGMENT_STREAM = 11  # and for the per-clip augmentation seed
_SILENT = 1e-6  # peak below which a rendered clip counts as silence


def group_of(source: str) -> str:
    """Lineage group of a source (a path's file name is its own group)."""
    return SOUNDFONTS[source].group if source in SOUNDFONTS else source


def assign_sources(
    clip_ids: list[str], names: list[str], seed: int, each: bool
) -> list[tuple[str, str, int, str]]:
    """``(clip_id, midi_id, clip index, source)`` per output clip.

    One source: clip ids unchanged. Several: one source drawn per clip (seeded by the
    set's seed and the clip's index), or with ``each`` every clip through every source,
    with ids ``<midi_id>__<source>``.

    Examples
    --------
    >>> assign_sources(["c0", "c1"], ["a", "b"], seed=0, each=True)[:2]
    [('c0__a', 'c0', 0, 'a'), ('c0__b', 'c0', 0, 'b')]
    """
    if len(names) == 1:
        return [(cid, cid, i, names[0]) for i, cid in enumerate(clip_ids)]
    if each:
        return [(f"{cid}__{n}", cid, i, n) for i, cid in enumerate(clip_ids) for n in names]
    out = []
    for i, cid in enumerate(clip_ids):
        k = np.random.default_rng([seed, i, _DRAW_STREAM]).integers(len(names))
        out.append((cid, cid, i, names[int(k)]))
    return out


def clip_seed(seed: int, index: int, source: str) -> int:
    """The augmentation seed of one rendering of one clip."""
    salt = sum(source.encode()) % 1000
    return int(np.random.SeedSequence([seed, index, salt, _AUGMENT_STREAM]).generate_state(1)[0])


def _music(job: dict) -> tuple[bytes, str, tuple[str, ...]]:
    """MIDI bytes, a description and the labels of a job's clip."""
    from .render import labels_from_midi

    if job["midi_src"] is not None:
        data = Path(job["midi_src"]).read_bytes()
        return data, job["midi_src"], labels_from_midi(data, job["instruments"], job["duration"])
    midi, labels = generate_clip_midi(
        job["seed"], job["instruments"], job["duration"], clip=job["index"], source=job["source"]
    )
    return midi_bytes(midi)[0], job["clip_id"], labels


def _augmented(job: dict, engine, data: bytes, where: str) -> tuple[np.ndarray, dict]:
    """Render with the job's mix plan and effects; returns mono audio and the record."""
    level = job["augment"]
    seed = clip_seed(job["seed"], job["index"], job["soundfont_name"])
    mix = {}
    if level != "none":
        channels = sorted({ev.channel for ev in engine.events(data, where)})
        mix = mix_plan(level, seed, channels, job["duration"])
    stereo = engine.render(data, job["duration"], where, drop=job["drop"], mix=mix)
    mono = normalize_loudness(to_mono(stereo))
    if level == "none":
        return mono, {}
    mono, applied = augment_audio(mono, job["sample_rate"], level, seed, job["ir_paths"])
    return normalize_loudness(mono), {"seed": seed, "mix": json_ready(mix), **applied}


def render_clip(job: dict) -> tuple[str, tuple[str, ...], tuple[str, ...], bool]:
    """Render one clip; returns clip id, labels, unknown labels (gaps), rendered?"""
    out = Path(job["out_dir"])
    clip_id = job["clip_id"]
    wav_path = out / "audio" / f"{clip_id}.wav"
    mid_path = out / "midi" / f"{clip_id}.mid"
    aug_path = out / "augment" / f"{clip_id}.json"
    gaps = set(job["gap_names"])
    done = wav_path.is_file() and mid_path.is_file()
    if done and (job["augment"] == "none" or aug_path.is_file()):  # done by an earlier run
        from .render import labels_from_midi

        labels = labels_from_midi(mid_path, job["instruments"], job["duration"])
        return clip_id, labels, tuple(n for n in labels if n in gaps), False
    data, where, labels = _music(job)
    engine = get_engine(Path(job["soundfont"]), job["sample_rate"])
    mono, record = _augmented(job, engine, data, where)
    unknown = tuple(n for n in labels if n in gaps)
    heard = [n for n in labels if n not in gaps]
    if heard and float(np.abs(mono).max()) < _SILENT:
        raise ValueError(
            f"Clip {clip_id} rendered silent although it has notes ({', '.join(heard)}); "
            f"the soundfont {engine.path.name} may lack samples for them."
        )
    atomic_write(mid_path, data)
    if record:
        atomic_write(aug_path, json.dumps(record, sort_keys=True) + "\n")
    atomic_write(wav_path, wav_bytes(mono, job["sample_rate"]))
    return clip_id, labels, unknown, True


def release_worker_processes() -> None:
    """End the idle joblib worker processes that rendered, so the next stage starts fresh.

    Each worker keeps the synth of the soundfonts it rendered with, for speed across
    clips (FluidR3_GM is about 150 MB resident per worker). Left alive, those workers
    serve the next joblib call of this process (embedding, fitting), and loky, which
    takes a worker's memory after its first task as the reference, counts the synths
    plus the new stage's own state (librosa, the musicnn network) as a leak: past
    300 MB it stops the worker mid-run, starts another and warns "A worker stopped
    while some jobs were given to the executor ... memory leak". Fresh workers hold
    only what their own stage needs, and their reference includes it.
    """
    # joblib keeps one reusable loky executor per process; it is recreated on demand.
    from joblib.externals.loky import reusable_executor

    executor = getattr(reusable_executor, "_executor", None)
    if executor is not None:
        # joblib's terminate: shut the workers down (waiting for them), then remove the
        # temp folder of memory-mapped arguments.
        if hasattr(executor, "terminate"):
            executor.terminate()
        else:
            executor.shutdown(wait=True)


def run_jobs(jobs: list[dict], n_jobs, desc: str, progress: bool) -> tuple[dict, dict, int]:
    """Render every clip (in parallel); labels and unknowns by clip id, and the count."""
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    # Clips grouped by source, so each worker loads few soundfonts; the sources loaded
    # last (by the gap audit) come first, while this process still holds them.
    fonts = list(dict.fromkeys(j["soundfont"] for j in jobs))
    rank = {f: -k for k, f in enumerate(fonts)}
    order = sorted(range(len(jobs)), key=lambda i: (rank[jobs[i]["soundfont"]], i))
    results = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(render_clip)(jobs[i]) for i in order
    )
    labels: dict[str, tuple] = {}
    unknown: dict[str, tuple] = {}
    n_rendered = 0
    for clip_id, names, gaps, rendered in tqdm(
        results, total=len(jobs), desc=desc, unit="clip", disable=not progress
    ):
        labels[clip_id], unknown[clip_id] = names, gaps
        n_rendered += rendered
    if n_jobs != 1:
        release_worker_processes()
    return labels, unknown, n_rendered


def unknown_matrix(hierarchy: Hierarchy, Y: np.ndarray, unknown: list) -> np.ndarray:
    """``Y`` (float) with each clip's gap leaves NaN, and their parents NaN unless heard.

    A family stays 1 when another of its instruments is heard in the clip; otherwise
    it is unknown too: the silent instrument may have been its only one.
    """
    Y = Y.astype(float)
    for row, names in enumerate(unknown):
        for name in names:
            Y[row, hierarchy.index(name)] = np.nan
    for parent in reversed(hierarchy.inner):  # deepest first: a parent reads its children
        kids = [hierarchy.index(c) for c in hierarchy.children_of(parent)]
        col = hierarchy.index(parent)
        vals = Y[:, kids]
        heard = np.nan_to_num(vals, nan=0.0).max(axis=1) > 0
        unsure = np.isnan(vals).any(axis=1)
        Y[:, col] = np.where(heard, 1.0, np.where(unsure, np.nan, 0.0))
    return Y


def write_tables(out: Path, hierarchy: Hierarchy, plan: list, results: tuple, meta: dict):
    """hierarchy.json, labels.csv, sources.csv, then render.json marked complete."""
    labels, unknown, _ = results
    clip_ids = [p[0] for p in plan]
    Y = label_matrix(hierarchy, [labels[c] for c in clip_ids])
    if any(unknown[c] for c in clip_ids):
        Y = unknown_matrix(hierarchy, Y, [unknown[c] for c in clip_ids])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["clip_id", *hierarchy.labels])
    for cid, row in zip(clip_ids, Y.tolist()):
        writer.writerow([cid, *("" if v != v else str(int(v)) for v in row)])
    src = io.StringIO()
    writer = csv.writer(src, lineterminator="\n")
    writer.writerow(["clip_id", "midi_id", "source", "group", "unknown"])
    for cid, midi_id, _, name in plan:
        writer.writerow([cid, midi_id, name, group_of(name), ";".join(unknown[cid])])
    atomic_write(out / "hierarchy.json", hierarchy.to_json() + "\n")
    atomic_write(out / "labels.csv", buf.getvalue())
    atomic_write(out / "sources.csv", src.getvalue())
    meta["complete"] = True
    atomic_write(out / "render.json", json.dumps(meta, indent=2) + "\n")
