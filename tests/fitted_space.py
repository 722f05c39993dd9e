"""A small fitted timbre space, committed as a test fixture (``tests/data/fitted_space.joblib``).

Tests of code downstream of training (synthesis, descriptor maps, latent paths, plotting)
load this space instead of training one, so training variance across machines (another CPU,
another thread count) does not enter them. Only the trained part, the ``PerceptualVAE``, is
stored; the spectral and log steps are refitted from the recipe (cheap and deterministic), so
new transformer parameters do not invalidate the file. Regenerate it after a change to
``PerceptualVAE``'s parameters (the ``fitted_space`` fixture says when)::

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


def load(audio):
    """The recipe's front steps fitted on ``audio`` (the NOTES), with the committed VAE."""
    import joblib

    space = make_pipeline()
    recipe = space[-1].get_params()
    vae = joblib.load(PATH)
    try:
        stale = sorted(k for k, v in recipe.items() if repr(vae.get_params()[k]) != repr(v))
    except (AttributeError, KeyError) as exc:  # a parameter added since the file was written
        stale = [str(exc)]
    if stale:
        raise AssertionError(f"{PATH.name} is stale ({stale[:3]}): regenerate it with "
                             f"`.venv/bin/python tests/fitted_space.py`")
    space[:-1].fit(audio)
    space.steps[-1] = (space.steps[-1][0], vae)
    return space


def main():
    import joblib

    from perceptual_timbre.datasets import load_instrument_ratings, render_instrument_notes

    notes = render_instrument_notes(**NOTES)
    space = make_pipeline().fit(notes.audio, notes.instrument,
                                vae__dissimilarity=load_instrument_ratings().ratings)
    PATH.parent.mkdir(exist_ok=True)
    joblib.dump(space[-1], PATH, compress=3)
    print(f"wrote {PATH} ({PATH.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
