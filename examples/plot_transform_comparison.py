"""
Comparing spectral transforms (the paper's RQ2)
===============================================

Esling et al. (2018) learned timbre spaces on five spectral representations and compared
them on reconstruction and on perceptual agreement. This example repeats the comparison on
real SoundFont notes of the twelve rated instruments: for every transform it measures

* the quality of the transform's own phase reconstruction (spectral convergence of the
  resynthesized audio, in dB, lower is better; the DCT inverts exactly);
* how well the regularized VAE reconstructs the spectral frames (relative error);
* how well the latent space agrees with the ratings: the paper's KL divergence (lower is
  better) and the Spearman correlation between instrument-centroid distances and ratings.
"""

# %%
# Notes and ratings
# -----------------
# ``PERCEPTUAL_TIMBRE_FAST=1`` (used by the test suite) renders fewer notes and trains for
# fewer epochs; the conclusions need the full run.
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from perceptual_timbre import PerceptualVAE
from perceptual_timbre.datasets import load_instrument_ratings, render_instrument_notes
from perceptual_timbre.metrics import centroid_correlation, latent_kl_divergence
from perceptual_timbre.transforms import (
    DCTTransformer,
    LogMagnitude,
    NSGTTransformer,
    STFTTransformer,
    spectral_convergence,
)

FAST = os.environ.get("PERCEPTUAL_TIMBRE_FAST") == "1"

# default: 7 pitches x 2 dynamics of each of the 12 rated instruments
small = {"pitches": (60, 67), "velocities": (100,)} if FAST else {}
notes = render_instrument_notes(**small)
ratings = load_instrument_ratings().ratings
print(f"{len(notes.audio)} notes of {len(set(notes.instrument))} instruments")

# %%
# One timbre space per transform
# ------------------------------
# Every space is the same pipeline, ``transform -> LogMagnitude -> PerceptualVAE``, with the
# same seed and the same number of epochs; only the first step changes.
transforms = {
    "STFT": STFTTransformer(),
    "DCT": DCTTransformer(),
    "NSGT-CQT": NSGTTransformer(scale="cqt"),
    "NSGT-Mel": NSGTTransformer(scale="mel"),
    "NSGT-ERB": NSGTTransformer(scale="erb"),
}
vae_params = dict(latent_dim=16, alpha=1.0, random_state=0,
                  max_epochs=10 if FAST else 150,
                  hidden_layer_sizes=(64,) if FAST else (256, 256))

rows, spaces = [], {}
for name, transformer in transforms.items():
    pipe = Pipeline([("spectrum", transformer), ("log", LogMagnitude()),
                     ("vae", PerceptualVAE(**vae_params))])
    pipe.fit(notes.audio, notes.instrument, vae__dissimilarity=ratings)
    spaces[name] = pipe

    frames = pipe[:-1].transform(notes.audio)  # log-magnitude frames the VAE sees
    Z = pipe[-1].transform(frames)
    decoded = pipe[-1].inverse_transform(Z)
    # the transform's own phase reconstruction, on one note per instrument
    # (Griffin-Lim on the NSGT takes a few seconds per note: two notes in fast mode)
    first = np.unique(notes.instrument, return_index=True)[1][: 2 if FAST else None]
    sc = spectral_convergence(pipe[0], pipe[0].transform(notes.audio[first]))
    rows.append({
        "transform": name,
        "bins": pipe[0].n_features_out_,
        "phase reconstruction SC (dB)": float(np.mean(sc)),
        "VAE relative error": float(np.sum((decoded - frames) ** 2)
                                    / np.sum((frames - frames.mean(0)) ** 2)),
        "paper KL (lower better)": latent_kl_divergence(Z, notes.instrument, ratings),
        "centroid Spearman": centroid_correlation(Z, notes.instrument, ratings),
    })

table = pd.DataFrame(rows).set_index("transform")
print(table.round(3).to_string())

# %%
# The table side by side
# ----------------------
fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
columns = ["VAE relative error", "paper KL (lower better)", "centroid Spearman"]
for ax, column in zip(axes, columns, strict=True):
    table[column].plot.bar(ax=ax, color="C0")
    ax.set(title=column, xlabel="")
    ax.tick_params(axis="x", rotation=45)
fig.tight_layout()
plt.show()

# %%
# Frequency axes
# --------------
# The NSGT bins are spaced on a constant-Q, Mel or ERB scale; the STFT and DCT bins are
# linear. Descriptors such as the spectral centroid must use each transformer's true
# ``frequencies_`` axis.
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, pipe in spaces.items():
    ax.semilogy(pipe[0].frequencies_[1:], label=f"{name} ({pipe[0].n_features_out_} bins)")
ax.set(xlabel="bin", ylabel="centre frequency (Hz)")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
