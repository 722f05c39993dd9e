"""joblib parallelism over sounds: the same rows and notes under the loky and threading backends."""

import numpy as np
import pytest
from joblib import parallel_config

from perceptual_timbre.descriptors import SoundFeatures, _features
from perceptual_timbre.exceptions import ParameterError

SR = 22050
# loky starts fresh worker processes (several seconds): slow, as make test-fast skips it
BACKENDS = [pytest.param("loky", marks=pytest.mark.slow), "threading"]


@pytest.fixture(scope="module")
def tones():
    t = np.arange(SR // 2) / SR
    env = np.minimum(t / 0.02, 1) * np.exp(-3 * t)
    return [env * sum(np.sin(2 * np.pi * k * f0 * t) / k ** p for k in range(1, 8))
            for f0, p in [(220, 1), (330, 2), (440, 0.5), (262, 1.5)]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_sound_features_under_a_joblib_backend(tones, backend):
    est = SoundFeatures(blocks="legacy", n_mels=32, cache=False)
    want = est.fit(tones).transform(tones)
    with parallel_config(backend=backend, n_jobs=2):
        got = est.transform(tones)  # n_jobs=None: the context's workers
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    with parallel_config(backend=backend):
        got = est.set_params(n_jobs=2).transform(tones)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    assert len(_features._CACHE) == 0 or not est.cache


@pytest.mark.parametrize("backend", BACKENDS)
def test_rendering_under_a_joblib_backend(backend):
    pytest.importorskip("tinysoundfont")
    from perceptual_timbre.datasets import render_instrument_notes

    kwargs = dict(instruments=["Flute", "Cello", "Trumpet"], pitches=[60], velocities=[100],
                  duration=0.25)
    want = render_instrument_notes(**kwargs)
    with parallel_config(backend=backend):
        got = render_instrument_notes(**kwargs, n_jobs=2)
    np.testing.assert_array_equal(got.audio, want.audio)
    assert got.instrument.tolist() == ["Flute", "Cello", "Trumpet"]


@pytest.mark.parametrize("n_jobs", [0, 1.5, "2", True])
def test_rendering_bad_n_jobs(n_jobs):
    pytest.importorskip("tinysoundfont")
    from perceptual_timbre.datasets import render_instrument_notes

    with pytest.raises(ParameterError, match="n_jobs"):
        render_instrument_notes(["Flute"], pitches=[60], velocities=[100], n_jobs=n_jobs)


def test_rendering_errors_come_back_from_workers():
    pytest.importorskip("tinysoundfont")
    from perceptual_timbre.datasets import render_instrument_notes

    # TimGM6mb's alto saxophone has no sample at E4: the worker's error reaches the caller
    with parallel_config(backend="loky"):
        with pytest.raises(ParameterError, match="rendered silence for program 65, pitch 64"):
            render_instrument_notes({"Flute": 73, "Alto Sax": 65}, pitches=[64],
                                    velocities=[100], duration=0.25, n_jobs=2)
