"""Write ``docs/model_card.rst`` from the pretrained model's JSON card.

Every figure on the page comes from ``sk_hier/pretrained_models/gm-instruments.json``
(written by ``scripts/build_pretrained.py``, which calls this script at its end), so
the page and the shipped model cannot drift apart::

    python scripts/model_card_rst.py        # rewrites the page if the card changed
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CARD = ROOT / "sk_hier" / "pretrained_models" / "gm-instruments.json"
PAGE = ROOT / "docs" / "model_card.rst"

try:
    sys.path.insert(0, str(ROOT))
    from sk_hier._timeline import MIN_TRUSTED_CLIPS
except ImportError:  # the page still renders, without the figure of that warning
    MIN_TRUSTED_CLIPS = None

_WORDS = "zero one two three four five six seven eight nine ten eleven twelve".split()
_LEVEL_NAMES = {"leaf": "instrument", "parent": "family"}
_WIDTH = 88
_ITEM = re.compile(r"^(- |\d+\. )")


def number(n: int) -> str:
    """``n`` in words up to twelve, else in digits with thousands separators.

    Parameters
    ----------
    n : int
        The number.

    Returns
    -------
    str
        ``"three"``, ``"2,400"``.
    """
    return _WORDS[n] if 0 <= n < len(_WORDS) else f"{n:,}"


def enumerate_words(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``.

    Parameters
    ----------
    items : list of str
        The items, in order.

    Returns
    -------
    str
        The items joined as in prose.
    """
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def literals(text: str) -> str:
    """Set identifiers and paths (words holding ``_`` or ``/``) in a literal.

    Parameters
    ----------
    text : str
        Prose from the card.

    Returns
    -------
    str
        The prose, with ``per_level`` and ``benchmarks/results/x`` as literals.
    """
    return re.sub(r"(?<![\w`])([\w.-]*[_/][\w./-]*\w)", r"``\1``", text)


def short_title(source: dict) -> str:
    """A source's title without its parenthesised details.

    Parameters
    ----------
    source : dict
        One entry of the card's ``training_data.sources``.

    Returns
    -------
    str
        ``"FluidR3_GM"`` for ``"FluidR3_GM (148 MB)"``; the name without a title.
    """
    title = source.get("title") or source["name"]
    return re.sub(r"\s*\([^)]*\)", "", title).strip()


def source_groups(card: dict) -> dict[str, list[dict]]:
    """The training sources by lineage group, groups in the card's order.

    Parameters
    ----------
    card : dict
        The model card.

    Returns
    -------
    dict
        Group name to the list of its sources.
    """
    sources = card["training_data"]["sources"]
    groups = card["training_data"].get("lineage_groups") or sorted({s["group"] for s in sources})
    return {g: [s for s in sources if s["group"] == g] for g in groups}


def group_of(card: dict) -> dict[str, str]:
    """Lineage group of each training source, by source name."""
    return {s["name"]: s["group"] for s in card["training_data"]["sources"]}


def leaves(card: dict) -> list[str]:
    """The taxonomy's instruments, family by family."""
    return [n for kids in card["taxonomy"]["families"].values() for n in kids]


def hardest(card: dict, k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` instruments with the lowest held-out AP, lowest first."""
    ap = card["held_out"]["ap"]
    return sorted(((n, ap[n]) for n in leaves(card) if n in ap), key=lambda kv: kv[1])[:k]


def partial_labels(card: dict) -> dict[str, list[str]]:
    """Per held-out group, the labels it has no scored test clips of.

    Parameters
    ----------
    card : dict
        The model card.

    Returns
    -------
    dict
        Group name to the labels (families first, then instruments) its held-out AP
        leaves out; groups that score every label are left out.
    """
    labels = [*card["taxonomy"]["families"], *leaves(card)]
    out = {}
    for group, g in card["held_out"]["per_group"].items():
        missing = [n for n in labels if n not in g["ap"]]
        if missing:
            out[group] = missing
    return out


def head(card: dict) -> str:
    """Title, introduction and usage."""
    n_labels = card["taxonomy"]["n_families"] + card["taxonomy"]["n_instruments"]
    name = card["name"]
    return f"""\
.. _model_card:

Model card: ``{name}``
{"=" * (len(name) + 16)}

The pretrained instrument tagger that ships inside sk_hier. ``sk-hier tag
song.wav`` uses it when no model is given; in Python,
:func:`sk_hier.pretrained.load_pretrained` returns it and
:func:`sk_hier.pretrained.model_card` returns this card as a dict (the file
``sk_hier/pretrained_models/{name}.json``, which holds every figure below and the
per-group ones; this page is written from it by ``scripts/model_card_rst.py``).

.. code-block:: python

   from sk_hier.pretrained import load_pretrained, tag_audio

   pipe = load_pretrained()            # Pipeline: embed -> scale -> tagger
   pipe.predict_proba(["song.wav"])    # (1, {n_labels}): every family and instrument
   timeline = tag_audio(pipe, "song.wav", window=10, hop=5)
   timeline.to_frame()                 # probabilities, columns (family, instrument)
   timeline.plot()                     # the instrument timeline
"""


def strategy_text(card: dict) -> str:
    """The tagger's parameters and why they were chosen, from the card."""
    strategy = dict(card["strategy"])
    why = strategy.pop("why", "")
    params = ", ".join(f"{k}={v!r}".replace("'", '"') for k, v in strategy.items())
    name = str(strategy.get("strategy", ""))
    if name and why.startswith(name):
        why = why[len(name) :].lstrip()
        return f"``{params}`` {literals(why)}"
    return f"``{params}``" + (f": {literals(why)}" if why else "")


def what_it_is(card: dict) -> str:
    """The pipeline, its file and how it loads."""
    seed = card["training_data"]["model_seed"]
    embed = card["pipeline"][0].split(": ", 1)[-1]
    embed = re.sub(r"^\w+\((.*)\)$", r"\1", embed).replace("'", '"')
    return f"""\
What it is
----------

A scikit-learn ``Pipeline``, built with sk_hier {card["sk_hier_version"]}:

1. ``embed``: :class:`~sk_hier.embeddings.MusicnnEmbedder` (``{embed}``: the
   MagnaTagATune musicnn, penultimate layer, mean-pooled over its patches). Its
   weights ship as plain arrays in ``sk_hier/embeddings/data/`` (ISC licence,
   notice beside them) and load when it first runs.
2. ``scale``: ``StandardScaler``.
3. ``tagger``: :class:`~sk_hier.HierarchicalTagger` with {strategy_text(card)}
   Seed {seed}.

The file is a ``.skops`` archive of {card["size_bytes"] / 1e6:.2f} MB; it loads through
:func:`sk_hier.load`, which checks every name in it against an exact list and
unpickles nothing (see :doc:`user_guide/persistence`). Nothing is downloaded.
``pipeline[1:]`` takes musicnn embeddings.
"""


def sources_text(card: dict) -> str:
    """The sources by lineage group, in prose."""
    groups = source_groups(card)
    parts = [f"*{g}* ({', '.join(short_title(s) for s in srcs)})" for g, srcs in groups.items()]
    n_src = len(card["training_data"]["sources"])
    return (
        f"each composition rendered through {number(n_src)} General MIDI sources in "
        f"{number(len(groups))} lineage groups: {enumerate_words(parts)}"
    )


def silent_text(card: dict) -> str:
    """The clips left out because a source rendered them silent."""
    silent = card["training_data"].get("silent_clips_left_out") or {}
    train = {k.split("-", 1)[1]: v for k, v in silent.items() if k.startswith("train-")}
    if not train:
        return ""
    each = enumerate_words([f"{v} {k}" for k, v in train.items()])
    return f" Clips that a source renders silent (an instrument it lacks) are left out: {each}."


def training_data(card: dict) -> str:
    """The music, sources, test clips and taxonomy."""
    td, tax = card["training_data"], card["taxonomy"]
    test = td["test_clips"]
    kits = [k.split(": ", 1)[-1] for k in tax["families"].get("Drums", [])]
    drums = f" (drum kits {enumerate_words(kits)} as instruments of *Drums*)" if kits else ""
    augment = (
        "No augmentation in this build."
        if td["augmentation"] == "none"
        else f"Augmentation: ``{td['augmentation']}``."
    )
    return f"""\
Training data
-------------

- **Music**: {td["n_compositions"]:,} seeded multi-instrument compositions of
  {td["duration_s"]:g} s (seed {td["seed"]}) from sk_hier's MIDI generator, over the
  {tax["n_instruments"]}-instrument taxonomy.
- **Sources**: {sources_text(card)}. {td["n_clips"]:,} training clips.{silent_text(card)}
  {augment}
- **Test clips**: {test["n"]:,} other compositions (seed {test["seed"]}), rendered
  clean through each source; never used for fitting.
- **Taxonomy**: {tax["n_families"]} General MIDI families, {tax["n_instruments"]}
  instruments{drums};
  ``print(pipe[-1].hierarchy_)`` shows it.
"""


def held_out_table(card: dict) -> str:
    """The simple table of leaf and parent mAP per held-out group, and their mean."""
    held, groups = card["held_out"], group_of(card)
    rows = []
    for group, g in held["per_group"].items():
        trained = list(dict.fromkeys(groups.get(s, s) for s in g["trained_on"]))
        rows.append(
            (
                f"{group} (trained on {', '.join(trained)})",
                f"{g['mean_ap']['leaf']:.3f}",
                f"{g['mean_ap']['parent']:.3f}",
            )
        )
    mean = held["mean_ap"]
    rows.append(("**mean**", f"**{mean['leaf']:.3f}**", f"**{mean['parent']:.3f}**"))
    header = ("held-out group", "leaf mAP", "parent mAP")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    rule = " ".join("=" * w for w in widths)
    line = lambda r: " ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([rule, line(header), rule, *map(line, rows), rule]) + "\n"


def partial_text(card: dict) -> str:
    """Which labels a held-out group could not score, and what that does to the mean."""
    partial = partial_labels(card)
    if not partial:
        return ""
    families = card["taxonomy"]["families"]
    parts = []
    for group, missing in partial.items():
        kids = [n for n in missing if n not in families]
        fams = [n for n in missing if n in families]
        text = f"the *{group}* group lacks"
        if kids:
            text += f" {number(len(kids))} instruments ({'; '.join(kids)})"
        if fams:
            what = "family" if len(fams) == 1 else "families"
            text += f"{', and so' if kids else ''} the {what} {enumerate_words(fams)}"
        parts.append(text)
    others = number(len(card["held_out"]["per_group"]) - 1)
    sentence = "; ".join(parts)
    return (
        f" {sentence[0].upper()}{sentence[1:]}: their labels are unknown for its clips, "
        f"and their held-out AP (marked †) is the mean over the other {others} groups."
    )


def in_domain_text(card: dict) -> str:
    """The range of in-domain figures and the floor the test suite asserts."""
    dom = card["in_domain"]
    leaf = [m["leaf"] for m in dom["per_source"].values()]
    parent = [m["parent"] for m in dom["per_source"].values()]
    floor = dom["floor"]
    return (
        f"In domain (the shipped model on the test clips of each training source: new\n"
        f"music, known timbres): leaf mAP {min(leaf):.3f}–{max(leaf):.3f}, parent mAP "
        f"{min(parent):.3f}–{max(parent):.3f}.\nThe test suite renders clips of a new "
        "seed through every installed source and asserts a leaf mAP\nof at least "
        f"**{floor['leaf_map']:.2f}** (the lowest over runs of {floor['n_clips']} test "
        "clips, less 0.05).\n"
    )


def held_out(card: dict) -> str:
    """The held-out section: how, the table, in-domain figures and the floor."""
    n = len(card["held_out"]["per_group"])
    return f"""\
Held-out figures
----------------

Leave one lineage group out: the same recipe is fit on the other groups' training
clips and scored on the held-out group's rendering of the test clips, so a score
never comes from a timbre (or a relative of it) heard in training. The shipped model
itself trains on every group.

{held_out_table(card)}
{in_domain_text(card)}
Per family and instrument (held-out AP, mean of the {number(n)} groups) and the
decision thresholds.{partial_text(card)}
"""


def label_table(card: dict) -> str:
    """The list-table of held-out AP and threshold per family and instrument."""
    ap, thr = card["held_out"]["ap"], card["thresholds"]["values"]
    partial = {n for ls in partial_labels(card).values() for n in ls}
    n = len(card["held_out"]["per_group"])
    lines = [
        f".. list-table:: Average precision on held-out lineage groups (mean of the "
        f"{number(n)}) and thresholds",
        "   :header-rows: 1",
        "   :widths: 30 12 12",
        "",
        "   * - family / instrument",
        "     - AP",
        "     - threshold",
    ]
    for family, kids in card["taxonomy"]["families"].items():
        for name, bold in ((family, True), *((k, False) for k in kids)):
            mark = " †" if name in partial else ""
            value = f"{ap[name]:.2f}" if name in ap else "n/a"
            label = f"**{name}**" if bold else f"· {name}"
            lines += [
                f"   * - {label}{mark}",
                f"     - **{value}**" if bold else f"     - {value}",
                f"     - {thr[name]:.2f}",
            ]
    return "\n".join(lines) + "\n"


def thresholds(card: dict) -> str:
    """How the thresholds were set, and how to read the tags."""
    how = card["thresholds"]["how"]
    how = re.sub(r"^per label, ", "", how)
    values = list(card["thresholds"]["values"].values())
    low = sum(v <= 0.1 for v in values)
    return f"""\
Thresholds
----------

Per label, {how}, as a user's recordings will be. On unheard timbres the
probabilities run low, so many thresholds are low too ({low} of the {len(values)} are
0.10 or below): on audio close to the training sources the tags lean towards recall.
Read the ``top`` column (the most probable labels with their probabilities) beside
the tags; ``--threshold`` sets one value for every label.
"""


def calibration(card: dict) -> str:
    """The calibration section: none, the held-out ECE per level, and the advice."""
    cal = card["calibration"]
    if isinstance(cal, str):  # a card from before the ECE figures
        return f"Calibration\n-----------\n\n{cal.capitalize()}.\n"
    ece = cal["held_out_ece"]
    levels = enumerate_words(
        [f"{ece[k]:.3f} at the {_LEVEL_NAMES.get(k, k)} level" for k in ("leaf", "parent")]
    )
    per_group = ", ".join(
        f"{g} {v['ece']['leaf']:.3f} / {v['ece']['parent']:.3f}"
        for g, v in card["held_out"]["per_group"].items()
        if "ece" in v
    )
    how = re.sub(r"^expected calibration error\s*", "", cal["how"])
    method = cal["method"].split(": ", 1)
    advice, _, call = cal["advice"].rpartition(": ")
    call = call.replace("'", '"')
    return f"""\
Calibration
-----------

{method[0].capitalize()}{": " + method[1] if len(method) > 1 else ""}; a probability is
a score rather than a frequency. The expected calibration error {how}, is {levels}
(per group, instrument / family: {per_group}).

{advice[0].upper()}{advice[1:]}:
``{call}`` (see :doc:`user_guide/calibration`).
"""


def intended_use(card: dict) -> str:
    """What the model is for."""
    mean = card["held_out"]["mean_ap"]
    return f"""\
Intended use
------------

Which General MIDI instrument families and instruments play when in music
recordings: browsing, search, a first pass of annotation. Family tags are more
reliable than instrument tags (parent mAP {mean["parent"]:.2f} against leaf mAP
{mean["leaf"]:.2f} held out).
"""


def limits(card: dict) -> str:
    """The limits, with the figures that depend on the build."""
    tax = card["taxonomy"]
    n_src = len(card["training_data"]["sources"])
    n_groups = len(source_groups(card))
    n_leads = len(tax["families"].get("Synth Lead", []))
    worst = hardest(card)
    duration = card["training_data"]["duration_s"]
    warn = (
        f" ``sk-hier tag`` also warns for any model fit on fewer than {MIN_TRUSTED_CLIPS:,} clips."
        if MIN_TRUSTED_CLIPS
        else ""
    )
    return f"""\
Limits
------

- Trained on rendered (synthesised) audio only, from {number(n_src)} General MIDI sources
  in {number(n_groups)} sample lineages: real recordings sound different, and a real
  instrument may be named as the rendered one it resembles most.
- {tax["n_instruments"]} General MIDI instruments in {tax["n_families"]} families:
  anything else (voice other than choir pads, guitars through effects, synthesisers
  outside the {number(n_leads)} leads) is mapped to its nearest timbre.
- {duration:g}-s windows: the window is the time resolution; short events are diluted.
- The hardest instruments held out are {enumerate_words([n for n, _ in worst])}
  (AP {worst[0][1]:.2f}–{worst[-1][1]:.2f}).
- The model warns when nothing passes its thresholds;{warn}
"""


def licences(card: dict) -> str:
    """The training audio's and the embedder's licences."""
    lic = card["licences"]
    titles = {s["name"]: short_title(s) for s in card["training_data"]["sources"]}
    audio = "; ".join(f"{titles.get(n, n)}: {text}" for n, text in lic["soundfonts"].items())
    musicnn = literals(lic["musicnn_weights"])
    return f"""\
Licences
--------

Training audio: {audio}. The model holds no audio. musicnn weights: {musicnn}.
"""


def speed_and_size(card: dict) -> str:
    """Size on disk, load time and tagging speed."""
    speed = card["speed"]["audio_seconds_per_second"]
    duration = card["training_data"]["duration_s"]
    return f"""\
Speed and size
--------------

{card["size_bytes"] / 1e6:.2f} MB on disk; loading takes about {card["load_seconds"]:g} s
once sk_hier's imports are done. Tagging on one torch thread: about {speed:g} s of
audio per second on {duration:g}-s clips (a 3-minute song with back-to-back windows in
about {180 / speed:.1f} s; overlapping windows cost more).
"""


def rebuilding(card: dict) -> str:
    """How to rebuild the model and this page."""
    build = card.get("build") or {}
    command = build.get("command", "make pretrained")
    inner = re.search(r"\((.*)\)", command)
    script = (inner.group(1) if inner else command).strip()
    ran = (
        "this build ran with no arguments"
        if script.endswith("build_pretrained.py")
        else f"this build ran ``{script}``"
    )
    took = f" This build took {build['minutes']:g} minutes." if build.get("minutes") else ""
    return f"""\
Rebuilding
----------

``make pretrained`` renders, embeds and fits from scratch, prints these figures and
rewrites this page from the card; renders and embeddings are cached in
``build/pretrained``, so a second run only fits.{took} A rebuild reproduces the
figures within seed noise. With no arguments it trains on every installed
sample-based source; {ran}.
``make pretrained PRETRAINED_ARGS="--sources ..."`` names the sources; ``--augment``
passes an augmentation level to the renderer when it offers one.

.. image:: images/timeline_song.png
   :alt: instrument timeline of a 3-minute rendered song tagged every 5 s
   :width: 100%
"""


def reflow(block: str) -> str:
    """Rewrap one paragraph or list of the page to the page's width.

    Parameters
    ----------
    block : str
        Lines between blank lines. Directives, tables, titles and indented blocks
        come back unchanged.

    Returns
    -------
    str
        The block, each paragraph or list item filled to ``_WIDTH`` columns.
    """
    lines = block.split("\n")
    if any(ln.startswith((".. ", "=", " ")) or set(ln) <= set("=-") for ln in lines[:1]):
        return block
    if any(set(ln) <= set("=-") and ln for ln in lines):
        return block
    items: list[list[str]] = []
    for line in lines:
        if _ITEM.match(line) or not items:
            items.append([line])
        else:
            items[-1].append(line.strip())
    out = []
    for item in items:
        marker = _ITEM.match(item[0])
        indent = " " * len(marker.group(1)) if marker else ""
        out.append(
            textwrap.fill(
                " ".join(item),
                _WIDTH,
                subsequent_indent=indent,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    return "\n".join(out)


def render_card(card: dict) -> str:
    """The reStructuredText of ``docs/model_card.rst`` for a model card.

    Parameters
    ----------
    card : dict
        The model card, as ``scripts/build_pretrained.py`` writes it.

    Returns
    -------
    str
        The page.
    """
    sections = [
        head(card),
        what_it_is(card),
        training_data(card),
        held_out(card),
        label_table(card),
        thresholds(card),
        calibration(card),
        intended_use(card),
        limits(card),
        licences(card),
        speed_and_size(card),
        rebuilding(card),
    ]
    blocks = "\n".join(sections).split("\n\n")
    return "\n\n".join(reflow(b) for b in blocks)


def main(card_path: Path = CARD, page: Path = PAGE) -> int:
    """Write the page from the card, only if its content changed.

    Parameters
    ----------
    card_path : Path
        The JSON model card.
    page : Path
        The reStructuredText page to write.

    Returns
    -------
    int
        0.
    """
    text = render_card(json.loads(Path(card_path).read_text(encoding="utf-8")))
    page = Path(page)
    if page.exists() and page.read_text(encoding="utf-8") == text:
        print(f"{page} is up to date")
        return 0
    page.write_text(text, encoding="utf-8")
    print(f"wrote {page}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
