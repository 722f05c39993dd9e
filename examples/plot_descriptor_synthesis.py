"""
Descriptor-guided synthesis
===========================

:class:`~perceptual_timbre.DescriptorPathSynthesizer` synthesizes a sound whose descriptors
follow a target curve while it keeps the timbre of an origin (the paper's RQ5). It takes the
fitted timbre space as a parameter, learns the descriptor field of the space in ``fit``, and
finds a latent path in ``synthesize``, by one of two methods:

* ``"greedy"`` -- the paper's Algorithm 1, a neighbour search on a precomputed grid of
  latent points;
* ``"gradient"`` -- all path points optimized at once through the differentiable decoder.

The result is checked on the **synthesized audio**: its descriptors are re-analysed with
librosa and correlated with the target.
"""

# %%
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import soundfile as sf
from sklearn.pipeline import Pipeline

from perceptual_timbre import DescriptorPathSynthesizer, PerceptualVAE
from perceptual_timbre.datasets import load_instrument_ratings, render_instrument_notes
from perceptual_timbre.descriptors import audio_descriptors
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
space = Pipeline([
    ("nsgt", NSGTTransformer(n_iter=16 if FAST else 32)),
    ("log", LogMagnitude()),
    ("vae", PerceptualVAE(alpha=1.0, random_state=0, max_epochs=10 if FAST else 150,
                          hidden_layer_sizes=(64,) if FAST else (256, 256))),
])
space.fit(notes.audio, notes.instrument,
          vae__dissimilarity=load_instrument_ratings().ratings)

# %%
# Greedy versus gradient
# ----------------------
# Both start from the clarinet's centroid and ask for a rising spectral centroid. A named
# shape is relative to the origin and to the range the space can reach (``extent``).
n_steps = 12 if FAST else 32
results = {}
for method in ("greedy", "gradient"):
    synth = DescriptorPathSynthesizer(
        space=space, descriptors="spectral_centroid", method=method, n_steps=n_steps,
        max_iter=60 if FAST else 300, n_grid=300 if FAST else 3000, random_state=0,
    )
    synth.fit(notes.audio, notes.instrument)
    results[method] = synth.synthesize("Clarinet", "increase", duration=3.0)
    sf.write(OUT / f"centroid_increase_{method}.wav",
             results[method].audio / np.max(np.abs(results[method].audio)), results[method].sr)

for method, res in results.items():
    # re-analyse the rendered audio: one centroid value per path step
    heard = audio_descriptors(res.audio, res.sr, "spectral_centroid", n_points=n_steps)[:, 0]
    r_audio = np.corrcoef(res.target[:, 0], heard)[0, 1]
    drift = np.linalg.norm(res.latent_path - res.origin, axis=1).max()
    print(f"{method:>8}: r(target, decoded) = {res.correlation[0]:.3f}, "
          f"r(target, audio) = {r_audio:.3f}, max latent distance to origin = {drift:.2f}, "
          f"search time = {res.time:.2f} s")

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
for ax, (method, res) in zip(axes, results.items(), strict=True):
    ax.plot(res.target[:, 0], "k--", label="target")
    ax.plot(res.achieved[:, 0], label="decoded frames")
    ax.set(title=f"{method}", xlabel="path step", ylabel="spectral centroid (Hz)")
    ax.legend()
fig.tight_layout()
plt.show()

# %%
# The gradient path, rendered
Audio(results["gradient"].audio, rate=results["gradient"].sr) if Audio else None

# %%
# Other shapes and several descriptors at once
# --------------------------------------------
# Targets can be any named shape, one per descriptor, or an array of absolute values.
synth = DescriptorPathSynthesizer(
    space=space, descriptors=["spectral_centroid", "loudness"], n_steps=n_steps,
    max_iter=60 if FAST else 300, random_state=0,
).fit(notes.audio, notes.instrument)
res = synth.synthesize("Flute", ["exp_increase", "log_decrease"], duration=3.0)
sf.write(OUT / "flute_brighter_softer.wav", res.audio / np.max(np.abs(res.audio)), res.sr)

fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
for k, (ax, name) in enumerate(zip(axes, res.descriptors, strict=True)):
    ax.plot(res.target[:, k], "k--", label="target")
    ax.plot(res.achieved[:, k], label=f"achieved (r = {res.correlation[k]:.2f})")
    ax.set(title=name, xlabel="path step")
    ax.legend()
fig.tight_layout()
plt.show()

Audio(res.audio, rate=res.sr) if Audio else None

# %%
# Composing with scikit-learn
# ---------------------------
# The synthesizer is a scikit-learn estimator: ``get_params``, ``set_params`` and ``clone``
# work as usual. Model-selection tools clone their estimators, and cloning would return an
# unfitted copy of the space; wrap the fitted space in :class:`sklearn.frozen.FrozenEstimator`
# so that every clone keeps using it as it is. Here, the effect of the smoothness weight:
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator

base = DescriptorPathSynthesizer(space=FrozenEstimator(space), n_steps=n_steps,
                                 max_iter=60 if FAST else 300, random_state=0)
for smoothness in (0.0, 1.0):
    synth = clone(base).set_params(smoothness=smoothness).fit(notes.audio, notes.instrument)
    res = synth.synthesize("Oboe", "decrease", duration=2.0)
    jerk = np.abs(np.diff(res.latent_path, n=2, axis=0)).mean()
    print(f"smoothness={smoothness}: r = {res.correlation[0]:.3f}, "
          f"mean |second difference| of the path = {jerk:.4f}")
