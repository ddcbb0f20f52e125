"""The answer first: one paragraph per regime and split, then the LOSO headline.

For each (embedder, regime, split): the winner (mean of leaf and parent mAP), the best
joint strategy against flat (paired Δ ×100 with seeds won), the best logistic
regression, and for source regimes the held-out score beside the in-domain one. With
one seed no spread is shown (there is none to show).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .compare import TAGGERS
from .regimes import regime_of

__all__ = ["headline"]

#: The issue's targets for the LOSO mean over held-out sample-bank groups.
TARGET_LEAF, TARGET_PARENT = 0.60, 0.78
_LOGREG = "logreg_"


def _wide(df) -> Any:
    sub = df[(df["metric"] == "map") & df["level"].isin(["leaf", "parent"])]
    wide = sub.pivot_table(
        index=["embedder", "regime", "split", "seed", "model"], columns="level", values="value"
    ).reset_index()
    wide["score"] = (wide["leaf"] + wide["parent"]) / 2
    return wide


def _fmt(leaf: float, parent: float) -> str:
    return f"{leaf:.3f} leaf / {parent:.3f} parent"


def _paired(group, model: str, ref: str) -> str:
    a = group[group.model == model].set_index("seed")
    b = group[group.model == ref].set_index("seed").reindex(a.index)
    parts = []
    for level in ("leaf", "parent"):
        d = (a[level] - b[level]).dropna()
        won = f"won {int((d > 0).sum())}/{len(d)}"
        parts.append(f"Δ {level} {d.mean() * 100:+.1f} ({won})")
    return ", ".join(parts)


def _paragraph(key: tuple, group, in_domain) -> str:
    emb, regime, split = key
    means = group.groupby("model")[["leaf", "parent", "score"]].mean()
    n_seeds = group["seed"].nunique()
    win = means["score"].idxmax()
    text = [
        f"- **{emb} · {regime} · {split}** ({n_seeds} seed{'s' * (n_seeds > 1)}): "
        f"winner **{win}** {_fmt(*means.loc[win, ['leaf', 'parent']])}"
    ]
    joint = [m for m in means.index if m in TAGGERS and m != "flat"]
    if "flat" in means.index and joint:
        best = means.loc[joint, "score"].idxmax()
        text.append(f"joint vs flat: {best} {_paired(group, best, 'flat')}")
    logreg = [m for m in means.index if m.startswith(_LOGREG)]
    if logreg:
        lr = means.loc[logreg, "score"].idxmax()
        text.append(
            f"best logistic regression: {lr} {_fmt(*means.loc[lr, ['leaf', 'parent']])}"
            + (f"; {win} vs it: {_paired(group, win, lr)}" if win != lr else "")
        )
    if split == "held_out" and in_domain is not None and win in in_domain.index:
        text.append(
            f"held-out vs in-domain ({win}): {_fmt(*means.loc[win, ['leaf', 'parent']])} vs "
            f"{_fmt(*in_domain.loc[win, ['leaf', 'parent']])}"
        )
    return "; ".join(text) + "."


def _pick_in_domain(wide, emb: str, base: str, models) -> tuple[str, str]:
    """Without an inner CV: the best model on the in-domain split (training sources only,
    never the held-out group), else on the held-out groups, said plainly."""
    same = wide[(wide.embedder == emb) & (wide.split == "in_domain")]
    # A boolean array, not a list: an empty list would select no columns.
    same = same[same["regime"].map(lambda r: regime_of(r)[0] == base).to_numpy(dtype=bool)]
    scores = same[same.model.isin(models)].groupby("model")["score"].mean()
    if len(scores):
        return scores.idxmax(), "no inner CV ran: chosen on the in-domain split"
    held = wide[(wide.embedder == emb) & (wide.split == "held_out") & wide.model.isin(models)]
    return held.groupby("model")["score"].mean().idxmax(), "best on held-out: not a fair pick"


def _held_out(wide) -> tuple[Any, set]:
    """The held-out rows with their base regime and held-out group, and the FM groups
    (reported apart from the sample banks)."""
    from ..datasets.soundfonts import SOUNDFONTS

    fm = {s.group for s in SOUNDFONTS.values() if not s.headline}
    held = wide[wide["split"] == "held_out"].copy()
    if not held.empty:
        held[["base", "group"]] = [list(regime_of(r)) for r in held["regime"]]
    return held, fm


def _loso_means(wide, recommended: dict) -> list[str]:
    """The LOSO mean over held-out sample-bank groups, per regime and embedder."""
    from ..datasets.soundfonts import LINEAGE_GROUPS

    held, fm = _held_out(wide)
    if held.empty:
        return []
    lines = []
    for (emb, base), g in held.groupby(["embedder", "base"], sort=False):
        banks = g[~g["group"].isin(fm)]
        per_model = banks.groupby(["model", "group"])[["leaf", "parent"]].mean()
        mean = per_model.groupby("model").mean()
        if mean.empty:
            continue
        model, how = recommended.get((emb, base), (None, ""))
        if model not in mean.index:
            model, how = _pick_in_domain(wide, emb, base, mean.index)
        groups = sorted(banks["group"].unique())
        lines.append(
            f"- **LOSO mean ({emb}, {base}; held-out sample-bank groups "
            f"{', '.join(groups)} of {len(LINEAGE_GROUPS)})**: {model} ({how}) "
            f"{_fmt(*mean.loc[model, ['leaf', 'parent']])} (targets {TARGET_LEAF:.2f} / "
            f"{TARGET_PARENT:.2f})."
        )
        for grp, gg in g[g["group"].isin(fm)].groupby("group"):
            m = gg.groupby("model")[["leaf", "parent"]].mean()
            if model in m.index:
                lines.append(
                    f"  - FM group {grp}, reported apart: {model} "
                    f"{_fmt(*m.loc[model, ['leaf', 'parent']])}."
                )
    return lines


def _in_domain_cost(wide) -> list[str]:
    """Multi-source vs single-source training of the same size, on the seen source."""
    test = wide[wide["split"] == "test"]
    lines = []
    for emb, g in test.groupby("embedder", sort=False):
        single = g[g.regime == "full"].set_index(["model", "seed"])["leaf"]
        multi = g[g.regime == "multi_source"].set_index(["model", "seed"])["leaf"]
        d = (multi - single.reindex(multi.index)).dropna() * 100
        if d.empty:
            continue
        per_model = d.groupby(level="model").mean()
        worst = per_model.idxmin()
        lines.append(
            f"- **In-domain cost of multi-source training ({emb}, TimGM6mb test, Δ leaf ×100 "
            f"vs full)**: worst {worst} {per_model[worst]:+.1f}; models past -1: "
            f"{', '.join(per_model[per_model < -1].index) or 'none'}."
        )
    return lines


_ABLATION_MODELS = (
    "flat",
    "per_level",
    "top_down",
    "top_down_vote",
    "gmp_gated",
    "logreg_per_level",
)


def _ablation(wide) -> list[str]:
    """With two or more LOSO regimes: the held-out mean over sample-bank groups per
    regime (augmentation x training groups), a few models side by side."""
    from .regimes import REGIMES

    held, fm = _held_out(wide)
    if held.empty:
        return []
    held = held[~held["group"].isin(fm)]
    lines = []
    for emb, g in held.groupby("embedder", sort=False):
        bases = [r for r in REGIMES if r in set(g["base"])]
        models = [m for m in _ABLATION_MODELS if m in set(g["model"])]
        if len(bases) < 2 or not models:
            continue
        lines += [
            "",
            f"**Ablation ({emb}; held-out mean over sample-bank groups, seeds averaged; "
            "leaf / parent mAP)**",
            "",
            "| regime | augmentation | trained on | " + " | ".join(models) + " |",
            "|---|---|---|" + "---|" * len(models),
        ]
        for base in bases:
            r = REGIMES[base]
            per = g[g["base"] == base].groupby(["model", "group"])[["leaf", "parent"]].mean()
            mean = per.groupby("model").mean()
            cells = [
                f"{mean.loc[m, 'leaf']:.3f} / {mean.loc[m, 'parent']:.3f}"
                if m in mean.index
                else "-"
                for m in models
            ]
            groups = "every other group" if r.n_groups is None else f"{r.n_groups} other group"
            groups += ", every source per piece" if r.each else ""
            lines.append(f"| {base} | {r.augment} | {groups} | " + " | ".join(cells) + " |")
    return lines


def headline(
    df,
    out_dir: str | Path,
    recommended: dict | None = None,
    taggers: dict | None = None,
    bootstrap: Any = None,
) -> str:
    """The printed summary: the answer per regime and split, then where results are.

    ``recommended`` maps ``(embedder, regime)`` to ``(model, how it was chosen)``;
    ``taggers`` the same, among the sk_hier taggers only (for the linear-probe table,
    with ``bootstrap`` as in :func:`~sk_hier.benchmarking.linear_probe.probe_lines`).
    """
    from .linear_probe import probe_lines

    if df.empty:
        return f"No finished cells in {out_dir}."
    wide = _wide(df)
    lines = ["## The answer", ""]
    for key, group in wide.groupby(["embedder", "regime", "split"], sort=False):
        in_domain = None
        if key[2] == "held_out":
            same = wide[
                (wide.embedder == key[0]) & (wide.regime == key[1]) & (wide.split == "in_domain")
            ]
            in_domain = same.groupby("model")[["leaf", "parent"]].mean() if len(same) else None
        lines.append(_paragraph(key, group, in_domain))
    lines += _loso_means(wide, recommended or {})
    lines += _in_domain_cost(wide)
    lines += _ablation(wide)
    lines += probe_lines(wide, taggers or {}, bootstrap)
    lines += [
        "",
        f"Results written to {Path(out_dir).resolve()}/ (summary.md, quality.csv, "
        "per_instrument_ap.csv, provenance.json, figures/).",
    ]
    return "\n".join(lines)
