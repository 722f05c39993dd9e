"""
Paths between instruments, with audio
=====================================

A VAE latent space is continuous: every point between two instruments decodes to a
spectrum. :func:`~perceptual_timbre.synthesis.interpolate_sounds` follows a path from one
instrument (or sound, or latent point) to another and renders it as **one** continuous sound:
the decoded frames are laid out over time and Griffin-Lim rebuilds the phase over the whole
path spectrogram, so the morph has no seams.
"""

# %%
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import soundfile as sf
from sklearn.pipeline import Pipeline

from perceptual_timbre import PerceptualVAE
from perceptual_timbre.datasets import load_instrument_ratings, render_instrument_notes
from perceptual_timbre.synthesis import interpolate_sounds, latent_path, sound_centroids
from perceptual_timbre.transforms import LogMagnitude, NSGTTransformer

try:  # audio players in notebooks and in the built documentation
    from IPython.display import Audio
except ImportError:
    Audio = None

FAST = os.environ.get("PERCEPTUAL_TIMBRE_FAST") == "1"
OUT = Path(os.environ.get("PERCEPTUAL_TIMBRE_OUTPUT") or tempfile.mkdtemp(prefix="timbre_"))
OUT.mkdir(parents=True, exist_ok=True)

# default: 7 pitches x 2 dynamics of each of the 12 rated instruments
small = {"pitches": (60, 67), "velocities": (100,)} if FAST else {}
notes = render_instrument_notes(**small)
ratings = load_instrument_ratings().ratings
space = Pipeline([
    ("nsgt", NSGTTransformer(n_iter=16 if FAST else 32)),
    ("log", LogMagnitude()),
    ("vae", PerceptualVAE(alpha=1.0, random_state=0, max_epochs=10 if FAST else 150,
                          hidden_layer_sizes=(64,) if FAST else (256, 256))),
])
space.fit(notes.audio, notes.instrument, vae__dissimilarity=ratings)

# %%
# Instrument centroids
# --------------------
# The mean latent point of each instrument's notes serves as the instrument's position.
centroids = sound_centroids(space, notes.audio, notes.instrument)
print({name: np.round(z[:3], 2) for name, z in list(centroids.items())[:3]}, "...")

# %%
# From flute to trumpet
# ---------------------
n_steps = 16 if FAST else 48
path = interpolate_sounds(space, "Flute", "Trumpet", n_steps=n_steps, duration=3.0,
                          centroids=centroids)
sf.write(OUT / "path_flute_to_trumpet.wav", path.audio / np.max(np.abs(path.audio)), path.sr)
print(f"{path.latent_path.shape[0]} latent points -> {path.audio.size / path.sr:.1f} s of audio,"
      f" written to {OUT / 'path_flute_to_trumpet.wav'}")

fig, ax = plt.subplots(figsize=(7, 3.5))
freqs = space[0].frequencies_
ax.pcolormesh(np.arange(n_steps), freqs, np.log(path.frames.T + 1e-6), cmap="magma",
              shading="auto")
ax.set(yscale="log", ylim=(freqs[1], freqs[-1]), xlabel="path step", ylabel="Hz",
       title="Decoded NSGT frames along the path Flute -> Trumpet")
fig.tight_layout()
plt.show()

# %%
Audio(path.audio, rate=path.sr) if Audio else None

# %%
# Linear versus spherical paths
# -----------------------------
# A straight line between two points passes closer to the centre of the Gaussian prior than
# its end points; spherical interpolation (``method="slerp"``) keeps the norm of the path,
# staying in the region where the training data lies.
a, b = centroids["Cello"], centroids["Clarinet"]
for method in ("linear", "slerp"):
    norms = np.linalg.norm(latent_path(a, b, n_steps=9, method=method), axis=1)
    print(f"{method:>6}: latent norm along the path {np.round(norms, 2)}")

cello_to_clarinet = interpolate_sounds(space, "Cello", "Clarinet", n_steps=n_steps,
                                       method="slerp", duration=3.0, centroids=centroids)
sf.write(OUT / "path_cello_to_clarinet.wav",
         cello_to_clarinet.audio / np.max(np.abs(cello_to_clarinet.audio)), path.sr)
Audio(cello_to_clarinet.audio, rate=path.sr) if Audio else None

# %%
# Between two recorded sounds
# ---------------------------
# The end points may also be sounds: they are encoded through the space first.
piano = notes.audio[np.flatnonzero(notes.instrument == "Piano")[0]]
violin = notes.audio[np.flatnonzero(notes.instrument == "Violin")[0]]
morph = interpolate_sounds(space, piano, violin, n_steps=n_steps, duration=2.0)
sf.write(OUT / "path_piano_to_violin.wav", morph.audio / np.max(np.abs(morph.audio)), morph.sr)
Audio(morph.audio, rate=morph.sr) if Audio else None
