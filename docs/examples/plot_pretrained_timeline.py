"""
Which instruments play when: the pretrained tagger on a song
============================================================

sk_hier ships a pretrained instrument tagger (:func:`sk_hier.pretrained.load_pretrained`):
a scikit-learn ``Pipeline`` of the musicnn embedder, a scaler and a
:class:`~sk_hier.HierarchicalTagger` over 26 General MIDI instruments in 12 families.
It loads from a ``.skops`` file inside the package (no pickle, no download) and takes
audio files directly. Here it tags a 20-second rendered song, window by window, and
draws the instrument timeline; ``sk-hier tag song.wav --plot timeline.png`` does the
same from the command line.
"""

# %%
# Render a song
# -------------
# A seeded multi-instrument composition, rendered through the TimGM6mb soundfont
# that ships with ``pretty_midi``. Its true instruments are known by construction.
import tempfile

import matplotlib.pyplot as plt

from sk_hier.datasets import load_rendered, render_dataset
from sk_hier.pretrained import load_pretrained, model_card, tag_audio

folder = tempfile.mkdtemp(prefix="sk_hier_song_")
render_dataset(folder, n_clips=1, seed=2024, duration=20.0, progress=False)
paths, Y, tree, _ = load_rendered(folder)
truth = [name for name, y in zip(tree.labels, Y[0]) if y and name in tree.leaves]
print("plays:", ", ".join(truth))

# %%
# The pretrained model and its card
# ---------------------------------
# The card records what it was trained on and how well it does on timbres it never
# heard (leave one soundfont lineage out); see :doc:`/model_card`.
pipe = load_pretrained()
card = model_card()
print([name for name, _ in pipe.steps])
print("trained on", card["training_data"]["n_clips"], "clips from",
      ", ".join(s["name"] for s in card["training_data"]["sources"]))  # fmt: skip
print("held-out mean AP:", card["held_out"]["mean_ap"])
print(pipe[-1].hierarchy_)

# %%
# Tag it over time
# ----------------
# 10-s windows every 2.5 s; each window gets the probability of every node. The
# result is a :class:`~sk_hier.pretrained.Timeline`: tags, top nodes, a DataFrame.
timeline = tag_audio(pipe, paths[0], window=10.0, hop=2.5)
print("tags:", timeline.tags())
print("top:", [(name, round(p, 2)) for name, p in timeline.top(5)])
frame = timeline.to_frame()
frame.round(2).iloc[:, :8]

# %%
# The instrument timeline
# -----------------------
# One row per instrument under its family band (blue), darker is more probable; red
# dots mark the windows where a label passes its threshold.
fig = timeline.plot(title="a rendered song: instruments over time")
plt.show()
