"""
Choosing the regularization strength by grid search
===================================================

Every step of a timbre space is a scikit-learn estimator, so model selection works as usual.
Here :class:`~sklearn.model_selection.GridSearchCV` chooses ``alpha`` (the weight of the
perceptual regularizer) for a ``NSGT -> LogMagnitude -> PerceptualVAE`` pipeline, scored by
the agreement of held-out notes with the ratings
(:func:`~perceptual_timbre.metrics.make_perceptual_scorer`).

Two details make this work:

* the ratings go to ``fit`` as ``vae__dissimilarity``, wrapped in
  :class:`~perceptual_timbre.utils.Ratings`. Cross-validation slices every fit parameter
  whose length equals the number of samples; a ``Ratings`` object has no length, so it
  always arrives whole, and the VAE picks the rows of the training fold's instruments by
  label (``y``);
* the scorer closes over the same ratings and reads the instruments of the validation notes
  from ``y``.
"""

# %%
import os
import tempfile

import matplotlib.pyplot as plt
import pandas as pd
from joblib import Memory
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline

from perceptual_timbre import PerceptualVAE
from perceptual_timbre.datasets import load_instrument_ratings, render_instrument_notes
from perceptual_timbre.metrics import make_perceptual_scorer
from perceptual_timbre.transforms import LogMagnitude, NSGTTransformer
from perceptual_timbre.utils import Ratings

FAST = os.environ.get("PERCEPTUAL_TIMBRE_FAST") == "1"

# default: 7 pitches x 2 dynamics of each of the 12 rated instruments
small = {"pitches": (60, 65, 67), "velocities": (100,)} if FAST else {}
notes = render_instrument_notes(**small)
ratings = load_instrument_ratings().ratings
assert isinstance(ratings, Ratings)

# %%
# The search
# ----------
# ``memory`` caches the fitted NSGT and LogMagnitude steps, so every candidate only trains
# the VAE. Folds are stratified by instrument so each fold holds notes of every instrument.
cache = Memory(tempfile.mkdtemp(prefix="timbre_cache_"), verbose=0)
pipe = Pipeline(
    [("nsgt", NSGTTransformer()), ("log", LogMagnitude()),
     ("vae", PerceptualVAE(random_state=0, max_epochs=10 if FAST else 100,
                           hidden_layer_sizes=(64,) if FAST else (256, 256)))],
    memory=cache,
)
param_grid = {"vae__alpha": [0.0, 1.0] if FAST else [0.0, 0.3, 1.0, 3.0, 10.0]}
search = GridSearchCV(
    pipe,
    param_grid,
    scoring={"spearman": make_perceptual_scorer(ratings, metric="spearman"),
             "kl": make_perceptual_scorer(ratings, metric="kl")},
    refit="spearman",
    cv=StratifiedKFold(n_splits=2 if FAST else 3, shuffle=True, random_state=0),
)
search.fit(notes.audio, notes.instrument, vae__dissimilarity=ratings)

results = pd.DataFrame(search.cv_results_)
columns = ["param_vae__alpha", "mean_test_spearman", "std_test_spearman", "mean_test_kl"]
print(results[columns].round(3).to_string(index=False))
print("best:", search.best_params_, f"(Spearman {search.best_score_:.3f})")

# %%
# Agreement against regularization strength
# -----------------------------------------
# ``mean_test_kl`` is the negated KL divergence (scorers are "greater is better").
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.errorbar(results["param_vae__alpha"].astype(float), results["mean_test_spearman"],
            yerr=results["std_test_spearman"], marker="o", capsize=3)
ax.set(xscale="symlog", xlabel="alpha", ylabel="held-out centroid Spearman",
       title="Perceptual agreement of held-out notes")
fig.tight_layout()
plt.show()

# %%
# The refitted best pipeline is a timbre space like any other: it maps notes to the latent
# space and back to audio.
Z = search.best_estimator_.transform(notes.audio[:3])
audio = search.best_estimator_.inverse_transform(Z)
print(Z.shape, audio.shape)
