"""A small fitted timbre space, committed as a test fixture (``tests/data/fitted_space.joblib``).

Tests of code downstream of training (synthesis, descriptor maps, latent paths, plotting)
load this space instead of training one, so training variance across machines (another CPU,
another thread count) does not enter them. Regenerate it after a change to the estimators::

    .venv/bin/python tests/fitted_space.py

The recipe: ``NSGTTransformer -> LogMagnitude -> PerceptualVAE(latent_dim=4, hidden (64,),
1000 epochs)`` fitted on the ``rendered_notes`` fixture's notes (12 General MIDI instruments x
pitches 60, 67 x velocities 64, 100) with the paper's 12-instrument ratings.
"""

from pathlib import Path

PATH = Path(__file__).resolve().parent / "data" / "fitted_space.joblib"
#: the notes of the ``rendered_notes`` fixture, which the space is fitted on
NOTES = dict(pitches=(60, 67), velocities=(64, 100), duration=1.0, sr=22050)


def make_pipeline():
    """The unfitted recipe (also used to check that the committed file is current)."""
    from sklearn.pipeline import Pipeline

    from perceptual_timbre.model import PerceptualVAE
    from perceptual_timbre.transforms import LogMagnitude, NSGTTransformer

    return Pipeline([
        ("nsgt", NSGTTransformer(random_state=0)),
        ("log", LogMagnitude()),
        ("vae", PerceptualVAE(latent_dim=4, hidden_layer_sizes=(64,), max_epochs=1000,
                              random_state=0)),
    ])


def main():
    import joblib

    from perceptual_timbre.datasets import load_instrument_ratings, render_instrument_notes

    notes = render_instrument_notes(**NOTES)
    space = make_pipeline().fit(notes.audio, notes.instrument,
                                vae__dissimilarity=load_instrument_ratings().ratings)
    PATH.parent.mkdir(exist_ok=True)
    joblib.dump(space, PATH, compress=3)
    print(f"wrote {PATH} ({PATH.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
