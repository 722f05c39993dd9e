"""
Design a listening test for your own sounds and refit with its ratings
======================================================================

A timbre space is only as good as the ratings behind it. This example runs the whole loop
of :mod:`perceptual_timbre.listening` on twelve instrument notes:

1. **design** a partial experiment (half of the pairs, chosen so that every sound is rated
   against as many others as every other sound, plus repeated pairs);
2. **write** it: loudness-normalized WAV files, a checksummed manifest and a static web page
   that participants open in any browser, offline;
3. **read** the participants' CSV files back into ratings with per-pair counts;
4. **refit** a :class:`~perceptual_timbre.PerceptualMetric` on the rated pairs only;
5. **refit with new ratings**: a second session asks about pairs nobody rated yet, and the
   metric is refitted on both sessions.

Real participants are simulated here from the published mean ratings of these twelve
instruments (:func:`~perceptual_timbre.datasets.load_instrument_ratings`) plus noise; with a
real test you collect the CSV files the page exports instead.
"""

# %%
# The sounds and the design
# -------------------------
import csv
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import soundfile as sf

from perceptual_timbre import PerceptualMetric
from perceptual_timbre.datasets import load_instrument_ratings, render_instrument_notes
from perceptual_timbre.listening import (
    design_experiment,
    load_experiment,
    read_responses,
    write_experiment,
)
from perceptual_timbre.metrics import anchor_spearman

FAST = os.environ.get("PERCEPTUAL_TIMBRE_FAST") == "1"
OUT = Path(os.environ.get("PERCEPTUAL_TIMBRE_OUTPUT") or tempfile.mkdtemp(prefix="timbre_"))
OUT.mkdir(parents=True, exist_ok=True)

notes = render_instrument_notes(pitches=(60,), velocities=(100,), duration=1.0)
ids = [str(name) for name in notes.instrument]
design = design_experiment(ids, n_pairs=0.5, repeats=0.1, random_state=0)
print(design)
print("pairs per sound:", design.pairs_per_sound().tolist())
print(design.to_frame().head())

# %%
# Writing the experiment
# ----------------------
# The folder holds everything a participant needs. ``index.html`` plays each pair (A, a
# pause, B), takes a slider rating once the pair was heard, keeps the answers in the browser
# and exports them as CSV. The test suite runs this page in a headless Chromium, from the
# first trial to the CSV download.
experiment = write_experiment(OUT / "listening_test", notes.audio, notes.sr, design)
for path in sorted(experiment.folder.iterdir()):
    print(path.name)
print(f"every sound at {experiment.target_lufs:.1f} LUFS;",
      f"checksums verified: {load_experiment(experiment.folder).design == design}")
x, sr = sf.read(experiment.sound_files[0])
print(f"{experiment.sound_files[0].name}: {x.size / sr:.2f} s at {sr} Hz")

# %%
# This is how a trial looks in a browser (the screenshot is taken in headless Chromium by
# the test suite, which plays every trial of such a page and reads its CSV back).
screenshot = Path(__file__).resolve().parents[1] / "docs" / "user_guide" / "listening_page.png"
if screenshot.is_file():
    fig, ax = plt.subplots(figsize=(7.6, 3.9))
    ax.imshow(plt.imread(screenshot))
    ax.set_axis_off()
    fig.tight_layout()
    plt.show()

# %%
# Simulated participants
# ----------------------
# Each participant answers every trial with the published rating of the pair plus noise;
# the third one is careless. Their files have the page's columns.
truth = load_instrument_ratings().ratings.subset(ids).matrix
rng = np.random.default_rng(0)


def simulate(design, folder, noises):
    """One CSV per participant, as the page exports it."""
    files = []
    for k, noise in enumerate(noises):
        path = folder / f"responses_p{k + 1}.csv"
        with open(path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["participant", "trial", "sound_a", "sound_b", "rating"])
            for t, (a, b) in enumerate(design.trials, start=1):
                rating = np.clip(truth[a, b] + rng.normal(0, noise), 0, 1) * 100
                writer.writerow([f"p{k + 1}", t, ids[a], ids[b], int(round(rating))])
        files.append(path)
    return files


files = simulate(design, OUT, [0.08, 0.08, 0.35])

# %%
# Reading the answers back
# ------------------------
# ``counts`` says how many answers stand behind each pair; unrated pairs count 0. The
# consistency table shows who repeats themselves on the repeated pairs: the mean absolute
# difference between the two answers flags the careless participant; with only four repeated
# pairs, the rank correlation is too noisy to tell.
ratings = read_responses(files, experiment=experiment.folder)
print(ratings)
print(ratings.consistency.round(3))

fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
shown = np.where(ratings.counts > 0, ratings.matrix, np.nan)
im = axes[0].imshow(shown, cmap="viridis", vmin=0, vmax=1)
axes[0].set_title("mean rating (white: not rated)")
im2 = axes[1].imshow(ratings.counts, cmap="Greys")
axes[1].set_title("answers per pair")
for ax in axes:
    ax.set_xticks(range(len(ids)), ids, rotation=90, fontsize=7)
    ax.set_yticks(range(len(ids)), ids, fontsize=7)
fig.colorbar(im, ax=axes[0], shrink=0.8)
fig.colorbar(im2, ax=axes[1], shrink=0.8)
fig.tight_layout()
plt.show()

# %%
# Refitting with the new ratings
# ------------------------------
# :class:`~perceptual_timbre.PerceptualMetric` uses the rated pairs only (counts 0 are left
# out of its loss). We compare the untrained projection of the sound features with the metric
# fitted on half of the pairs, on the FULL published matrix, which includes the pairs nobody
# rated in this test.
study_ids = [f"MyTest/{i}" for i in ids]
params = dict(n_components=8, max_iter=60 if FAST else 200)
before = PerceptualMetric(**{**params, "max_iter": 0}).fit(notes.audio, study_ids,
                                                          {"MyTest": ratings})
after = PerceptualMetric(**params).fit(notes.audio, study_ids, {"MyTest": ratings})
for name, metric in [("features only", before), ("fitted on the test", after)]:
    D = metric.pairwise_dissimilarity(notes.audio)
    print(f"{name:>20}: per-anchor Spearman with all published ratings "
          f"{anchor_spearman(D, truth):.3f}")

# %%
# Refit with new ratings
# ----------------------
# A second session asks about a quarter of the pairs, none of them rated before: passing the
# first session's ratings as ``rated`` keeps its pairs out, and the coverage strategy counts
# them, so over both sessions every sound anchors as many pairs as every other (to within
# one). Each session is read against its own folder; the two are pooled pair by pair,
# weighting each mean by its number of answers, and the metric is refitted on all of them.
from perceptual_timbre.utils import Ratings  # noqa: E402

second = design_experiment(ids, n_pairs=0.25, rated=ratings, repeats=0, random_state=1)
print(second, "| new pairs already rated:",
      int((ratings.counts[second.pairs[:, 0], second.pairs[:, 1]] > 0).sum()))
session2 = write_experiment(OUT / "listening_test_2", notes.audio, notes.sr, second)
new = read_responses(simulate(second, session2.folder, [0.08, 0.08]),
                     experiment=session2.folder)
counts = ratings.counts + new.counts
pooled = np.where(counts > 0, (ratings.matrix * ratings.counts + new.matrix * new.counts)
                  / np.maximum(counts, 1), 0.0)
both = Ratings(pooled, ids, counts)
print("pairs per sound over both sessions:",
      sorted(set(((counts > 0).sum(axis=1)).tolist())))
refit = PerceptualMetric(**params).fit(notes.audio, study_ids, {"MyTest": both})
D = refit.pairwise_dissimilarity(notes.audio)
rated_share = (counts > 0).sum() / (len(ids) * (len(ids) - 1))
print(f"{'both sessions':>20}: per-anchor Spearman with all published ratings "
      f"{anchor_spearman(D, truth):.3f} ({rated_share:.0%} of the pairs rated)")
