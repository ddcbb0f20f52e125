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


def write_report(out_dir: str | Path, df: Any, tree: Any, command: str = "") -> Path:
    """Write quality.csv, per_instrument_ap.csv, provenance.json, summary.md and figures."""
    import pandas as pd

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
    text = [
        "# Quality benchmark",
        "",
        f"Command: `{command}`. Long-form results: `quality.csv`; per-instrument AP: "
        "`per_instrument_ap.csv`; versions and machine: `provenance.json`.",
        summarize(df, "map"),
        "",
        "**Fit time, max-rule violations, hierarchical F1 (means over all cells)**",
        "",
        _other_figures(df),
    ]
    (out_dir / "summary.md").write_text("\n".join(text) + "\n")
    try:
        _figures(out_dir, df, cells, tree)
    except ImportError:  # matplotlib is an optional extra
        pass
    return out_dir / "summary.md"


def _figures(out_dir: Path, df, cells: list, tree) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    from ..targets import encode_targets

    fig_dir = out_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    maps = df[(df.metric == "map") & df.level.isin(["leaf", "parent"])]
    for (emb, regime), g in maps.groupby(["embedder", "regime"]):
        stats = g.groupby(["split", "model", "level"], sort=False)["value"].agg(["mean", "std"])
        fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
        for ax, split in zip(axes, ("test", "test_shift")):
            if split not in stats.index.get_level_values(0):
                continue
            s = stats.loc[split].unstack("level")
            x = np.arange(len(s))
            for i, level in enumerate(("leaf", "parent")):
                ax.bar(
                    x + (i - 0.5) * 0.4, s["mean"][level], 0.4, yerr=s["std"][level], label=level
                )
            ax.set_xticks(x, s.index, rotation=45, ha="right")
            ax.set_title(f"{split}")
            ax.set_ylim(max(0.0, float(s["mean"].min().min()) - 0.1), 1.0)
        axes[0].set_ylabel("macro mAP")
        axes[0].legend()
        fig.suptitle(f"per-level mAP ({emb}, {regime}; mean ± std over seeds)")
        fig.tight_layout()
        fig.savefig(fig_dir / f"map_{emb}_{regime}.png", dpi=110)
        plt.close(fig)
    # Attention maps averaged over the test set, beside the true tree.
    for cell in cells:
        rows = cell["rows"]
        first = rows[0]
        name = first["model"]
        if (
            not name.startswith("resatt")
            or first["regime"] != "full"
            or first["seed"] != min(r["seed"] for c in cells for r in c["rows"][:1])
        ):
            continue
        A = np.asarray(cell["extras"]["test"]["attention_mean"])
        truth = tree.membership(0, 1)
        fig, axes = plt.subplots(1, 2, figsize=(14, 5))
        for ax, M, title in (
            (axes[0], A, f"{name}: mean attention (test)"),
            (axes[1], truth, "true tree"),
        ):
            ax.imshow(M, aspect="auto", cmap="viridis", vmin=0, vmax=1)
            ax.set_yticks(range(len(tree.levels[0])), tree.levels[0], fontsize=7)
            ax.set_xticks(range(len(tree.levels[1])), tree.levels[1], rotation=90, fontsize=6)
            ax.set_title(title)
        fig.tight_layout()
        fig.savefig(fig_dir / f"attention_{name}_{first['embedder']}.png", dpi=110)
        plt.close(fig)
    # Micro-averaged PR curves per level, first seed, full regime.
    for path in sorted(out_dir.glob("cells/*__proba.npz")):
        name, emb = path.name.split("__")[:2]
        data = np.load(path)
        Y, _ = encode_targets(data["Y_test"].astype(float), tree)
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for ax, level in zip(axes, ("parent", "leaf")):
            cols = [tree.index(n) for n in (tree.levels[0] if level == "parent" else tree.leaves)]
            for split in (f for f in data.files if f != "Y_test"):
                P = data[split].astype(float)[:, cols]
                y = Y[:, cols]
                known = ~np.isnan(y)
                prec, rec, _ = precision_recall_curve(y[known], P[known])
                ax.plot(rec, prec, label=split)
            ax.set_title(f"{name} ({emb}): {level}")
            ax.set_xlabel("recall")
            ax.set_ylabel("precision")
            ax.legend()
        fig.tight_layout()
        fig.savefig(fig_dir / f"pr_{name}_{emb}.png", dpi=100)
        plt.close(fig)
