"""The registry of benchmark regimes and the one function that names result files.

A regime says which clips a model trains on, through which timbre sources, and which
test splits it is scored on. Every name the benchmark uses (the CLI's ``--regimes``
choices, cell files, report sections) derives from :data:`REGIMES`; this module
imports nothing heavy, so the command line lists the choices for free.

Test clips are fixed for the whole run; a training pool of the other clips is drawn
per seed. Splits:

``test`` / ``test_shift``
    The test clips through TimGM6mb (seen in single-source training) and FluidR3_GM.
``in_domain`` / ``held_out``
    For source regimes: the test clips through the training sources, and through the
    held-out lineage group's sources (LOSO); one source drawn per clip in both.

Examples
--------
>>> from sk_hier.benchmarking.regimes import REGIMES, cell_name
>>> [r for r in REGIMES if REGIMES[r].kind == "loso" and REGIMES[r].n_groups is None]
['loso', 'loso_aug', 'loso_each', 'loso_strong']
>>> cell_name("flat", "musicnn", "loso", 0, held_out="fluid")
'flat__musicnn__loso-fluid__0.json'
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["REGIMES", "Regime", "cell_name", "regime_names", "regime_of"]

#: The fraction of training rows whose instrument labels are hidden in ``partial``.
PARTIAL_HIDDEN = 0.5
#: Offset of the per-seed training-pool permutation, so it differs from the test draw
#: (seed 0 of the test set) for every benchmark seed.
POOL_SEED_OFFSET = 100
#: The source every single-source regime trains on.
SINGLE_SOURCE = "timgm6mb"


@dataclass(frozen=True)
class Regime:
    """How one benchmark regime trains and tests.

    Parameters
    ----------
    name : str
        Its name in ``--regimes``, files and reports.
    summary : str
        One line for ``--help`` and reports.
    kind : {"single", "multi", "loso"}
        ``single``: TimGM6mb only; ``multi``: one source drawn per clip from every
        sample bank; ``loso``: one cell per lineage group held out, training on the
        other groups.
    scarce : bool, default=False
        Train on the first ``n_scarce`` clips of the pool only.
    hidden : float, default=0.0
        Fraction of training rows labelled at the family level only.
    augment : {"none", "light", "strong"}, default="none"
        Render-time augmentation of the training clips.
    n_groups : int or None, default=None
        LOSO only: train on this many other sample-bank groups, those that follow
        the held-out one in the sorted, cyclic order of the groups (each group then
        trains exactly one cell); ``None``: every other group.
    each : bool, default=False
        LOSO only: every training source renders each training piece, so the
        pieces stay the same and the set grows by the number of training sources
        (otherwise one source is drawn per piece and N pieces stay N clips).
    grid_from : str or None, default=None
        Reuse the grid-search choice of this regime's cell with the same held-out
        group (its training groups are the same, so the held-out group stays unseen):
        the full run's budget pays for one search per training set, not per variant.
    default : bool, default=True
        Among a run's regimes unless ``--regimes`` says otherwise; the ablation
        regimes are asked for by name, so the full run fits its budget.

    Examples
    --------
    >>> from sk_hier.benchmarking import REGIMES
    >>> REGIMES["loso"].kind, REGIMES["scarce"].scarce
    ('loso', True)
    """

    name: str
    summary: str
    kind: str = "single"
    scarce: bool = False
    hidden: float = 0.0
    augment: str = "none"
    n_groups: int | None = None
    each: bool = False
    grid_from: str | None = None
    default: bool = True


#: Regime name -> :class:`Regime`, in report order.
REGIMES: dict[str, Regime] = {
    r.name: r
    for r in (
        Regime("full", "TimGM6mb, every training clip"),
        Regime("scarce", "TimGM6mb, few training clips", scarce=True),
        Regime(
            "partial", "TimGM6mb, half the rows labelled by family only", hidden=PARTIAL_HIDDEN
        ),
        Regime("multi_source", "one sample bank drawn per clip from every group", "multi"),
        Regime(
            "multi_each",
            "every sample bank renders each training piece",
            "multi",
            each=True,
            grid_from="multi_source",
            default=False,
        ),
        Regime("loso", "leave one lineage group out: train on the others", "loso"),
        Regime(
            "loso_aug",
            "leave one lineage group out, light augmentation",
            "loso",
            augment="light",
            grid_from="loso",
        ),
        Regime(
            "loso_each",
            "leave one lineage group out, every training source renders each piece",
            "loso",
            each=True,
            grid_from="loso",
            default=False,
        ),
        # The ablation: augmentation none / light / strong x one or every other group.
        # The grid choice of "loso" serves them all (never tuned on a held-out group).
        Regime(
            "loso_strong",
            "leave one lineage group out, strong augmentation",
            "loso",
            augment="strong",
            grid_from="loso",
            default=False,
        ),
        Regime(
            "loso_1g",
            "leave one lineage group out, train on one other",
            "loso",
            n_groups=1,
            grid_from="loso",
            default=False,
        ),
        Regime(
            "loso_1g_aug",
            "leave one lineage group out, train on one other, light augmentation",
            "loso",
            augment="light",
            n_groups=1,
            grid_from="loso",
            default=False,
        ),
        Regime(
            "loso_1g_strong",
            "leave one lineage group out, train on one other, strong augmentation",
            "loso",
            augment="strong",
            n_groups=1,
            grid_from="loso",
            default=False,
        ),
    )
}


def regime_names() -> tuple[str, ...]:
    """Registered regime names, in report order.

    Examples
    --------
    >>> from sk_hier.benchmarking import regime_names
    >>> regime_names()[:3]
    ('full', 'scarce', 'partial')
    """
    return tuple(REGIMES)


def cell_name(
    model: str, embedder: str, regime: str, seed: int | str, held_out: str | None = None
) -> str:
    """The file name of one result cell (``seed="params"`` for the grid-search choice).

    Examples
    --------
    >>> from sk_hier.benchmarking import cell_name
    >>> cell_name("gmp", "musicnn", "loso", 0, "fluid")
    'gmp__musicnn__loso-fluid__0.json'
    """
    tag = regime if held_out is None else f"{regime}-{held_out}"
    return f"{model}__{embedder}__{tag}__{seed}.json"


def regime_of(tag: str) -> tuple[str, str | None]:
    """``(regime, held-out group)`` of a cell's regime tag, e.g. ``"loso-fluid"``."""
    name, _, held = tag.partition("-")
    return name, held or None
