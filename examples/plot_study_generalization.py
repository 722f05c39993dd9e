"""
Fitting on published studies, evaluating on others
===================================================

Published timbre studies rate small sets of sounds (11 to 20 each). A useful space must
also agree with listeners on studies it never saw. This example fits on the stimuli and
ratings of some studies of the data home and scores every model on *other* studies with the
per-anchor metrics of timbre benchmarks (per-anchor Spearman and triplet agreement).

Studies of the same family reuse sounds, so the split keeps families apart: fit on
Grey1977, Iverson1993 and McAdams1995; evaluate on Lakatos2000, Patil2012 and Barthet2010.

Three models are compared:

* MFCC: time-averaged MFCCs (no training), the usual baseline;
* :class:`~perceptual_timbre.PerceptualMetric` fitted on the training studies: sound-level
  features with a light learned linear map;
* a :class:`~perceptual_timbre.PerceptualVAE` timbre space fitted on the NSGT frames of the
  training stimuli, regularized by their ratings (each study compares only its own sounds).

The data home must hold the studies: set ``PERCEPTUAL_TIMBRE_DATA`` (see
:ref:`datasets`).
"""

# %%
import os

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from perceptual_timbre import PerceptualVAE, fit_perceptual_metric
from perceptual_timbre.baselines import MFCCEmbedding
from perceptual_timbre.datasets import list_timbre_studies, load_timbre_study
from perceptual_timbre.embedding import predicted_dissimilarity
from perceptual_timbre.metrics import anchor_spearman, triplet_agreement
from perceptual_timbre.transforms import LogMagnitude, NSGTTransformer
from perceptual_timbre.utils import Ratings

FAST = os.environ.get("PERCEPTUAL_TIMBRE_FAST") == "1"

print("studies in the data home:", ", ".join(list_timbre_studies()))
train_studies = ["Grey1977"] if FAST else ["Grey1977", "Iverson1993_Whole", "McAdams1995"]
test_studies = (["Lakatos2000_Harm", "Barthet2010"] if FAST
                else ["Lakatos2000_Harm", "Lakatos2000_Perc", "Patil2012_A3", "Barthet2010"])
train = {name: load_timbre_study(name) for name in train_studies}
test = {name: load_timbre_study(name) for name in test_studies}
for name, study in {**train, **test}.items():
    print(f"{name:<18} {len(study.audio):>3} sounds, ratings "
          f"{study.dissimilarity.max():.3g} at most")

# %%
# A perceptual metric from the training studies
# ---------------------------------------------
# ``fit_perceptual_metric`` loads the named studies and fits the metric on all of them at
# once (each study normalized by its own scale).
metric = fit_perceptual_metric(train_studies, max_iter=50 if FAST else 300)

# %%
# A timbre space from the training studies
# ----------------------------------------
# Each stimulus contributes up to 32 of its NSGT frames (its audible ones), labelled by a
# stimulus id. One :class:`~perceptual_timbre.utils.Ratings` covers all training stimuli:
# each study's block is its own ratings scaled to 0..1, and ``counts=0`` marks the pairs
# of sounds from different studies, which nobody rated.
nsgt = NSGTTransformer()
sounds = [x for study in train.values() for x in study.audio]
ids = [f"{name}/{n}" for name, study in train.items() for n in study.names]
nsgt.fit(sounds)

frames, frame_ids = [], []
for x, sound_id in zip(sounds, ids, strict=True):
    F = nsgt.transform_frames([x])[0]
    energy = (F**2).sum(axis=1)
    F = F[energy > energy.max() * 1e-3]          # frames within 30 dB of the peak
    F = F[np.linspace(0, len(F) - 1, min(32, len(F))).astype(int)]
    frames.append(F)
    frame_ids += [sound_id] * len(F)
frames, frame_ids = np.vstack(frames), np.array(frame_ids)

n = len(ids)
matrix, counts, start = np.zeros((n, n)), np.zeros((n, n)), 0
for study in train.values():
    block = slice(start, start + len(study.audio))
    matrix[block, block] = study.dissimilarity / study.dissimilarity.max()
    counts[block, block] = 1 - np.eye(len(study.audio))
    start += len(study.audio)
ratings = Ratings(matrix, ids, counts=counts)

log = LogMagnitude().fit(frames)
vae = PerceptualVAE(alpha=1.0, random_state=0, max_epochs=5 if FAST else 100,
                    hidden_layer_sizes=(64,) if FAST else (256, 256))
vae.fit(log.transform(frames), frame_ids, dissimilarity=ratings)
# the fitted steps, assembled: embed_sounds averages each sound's latent frames
space = Pipeline([("nsgt", nsgt), ("log", log), ("vae", vae)])
print(f"VAE trained on {len(frames)} frames of {n} stimuli")

# %%
# Scores on the studies left out
# ------------------------------
models = {"MFCC": MFCCEmbedding(), "PerceptualMetric": metric, "regularized VAE": space}
rows = []
for name, study in test.items():
    for model_name, model in models.items():
        if model_name == "MFCC":
            model.fit(study.audio)  # stateless: fit only validates
        D = predicted_dissimilarity(model, study.audio, sr=study.sr)
        rows.append({
            "study": name, "model": model_name,
            "anchor Spearman": anchor_spearman(D, study.dissimilarity),
            "triplet agreement": triplet_agreement(D, study.dissimilarity, margin=0.1),
        })
scores = pd.DataFrame(rows)
table = scores.pivot(index="study", columns="model")
table.loc["mean"] = table.mean()
print(table.round(3).to_string())
