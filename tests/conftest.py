"""Shared fixtures: the real shared data home, rendered SoundFont notes, seeding, pyplot."""

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def _find_data_home():
    env = os.environ.get("PERCEPTUAL_TIMBRE_DATA")
    for candidate in (env, REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "timbremetrics").is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def data_home():
    """The shared research data (13 timbre studies); skips when it is absent."""
    home = _find_data_home()
    if home is None:
        pytest.skip("shared timbre data not found (set PERCEPTUAL_TIMBRE_DATA)")
    return home


@pytest.fixture(autouse=True)
def _seed():
    """Tests must not depend on global RNG state; seed it so failures reproduce."""
    np.random.seed(0)  # noqa: NPY002 - the legacy global state is what we pin
    try:
        import torch

        torch.manual_seed(0)
    except ImportError:  # pragma: no cover
        pass


@pytest.fixture
def pyplot():
    """matplotlib.pyplot on the Agg backend, closing every figure afterwards."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


@pytest.fixture(scope="session")
def rendered_notes():
    """The 12 default instruments rendered from pretty_midi's General MIDI SoundFont.

    A Bunch (see ``perceptual_timbre.datasets.render_instrument_notes``): ``audio`` float32
    (48, 22050) = 12 instruments x pitches (60, 67) x velocities (64, 100), 1.0 s at
    22050 Hz, plus ``instrument``, ``pitch``, ``velocity``, ``program``, ``sr``. Shared by
    the whole session: do not modify it in place. Skips when tinysoundfont is missing.
    """
    pytest.importorskip("tinysoundfont")
    from perceptual_timbre.datasets import render_instrument_notes

    return render_instrument_notes(pitches=(60, 67), velocities=(64, 100), duration=1.0, sr=22050)


@pytest.fixture(scope="session")
def load_study(data_home):
    """``load_study(name, sr=22050)`` -> (sounds, names, symmetric matrix) of a shared study."""
    import functools

    from perceptual_timbre.datasets import load_timbre_study

    @functools.lru_cache(maxsize=None)
    def load(name, sr=22050):
        study = load_timbre_study(name, data_home=data_home, sr=sr)
        return study.audio, list(study.names), study.dissimilarity

    return load
