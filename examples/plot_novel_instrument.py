"""
Placing a new instrument in the space
=====================================

A timbre space is useful when it also places sounds it has never seen where listeners
would (the paper's RQ3). Here each instrument in turn is left out: the space is fitted on
the other instruments' notes and ratings, the held-out notes are embedded with
:func:`~perceptual_timbre.embed_sounds`, and the distances from the new instrument's centroid
to the known instruments are compared with its row of the ratings, which the model never saw.

The same prediction is made by the unregularized VAE and by time-averaged MFCCs
(:class:`~perceptual_timbre.baselines.MFCCEmbedding`), the usual timbre-similarity baseline.
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import spearmanr
from sklearn.pipeline import Pipeline

from perceptual_timbre import PerceptualVAE, embed_sounds
from perceptual_timbre.baselines import MFCCEmbedding
from perceptual_timbre.datasets import load_instrument_ratings, render_instrument_notes
from perceptual_timbre.transforms import LogMagnitude, NSGTTransformer

FAST = os.environ.get("PERCEPTUAL_TIMBRE_FAST") == "1"

# default: 7 pitches x 2 dynamics of each of the 12 rated instruments
small = {"pitches": (60, 67), "velocities": (100,)} if FAST else {}
notes = render_instrument_notes(**small)
data = load_instrument_ratings()
ratings = data.ratings
# every instrument can be held out; four keep the run to a few minutes
held_out_instruments = ["Oboe", "Trumpet"] if FAST else ["Oboe", "Trumpet", "Cello", "Flute"]


def make_space(alpha):
    vae = PerceptualVAE(alpha=alpha, random_state=0,
                        max_epochs=10 if FAST else 150,
                        hidden_layer_sizes=(64,) if FAST else (256, 256))
    return Pipeline([("nsgt", NSGTTransformer()), ("log", LogMagnitude()), ("vae", vae)])


def predicted_row(Z_known, y_known, Z_new, known):
    """Distances from the new sounds' centroid to each known instrument's centroid."""
    centre = Z_new.mean(axis=0)
    return np.array([np.linalg.norm(Z_known[y_known == k].mean(axis=0) - centre)
                     for k in known])


# %%
# Leave one instrument out
# ------------------------
# The held-out instrument's rows are removed from the audio *and* its row and column from the
# ratings (``Ratings.subset``), so nothing about it reaches the fit.
mfcc = MFCCEmbedding(sr=notes.sr).fit(notes.audio)
Z_mfcc = mfcc.transform(notes.audio)

scores = {"regularized VAE": [], "unregularized VAE": [], "MFCC": []}
examples = {}
for held_out in held_out_instruments:
    train = notes.instrument != held_out
    known = [name for name in data.instruments if name != held_out]
    truth = ratings.subset([held_out] + known).matrix[0, 1:]

    for name, alpha in [("regularized VAE", 1.0), ("unregularized VAE", 0.0)]:
        space = make_space(alpha).fit(notes.audio[train], notes.instrument[train],
                                      vae__dissimilarity=ratings.subset(known))
        Z_known = embed_sounds(space, notes.audio[train], sr=notes.sr)
        Z_new = embed_sounds(space, notes.audio[~train], sr=notes.sr)
        pred = predicted_row(Z_known, notes.instrument[train], Z_new, known)
        scores[name].append(spearmanr(pred, truth).statistic)
        if name == "regularized VAE":
            examples[held_out] = (known, truth, pred)

    pred = predicted_row(Z_mfcc[train], notes.instrument[train], Z_mfcc[~train], known)
    scores["MFCC"].append(spearmanr(pred, truth).statistic)

print("Spearman between predicted and rated dissimilarities of the held-out instrument")
print(f"{'held out':<12}" + "".join(f"{k:>20}" for k in scores))
for i, held_out in enumerate(held_out_instruments):
    print(f"{held_out:<12}" + "".join(f"{v[i]:>20.3f}" for v in scores.values()))
print(f"{'mean':<12}" + "".join(f"{np.mean(v):>20.3f}" for v in scores.values()))

# %%
# Predicted versus rated dissimilarities
# --------------------------------------
# For the first held-out instrument: each point is a known instrument, placed by its rated
# dissimilarity to the new one (x) and by the distance the space predicts (y).
held_out = held_out_instruments[0]
known, truth, pred = examples[held_out]
fig, ax = plt.subplots(figsize=(5, 4))
ax.scatter(truth, pred)
for name, x, y in zip(known, truth, pred, strict=True):
    ax.annotate(name, (x, y), fontsize=8)
ax.set(xlabel=f"rated dissimilarity to {held_out}",
       ylabel="predicted latent distance",
       title=f"{held_out}, never seen in training")
fig.tight_layout()
plt.show()
