"""Pitch mode of PerceptualVAE (``pitch_mode="shift"``): a timbre space whose last coordinate
is the pitch, on real rendered notes (the bundled TimGM6mb SoundFont) analysed by the
constant-Q NSGT (48 bins per octave, 4 per semitone).

Quality thresholds (marked ``quality``) keep a margin below their spread over seeds:
``benchmarks/results/quality_margins.md``; the full measurement is
``benchmarks/bench_pitch.py``.
"""

import warnings

import joblib
import numpy as np
import pytest
import sklearn
import torch
from _quality import check, seed
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline

from perceptual_timbre import DescriptorPathSynthesizer, TimbreSpace
from perceptual_timbre._space import as_space
from perceptual_timbre.datasets import render_instrument_notes
from perceptual_timbre.descriptors import descriptor_map
from perceptual_timbre.exceptions import ParameterError
from perceptual_timbre.model import PerceptualVAE, estimate_pitch
from perceptual_timbre.model._losses import l2_regularizer, pull_ratio
from perceptual_timbre.model._modules import VAEModule, shift_bins
from perceptual_timbre.model._targets import PairTargets
from perceptual_timbre.model._training import Objective
from perceptual_timbre.transforms import LogMagnitude, NSGTTransformer, STFTTransformer

INSTRUMENTS = ["Flute", "Trumpet", "Cello"]
PITCHES = tuple(range(55, 80, 2))  # 13 pitches, G3-G5
HELD_OUT = (61, 69, 73)  # inside the trained range
PITCHED = dict(pitch_mode="shift", bins_per_octave=48, latent_dim=8,
               hidden_layer_sizes=(128, 128), beta=0.1, warmup=10, max_epochs=150,
               lr_schedule="cosine")


@pytest.fixture(scope="module")
def notes():
    """Log constant-Q frames (one stable frame per note) of 3 instruments x 13 pitches."""
    notes = render_instrument_notes(INSTRUMENTS, pitches=PITCHES, velocities=(100,))
    nsgt = NSGTTransformer(random_state=0, n_iter=8).fit(notes.audio)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        S = nsgt.transform(notes.audio)
    test = np.isin(notes.pitch, HELD_OUT)
    log = LogMagnitude().fit(S[~test])
    return {"audio": notes.audio, "L": log.transform(S), "pitch": notes.pitch.astype(float),
            "y": notes.instrument, "test": test, "nsgt": nsgt, "log": log}


@pytest.fixture(scope="module")
def fitted(notes):
    """Pitch-mode VAEs on the training pitches: without and with the pull term."""
    tr = ~notes["test"]
    fit = dict(y=notes["y"][tr], pitch=notes["pitch"][tr])
    shift = PerceptualVAE(random_state=seed(), **PITCHED).fit(notes["L"][tr], **fit)
    pulled = PerceptualVAE(random_state=seed(), pull=0.05, **PITCHED).fit(notes["L"][tr], **fit)
    return shift, pulled


def _err(model, notes, mask, **kw):
    """1 - R^2 of the decoded log frames around the training mean."""
    L = notes["L"]
    L_hat = model.inverse_transform(model.transform(L[mask], **kw))
    mean = L[~notes["test"]].mean(axis=0)
    return float(((L_hat - L[mask]) ** 2).sum() / ((L[mask] - mean) ** 2).sum())


def _invariance(Z, y):
    """Mean distance between notes of one instrument at different pitches over the mean
    distance between instrument centroids."""
    from scipy.spatial.distance import pdist

    within = np.concatenate([pdist(Z[y == c]) for c in np.unique(y)])
    return float(within.mean() / pdist(np.vstack([Z[y == c].mean(0)
                                                  for c in np.unique(y)])).mean())


# ----------------------------------------------------------------------------- mechanics
def test_shift_bins_moves_and_clamps():
    x = torch.tensor([[0.0, 1.0, 4.0, 9.0]])
    np.testing.assert_allclose(shift_bins(x, torch.tensor([1.0]), 4), [[1, 4, 9, 9]])
    np.testing.assert_allclose(shift_bins(x, torch.tensor([-1.5]), 3), [[0, 0, 0.5]])
    # round trip through a wider frame is exact for whole-bin shifts
    wide = shift_bins(x, torch.tensor([-3.0]), 8)
    np.testing.assert_allclose(shift_bins(wide, torch.tensor([3.0]), 4), x)


def test_module_is_equivariant_by_construction():
    """The same timbre at a pitch 2 semitones higher is the same frame 8 bins higher (up to
    the pitch input of the decoder, zeroed here)."""
    torch.manual_seed(0)
    m = VAEModule(40, 3, (16,), pitch_bins=4.0, frame_width=60, pitch_ref=70.0,
                  pitch_center=65.0)
    with torch.no_grad():
        m.decoder.net[0].weight[:, -1] = 0.0  # no pitch input: pure shift
        z = torch.randn(1, 3)
        low, high = m.decode(z, torch.tensor([62.0])), m.decode(z, torch.tensor([64.0]))
    np.testing.assert_allclose(high[0, 8:].numpy(), low[0, :-8].numpy(), atol=1e-6)
    assert m.code_dim == 4 and m.decode(torch.cat([z, torch.tensor([[64.0]])], 1)).shape == (1, 40)


def test_regularizer_and_pull_act_on_timbre_only():
    """The Objective's regularizer and pull see the posterior means of the timbre
    coordinates: the same encoded timbre at other pitches gives the same terms."""
    torch.manual_seed(0)
    m = VAEModule(30, 4, (16,), pitch_bins=4.0, frame_width=46, pitch_ref=64.0,
                  pitch_center=60.0)
    T = torch.tensor([[0.0, 1.0, 2.0], [1.0, 0.0, 1.0], [2.0, 1.0, 0.0]])
    obj = Objective("l2", target=PairTargets(T), pull=1.0)
    x = torch.randn(6, 30)
    batch = {"x": x, "cls": torch.tensor([0, 1, 2, 0, 1, 2]),
             "group": torch.tensor([0, 1, 2, 0, 1, 2]),
             "pitch": torch.tensor([56.0, 58, 60, 62, 63, 64])}
    with torch.no_grad():
        terms = obj(m, batch, beta=1.0, alpha=1.0, sample=False)
        mu, _ = m.encode(x, None, batch["pitch"])
    assert mu.shape == (6, 4)  # no pitch column in the regularized points
    cls = batch["cls"]
    np.testing.assert_allclose(float(terms["reg"]), float(l2_regularizer(mu, T[cls][:, cls])),
                               rtol=1e-6)
    np.testing.assert_allclose(float(terms["pull"]), float(pull_ratio(mu, batch["group"])),
                               rtol=1e-6)


def test_pitch_column_round_trips_and_timbre_moves_with_pitch(notes, fitted):
    shift, _ = fitted
    L, p = notes["L"], notes["pitch"]
    Z = shift.transform(L, pitch=p)
    assert Z.shape == (len(L), 9) and shift.get_feature_names_out().size == 9
    np.testing.assert_array_equal(Z[:, -1], p)
    # the same timbre 5 semitones up: the decoded frame moves by 20 bins (4 per semitone)
    flute = np.flatnonzero((notes["y"] == "Flute") & (p == 59))[0]
    z_up = Z[flute].copy()
    z_up[-1] += 5
    low, high = shift.inverse_transform(np.vstack([Z[flute], z_up]))
    lags = np.arange(-40, 41)
    a, b = low - low.mean(), high - high.mean()
    corr = [np.dot(a[max(0, -k):len(a) - max(0, k)], b[max(0, k):len(b) - max(0, -k)])
            for k in lags]
    assert lags[int(np.argmax(corr))] == 20
    assert abs(int(np.argmax(high)) - int(np.argmax(low)) - 20) <= 1


def test_pitch_estimated_from_frames_and_audio(notes, fitted):
    shift, _ = fitted
    L, p = notes["L"], notes["pitch"]
    est = shift.transform(L)[:, -1]
    # seeds 0-4: 1.0 every time
    check(np.mean(np.abs(est - p) <= 0.5), ">=", 0.9, "frame pitch estimate within 1/2 semitone")
    np.testing.assert_allclose(estimate_pitch(notes["audio"][:4]), p[:4], atol=0.3)


def test_bad_pitch_inputs(notes, fitted):
    shift, _ = fitted
    L, p, y = notes["L"][:6], notes["pitch"][:6], notes["y"][:6]
    tiny = dict(PITCHED, max_epochs=1)
    for bad, match in [(p[:5], "one MIDI pitch per row"), (np.r_[p[:5], np.nan], "NaN"),
                       (np.r_[p[:5], 130.0], "within 0-127"), (None, "needs pitch=")]:
        with pytest.raises(ParameterError, match=match):
            PerceptualVAE(**tiny).fit(L, y, pitch=bad)
    with pytest.raises(ParameterError, match="pitch_mode=None"):
        PerceptualVAE(max_epochs=1).fit(L, pitch=p)
    with pytest.raises(ParameterError, match="bins_per_octave"):
        PerceptualVAE(**dict(tiny, bins_per_octave=None)).fit(L, pitch=p)
    with pytest.raises(ParameterError, match="one MIDI pitch per row"):
        shift.transform(L, pitch=p[:2])
    Z = shift.transform(L, pitch=p)
    Z[0, -1] = 100.0
    with pytest.warns(UserWarning, match="outside the trained pitch range MIDI 55-79"):
        shift.inverse_transform(Z)
    with pytest.raises(ParameterError, match="timbre \\+ a pitch column"):
        shift.inverse_transform(Z[:, :-1])
    # a front of another resolution than the one the VAE was fitted with (24 vs 48 per octave)
    coarse = NSGTTransformer(bins=24, random_state=0).fit(notes["audio"][:2])
    with pytest.raises(ParameterError, match="fitted in pitch mode with bins_per_octave=48"):
        as_space(Pipeline([("nsgt", coarse), ("log", notes["log"]), ("vae", shift)]))


def test_log_frequency_front_required(notes):
    sounds = list(notes["audio"][:4])
    vae = PerceptualVAE(pitch_mode="shift", max_epochs=1)
    for spectral in ("stft", "nsgt"):  # linear; mel-spaced
        with pytest.raises(ParameterError, match="log-frequency axis"):
            TimbreSpace(spectral, vae=vae).fit(sounds, pitch=notes["pitch"][:4])
    # a frame pipeline whose VAE does not match its front: refused by the synthesis tools
    stft = STFTTransformer().fit(notes["audio"][:4])
    fitted = PerceptualVAE(**dict(PITCHED, max_epochs=1)).fit(
        np.log1p(stft.transform(notes["audio"][:4])), pitch=notes["pitch"][:4])
    with pytest.raises(ParameterError, match="log-frequency axis"):
        as_space((stft, fitted))


def test_persistence_and_determinism(notes, fitted, tmp_path):
    shift, _ = fitted
    joblib.dump(shift, tmp_path / "vae.joblib")
    loaded = joblib.load(tmp_path / "vae.joblib")
    Z = shift.transform(notes["L"], pitch=notes["pitch"])
    np.testing.assert_array_equal(loaded.transform(notes["L"], pitch=notes["pitch"]), Z)
    np.testing.assert_array_equal(loaded.inverse_transform(Z), shift.inverse_transform(Z))
    assert loaded.pitch_range_ == (55.0, 79.0) and loaded.bins_per_octave_ == 48.0
    kw = dict(PITCHED, max_epochs=3, pull=0.1, random_state=3)
    fit = dict(y=notes["y"], pitch=notes["pitch"])
    a = PerceptualVAE(**kw).fit(notes["L"], **fit).transform(notes["L"], pitch=notes["pitch"])
    b = PerceptualVAE(**kw).fit(notes["L"], **fit).transform(notes["L"], pitch=notes["pitch"])
    np.testing.assert_array_equal(a, b)


def test_pipeline_routes_pitch_and_inverts_to_audio(notes):
    pipe = Pipeline([("nsgt", NSGTTransformer(random_state=0, n_iter=4)),
                     ("log", LogMagnitude()),
                     ("vae", PerceptualVAE(**dict(PITCHED, max_epochs=5, random_state=0)))])
    audio, p = notes["audio"], notes["pitch"]
    pipe.fit(audio, vae__pitch=p)
    Z = pipe[-1].transform(pipe[:-1].transform(audio[:2]), pitch=p[:2])
    Z[:, -1] = [60.0, 72.0]
    assert pipe.inverse_transform(Z).shape == (2, audio.shape[1])
    # cross-validation slices the per-row pitch with the rows
    scores = cross_val_score(pipe, audio, params={"vae__pitch": p}, cv=2)
    assert np.all(np.isfinite(scores))
    # with metadata routing, pitch reaches the VAE's fit and transform by name
    with sklearn.config_context(enable_metadata_routing=True):
        vae = PerceptualVAE(**dict(PITCHED, max_epochs=2, random_state=0))
        vae.set_fit_request(pitch=True).set_transform_request(pitch=True)
        routed = Pipeline([("nsgt", NSGTTransformer(random_state=0, n_iter=4)),
                           ("log", LogMagnitude()), ("vae", vae)]).fit(audio, pitch=p)
        np.testing.assert_array_equal(routed.transform(audio[:3], pitch=p[:3])[:, -1], p[:3])


def test_timbre_space_estimates_pitch_and_synthesizer_holds_it(notes):
    nsgt = NSGTTransformer(random_state=0, n_iter=4)
    space = TimbreSpace(nsgt, vae=PerceptualVAE(**dict(PITCHED, bins_per_octave=None,
                                                       max_epochs=5, random_state=0)),
                        side_features="none", max_frames=4)
    idx = np.flatnonzero(np.isin(notes["pitch"], (59, 75)))
    sounds = notes["audio"][idx]
    space.fit(sounds, notes["y"][idx])  # pitch estimated with pYIN
    assert space.vae_.bins_per_octave == pytest.approx(48.014, abs=1e-3)  # the NSGT's own
    np.testing.assert_allclose(space.vae_.pitch_range_, (59, 75), atol=0.3)
    with pytest.raises(ParameterError, match="bins_per_octave=24"):
        TimbreSpace(nsgt, vae=space.vae.set_params(bins_per_octave=24),
                    side_features="none").fit(sounds, pitch=notes["pitch"][idx])
    space.vae.set_params(bins_per_octave=None)
    Z = space.transform(sounds)
    np.testing.assert_allclose(Z[:, -1], notes["pitch"][idx], atol=0.3)
    assert space.inverse_transform(Z[:1]).shape == (1, sounds.shape[1])
    synth = DescriptorPathSynthesizer(space=space, n_steps=6, n_grid=40, max_iter=3,
                                      random_state=0).fit(sounds, notes["y"][idx])
    z0 = Z[0].copy()
    z0[-1] = 63.0
    out = synth.synthesize(z0, "increase")
    np.testing.assert_array_equal(out.latent_path[:, -1], 63.0)
    assert np.ptp(out.latent_path[:, :-1], axis=0).max() > 0  # the timbre moved
    # a descriptor map varies timbre at one pitch (the median of Z), inside the trained range
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dmap = descriptor_map(space, Z, resolution=3)
    assert np.all(dmap.axes[:, -1] == 0) and dmap.center[-1] == np.median(Z[:, -1])
    with pytest.raises(ParameterError, match="pitch column"):
        descriptor_map(space, Z, axes=[0, Z.shape[1] - 1], resolution=3)


def test_unpitched_sounds_in_a_pitch_mode_space(notes, load_study):
    # Percussion pYIN finds no pitch in: fitting places it at the median pitch of the pitched
    # sounds (with a warning); a fitted space gives it the decoder's most likely pitch, as
    # embed_sounds does for every space; a corpus without any pitch needs pitch=.
    perc, _, _ = load_study("Lakatos2000_Perc")
    found = estimate_pitch(perc, unpitched="nan")
    drums = [np.asarray(perc[i]) for i in np.flatnonzero(np.isnan(found))]
    assert drums, "Lakatos2000_Perc has a stimulus without a pitched frame"
    with pytest.raises(ParameterError, match="no pitched frame"):
        estimate_pitch(drums[:1])
    n = notes["audio"].shape[1]
    drum = np.pad(drums[0], (0, max(n - drums[0].size, 0)))[:n]
    idx = np.flatnonzero(np.isin(notes["pitch"], (59, 63, 75)))
    sounds = np.vstack([notes["audio"][idx], drum])
    nsgt = NSGTTransformer(random_state=0, n_iter=4)
    space = TimbreSpace(nsgt, vae=PerceptualVAE(**dict(PITCHED, bins_per_octave=None,
                                                       max_epochs=2, random_state=0)),
                        side_features="none", max_frames=4)
    with pytest.warns(UserWarning, match="1 of 10 training sounds have no pitch.*MIDI 63.0"):
        space.fit(sounds)
    Z = space.transform(sounds)
    np.testing.assert_allclose(Z[:-1, -1], notes["pitch"][idx], atol=0.3)
    assert 58 <= Z[-1, -1] <= 76
    np.testing.assert_array_equal(Z[-1:, -1], as_space(space).encode(drum[None])[:, -1])
    with pytest.raises(ParameterError, match="no pitch in any training sound"):
        clone(space).fit(np.vstack([drum, drum]))


# ----------------------------------------------------------------------------- quality
@pytest.mark.quality
def test_held_out_pitches_reconstructed(notes, fitted):
    """Notes at pitches the model never saw decode about as well as training notes; the
    unconditioned VAE cannot (its error on the held-out pitches is several times larger)."""
    shift, _ = fitted
    test = notes["test"]
    kw = dict(pitch=notes["pitch"][test])
    held = _err(shift, notes, test, **kw)
    plain = PerceptualVAE(**{k: v for k, v in PITCHED.items()
                             if k not in ("pitch_mode", "bins_per_octave")},
                          random_state=seed()).fit(notes["L"][~test])
    # seeds 0-4: 0.142 +- 0.004 (worst 0.146) and 6.2 +- 0.1 (worst 6.07)
    check(held, "<", 0.2, "pitch-mode held-out pitch err")
    check(_err(plain, notes, test) / held, ">", 3.0, "plain / pitch-mode held-out err")


@pytest.mark.quality
def test_pull_makes_timbre_invariant_to_pitch(notes, fitted):
    shift, pulled = fitted
    L, p, y = notes["L"], notes["pitch"], notes["y"]
    before = _invariance(shift.transform(L, pitch=p)[:, :-1], y)
    after = _invariance(pulled.transform(L, pitch=p)[:, :-1], y)
    # seeds 0-4: 0.53 +- 0.04 (worst 0.59; these notes are already near-invariant: the
    # SoundFont stretches few samples) and 0.151 +- 0.011 (worst 0.172)
    check(after / before, "<", 0.75, "invariance ratio with pull / without")
    check(_err(pulled, notes, notes["test"], pitch=p[notes["test"]]), "<", 0.22,
          "held-out pitch err with pull")
