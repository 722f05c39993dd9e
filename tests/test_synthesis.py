"""Latent paths, descriptor maps and descriptor-guided synthesis through a fitted
NSGT -> LogMagnitude -> PerceptualVAE pipeline trained on rendered General MIDI notes.

The space is the committed fixture of ``tests/fitted_space.py`` (no training here, so no
training variance); the synthesizers' seeds follow ``PERCEPTUAL_TIMBRE_TEST_SEED``. Thresholds:
see ``benchmarks/results/quality_margins.md`` for their spread over seeds.
"""

import numpy as np
import pytest
from _quality import check, seed
from fitted_space import make_pipeline
from scipy.spatial.distance import pdist
from scipy.stats import pearsonr
from sklearn.exceptions import NotFittedError

import perceptual_timbre
from perceptual_timbre import embed_sounds, make_timbre_space
from perceptual_timbre.descriptors import (
    audio_descriptors,
    compute_descriptors,
    descriptor_map,
    global_nonlinearity,
    local_smoothness,
)
from perceptual_timbre.exceptions import ParameterError
from perceptual_timbre.synthesis import (
    DescriptorPathSynthesizer,
    interpolate_sounds,
    latent_path,
    render_path,
    sound_centroids,
    target_shape,
)

N_STEPS = 24


@pytest.fixture(scope="module")
def space(fitted_space):
    return fitted_space


@pytest.fixture(scope="module")
def synth(space, rendered_notes):
    return DescriptorPathSynthesizer(space=space, n_steps=N_STEPS, random_state=seed()).fit(
        rendered_notes.audio, rendered_notes.instrument
    )


@pytest.fixture(scope="module")
def inter_instrument(synth):
    return np.median(pdist(np.array(list(synth.centroids_.values()))))


N_SEGMENTS = 8


def _audio_vs_target(out, k=0):
    """Pearson r of the descriptor re-measured on the synthesized audio vs the target.

    Both are averaged over 8 equal consecutive segments (3 path steps, 0.25 s of a 2 s
    sound): Griffin-Lim's phase noise makes single STFT frames jitter by tens of Hz.
    """
    measured = audio_descriptors(out.audio, out.sr, out.descriptors, n_points=N_SEGMENTS)
    target = [seg.mean() for seg in np.array_split(out.target[:, k], N_SEGMENTS)]
    return pearsonr(measured[:, k], target)[0], measured[:, k]


# ------------------------------------------------------------------------------- paths
def test_latent_path_linear_and_slerp():
    a, b = np.array([2.0, 0.0, 1.0]), np.array([0.0, 3.0, -1.0])
    lin = latent_path(a, b, n_steps=5)
    np.testing.assert_allclose(lin[[0, -1]], [a, b])
    np.testing.assert_allclose(np.diff(lin, axis=0), np.tile((b - a) / 4, (4, 1)))
    sl = latent_path(a, b, n_steps=5, method="slerp")
    np.testing.assert_allclose(sl[[0, -1]], [a, b])
    # slerp keeps away from the prior centre that the straight line cuts towards
    assert np.linalg.norm(sl[2]) > np.linalg.norm(lin[2])
    with pytest.raises(ParameterError, match="method"):
        latent_path(a, b, method="cubic")
    with pytest.raises(ParameterError, match="n_steps"):
        latent_path(a, b, n_steps=1)


@pytest.mark.quality
def test_interpolate_between_instruments_is_continuous(space, rendered_notes):
    centroids = sound_centroids(space, rendered_notes.audio, rendered_notes.instrument)
    out = interpolate_sounds(space, "Flute", "Trumpet", n_steps=16, duration=1.5,
                             centroids=centroids)
    assert out.audio.shape == (round(1.5 * out.sr),) and np.all(np.isfinite(out.audio))
    np.testing.assert_allclose(out.latent_path[[0, -1]],
                               [centroids["Flute"], centroids["Trumpet"]])
    # the decoded centroid moves from the flute's towards the trumpet's, and the audio
    # follows without jumps (one phase reconstruction over the whole path)
    frame_c = compute_descriptors(out.frames, space[0].frequencies_, "spectral_centroid")[:, 0]
    audio_c = audio_descriptors(out.audio, out.sr, "spectral_centroid", n_points=16)[:, 0]
    check(pearsonr(frame_c, audio_c)[0], ">", 0.8, "Pearson(frame centroid, audio centroid)")
    rms = audio_descriptors(out.audio, out.sr, "loudness", n_points=16)[:, 0]
    check(np.max(np.abs(np.diff(rms))), "<", 6.0, "largest loudness step (dB)")
    # a sound works as an end point too
    z = interpolate_sounds(space, rendered_notes.audio[0].astype(float), centroids["Cello"],
                           n_steps=4).latent_path[0]
    # encoded as every tool encodes a sound (the mean of its frames' latents)
    np.testing.assert_allclose(z, embed_sounds(space, rendered_notes.audio[:1])[0], atol=1e-9)


def test_render_path_validates(space):
    with pytest.raises(ParameterError, match="Z_path must have shape"):
        render_path(space, np.zeros((4, 3)))
    with pytest.raises(NotFittedError):
        render_path(make_pipeline(), np.zeros((4, 4)))


# ---------------------------------------------------------------------- descriptor maps
@pytest.mark.quality
def test_descriptor_map_smooth_locally_nonlinear_globally(space, synth, pyplot):
    dmap = descriptor_map(space, synth.latents_, ["spectral_centroid", "loudness"],
                          resolution=15, labels=synth.labels_)
    assert dmap.values.shape == (15, 15, 2)
    smooth = local_smoothness(dmap)
    shuffled = np.random.default_rng(0).permutation(dmap["spectral_centroid"].ravel())
    check(smooth["spectral_centroid"] / local_smoothness(shuffled.reshape(15, 15)), "<", 0.25,
          "local roughness of the centroid map / of a shuffled map")
    assert 0 < global_nonlinearity(dmap)["spectral_centroid"] < 1
    # the plane passes through the training latents' mean along their principal axes
    np.testing.assert_allclose(dmap.latent(np.zeros(2)), synth.latents_.mean(axis=0))
    from perceptual_timbre.plotting import plot_descriptor_map, plot_timbre_space

    assert plot_descriptor_map(dmap).get_title() == "spectral_centroid"
    assert len(plot_timbre_space(synth).collections) == 12
    dmap3 = descriptor_map(space, synth.latents_, axes=[0, 1, 3], resolution=5)
    assert dmap3.values.shape == (5, 5, 5, 1)


# ------------------------------------------------------------------------ synthesizer
def test_top_level_lazy_name():
    assert perceptual_timbre.DescriptorPathSynthesizer is DescriptorPathSynthesizer


@pytest.mark.quality
@pytest.mark.parametrize("shape", ["increase", "exp_decrease"])
def test_gradient_centroid_follows_target_on_audio_and_keeps_timbre(synth, inter_instrument,
                                                                    shape):
    out = synth.synthesize("Flute", shape, duration=2.0)
    assert out.latent_path.shape == (N_STEPS, 4) and out.target.shape == (N_STEPS, 1)
    r, measured = _audio_vs_target(out)
    check(r, ">", 0.9, "Pearson(audio centroid, target)")
    check(abs(out.achieved[0, 0] / out.target[0, 0] - 1), "<", 0.05, "start off target (rel.)")
    sign = 1 if "increase" in shape else -1
    check(sign * (measured[-1] - measured[0]) / measured[0], ">", 0.1,
          "relative centroid change on the audio, in the asked direction")
    # timbre kept: the path stays near the flute, far from the other instruments
    dist = np.linalg.norm(out.latent_path - out.origin, axis=1)
    check(dist.mean() / inter_instrument, "<", 0.5, "path distance from origin / inter-instrument")


@pytest.mark.quality
def test_greedy_follows_target(synth):
    greedy = synth.set_params(method="greedy")
    try:
        out = greedy.synthesize("Trumpet", "decrease", duration=1.5)
    finally:
        synth.set_params(method="gradient")
    check(_audio_vs_target(out)[0], ">", 0.8, "greedy: Pearson(audio centroid, target)")
    check(out.correlation[0], ">", 0.8, "greedy: Pearson(decoded centroid, target)")
    # every step moves to a grid point (or stays)
    assert all(np.any(np.all(np.isclose(z, synth.grid_), axis=1)) for z in out.latent_path[1:])


@pytest.mark.quality
def test_two_descriptors_and_sound_origin(space, rendered_notes):
    names = ["spectral_centroid", "loudness"]
    synth = DescriptorPathSynthesizer(space=space, descriptors=names, n_steps=12,
                                      random_state=seed(), max_iter=100, n_grid=500)
    synth.fit(rendered_notes.audio)
    # centroid and loudness are correlated across the space (the sign is the fixture's, read
    # from the grid rather than assumed): opposite trends of a correlated pair are not both
    # reachable near the origin, so ask for the compatible pair. The centroid goes down: this
    # origin note is bright.
    sign = np.sign(np.corrcoef(synth.grid_descriptors_.T)[0, 1])
    shapes = ["decrease", "decrease" if sign > 0 else "increase"]
    out = synth.synthesize(rendered_notes.audio[10].astype(float), shapes, duration=1.0)
    assert out.target.shape == out.achieved.shape == (12, 2)
    check(out.correlation[0], ">", 0.9, "Pearson(decoded centroid, target)")
    check(out.correlation[1], ">", 0.9, "Pearson(decoded loudness, target)")
    assert out.achieved[-1, 0] < out.achieved[0, 0]
    assert sign * (out.achieved[-1, 1] - out.achieved[0, 1]) < 0


def test_deterministic_with_random_state(space, rendered_notes):
    kw = dict(space=space, n_steps=8, n_grid=300, max_iter=30, random_state=3)
    a = DescriptorPathSynthesizer(**kw).fit(rendered_notes.audio)
    b = DescriptorPathSynthesizer(**kw).fit(rendered_notes.audio)
    np.testing.assert_array_equal(a.grid_, b.grid_)
    origin = a.latents_[0]
    np.testing.assert_allclose(a.synthesize(origin, "increase").latent_path,
                               b.synthesize(origin, "increase").latent_path)


def test_array_target_out_of_range_warns_and_clips(synth):
    lo, hi = synth.range_[:, 0]
    target = np.linspace(lo - 500, hi + 500, N_STEPS)
    with pytest.warns(UserWarning, match="outside the reachable range"):
        out = synth.synthesize(synth.centroids_["Oboe"], target, duration=0.5)
    assert out.target.min() == pytest.approx(lo) and out.target.max() == pytest.approx(hi)


@pytest.mark.parametrize(
    "target, match",
    [
        (np.linspace(500, 900, N_STEPS - 1), r"target array must have shape \(24,\)"),
        (np.ones((N_STEPS, 2)), r"target array must have shape"),
        (np.r_[np.nan, np.ones(N_STEPS - 1)], "NaN"),
        ("sideways", "unknown target shape 'sideways'"),
        (["increase", "decrease"], "one target shape per descriptor"),
    ],
)
def test_bad_targets_raise(synth, target, match):
    with pytest.raises(ParameterError, match=match):
        synth.synthesize("Flute", target)


def test_bad_origin_and_descriptor_and_space(space, synth, rendered_notes):
    with pytest.raises(ParameterError, match="'Kazoo' is not one of"):
        synth.synthesize("Kazoo", "increase")
    with pytest.raises(ParameterError, match="unknown descriptor 'brightness'"):
        DescriptorPathSynthesizer(space=space, descriptors="brightness").fit(
            rendered_notes.audio[:4])
    with pytest.raises(NotFittedError):
        DescriptorPathSynthesizer(space=make_pipeline()).fit(rendered_notes.audio[:4])
    with pytest.raises(NotFittedError):
        DescriptorPathSynthesizer(space=space).synthesize("Flute", "increase")
    with pytest.raises(ParameterError, match="space must be a fitted TimbreSpace, a fitted Pipe"):
        DescriptorPathSynthesizer(space="nsgt").fit(rendered_notes.audio[:4])
    from perceptual_timbre.baselines import MFCCEmbedding

    mfcc = MFCCEmbedding().fit(rendered_notes.audio[:4])
    with pytest.raises(ParameterError, match="has no decoder to synthesize from"):
        DescriptorPathSynthesizer(space=mfcc).fit(rendered_notes.audio[:4])
    with pytest.raises(ParameterError, match="y must have one label per sound"):
        DescriptorPathSynthesizer(space=space).fit(rendered_notes.audio[:4], ["a", "b"])


def test_target_shapes():
    up, down = target_shape("exp_increase", 11), target_shape("log_decrease", 11)
    assert up[0] == 0 and up[-1] == pytest.approx(1) and np.all(np.diff(up) > 0)
    assert down[-1] == pytest.approx(-1) and np.all(np.diff(down) < 0)
    assert up[5] < 0.5 and -down[5] > 0.5  # convex up, concave down
    tent = target_shape("up_down", 11)
    assert tent[5] == pytest.approx(1) and tent[0] == tent[-1] == 0


def test_frozen_space_survives_clone(space, rendered_notes):
    from sklearn.base import clone
    from sklearn.frozen import FrozenEstimator

    synth = clone(DescriptorPathSynthesizer(space=FrozenEstimator(space), n_steps=6, n_grid=200,
                                            max_iter=20, random_state=0))
    synth.fit(rendered_notes.audio[:12], rendered_notes.instrument[:12])
    out = synth.synthesize(synth.latents_[0], "decrease", duration=0.5)
    assert out.latent_path.shape == (6, 4) and out.audio.shape == (round(0.5 * out.sr),)
    # a bare fitted Pipeline is unfitted by clone: the error says so
    with pytest.raises(NotFittedError, match="not fitted"):
        clone(DescriptorPathSynthesizer(space=space)).fit(rendered_notes.audio[:4])


# ------------------------------------------------------- the generalizing (teacher) space
@pytest.fixture(scope="module")
def teacher_space(rendered_notes):
    """The space a new user should take: the pretrained metric as teacher, no ratings."""
    return make_timbre_space(teacher="pretrained", random_state=seed()).fit(rendered_notes.audio)


@pytest.fixture(scope="module")
def teacher_synth(teacher_space, rendered_notes):
    return DescriptorPathSynthesizer(space=teacher_space, n_steps=N_STEPS,
                                     random_state=seed()).fit(rendered_notes.audio,
                                                              rendered_notes.instrument)


@pytest.mark.quality
@pytest.mark.parametrize("shape", ["increase", "decrease"])
def test_teacher_space_synthesis_follows_target_on_audio(teacher_synth, shape):
    out = teacher_synth.synthesize("Flute", shape, duration=2.0)
    # 0.994-0.999 over seeds 0-4 with max_iter=500 (quality_margins.md); 0.84 at one seed
    # with the former 200 iterations: 0.85 still fails a path that stops short
    check(_audio_vs_target(out)[0], ">", 0.85, "teacher space: Pearson(audio centroid, target)")


@pytest.mark.quality
def test_teacher_space_renders_a_path_between_study_sounds(teacher_space, load_study):
    """A path between the two most distant stimuli of a study the space never saw: the
    re-analysed start and end of the audio (median log frame of their first and last
    0.25 s) lie nearer the decoded spectrum of their own end point than of the other."""
    from scipy.spatial.distance import cdist

    sounds, _, _ = load_study("McAdams1995")
    P = embed_sounds(teacher_space, sounds)  # perceptual coordinates: the distances
    Z = embed_sounds(teacher_space, sounds, coordinates="all")  # the points to decode
    np.testing.assert_allclose(Z[:, :P.shape[1]], P)
    i, j = np.unravel_index(np.argmax(cdist(P, P)), (len(P), len(P)))
    with pytest.raises(ParameterError, match="coordinates='all'"):
        render_path(teacher_space, latent_path(P[i], P[j], n_steps=4))
    audio = render_path(teacher_space, latent_path(Z[i], Z[j], n_steps=16), duration=2.0)
    seg = int(0.25 * teacher_space.sr_)
    frames = teacher_space.transformer_.transform_frames([audio[:seg], audio[-seg:]])
    ends = np.vstack([np.median(teacher_space.log_.transform(f), axis=0) for f in frames])
    d = cdist(ends, teacher_space.log_.transform(teacher_space.decode_frames(Z[[i, j]])))
    check(d[0, 0] / d[0, 1], "<", 1, "start of the path: log-spectral distance to a / to b")
    check(d[1, 1] / d[1, 0], "<", 1, "end of the path: log-spectral distance to b / to a")


@pytest.fixture(scope="module", params=["paper pipeline", "teacher", "teacher + ratings",
                                        "joblib-loaded teacher"])
def any_space(request, space, teacher_space, rendered_notes, tmp_path_factory):
    import joblib

    from perceptual_timbre.datasets import load_instrument_ratings

    if request.param == "paper pipeline":
        return space
    if request.param == "teacher":
        return teacher_space
    if request.param == "teacher + ratings":
        return make_timbre_space(teacher="pretrained", max_epochs=10, random_state=0).fit(
            rendered_notes.audio, rendered_notes.instrument,
            dissimilarity=load_instrument_ratings().ratings)
    path = tmp_path_factory.mktemp("space") / "space.joblib"
    joblib.dump(teacher_space, path)
    return joblib.load(path)


def test_every_tool_accepts_every_space(any_space, rendered_notes):
    audio, labels = rendered_notes.audio[::4], rendered_notes.instrument[::4]
    Z = embed_sounds(any_space, audio, coordinates="all")
    assert Z.shape[0] == len(audio) and np.all(np.isfinite(Z))
    perceptual = embed_sounds(any_space, audio)
    np.testing.assert_allclose(perceptual, Z[:, :perceptual.shape[1]])
    centroids = sound_centroids(any_space, audio, labels)
    np.testing.assert_allclose(centroids["Flute"], Z[labels == "Flute"].mean(axis=0))
    out = interpolate_sounds(any_space, "Flute", audio[0], n_steps=4, duration=0.5,
                             centroids=centroids)
    assert out.audio.shape == (round(0.5 * out.sr),) and np.abs(out.audio).max() > 0
    dmap = descriptor_map(any_space, Z, "spectral_centroid", resolution=4)
    assert dmap.values.shape == (4, 4, 1) and np.all(np.isfinite(dmap.values))
    synth = DescriptorPathSynthesizer(space=any_space, n_steps=6, n_grid=100, max_iter=10,
                                      random_state=0).fit(audio, labels)
    assert synth.synthesize("Oboe", "increase", duration=0.5).latent_path.shape == (
        6, Z.shape[1])


def test_posterior_spread_of_sounds(space, rendered_notes, load_study):
    """embed_sounds(return_std=True): the same points, plus the posterior spread, which is
    wider for sounds unlike the training notes (1.5x the median on McAdams1995 for the
    committed space)."""
    Z, S = embed_sounds(space, rendered_notes.audio, return_std=True)
    np.testing.assert_allclose(Z, embed_sounds(space, rendered_notes.audio))
    assert S.shape == Z.shape and np.all(S > 0)
    _, S_far = embed_sounds(space, load_study("McAdams1995")[0], return_std=True)
    assert np.median(S_far.mean(axis=1)) > 1.2 * np.median(S.mean(axis=1))
    from perceptual_timbre.baselines import MFCCEmbedding

    with pytest.raises(ParameterError, match="return_std needs a VAE space"):
        embed_sounds(MFCCEmbedding().fit(rendered_notes.audio[:4]), rendered_notes.audio[:4],
                     return_std=True)


def test_teacher_space_posterior_spread(teacher_space, rendered_notes):
    Z, S = embed_sounds(teacher_space, rendered_notes.audio[:6], return_std=True,
                        coordinates="all")
    np.testing.assert_allclose(Z, teacher_space.transform(rendered_notes.audio[:6]))
    P, S_p = embed_sounds(teacher_space, rendered_notes.audio[:6], return_std=True)
    np.testing.assert_allclose(P, Z[:, :32])
    np.testing.assert_allclose(S_p, S[:, :32])
    assert S.shape == Z.shape and np.all(S > 0)
