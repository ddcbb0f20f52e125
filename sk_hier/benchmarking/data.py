"""The benchmark's data: renders per source, the cells' clip plans, embeddings on demand.

One MIDI set is composed once (``DATA/timgm6mb``) and rendered again through every
source the run needs (``DATA/<source>``, and ``DATA/<source>__<augment>`` for augmented
training renders), so a clip's music is the same in every source and its labels agree
(except where a source cannot voice an instrument: those labels are unknown).

A cell's clips are ``(folder, clip index)`` rows. The source of a clip in a mixed
training set is drawn once per clip (a seeded order of every registered source; the
first allowed one is taken), so every regime and seed reuses the same renderings and a
clip is never embedded twice.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .regimes import POOL_SEED_OFFSET, REGIMES, SINGLE_SOURCE

__all__ = ["BenchData", "CellPlan", "plan_cells", "prepare_data"]

_TEST_SEED = 0  # the fixed test draw
_DRAW_STREAM = 3  # sub-stream of the render seed for the per-clip source order
SHIFT_SOURCE = "fluidr3"  # the second source of the single-source regimes' test_shift


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class CellPlan:
    """The clips of one (regime, held-out group) cell: training rows per seed, tests."""

    regime: str
    held_out: str | None
    train: dict = field(default_factory=dict)  # seed -> list of (folder, index)
    tests: dict = field(default_factory=dict)  # split -> list of (folder, index)

    @property
    def tag(self) -> str:
        return self.regime if self.held_out is None else f"{self.regime}-{self.held_out}"


@dataclass
class BenchData:
    """Labels, splits and embeddings of a benchmark run."""

    hierarchy: Any
    n_clips: int
    test: np.ndarray
    pool: np.ndarray
    Y: dict = field(default_factory=dict)  # folder -> {clip index: label row}
    X: dict = field(default_factory=dict)  # (embedder, folder) -> {index: row}

    def kept(self, emb: str, rows: list) -> list:
        """The ``(folder, index)`` rows that have an embedding (see :meth:`rows`)."""
        return [(f, i) for f, i in rows if i in self.X[(emb, f)]]

    def rows(self, emb: str, rows: list) -> tuple[np.ndarray, np.ndarray]:
        """``(X, Y)`` of ``(folder, index)`` rows.

        A rendering with nothing to hear (every instrument of the clip a gap of its
        source: silent, every label unknown) has no embedding and is left out; it
        would add nothing to a loss or a metric.
        """
        rows = self.kept(emb, rows)
        X = np.stack([self.X[(emb, f)][i] for f, i in rows])
        Y = np.stack([self.Y[f][i] for f, i in rows]).astype(np.float32)
        return X, Y


def source_order(index: int, names: tuple[str, ...], seed: int) -> list[str]:
    """The seeded order of ``names`` in which clip ``index`` takes its source."""
    perm = np.random.default_rng([seed, index, _DRAW_STREAM]).permutation(len(names))
    return [names[k] for k in perm]


def _draw(index: int, allowed: list[str], config) -> str:
    return next(s for s in source_order(index, config.sources, config.render_seed) if s in allowed)


def _folder(source: str, augment: str) -> str:
    return source if augment == "none" else f"{source}__{augment}"


def _groups(config) -> dict[str, list[str]]:
    from ..datasets.soundfonts import SOUNDFONTS

    out: dict[str, list[str]] = {}
    for s in config.sources:
        out.setdefault(SOUNDFONTS[s].group, []).append(s)
    return out


def _pool(pool: np.ndarray, seed: int, regime, config) -> np.ndarray:
    out = np.random.default_rng(POOL_SEED_OFFSET + seed).permutation(pool)
    return out[: config.n_scarce] if regime.scarce else out


def _sources_for(regime, held_out: str | None, config) -> list[str]:
    """The training sources of a cell."""
    from ..datasets.soundfonts import SOUNDFONTS

    if regime.kind == "single":
        return [SINGLE_SOURCE]
    if regime.kind == "multi":
        return [s for s in config.sources if SOUNDFONTS[s].headline]
    groups = _groups(config)
    if regime.n_groups is None:
        return [s for g, names in groups.items() if g != held_out for s in names]
    banks = sorted(g for g, names in groups.items() if SOUNDFONTS[names[0]].headline)
    start = banks.index(held_out) if held_out in banks else -1
    chosen = [banks[(start + j) % len(banks)] for j in range(1, len(banks))][: regime.n_groups]
    return [s for g in chosen for s in groups[g]]


def plan_cells(config, test: np.ndarray, pool: np.ndarray) -> list[CellPlan]:
    """Every cell of the run with its clip rows (nothing is loaded)."""
    groups = _groups(config)
    plans = []
    for name in config.regimes:
        regime = REGIMES[name]
        held = [None]
        if regime.kind == "loso":
            held = [g for g in groups if config.held_out is None or g in config.held_out]
        for g in held:
            plan = CellPlan(name, g)
            train_src = _sources_for(regime, g, config)
            for seed in config.seeds:
                idx = _pool(pool, seed, regime, config)
                plan.train[seed] = [
                    (_folder(src, regime.augment), int(i))
                    for i in idx
                    for src in (train_src if regime.each else [_draw(i, train_src, config)])
                ]
            plan.tests = _tests(regime, g, groups, train_src, test, config)
            plans.append(plan)
    return plans


def _tests(regime, held_out, groups, train_src, test, config) -> dict:
    tests = {}
    if regime.kind != "loso":
        tests["test"] = [(SINGLE_SOURCE, int(i)) for i in test]
        if SHIFT_SOURCE in config.sources:
            tests["test_shift"] = [(SHIFT_SOURCE, int(i)) for i in test]
    if regime.kind != "single":
        tests["in_domain"] = [(_draw(i, train_src, config), int(i)) for i in test]
    if regime.kind == "loso":
        tests["held_out"] = [(_draw(i, groups[held_out], config), int(i)) for i in test]
    return tests


def _midi_subset(data_dir: Path, folder: str, wanted: set[int], ids: list[str]) -> Path:
    """A folder of the MIDI files a source folder needs (copied once, never removed),
    so a source renders only the clips the run uses."""
    import shutil

    src = data_dir / SINGLE_SOURCE / "midi"
    dst = data_dir / "midi_subsets" / folder
    dst.mkdir(parents=True, exist_ok=True)
    for i in sorted(wanted):
        target = dst / f"{ids[i]}.mid"
        if not target.is_file():
            shutil.copyfile(src / target.name, target)
    return dst


def _render(data_dir: Path, needs: dict, config, progress: bool) -> list[str]:
    """Render the main folder whole, every other folder for the clips it needs."""
    from ..datasets import load_rendered, render_dataset

    main = data_dir / SINGLE_SOURCE
    render_dataset(
        main, config.n_clips, seed=config.render_seed, n_jobs=config.n_jobs, progress=progress
    )
    ids = list(load_rendered(main)[3])
    duration = float(json.loads((main / "render.json").read_text())["settings"]["duration"])
    for folder in sorted(set(needs) - {SINGLE_SOURCE}):
        source, _, augment = folder.partition("__")
        render_dataset(
            data_dir / folder,
            soundfont=source,
            midi_from=_midi_subset(data_dir, folder, needs[folder], ids),
            duration=duration,
            seed=config.render_seed,
            augment=augment or "none",
            n_jobs=config.n_jobs,
            progress=progress,
        )
    return ids


def _labels(data_dir: Path, folders: set[str], ids: list[str]) -> tuple[Any, dict]:
    """The hierarchy and each folder's labels by clip index (a folder may hold a subset)."""
    from ..datasets import load_rendered

    position = {c: i for i, c in enumerate(ids)}
    Y, tree = {}, None
    for folder in sorted(folders | {SINGLE_SOURCE}):
        _, Yf, tree, clip_ids = load_rendered(data_dir / folder)
        unknown = [c for c in clip_ids if c not in position]
        if unknown:
            raise ValueError(
                f"{data_dir / folder} holds clips {unknown[:3]} that "
                f"{data_dir / SINGLE_SOURCE} lacks; delete it and run again."
            )
        Y[folder] = {position[c]: row.astype(float) for c, row in zip(clip_ids, Yf)}
    return tree, Y


def _embed_audible(embedder, paths: list[str]) -> np.ndarray:
    """Embed ``paths``; silent renderings (all-gap clips) are skipped, anything else
    that fails to embed is an error."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the silent ones are expected and counted below
        X = embedder.fit_transform(paths)
    other = [(src, why) for src, why in embedder.skipped_ if "silent" not in why]
    if other:
        raise ValueError(f"Could not embed {other[0][0]}: {other[0][1]}")
    if embedder.skipped_:
        _log(f"left out {len(embedder.skipped_)} silent renderings (every instrument a gap)")
    return X


def _embed(data_dir: Path, data: BenchData, needs: dict, ids: list, config, progress) -> None:
    """Embed the clips each folder needs (the embedder's disk cache makes reruns cheap)."""
    from ..embeddings import load_embeddings, make_embedder, save_embeddings

    for emb in config.embedders:
        embedder = None
        for folder, wanted in sorted(needs.items()):
            out = data_dir / f"{emb}__{folder}.npz"
            have = {}
            if out.is_file():
                saved = load_embeddings(out)
                have = {ids.index(c): x for c, x in zip(saved.clip_ids, saved.X)}
            missing = sorted(set(wanted) - set(have))
            if missing:
                if embedder is None:
                    embedder = make_embedder(
                        emb,
                        n_jobs=config.n_jobs,
                        cache_dir=str(data_dir / "cache"),
                        progress=progress,
                        on_error="skip",
                    )
                start = time.perf_counter()
                paths = [str(data_dir / folder / "audio" / f"{ids[i]}.wav") for i in missing]
                new = _embed_audible(embedder, paths)
                missing = [missing[k] for k in embedder.kept_indices_]
                _log(
                    f"embedded {len(missing)} clips of {folder} with {emb} "
                    f"({time.perf_counter() - start:.0f} s)"
                )
                have.update(zip(missing, new))
                order = sorted(have)
                save_embeddings(
                    out,
                    np.stack([have[i] for i in order]),
                    [ids[i] for i in order],
                    embedder=embedder.describe(),
                )
            data.X[(emb, folder)] = have


def prepare_data(data_dir: str | Path, config, progress: bool = True):
    """Render (or reuse) every folder the run needs, embed the clips its cells use.

    Returns ``(data, plans)``: a :class:`BenchData` and the :class:`CellPlan` list.
    """
    data_dir = Path(data_dir)
    test = np.sort(np.random.default_rng(_TEST_SEED).permutation(config.n_clips)[: config.n_test])
    pool = np.setdiff1d(np.arange(config.n_clips), test)
    plans = plan_cells(config, test, pool)
    needs: dict[str, set] = {}
    for plan in plans:
        for rows in [*plan.train.values(), *plan.tests.values()]:
            for folder, i in rows:
                needs.setdefault(folder, set()).add(i)
    start = time.perf_counter()
    ids = _render(data_dir, needs, config, progress)
    n_rendered = sum(len(v) for k, v in needs.items() if k != SINGLE_SOURCE) + config.n_clips
    _log(
        f"rendered {len(needs)} folders, {n_rendered} clips ({time.perf_counter() - start:.0f} s)"
    )
    tree, Y = _labels(data_dir, set(needs), ids)
    data = BenchData(tree, config.n_clips, test, pool, Y=Y)
    _embed(data_dir, data, needs, ids, config, progress)
    return data, plans
