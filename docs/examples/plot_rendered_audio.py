"""
Tagging rendered audio, end to end
==================================

From MIDI to tags on real waveforms: :func:`sk_hier.datasets.render_dataset`
composes multi-instrument clips and renders them with the TimGM6mb General MIDI
soundfont (it ships inside the ``pretty_midi`` wheel), :class:`sk_hier.embeddings.LogMelEmbedder`
turns each clip into a fixed-size vector, and three taggers are compared on a
held-out split.

.. note::

   This is a demonstration of the pipeline, not a benchmark: 40 clips of 4 seconds,
   a single split and a single seed. With so little data the scores below are noisy
   and the ranking of the strategies can change with the seed. For a proper
   comparison (thousands of clips, paired seeds, confidence intervals) see
   :doc:`/benchmark`.
"""

# %%
# Render a small set of clips
# ---------------------------
# The clips go into a temporary folder: ``audio/*.wav``, ``midi/*.mid``,
# ``labels.csv`` (families and instruments, max rule) and ``hierarchy.json``.
import tempfile
import warnings

import matplotlib.pyplot as plt
import numpy as np

from sk_hier import HierarchicalTagger
from sk_hier.datasets import load_rendered, render_dataset
from sk_hier.embeddings import LogMelEmbedder
from sk_hier.metrics import level_average_precision

folder = tempfile.mkdtemp(prefix="sk_hier_render_")
summary = render_dataset(folder, n_clips=40, seed=0, duration=4.0, progress=False)
paths, Y, tree, clip_ids = load_rendered(folder)
print(f"{summary.n_rendered} clips, {summary.audio_seconds:.0f} s of audio")
print(f"{len(tree.levels[0])} families, {len(tree.leaves)} instruments")

# %%
# Embed the audio
# ---------------
# Log-mel and MFCC statistics (mean and max over frames): a fast, offline
# embedding. The pretrained ``MusicnnEmbedder`` is the other embedder of the
# benchmark.
X = LogMelEmbedder(n_jobs=1).fit_transform(paths)
print("X:", X.shape)

# %%
# Three strategies on one split
# -----------------------------
# ``flat`` ignores the tree, ``gmp`` with ``parent_gate=True`` pools the children
# into each parent and gates them by it, ``resatt`` adds attention over the
# children. Labels absent from the training part are ignored with a warning.
rng = np.random.default_rng(0)
order = rng.permutation(len(X))
train, test = order[:28], order[28:]

taggers = {
    "flat": HierarchicalTagger(tree, strategy="flat", random_state=0),
    "gmp (gated)": HierarchicalTagger(tree, strategy="gmp", parent_gate=True, random_state=0),
    "resatt": HierarchicalTagger(tree, strategy="resatt", random_state=0),
}
scores = {}
for name, tagger in taggers.items():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proba = tagger.fit(X[train], Y[train]).predict_proba(X[test])
        scores[name] = [
            level_average_precision(Y[test], proba, tree, level="parent"),
            level_average_precision(Y[test], proba, tree, level="leaf"),
        ]
    print(f"{name:>12}: parent mAP {scores[name][0]:.3f}, leaf mAP {scores[name][1]:.3f}")

# %%
# Bar chart
# ---------
# Twelve test clips: read the bars as a smoke test of the pipeline, not as
# evidence for one strategy.
width = 0.25
x = np.arange(2)
fig, ax = plt.subplots(figsize=(6, 3))
for i, (name, (parent, leaf)) in enumerate(scores.items()):
    ax.bar(x + (i - 1) * width, [parent, leaf], width, label=name)
ax.set_xticks(x, ["families (parent mAP)", "instruments (leaf mAP)"])
ax.set_ylabel("mean average precision")
ax.set_ylim(0, 1)
ax.legend(loc="lower left", fontsize=8)
ax.set_title("40 rendered 4-s clips, 12 held out")
fig.tight_layout()
plt.show()
