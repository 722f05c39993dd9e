"""Frame descriptors on real rendered instrument notes: agreement with librosa (STFT frames and
NSGT frames via resynthesis), torch twin and gradients, and input validation."""

import librosa
import numpy as np
import pytest
import scipy.stats
import torch

from perceptual_timbre.descriptors import (
    DESCRIPTORS,
    audio_descriptors,
    compute_descriptors,
    global_nonlinearity,
    local_smoothness,
    loudness,
    spectral_kurtosis,
    spectral_rolloff,
    spectral_skewness,
    spectral_slope,
)
from perceptual_timbre.exceptions import ParameterError
from perceptual_timbre.transforms import NSGTTransformer, STFTTransformer

LIBROSA = {
    "spectral_centroid": librosa.feature.spectral_centroid,
    "spectral_bandwidth": librosa.feature.spectral_bandwidth,
    "spectral_rolloff": librosa.feature.spectral_rolloff,
    "spectral_flatness": lambda S, freq: librosa.feature.spectral_flatness(S=S),
}


@pytest.fixture(scope="module")
def notes(rendered_notes):
    # one note per instrument (C4, velocity 100)
    keep = (rendered_notes.pitch == 60) & (rendered_notes.velocity == 100)
    return rendered_notes.audio[keep].astype(float), rendered_notes.instrument[keep]


@pytest.fixture(scope="module")
def stft_frames(notes):
    audio, _ = notes
    stft = STFTTransformer().fit(audio)
    return stft, stft.transform_frames(audio)


@pytest.mark.parametrize("name", sorted(LIBROSA))
def test_stft_frames_match_librosa(stft_frames, name):
    stft, frames = stft_frames
    for S in frames:
        ours = DESCRIPTORS[name](S, stft.frequencies_)
        if name == "spectral_flatness":
            ref = librosa.feature.spectral_flatness(S=S.T)[0]
        else:
            ref = LIBROSA[name](S=S.T, freq=stft.frequencies_)[0]
        np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9)


def test_audio_descriptors_match_librosa_on_audio(notes):
    audio, _ = notes
    ours = audio_descriptors(audio[0], 22050, ["spectral_centroid", "spectral_rolloff"])
    np.testing.assert_allclose(ours[:, 0], librosa.feature.spectral_centroid(y=audio[0])[0],
                               rtol=1e-9)
    np.testing.assert_allclose(ours[:, 1], librosa.feature.spectral_rolloff(y=audio[0])[0],
                               rtol=1e-9)
    seg = audio_descriptors(audio[0], 22050, "spectral_centroid", n_points=5)
    assert seg.shape == (5, 1) and np.all(np.isfinite(seg))


# Relative tolerance within which an NSGT-frame descriptor agrees with librosa's descriptor on
# the STFT of the resynthesized audio (every rendered instrument note), per descriptor.
NSGT_TOLERANCE = {"spectral_centroid": 0.3, "spectral_bandwidth": 0.3, "spectral_rolloff": 0.35}


def test_nsgt_frames_agree_with_librosa_on_resynthesized_audio(notes):
    audio, instruments = notes
    nsgt = NSGTTransformer(random_state=0).fit(audio)
    F = nsgt.transform(audio)
    names = sorted(NSGT_TOLERANCE)
    ours = compute_descriptors(F, nsgt.frequencies_, names)
    resynth = nsgt.inverse_transform(F)
    ref = np.array([audio_descriptors(y, nsgt.sr, names, n_points=1)[0] for y in resynth])
    rel = np.abs(ours - ref) / ref
    for k, name in enumerate(names):
        assert np.all(rel[:, k] < NSGT_TOLERANCE[name]), (name, dict(zip(instruments, rel[:, k])))
        assert scipy.stats.pearsonr(ours[:, k], ref[:, k])[0] > 0.9, name
    # the non-linear axis matters: pretending the NSGT bins are linear breaks the centroid
    fake = np.linspace(nsgt.frequencies_[0], nsgt.frequencies_[-1], F.shape[1])
    wrong = compute_descriptors(F, fake, ["spectral_centroid"])[:, 0]
    k = names.index("spectral_centroid")
    assert np.median(np.abs(wrong - ref[:, k]) / ref[:, k]) > 2 * np.median(rel[:, k])


def test_torch_twin_matches_numpy_and_has_gradients(stft_frames):
    stft, frames = stft_frames
    S = frames[3][::4]
    expected = compute_descriptors(S, stft.frequencies_)
    St = torch.tensor(S, requires_grad=True)
    got = compute_descriptors(St, stft.frequencies_)
    assert isinstance(got, torch.Tensor)
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-9, atol=1e-12)
    soft = compute_descriptors(St, stft.frequencies_, differentiable=True)
    soft.sum().backward()
    assert torch.all(torch.isfinite(St.grad)) and St.grad.abs().sum() > 0
    # the continuous rolloff stays within one bin of librosa's
    k = list(DESCRIPTORS).index("spectral_rolloff")
    bin_width = stft.frequencies_[1] - stft.frequencies_[0]
    assert np.all(np.abs(soft[:, k].detach().numpy() - expected[:, k]) <= bin_width + 1e-9)


def test_moments_slope_and_loudness_against_reference_statistics(stft_frames):
    stft, frames = stft_frames
    f = stft.frequencies_
    frame = frames[5][len(frames[5]) // 2]
    # integer weights: the spectral moments are the moments of the repeated frequencies
    counts = np.round(frame / frame.max() * 200).astype(int)
    samples = np.repeat(f, counts)
    S = counts.astype(float)
    assert spectral_skewness(S, f) == pytest.approx(scipy.stats.skew(samples), rel=1e-9)
    assert spectral_kurtosis(S, f) == pytest.approx(
        scipy.stats.kurtosis(samples, fisher=False), rel=1e-9
    )
    slope = np.polyfit(f, frame / frame.sum(), 1)[0]
    assert spectral_slope(frame, f) == pytest.approx(slope, rel=1e-7)
    assert spectral_slope(frame, f) < 0  # instrument spectra fall with frequency
    # loudness: +6.02 dB per doubling; A-weighting attenuates a 50 Hz tone, not 1 kHz
    assert loudness(2 * frame, f) - loudness(frame, f) == pytest.approx(20 * np.log10(2))
    low, mid = np.zeros_like(f), np.zeros_like(f)
    low[np.argmin(np.abs(f - 50))] = mid[np.argmin(np.abs(f - 1000))] = 1.0
    assert loudness(mid, f) - loudness(low, f) > 25
    assert loudness(mid, f, weighting=None) == pytest.approx(loudness(low, f, weighting=None))


def test_single_frame_and_silent_frame():
    f = np.linspace(0, 11025, 65)
    S = np.zeros((2, 65))
    S[1, 10] = 1.0
    values = compute_descriptors(S, f, ["spectral_centroid", "spectral_bandwidth"])
    assert np.all(np.isfinite(values)) and values[0, 0] == 0
    assert values[1, 0] == pytest.approx(f[10])
    assert compute_descriptors(S[1], f, ["spectral_centroid"]).shape == (1,)
    assert spectral_rolloff(S[1], f) == f[10]


def test_smoothness_measures_on_known_fields():
    x, y = np.meshgrid(np.linspace(0, 1, 21), np.linspace(0, 1, 21), indexing="ij")
    assert local_smoothness(x + y) == pytest.approx(1 / 40)
    noise = np.random.default_rng(0).uniform(size=(21, 21))
    assert local_smoothness(noise) == pytest.approx(1 / 3, abs=0.05)
    assert global_nonlinearity(x + y) == pytest.approx(0, abs=1e-12)
    assert global_nonlinearity(np.sin(6 * x) * np.cos(6 * y)) > 0.9
    with pytest.raises(ParameterError, match="2-D or 3-D"):
        local_smoothness(np.ones(5))


@pytest.mark.parametrize(
    "S, freqs, match",
    [
        (-np.ones(4), [1, 2, 3, 4], "non-negative"),
        (np.ones(4), [1, 2, 3], "has 4 bins but frequencies has 3"),
        (np.ones(4), [1, 3, 2, 4], "strictly increasing"),
        (np.array([1, np.nan, 1, 1.0]), [1, 2, 3, 4], "NaN"),
        (np.ones((2, 2, 4)), [1, 2, 3, 4], "one frame"),
        (np.ones(4), [[1, 2, 3, 4]], "1-D array"),
    ],
)
def test_bad_frames_raise(S, freqs, match):
    with pytest.raises(ParameterError, match=match):
        compute_descriptors(S, freqs)


def test_unknown_descriptor_names_raise():
    with pytest.raises(ParameterError, match="unknown descriptor 'brightness'"):
        compute_descriptors(np.ones(4), [1, 2, 3, 4], ["spectral_centroid", "brightness"])
    with pytest.raises(ParameterError, match="repeated"):
        compute_descriptors(np.ones(4), [1, 2, 3, 4], ["loudness", "loudness"])
    with pytest.raises(ParameterError, match="roll_percent"):
        spectral_rolloff(np.ones(4), [1, 2, 3, 4], roll_percent=1.5)
