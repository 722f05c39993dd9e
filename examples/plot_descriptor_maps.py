"""
Descriptor maps over the latent space
=====================================

How do audio descriptors vary across a timbre space (the paper's RQ4)? A descriptor map
decodes every point of a regular grid over a plane of the latent space (by default the plane
of the first two principal components of the training latents) and computes descriptors on
the decoded spectra, with the transform's true frequency axis.

The paper found the maps *non-linear globally but smooth locally*. Two numbers quantify it:
:func:`~perceptual_timbre.descriptors.local_smoothness` (mean change between grid neighbours
relative to the map's range: small is smooth) and
:func:`~perceptual_timbre.descriptors.global_nonlinearity` (``1 - R^2`` of a plane fitted to
the map: 0 for a linear map).
"""

# %%
import os

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.pipeline import Pipeline

from perceptual_timbre import PerceptualVAE
from perceptual_timbre.datasets import load_instrument_ratings, render_instrument_notes
from perceptual_timbre.descriptors import descriptor_map, global_nonlinearity, local_smoothness
from perceptual_timbre.transforms import LogMagnitude, NSGTTransformer

FAST = os.environ.get("PERCEPTUAL_TIMBRE_FAST") == "1"

# default: 7 pitches x 2 dynamics of each of the 12 rated instruments
small = {"pitches": (60, 67), "velocities": (100,)} if FAST else {}
notes = render_instrument_notes(**small)
ratings = load_instrument_ratings().ratings


def fit_space(alpha):
    vae = PerceptualVAE(alpha=alpha, random_state=0, max_epochs=10 if FAST else 150,
                        hidden_layer_sizes=(64,) if FAST else (256, 256))
    pipe = Pipeline([("nsgt", NSGTTransformer()), ("log", LogMagnitude()), ("vae", vae)])
    return pipe.fit(notes.audio, notes.instrument, vae__dissimilarity=ratings)


spaces = {"regularized": fit_space(1.0), "unregularized": fit_space(0.0)}

# %%
# Maps of four descriptors
# ------------------------
names = ["spectral_centroid", "spectral_bandwidth", "spectral_flatness", "loudness"]
resolution = 9 if FAST else 31
maps = {
    key: descriptor_map(space, space.transform(notes.audio), names, resolution=resolution,
                        labels=notes.instrument)
    for key, space in spaces.items()
}

dmap = maps["regularized"]
fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.6))
for ax, name in zip(axes, names, strict=True):
    mesh = ax.pcolormesh(dmap.coords[0], dmap.coords[1], dmap[name].T, shading="auto",
                         cmap="viridis")
    ax.scatter(dmap.projected[:, 0], dmap.projected[:, 1], s=6, c="w", edgecolors="k",
               linewidths=0.3)
    fig.colorbar(mesh, ax=ax)
    ax.set(title=name, xlabel="PC 1", ylabel="PC 2")
fig.suptitle("Regularized space: descriptors of decoded spectra (dots: training notes)")
fig.tight_layout()
plt.show()

# %%
# Instruments on the centroid map
# -------------------------------
fig, ax = plt.subplots(figsize=(6, 5))
mesh = ax.pcolormesh(dmap.coords[0], dmap.coords[1], dmap["spectral_centroid"].T,
                     shading="auto", cmap="magma")
fig.colorbar(mesh, ax=ax, label="spectral centroid (Hz)")
for label in sorted(set(dmap.labels)):
    P = dmap.projected[dmap.labels == label]
    ax.scatter(P[:, 0], P[:, 1], s=12, label=label)
ax.legend(fontsize=7, ncol=2, loc="best")
ax.set(xlabel="PC 1", ylabel="PC 2", title="Instruments over the spectral-centroid map")
fig.tight_layout()
plt.show()

# %%
# Smooth locally, non-linear globally
# -----------------------------------
# For reference, a linear ramp over this grid has local smoothness
# ``1 / (resolution - 1)``, and spatially independent noise about 1/3.
rows = []
for key, m in maps.items():
    smooth, nonlinear = local_smoothness(m), global_nonlinearity(m)
    for name in names:
        rows.append({"space": key, "descriptor": name, "local smoothness": smooth[name],
                     "global non-linearity": nonlinear[name]})
table = pd.DataFrame(rows).pivot(index="descriptor", columns="space")
print(f"linear ramp: {1 / (resolution - 1):.3f}")
print(table.round(3).to_string())
