"""
Your own sounds and your own ratings
====================================

The toolkit is not tied to its bundled data. This example builds a timbre space from

* **a folder of sounds**, one sub-folder per label (the layout of Studio-On-Line or TinySOL
  sample libraries), read with :func:`~perceptual_timbre.datasets.load_audio_folder`;
* **a CSV file of ratings**, a labelled, symmetric matrix of mean dissimilarities such as a
  listening test produces, read with pandas and passed as a labelled DataFrame.

Ratings do not need to cover every label: notes of unrated instruments get only the VAE
loss (as the paper held out the piccolo) and are placed in the space by their spectra.
"""

# %%
# A folder of sounds
# ------------------
# To keep the example self-contained, we first write such a folder: notes of eight General
# MIDI instruments rendered from a SoundFont. Point ``load_audio_folder`` at your own folder
# instead.
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import soundfile as sf
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline

from perceptual_timbre import PerceptualVAE, embed_sounds
from perceptual_timbre.datasets import (
    load_audio_folder,
    load_instrument_ratings,
    render_instrument_notes,
)
from perceptual_timbre.embedding import predicted_dissimilarity
from perceptual_timbre.transforms import LogMagnitude, NSGTTransformer

FAST = os.environ.get("PERCEPTUAL_TIMBRE_FAST") == "1"
OUT = Path(os.environ.get("PERCEPTUAL_TIMBRE_OUTPUT") or tempfile.mkdtemp(prefix="timbre_"))
OUT.mkdir(parents=True, exist_ok=True)

programs = {  # 0-based General MIDI programs
    "Flute": 73, "Trumpet": 56, "Cello": 42, "Clarinet": 71, "Oboe": 68,
    "Marimba": 12, "Harp": 46, "Accordion": 21,
}
rendered = render_instrument_notes(programs, pitches=(60, 67) if FAST else (55, 60, 64, 67, 72),
                                   velocities=(100,))
folder = OUT / "my_sounds"
for x, name, pitch in zip(rendered.audio, rendered.instrument, rendered.pitch, strict=True):
    (folder / name).mkdir(parents=True, exist_ok=True)
    sf.write(folder / name / f"{name}_{pitch}.wav", x, rendered.sr)

sounds = load_audio_folder(folder, sr=22050)
print(f"{len(sounds.audio)} files, labels: {sorted(set(sounds.label))}")
print(sounds.filenames[:3])

# %%
# A CSV file of ratings
# ---------------------
# A listening test gives mean dissimilarities between some of the instruments. Here the
# bundled combined ratings of five of them stand in for your results: the file is any
# square table whose first row and column hold the labels.
rated = ["Flute", "Trumpet", "Cello", "Clarinet", "Oboe"]
load_instrument_ratings().dissimilarity.loc[rated, rated].to_csv(OUT / "my_ratings.csv")

my_ratings = pd.read_csv(OUT / "my_ratings.csv", index_col=0)
print(my_ratings.round(2))

# %%
# Fit the space
# -------------
# A labelled DataFrame is matched to the sounds by label; Marimba, Harp and Accordion have
# no ratings and are learned without the perceptual term.
space = Pipeline([
    ("nsgt", NSGTTransformer(sr=sounds.sr)),
    ("log", LogMagnitude()),
    ("vae", PerceptualVAE(alpha=1.0, random_state=0, max_epochs=10 if FAST else 150,
                          hidden_layer_sizes=(64,) if FAST else (256, 256))),
])
space.fit(sounds.audio, sounds.label, vae__dissimilarity=my_ratings)
print("regularized classes:", list(space[-1].rated_classes_))

# %%
# Where the unrated instruments land
# ----------------------------------
# :func:`~perceptual_timbre.embed_sounds` gives one latent point per sound; the predicted
# dissimilarity between two instruments is the distance between their centroids.
Z = embed_sounds(space, sounds.audio, sr=sounds.sr)
labels = np.array(sorted(set(sounds.label)))
centroids = np.stack([Z[sounds.label == lab].mean(axis=0) for lab in labels])
D = np.linalg.norm(centroids[:, None] - centroids[None], axis=-1)
print(pd.DataFrame(D, index=labels, columns=labels).round(2).loc[
    ["Marimba", "Harp", "Accordion"], rated])

P = PCA(n_components=2).fit(Z).transform(Z)
fig, ax = plt.subplots(figsize=(6, 5))
for lab in labels:
    marker = "o" if lab in rated else "^"
    ax.scatter(*P[sounds.label == lab].T, marker=marker, label=lab + ("" if lab in rated
                                                                        else " (unrated)"))
ax.legend(fontsize=7)
ax.set(xlabel="PC 1", ylabel="PC 2", title="Your sounds in the timbre space")
fig.tight_layout()
plt.show()

# %%
# Single sounds can be compared too: the predicted dissimilarity matrix between any sounds,
# e.g. the first note of every instrument.
first = [int(np.flatnonzero(sounds.label == lab)[0]) for lab in labels]
D_sounds = predicted_dissimilarity(space, [sounds.audio[i] for i in first], sr=sounds.sr)
print(D_sounds.shape)
