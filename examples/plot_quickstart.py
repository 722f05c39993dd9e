"""
A timbre space in ten lines
===========================

Render real notes of the twelve rated orchestral instruments from a General MIDI SoundFont,
load their combined dissimilarity ratings, fit the perceptually regularized timbre space
(``NSGT -> LogMagnitude -> PerceptualVAE``) and plot it (the first two principal
components of the latent points, instruments annotated at their centroids).
"""

# sphinx_gallery_start_ignore
import os

FAST = os.environ.get("PERCEPTUAL_TIMBRE_FAST") == "1"
# sphinx_gallery_end_ignore
# %%
from sklearn.pipeline import make_pipeline

from perceptual_timbre import PerceptualVAE
from perceptual_timbre.datasets import load_instrument_ratings, render_instrument_notes
from perceptual_timbre.plotting import plot_timbre_space
from perceptual_timbre.transforms import LogMagnitude, NSGTTransformer

notes = render_instrument_notes()        # 12 instruments x 7 pitches x 2 dynamics
ratings = load_instrument_ratings().ratings
space = make_pipeline(NSGTTransformer(), LogMagnitude(), PerceptualVAE(random_state=0))
# sphinx_gallery_start_ignore
if FAST:  # the test suite's quick run
    notes = render_instrument_notes(pitches=(60, 67), velocities=(100,))
    space.set_params(perceptualvae__max_epochs=10, perceptualvae__hidden_layer_sizes=(64,))
# sphinx_gallery_end_ignore
space.fit(notes.audio, notes.instrument, perceptualvae__dissimilarity=ratings)

plot_timbre_space(space.transform(notes.audio), notes.instrument)

# %%
# ``space`` is an ordinary scikit-learn pipeline: ``transform`` maps sounds to latent points
# (the posterior means), ``inverse_transform`` maps latent points back to audio, with the
# phase rebuilt by fast Griffin-Lim.
audio = space.inverse_transform(space.transform(notes.audio[:1]))
print(audio.shape, f"{audio.shape[1] / notes.sr:.1f} s")
