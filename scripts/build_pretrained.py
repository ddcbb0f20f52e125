"""Build the pretrained instrument tagger that ships with sk_hier, from scratch.

Render (seeded MIDI through each General MIDI source), embed with musicnn, fit, and
write ``sk_hier/pretrained_models/<name>.skops`` and its model card ``<name>.json``;
then print the card's figures. ``make pretrained`` runs it with the defaults.

The recipe:

1. Training clips: ``--n-train`` seeded clips (``--seed``), the same MIDI rendered
   through every source (with ``--augment`` when the renderer offers it). Test clips:
   ``--n-test`` clips of another seed (``--test-seed``), rendered clean.
2. Held-out figures (leave one lineage group out): for each group, the recipe is fit
   on the training clips of every other group and scored on the held-out group's
   rendering of the test clips. With one group only, the figures are in-domain.
3. Thresholds: per label, the value that maximises F1 on the pooled held-out
   predictions of step 2 (predictions on timbres the model never heard, as a user's
   audio will be), kept within [0.05, 0.95].
4. The shipped model is the recipe fit on every training clip of every source; its
   in-domain figures (on the test clips of each source) set the floor the test suite
   asserts on a fresh seed.

Everything is cached under ``--work`` (renders resume, embeddings are cached by
content), so a second run only fits.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout, also when sk_hier is not installed

# Sources known before the multi-source registry, with their licences.
_FALLBACK_SOURCES = {
    "timgm6mb": ("timgm6mb", "GPL-2 (Tim Brechbill)"),
    "fluidr3": ("fluid", "MIT (Frank Wen)"),
}
STRATEGY = {"strategy": "top_down"}
WHY_STRATEGY = (
    "top_down (each instrument gated by its family's probability): the model the "
    "quality benchmark recommends under leave-one-lineage-group-out, by an inner "
    "cross-validation that holds out one training lineage group per fold (mean inner-CV "
    "mAP 0.522, ahead of per_level 0.517, gmp_gated 0.514 and logistic regression "
    "0.511); on the held-out groups it reached 0.495 leaf / 0.693 parent mAP against "
    "flat's 0.492 / 0.652 (benchmarks/results/loso1000_3groups, 3 seeds)."
)


def source_info(names: list[str]) -> dict[str, dict]:
    """Lineage group and licence of each source, from the renderer's registry."""
    try:
        from sk_hier.datasets.soundfonts import SOUNDFONTS, canonical_name
    except ImportError:  # a renderer that knows only its two built-in soundfonts
        return {n: dict(zip(("group", "licence"), _FALLBACK_SOURCES[n])) for n in names}
    out = {}
    for name in names:
        src = SOUNDFONTS[canonical_name(name) or name]
        out[name] = {"group": src.group, "licence": src.licence, "title": src.title}
    return out


def default_sources() -> list[str]:
    """Every installed sample-based source (FM synthesis stays out of training)."""
    try:
        from sk_hier.datasets.soundfonts import SOUNDFONTS, available_soundfonts
    except ImportError:
        return list(_FALLBACK_SOURCES)
    return [n for n in available_soundfonts() if SOUNDFONTS[n].headline]


def render_all(args: argparse.Namespace, sources: list[str]) -> dict[tuple, Path]:
    """Render the training and test clips through every source; folder by (split, source)."""
    from sk_hier.datasets import render_dataset

    accepted = inspect.signature(render_dataset).parameters
    if args.augment != "none" and "augment" not in accepted:
        sys.exit("--augment: this renderer has no augmentation; use --augment none.")
    work = Path(args.work)
    folders = {}
    for split, n, seed in (
        ("train", args.n_train, args.seed),
        ("test", args.n_test, args.test_seed),
    ):
        first = None
        for source in sources:
            out = work / f"{split}-{source}"
            kw = {"soundfont": source, "duration": args.duration, "n_jobs": args.n_jobs}
            if split == "train" and "augment" in accepted and args.augment != "none":
                kw["augment"] = args.augment
            if first is None:
                render_dataset(out, n, seed, progress=False, **kw)
                first = out
            else:  # the same music through another source
                render_dataset(out, midi_from=first, progress=False, **kw)
            folders[split, source] = out
            print(f"rendered {out}", flush=True)
    return folders


def embed_all(args: argparse.Namespace, folders: dict) -> tuple[dict, object, dict]:
    """``(X, Y)`` of every rendered folder (musicnn embeddings cached under --work), the
    taxonomy, and how many clips of each folder could not be embedded."""
    from sk_hier.datasets import load_rendered
    from sk_hier.embeddings import MusicnnEmbedder, SkippedAudioWarning

    cache = Path(args.work) / "cache"
    # A clip a source renders silent (an instrument it lacks) is left out, and counted.
    embedder = MusicnnEmbedder(cache_dir=cache, n_jobs=args.n_jobs, on_error="skip").fit()
    data, skipped = {}, {}
    for key, folder in folders.items():
        t0 = time.perf_counter()
        paths, Y, hierarchy, _ = load_rendered(folder)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SkippedAudioWarning)
            X = embedder.transform(list(paths))
        data[key] = (X, Y[embedder.kept_indices_].astype(float))
        skipped["-".join(key)] = len(paths) - len(X)
        print(f"embedded {folder} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return data, hierarchy, skipped


def recipe(hierarchy, seed: int):
    """The pipeline after the embedder: scaling and the tagger."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from sk_hier import HierarchicalTagger

    tagger = HierarchicalTagger(hierarchy, random_state=seed, **STRATEGY)
    return Pipeline([("scale", StandardScaler()), ("tagger", tagger)])


def stack(data: dict, split: str, sources: list[str]) -> tuple[np.ndarray, np.ndarray]:
    parts = [data[split, s] for s in sources]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def scores(Y: np.ndarray, P: np.ndarray, hierarchy) -> dict:
    """Mean AP and ECE per level, AP per label (NaN-free: labels without positives left out)."""
    from sk_hier.calibration import level_ece
    from sk_hier.metrics import level_average_precision, per_label_table

    table = per_label_table(Y, P, hierarchy)
    per_label = {
        n: round(ap, 4)
        for n, ap, k in zip(table["label"], table["average_precision"], table["n_positive"])
        if k > 0
    }
    return {
        "mean_ap": {
            level: round(float(level_average_precision(Y, P, hierarchy, level=level)), 4)
            for level in ("leaf", "parent")
        },
        "ece": {
            level: round(float(level_ece(Y, P, hierarchy, level=level)), 4)
            for level in ("leaf", "parent")
        },
        "ap": per_label,
    }


def held_out(args, data, hierarchy, sources, info) -> tuple[dict, np.ndarray, np.ndarray]:
    """Leave-one-lineage-group-out figures, and the pooled held-out predictions."""
    groups = sorted({info[s]["group"] for s in sources})
    per_group, Ys, Ps = {}, [], []
    for group in groups:
        test = [s for s in sources if info[s]["group"] == group]
        train = [s for s in sources if info[s]["group"] != group] or test
        model = recipe(hierarchy, args.model_seed).fit(*stack(data, "train", train))
        X, Y = stack(data, "test", test)
        P = model.predict_proba(X)
        per_group[group] = {"trained_on": train, "tested_on": test, **scores(Y, P, hierarchy)}
        Ys.append(Y)
        Ps.append(P)
        print(f"held out {group}: {per_group[group]['mean_ap']}", flush=True)
    return per_group, np.concatenate(Ys), np.concatenate(Ps)


def f1_thresholds(Y: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Per label, the threshold in [0.05, 0.95] that maximises F1 (0.5 without positives)."""
    grid = np.round(np.arange(0.05, 0.951, 0.01), 2)
    thr = np.full(Y.shape[1], 0.5)
    for j in range(Y.shape[1]):
        y = Y[:, j] == 1
        if not y.any():
            continue
        pred = P[:, j][:, None] >= grid[None, :]
        tp = (pred & y[:, None]).sum(0)
        f1 = 2 * tp / np.maximum(pred.sum(0) + y.sum(), 1)
        thr[j] = grid[np.argmax(f1)]
    return thr


def mean_over(per_group: dict) -> dict:
    """Mean over held-out groups of the per-level and per-label figures."""
    levels = {
        k: round(float(np.mean([g["mean_ap"][k] for g in per_group.values()])), 4)
        for k in ("leaf", "parent")
    }
    labels = sorted({n for g in per_group.values() for n in g["ap"]})
    ap = {
        n: round(float(np.mean([g["ap"][n] for g in per_group.values() if n in g["ap"]])), 4)
        for n in labels
    }
    ece = {
        k: round(float(np.mean([g["ece"][k] for g in per_group.values()])), 4)
        for k in ("leaf", "parent")
    }
    return {"mean_ap": levels, "ece": ece, "ap": ap, "per_group": per_group}


def floor_for(Y: np.ndarray, P: np.ndarray, hierarchy, n_clips: int) -> float:
    """The leaf mAP that every run of ``n_clips`` consecutive test clips reaches, less
    0.05, rounded down to 0.05: the floor a test on ``n_clips`` fresh clips asserts."""
    from sk_hier.metrics import level_average_precision

    runs = [
        level_average_precision(Y[a : a + n_clips], P[a : a + n_clips], hierarchy, level="leaf")
        for a in range(0, len(Y) - n_clips + 1, n_clips)
    ]
    return float(np.floor((min(runs) - 0.05) * 20) / 20)


def in_domain(args, model, data, hierarchy, sources) -> dict:
    """The shipped model on each source's test clips (music it never heard, timbres it did)."""
    per_source, floors = {}, []
    for source in sources:
        X, Y = data["test", source]
        P = model.predict_proba(X)
        per_source[source] = scores(Y, P, hierarchy)["mean_ap"]
        floors.append(floor_for(Y, P, hierarchy, args.check_clips))
    return {
        "per_source": per_source,
        "floor": {
            "leaf_map": min(floors),
            "n_clips": args.check_clips,
            "duration": args.duration,
            "how": f"the lowest leaf mAP over runs of {args.check_clips} test clips of any "
            "source, less 0.05, rounded down to 0.05; tests/test_pretrained.py asserts it "
            "on clips of a new seed",
        },
    }


def measure_speed(pipeline, folder: Path) -> dict:
    """Load time and tagging speed (seconds of audio per second) on one torch thread."""
    import torch

    from sk_hier.datasets import load_rendered
    from sk_hier.pretrained import Tagger

    torch.set_num_threads(1)
    paths = list(load_rendered(folder)[0][:8])
    tagger = Tagger.from_model(pipeline)
    tagger.tag_file(paths[0])  # the network is built on first use
    t0 = time.perf_counter()
    audio = sum(tagger.tag_file(p).duration for p in paths)
    return {"audio_seconds_per_second": round(audio / (time.perf_counter() - t0), 1)}


def card(args, sources, info, hierarchy, held, thr, dom, n_clips) -> dict:
    """The model card (see docs/model_card.rst for what each entry means)."""
    from sk_hier._version import __version__

    families = {f: list(hierarchy.children_of(f)) for f in hierarchy.levels[0]}
    groups = sorted({info[s]["group"] for s in sources})
    return {
        "name": args.name,
        "summary": "Hierarchical instrument tagger: musicnn embeddings, standard scaling "
        f"and a HierarchicalTagger ({STRATEGY['strategy']}) over 26 "
        "General MIDI instruments in 12 families.",
        "sk_hier_version": __version__,
        "pipeline": [
            "embed: MusicnnEmbedder(model='MTT_musicnn')",
            "scale: StandardScaler",
            f"tagger: HierarchicalTagger({STRATEGY})",
        ],
        "strategy": {**STRATEGY, "why": WHY_STRATEGY},
        "training_data": {
            "sources": [{"name": s, **info[s]} for s in sources],
            "lineage_groups": groups,
            "n_clips": n_clips,
            "n_compositions": args.n_train,
            "duration_s": args.duration,
            "seed": args.seed,
            "augmentation": args.augment,
            "music": "seeded multi-instrument MIDI from sk_hier's generator, each "
            "composition rendered through every source",
            "test_clips": {"n": args.n_test, "seed": args.test_seed, "augmentation": "none"},
            "model_seed": args.model_seed,
        },
        "taxonomy": {
            "n_families": len(families),
            "n_instruments": len(hierarchy.leaves),
            "families": families,
        },
        "held_out": {
            "how": "leave one lineage group out: fit on the other groups' training clips, "
            "score the held-out group's rendering of the test clips"
            + ("" if len(groups) > 1 else " (one group only: these figures are in-domain)"),
            **held,
        },
        "in_domain": dom,
        "thresholds": {
            "how": "per label, the F1-maximising value in [0.05, 0.95] on the pooled "
            "held-out predictions (timbres the model never heard)",
            "values": {n: float(t) for n, t in zip(hierarchy.labels, thr)},
        },
        "calibration": {
            "method": "none: probabilities are the network's sigmoid outputs",
            "held_out_ece": held["ece"],
            "how": "expected calibration error (15 equal-width bins, mean over a level's "
            "labels) of the leave-one-group-out models on the held-out group's test clips, "
            "mean over groups",
            "advice": "on audio unlike the training sources, recalibrate with a few dozen "
            "labelled clips: HierarchicalCalibrator(model, cv='prefit', pooling='level')",
        },
        "intended_use": "Which General MIDI instrument families and instruments play when "
        "in music recordings: browsing, search, first-pass annotation. Read the "
        "probabilities and top nodes, not only the thresholded tags.",
        "limits": [
            "trained on rendered (synthesised) audio only, from "
            f"{len(sources)} General MIDI source(s): real recordings sound different",
            "26 General MIDI instruments in 12 families; anything else (singing, guitars "
            "through effects, synthesisers outside the taxonomy) is heard as its nearest timbre",
            "10-s windows: shorter events are diluted, the window is the time resolution",
            "no calibration: a probability is a score, not a frequency",
        ],
        "licences": {
            "soundfonts": {s: info[s]["licence"] for s in sources},
            "musicnn_weights": "ISC (Music Technology Group, Universitat Pompeu Fabra), "
            "see sk_hier/embeddings/data/LICENSE-musicnn.txt",
        },
    }


def save_model(args, final, hierarchy, model_card: dict) -> Path:
    """The shipped Pipeline (embedder first) as .skops, and its card beside it."""
    from sklearn.pipeline import Pipeline

    from sk_hier import load, save
    from sk_hier._io import atomic_write
    from sk_hier.embeddings import MusicnnEmbedder

    pipeline = Pipeline([("embed", MusicnnEmbedder().fit()), *final.steps])
    out = Path(args.out_dir) / f"{args.name}.skops"
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        out.unlink()  # a rebuild replaces the shipped model
    metadata = {
        "embedder": pipeline[0].describe(),
        "training_data": {"n_clips": model_card["training_data"]["n_clips"]},
        "model_card": f"{args.name}.json",
    }
    save(pipeline, out, metadata)
    t0 = time.perf_counter()
    loaded = load(out)
    model_card["size_bytes"] = out.stat().st_size
    model_card["load_seconds"] = round(time.perf_counter() - t0, 2)
    model_card["speed"] = measure_speed(loaded, Path(args.work) / f"test-{args.sources[0]}")
    atomic_write(out.with_suffix(".json"), json.dumps(model_card, indent=1) + "\n")
    return out


def report(model_card: dict) -> None:
    """The card's figures, as the closing lines of the build."""
    held, dom = model_card["held_out"], model_card["in_domain"]
    print(
        f"\nmodel card: {model_card['name']} ({model_card['size_bytes'] / 1e6:.2f} MB, "
        f"loads in {model_card['load_seconds']} s, "
        f"{model_card['speed']['audio_seconds_per_second']} s of audio per s on 1 thread)"
    )
    print(
        f"held out (mean over groups): leaf mAP {held['mean_ap']['leaf']:.3f}, "
        f"parent mAP {held['mean_ap']['parent']:.3f}"
    )
    for group, g in held["per_group"].items():
        print(
            f"  {group:>10}: leaf {g['mean_ap']['leaf']:.3f}  parent {g['mean_ap']['parent']:.3f}"
            f"  (trained on {', '.join(g['trained_on'])})"
        )
    for source, m in dom["per_source"].items():
        print(f"in domain {source:>10}: leaf {m['leaf']:.3f}  parent {m['parent']:.3f}")
    print(
        f"in-domain floor (leaf mAP, {dom['floor']['n_clips']} fresh clips): "
        f"{dom['floor']['leaf_map']:.2f}"
    )
    worst = sorted(held["ap"].items(), key=lambda kv: kv[1])[:5]
    print("hardest held-out instruments: " + ", ".join(f"{n} {v:.2f}" for n, v in worst))


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--sources",
        default=None,
        help="comma-separated sources (default: every installed sample bank)",
    )
    p.add_argument("--augment", default="none", help="renderer augmentation (default none)")
    p.add_argument("--n-train", type=int, default=600, help="training compositions")
    p.add_argument("--n-test", type=int, default=200, help="test compositions")
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument("--test-seed", type=int, default=2000)
    p.add_argument("--model-seed", type=int, default=0)
    p.add_argument("--check-clips", type=int, default=16, help="clips per floor check")
    p.add_argument("--n-jobs", type=int, default=2)
    p.add_argument("--work", default=str(ROOT / "build" / "pretrained"))
    p.add_argument("--out-dir", default=str(ROOT / "sk_hier" / "pretrained_models"))
    p.add_argument("--name", default="gm-instruments")
    args = p.parse_args(argv)
    args.sources = args.sources.split(",") if args.sources else default_sources()
    return args


def main(argv: list[str] | None = None) -> int:
    t0 = time.perf_counter()
    args = parse(argv)
    info = source_info(args.sources)
    named = [f"{s} ({info[s]['group']})" for s in args.sources]
    print(f"sources: {', '.join(named)}")
    data, hierarchy, skipped = embed_all(args, render_all(args, args.sources))
    held, Y_out, P_out = held_out(args, data, hierarchy, args.sources, info)
    thr = f1_thresholds(Y_out, P_out)
    final = recipe(hierarchy, args.model_seed).fit(*stack(data, "train", args.sources))
    final[-1].set_params(threshold=thr)
    dom = in_domain(args, final, data, hierarchy, args.sources)
    n_clips = sum(len(data["train", s][0]) for s in args.sources)
    model_card = card(args, args.sources, info, hierarchy, mean_over(held), thr, dom, n_clips)
    model_card["training_data"]["silent_clips_left_out"] = {k: v for k, v in skipped.items() if v}
    model_card["build"] = {
        "command": "make pretrained  (python scripts/build_pretrained.py "
        + " ".join(argv if argv is not None else sys.argv[1:])
        + ")",
        "minutes": None,
    }
    out = save_model(args, final, hierarchy, model_card)
    model_card["build"]["minutes"] = round((time.perf_counter() - t0) / 60, 1)
    from sk_hier._io import atomic_write

    atomic_write(out.with_suffix(".json"), json.dumps(model_card, indent=1) + "\n")
    report(model_card)
    print(f"wrote {out} and {out.with_suffix('.json').name}")
    # docs/model_card.rst describes the shipped model only: a build elsewhere leaves it.
    shipped = out.parent.resolve() == (ROOT / "sk_hier" / "pretrained_models").resolve()
    if shipped and (ROOT / "docs").is_dir() and args.name == "gm-instruments":
        __import__("model_card_rst").main(out.with_suffix(".json"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
