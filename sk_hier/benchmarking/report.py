"""What the quality benchmark writes: tables, figures and provenance."""

from __future__ import annotations

import json
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .compare import summarize

__all__ = ["provenance", "write_report"]

_PACKAGES = ("sk-hier", "torch", "skorch", "scikit-learn", "numpy", "librosa", "tinysoundfont")


def provenance(command: str = "") -> dict:
    """Package versions, git commit, machine and date of a run."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    import os

    return {
        "command": command,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": commit,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "packages": versions,
    }


def _cells(out_dir: Path) -> list:
    return [json.loads(p.read_text()) for p in sorted((out_dir / "cells").glob("*__[0-9]*.json"))]


def _other_figures(df, baseline: str = "flat") -> str:
    """Fit time and violation rate per model, as markdown."""
    lines = ["| model | fit s | violation rate (test) | hier. F1 (test) |", "|---|---|---|---|"]
    all_ = df[df["level"] == "all"]
    for model, g in all_.groupby("model", sort=False):
        fit = g[g.metric == "fit_seconds"]["value"].mean()
        viol = g[(g.metric == "violation_rate") & (g.split == "test")]["value"].mean()
        hf1 = g[(g.metric == "hier_f1") & (g.split == "test")]["value"].mean()
        lines.append(f"| {model} | {fit:.1f} | {viol:.3f} | {hf1:.3f} |")
    return "\n".join(lines)


def recommended_models(cells: list, among: Any = None) -> dict:
    """``(embedder, regime) -> (model, how)``: the best mean inner-CV score per regime.

    The inner cross-validation ran on each cell's training clips only, so for LOSO the
    choice never saw the held-out group. ``among``: the models to choose from
    (default every model).
    """
    from collections import defaultdict

    from .regimes import regime_of

    scores: dict = defaultdict(list)
    for c in cells:
        score = (c.get("params") or {}).get("inner_cv")
        if score is None:
            continue
        r = c["rows"][0]
        if among is not None and r["model"] not in among:
            continue
        scores[(r["embedder"], regime_of(r["regime"])[0], r["model"])].append(score)
    best: dict = {}
    for (emb, regime, model), vals in scores.items():
        mean = sum(vals) / len(vals)
        if mean > best.get((emb, regime), (None, -1.0))[1]:
            best[(emb, regime)] = (model, mean)
    return {k: (m, f"chosen by inner CV {v:.3f} on training groups") for k, (m, v) in best.items()}


def clip_bootstrap(out_dir: Path, tree: Any):
    """``(embedder, regime, split, a, b) -> [(delta, low, high)] ×100`` for leaf and
    parent: a paired bootstrap over test clips of the first seed's stored
    probabilities (``cells/*__proba.npz``); None where either model's file lacks them."""
    from .._level_metrics import columns
    from ..targets import encode_targets
    from .linear_probe import bootstrap_delta
    from .regimes import cell_name, regime_of

    def files(model: str, emb: str, tag: str):
        base, held = regime_of(tag)
        path = (
            out_dir / "cells" / cell_name(model, emb, base, "proba", held).replace(".json", ".npz")
        )
        return np.load(path, allow_pickle=False) if path.is_file() else None

    def fn(emb: str, regime: str, split: str, a: str, b: str):
        za, zb = files(a, emb, regime), files(b, emb, regime)
        if za is None or zb is None or split not in za.files or split not in zb.files:
            return None
        Y, hierarchy = encode_targets(za[f"Y_{split}"].astype(float), tree)
        Pa, Pb = za[split].astype(float), zb[split].astype(float)
        return [
            tuple(100 * v for v in bootstrap_delta(Y, Pa, Pb, columns(hierarchy, level)))
            for level in ("leaf", "parent")
        ]

    return fn


def time_lines(cells: list) -> list[str]:
    """Markdown lines: minutes of wall time per model and regime (grid search and the
    cells' fits and scoring, a cell fitted beside others counting its share), from the
    cells that recorded it; none if none did.

    Examples
    --------
    >>> cell = lambda m, r, s: {"rows": [{"model": m, "regime": r}], "seconds": s}
    >>> lines = time_lines([cell("flat", "loso-fluid", {"cell": 60, "search": 240}),
    ...                     cell("flat", "full", {"cell": 60, "search": 0, "side_by_side": 2})])
    >>> lines[-1]
    '| **total** | 0.5 | 5.0 | **5.5** |'
    """
    import pandas as pd

    from .regimes import regime_of

    def wall(seconds: dict) -> float:
        # Cells fitted side by side share the wall clock: each counts its share.
        return seconds.get("search", 0.0) + seconds["cell"] / seconds.get("side_by_side", 1)

    timed = [
        (c["rows"][0]["model"], regime_of(c["rows"][0]["regime"])[0], wall(c["seconds"]))
        for c in cells
        if c.get("seconds") and c["rows"]
    ]
    if not timed:
        return []
    table = pd.DataFrame(timed, columns=["model", "regime", "s"])
    minutes = table.pivot_table("s", "model", "regime", aggfunc="sum", fill_value=0) / 60
    minutes["total"] = minutes.sum(axis=1)
    minutes.loc["total"] = minutes.sum()
    head = ["model", *minutes.columns]
    lines = [
        "",
        "## Where the time went",
        "",
        "Minutes of wall time per model and regime: grid search and the cells' fits and "
        "scoring (rendering and embedding are in the run log).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for model, row in minutes.iterrows():
        vals = [f"{v:.1f}" for v in row]
        if model == "total":
            model, vals[-1] = "**total**", f"**{vals[-1]}**"
        lines.append(f"| {model} | " + " | ".join(vals) + " |")
    return lines


def _gap_lines(gaps: dict) -> list[str]:
    if not gaps:
        return []
    lines = [
        "",
        "**Source gaps** (instruments a source cannot voice: rendered without them, "
        "labels unknown for those clips)",
        "",
    ]
    for source, missing in gaps.items():
        lines.append(f"- {source}: " + "; ".join(f"{k} ({v})" for k, v in missing.items()))
    return lines


def write_report(
    out_dir: str | Path, df: Any, tree: Any, command: str = "", gaps: dict | None = None
) -> tuple[Path, str]:
    """Write quality.csv, per_instrument_ap.csv, provenance.json, summary.md and figures.

    Returns the path of ``summary.md`` and the printed summary (the answer first).

    Examples
    --------
    >>> from sk_hier.benchmarking import load_results, write_report
    >>> path, text = write_report("results", load_results("results"), tree)  # doctest: +SKIP
    """
    import pandas as pd

    from .headline import headline

    out_dir = Path(out_dir)
    df.to_csv(out_dir / "quality.csv", index=False, float_format="%.6g")
    cells = _cells(out_dir)
    per_label = [r for c in cells for e in c["extras"].values() for r in e["per_label"]]
    if per_label:
        pl = pd.DataFrame(per_label)
        table = pl.groupby(["embedder", "regime", "split", "label", "model"])[
            "average_precision"
        ].mean()
        table.unstack("model").round(3).to_csv(out_dir / "per_instrument_ap.csv")
    (out_dir / "provenance.json").write_text(json.dumps(provenance(command), indent=2))
    from .compare import TAGGERS

    picks = recommended_models(cells), recommended_models(cells, among=TAGGERS)
    answer = headline(df, out_dir, *picks, bootstrap=clip_bootstrap(out_dir, tree))
    text = [
        "# Quality benchmark",
        "",
        f"Command: `{command}`. Long-form results: `quality.csv`; per-instrument AP: "
        "`per_instrument_ap.csv`; versions and machine: `provenance.json`.",
        "",
        answer,
        *_gap_lines(gaps or {}),
        "",
        "## Every model",
        summarize(df, "map"),
        "",
        "**Fit time, max-rule violations, hierarchical F1 (means over all cells)**",
        "",
        _other_figures(df),
        *time_lines(cells),
    ]
    (out_dir / "summary.md").write_text("\n".join(text) + "\n")
    try:
        _figures(out_dir, df, cells, tree)
    except ImportError:  # matplotlib is an optional extra
        pass
    return out_dir / "summary.md", answer


def _figures(out_dir: Path, df, cells: list, tree) -> None:
    import matplotlib

    matplotlib.use("Agg")
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    _map_bars(fig_dir, df)
    _domain_scatter(fig_dir, df)
    _held_out_instruments(fig_dir, cells)
    _attention(fig_dir, cells, tree)
    _pr_curves(fig_dir, out_dir, tree)


def _map_bars(fig_dir: Path, df) -> None:
    """Per-level mAP per model, one panel per test split, per (embedder, regime)."""
    import matplotlib.pyplot as plt

    maps = df[(df.metric == "map") & df.level.isin(["leaf", "parent"])]
    for (emb, regime), g in maps.groupby(["embedder", "regime"]):
        stats = g.groupby(["split", "model", "level"], sort=False)["value"].agg(["mean", "std"])
        splits = list(dict.fromkeys(stats.index.get_level_values(0)))
        fig, axes = plt.subplots(1, len(splits), figsize=(6 * len(splits), 4), squeeze=False)
        for ax, split in zip(axes[0], splits):
            s = stats.loc[split].unstack("level")
            x = np.arange(len(s))
            for i, level in enumerate(("leaf", "parent")):
                err = s["std"][level].fillna(0.0)
                ax.bar(x + (i - 0.5) * 0.4, s["mean"][level], 0.4, yerr=err, label=level)
            ax.set_xticks(x, s.index, rotation=45, ha="right")
            ax.set_title(split)
            ax.set_ylim(max(0.0, float(s["mean"].min().min()) - 0.1), 1.0)
        axes[0][0].set_ylabel("macro mAP")
        axes[0][0].legend()
        fig.suptitle(f"per-level mAP ({emb}, {regime}; mean ± std over seeds)")
        fig.tight_layout()
        fig.savefig(fig_dir / f"map_{emb}_{regime}.png", dpi=110)
        plt.close(fig)


def _domain_scatter(fig_dir: Path, df) -> None:
    """LOSO: held-out vs in-domain mAP per model (points below the diagonal lose)."""
    import matplotlib.pyplot as plt

    maps = df[(df.metric == "map") & df.split.isin(["in_domain", "held_out"])]
    if maps.empty:
        return
    for emb, g in maps.groupby("embedder"):
        means = g.groupby(["regime", "model", "level", "split"])["value"].mean().unstack("split")
        means = means.dropna()
        if means.empty:
            continue
        fig, axes = plt.subplots(1, 2, figsize=(11, 5))
        for ax, level in zip(axes, ("leaf", "parent")):
            m = means.xs(level, level="level")
            for (regime, model), row in m.iterrows():
                ax.scatter(row["in_domain"], row["held_out"], s=18)
                ax.annotate(f"{model} ({regime})", (row["in_domain"], row["held_out"]), fontsize=6)
            ax.plot([0, 1], [0, 1], "k:", lw=0.8)
            ax.set_xlabel("in-domain mAP")
            ax.set_ylabel("held-out mAP")
            ax.set_title(level)
        fig.tight_layout()
        fig.savefig(fig_dir / f"domain_{emb}.png", dpi=110)
        plt.close(fig)


def _held_out_instruments(fig_dir: Path, cells: list) -> None:
    """Per-instrument AP on held-out groups: which instruments do not travel."""
    import matplotlib.pyplot as plt
    import pandas as pd

    rows = [r for c in cells for r in c["extras"].get("held_out", {}).get("per_label", [])]
    if not rows:
        return
    pl = pd.DataFrame(rows)
    table = pl.groupby(["label", "regime"])["average_precision"].mean().unstack("regime")
    fig, ax = plt.subplots(figsize=(2 + 1.2 * table.shape[1], 0.25 * len(table) + 1.5))
    im = ax.imshow(table.to_numpy(float), aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.set_yticks(range(len(table)), table.index, fontsize=7)
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=30, ha="right", fontsize=7)
    ax.set_title("AP on held-out groups (mean over models and seeds)")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(fig_dir / "held_out_instruments.png", dpi=110)
    plt.close(fig)


def _attention(fig_dir: Path, cells: list, tree) -> None:
    """Attention maps averaged over the test set, beside the true tree (first seed)."""
    import matplotlib.pyplot as plt

    seeds = [c["rows"][0]["seed"] for c in cells]
    for cell in cells:
        first = cell["rows"][0]
        test = cell["extras"].get("test", {})
        if (
            "attention_mean" not in test
            or first["regime"] != "full"
            or first["seed"] != min(seeds)
        ):
            continue
        name = first["model"]
        fig, axes = plt.subplots(1, 2, figsize=(14, 5))
        for ax, M, title in (
            (axes[0], np.asarray(test["attention_mean"]), f"{name}: mean attention (test)"),
            (axes[1], tree.membership(0, 1), "true tree"),
        ):
            ax.imshow(M, aspect="auto", cmap="viridis", vmin=0, vmax=1)
            ax.set_yticks(range(len(tree.levels[0])), tree.levels[0], fontsize=7)
            ax.set_xticks(range(len(tree.levels[1])), tree.levels[1], rotation=90, fontsize=6)
            ax.set_title(title)
        fig.tight_layout()
        fig.savefig(fig_dir / f"attention_{name}_{first['embedder']}.png", dpi=110)
        plt.close(fig)


def _pr_curves(fig_dir: Path, out_dir: Path, tree) -> None:
    """Micro-averaged PR curves per level and split, first seed."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    from ..targets import encode_targets
    from .regimes import regime_of

    for path in sorted(out_dir.glob("cells/*__proba.npz")):
        name, emb, regime = path.name.split("__")[:3]
        if regime_of(regime)[0] not in ("full", "loso"):
            continue
        data = np.load(path, allow_pickle=False)
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for ax, level in zip(axes, ("parent", "leaf")):
            cols = [tree.index(n) for n in (tree.levels[0] if level == "parent" else tree.leaves)]
            for split in (f for f in data.files if not f.startswith("Y_")):
                Y, _ = encode_targets(data[f"Y_{split}"].astype(float), tree)
                P, y = data[split].astype(float)[:, cols], Y[:, cols]
                known = ~np.isnan(y)
                prec, rec, _ = precision_recall_curve(y[known], P[known])
                ax.plot(rec, prec, label=split)
            ax.set_title(f"{name} ({emb}, {regime}): {level}")
            ax.set_xlabel("recall")
            ax.set_ylabel("precision")
            ax.legend()
        fig.tight_layout()
        fig.savefig(fig_dir / f"pr_{name}_{emb}_{regime}.png", dpi=100)
        plt.close(fig)
