"""Shared fixtures: the real shared data home, rendered SoundFont notes, a committed fitted
space, seeding, torch threads, pyplot. Quality seeds and thresholds: ``tests/_quality.py``."""

import os
from pathlib import Path

import fitted_space as _fitted_space
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """Pin torch's intra-op threads for the whole run (PERCEPTUAL_TIMBRE_TEST_THREADS, else
    OMP_NUM_THREADS, else 2): a fit's float summation order depends on it."""
    import torch

    threads = os.environ.get("PERCEPTUAL_TIMBRE_TEST_THREADS") or os.environ.get(
        "OMP_NUM_THREADS") or "2"
    torch.set_num_threads(int(threads))


#: module fixtures that train (or extract features) for more than ~10 s: their tests are
#: ``slow``, so that ``make test-fast`` stays a quick development loop
SLOW_FIXTURES = {"fold", "perceptual_results", "teacher_space", "teacher_synth", "any_space",
                 "plain_and_regularized", "instruments", "notes_features", "lakatos"}


def pytest_collection_modifyitems(config, items):
    """Tests of a slow fixture are marked ``slow``; tests marked ``gpu`` skip, with the
    reason, where torch sees no CUDA device."""
    import torch

    skip = pytest.mark.skip(reason="needs a CUDA device (torch.cuda.is_available() is False)")
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip)


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

    return render_instrument_notes(**_fitted_space.NOTES)


@pytest.fixture(scope="session")
def fitted_space(rendered_notes):
    """The committed fitted space of ``tests/fitted_space.py`` (NSGT -> LogMagnitude ->
    PerceptualVAE, latent 4, fitted on ``rendered_notes`` with the 12-instrument ratings).

    Tests of code downstream of training use it, so that no training variance enters them.
    Fails (with the command that regenerates it) when the VAE's parameters have changed.
    """
    return _fitted_space.load(rendered_notes.audio)


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
