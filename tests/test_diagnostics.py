"""Training diagnostics on a small VAE fitted to real SoundFont notes."""

import numpy as np
import pytest

from perceptual_timbre.diagnostics import (
    KL_ACTIVE_THRESHOLD,
    active_units,
    diagnostics,
    kl_per_dimension,
    plot_training_history,
    training_history,
)
from perceptual_timbre.exceptions import NotFittedError, ParameterError


@pytest.fixture(scope="module")
def fitted(rendered_notes):
    from perceptual_timbre import PerceptualVAE
    from perceptual_timbre.datasets import load_instrument_ratings
    from perceptual_timbre.transforms import LogMagnitude, STFTTransformer

    X = LogMagnitude().fit_transform(STFTTransformer(sr=rendered_notes.sr).fit_transform(
        rendered_notes.audio))
    y = rendered_notes.instrument
    vae = PerceptualVAE(latent_dim=8, hidden_layer_sizes=(64,), max_epochs=40, random_state=0)
    vae.fit(X, y, dissimilarity=load_instrument_ratings().ratings)
    return vae, X


def test_training_history_has_every_term_per_epoch(fitted):
    vae, _ = fitted
    h = training_history(vae)
    assert h.index.tolist() == list(range(1, vae.n_epochs_ + 1))
    assert {"loss", "recon", "kl", "reg", "beta", "alpha"} <= set(h.columns)
    assert (h["kl"] >= 0).all() and (h["reg"] >= 0).all()
    # the documented decomposition of the loss holds epoch by epoch up to the reg scale
    rest = h["loss"] - h["recon"] - h["beta"] * h["kl"]
    assert np.all(rest >= -1e-6 * np.abs(h["loss"]).max())
    assert h["recon"].iloc[-1] < h["recon"].iloc[0]  # it learned something


def test_agreement_over_epochs_is_the_centroid_spearman(fitted, rendered_notes):
    from perceptual_timbre.datasets import load_instrument_ratings
    from perceptual_timbre.metrics import centroid_correlation

    vae, X = fitted
    agreement = training_history(vae)["agreement"].to_numpy(dtype=float)
    assert np.all(np.isfinite(agreement)) and np.all(np.abs(agreement) <= 1)
    # the last epoch's value is the Spearman of the fitted space's class centroids
    final = centroid_correlation(vae.transform(X), rendered_notes.instrument,
                                 load_instrument_ratings().ratings)
    assert agreement[-1] == pytest.approx(final, abs=1e-6)
    # without ratings there is nothing to agree with
    from perceptual_timbre import PerceptualVAE

    plain = PerceptualVAE(latent_dim=2, hidden_layer_sizes=(8,), max_epochs=2, random_state=0)
    assert training_history(plain.fit(X))["agreement"].isna().all()


def test_active_units_of_a_fitted_vae(fitted):
    vae, X = fitted
    result = active_units(vae, X)
    assert result.variance.shape == (8,) and result.active.dtype == bool
    assert 1 <= result.n_active <= 8
    assert result.n_active == int((vae.transform(X).var(axis=0) > 0.01).sum())
    # a threshold above every variance leaves no active unit
    assert active_units(vae, X, threshold=result.variance.max() + 1).n_active == 0


def test_plot_training_history(fitted, pyplot):
    vae, _ = fitted
    axes = plot_training_history(vae)
    assert [ax.get_title() for ax in axes] == ["loss", "recon", "kl", "reg",
                                               "agreement (Spearman)"]
    assert len(axes[1].lines[0].get_xdata()) == vae.n_epochs_
    axes = plot_training_history(vae.history_, terms=["recon"])
    assert len(axes) == 1


def test_diagnostics_errors():
    from perceptual_timbre import PerceptualVAE

    with pytest.raises(NotFittedError, match="fit it first"):
        training_history(PerceptualVAE())
    with pytest.raises(ParameterError, match="history is empty"):
        training_history([])
    with pytest.raises(ParameterError, match=r"history has no \['val'\]"):
        plot_training_history([{"epoch": 1, "loss": 1.0}], terms=["val"])
    with pytest.raises(ParameterError, match="threshold must be"):
        active_units(None, None, threshold=-1)


def test_diagnostics_of_a_fitted_vae(fitted):
    vae, X = fitted
    d = diagnostics(vae, X)
    assert {"loss", "recon", "kl", "reg"} <= set(d.terms)
    for term, values in d.terms.items():
        assert values.shape == (vae.n_epochs_,)
        assert d.final[term] == pytest.approx(values[-1])
    kl = d.kl_per_dimension
    assert kl.shape == (8,) and np.all(kl >= 0)
    np.testing.assert_allclose(kl, kl_per_dimension(vae, X))
    # by hand: 0.5 (mu^2 + s^2 - 1 - log s^2), mean over rows
    Z, S = vae.transform(X, return_std=True)
    np.testing.assert_allclose(kl, np.mean(0.5 * (Z**2 + S**2 - 1 - np.log(S**2)), axis=0),
                               rtol=1e-6)
    assert d.threshold == KL_ACTIVE_THRESHOLD
    np.testing.assert_array_equal(d.active, kl > KL_ACTIVE_THRESHOLD)
    assert d.n_active == int(d.active.sum())
    np.testing.assert_array_equal(d.active_by_variance, active_units(vae, X).active)
    assert diagnostics(vae, X, threshold=kl.max() + 1).n_active == 0
    assert "kl_per_dimension" not in diagnostics(vae)  # the history alone without X


def test_diagnostics_of_the_committed_space(fitted_space, rendered_notes):
    """On the notes it was fitted on, the KL per dimension of the committed space adds up
    to the ``kl`` term of its last epoch (measured 15.06 vs 15.80 nats: the history
    averages over the epoch's batches while the weights move)."""
    d = diagnostics(fitted_space, rendered_notes.audio)
    assert d.kl_per_dimension.shape == (4,)
    assert d.kl_per_dimension.sum() == pytest.approx(d.final["kl"], rel=0.15)
    assert d.n_active == 4  # every unit carries information (3.6-4.2 nats each)
    assert d.history.index[-1] == fitted_space[-1].n_epochs_


def test_diagnostics_function_errors(fitted):
    vae, X = fitted
    with pytest.raises(ParameterError, match="threshold must be"):
        diagnostics(vae, X, threshold=-1)
    from sklearn.decomposition import PCA

    pca = PCA(2).fit(X)
    pca.history_ = [{"epoch": 1, "loss": 1.0}]
    with pytest.raises(ParameterError, match="has no return_std"):
        diagnostics(pca, X)


def test_diagnostics_of_a_timbre_space(rendered_notes):
    """A TimbreSpace: the KL is measured on the frames (and side input) its VAE encodes, and
    adds up to the last epoch's ``kl`` term (measured 4.25 vs 4.04 nats after 20 epochs)."""
    from perceptual_timbre import PerceptualVAE, TimbreSpace
    from perceptual_timbre.transforms import STFTTransformer

    audio = rendered_notes.audio[:12]
    space = TimbreSpace(STFTTransformer(n_fft=1024, hop_length=512),
                        vae=PerceptualVAE(latent_dim=3, hidden_layer_sizes=(32,), max_epochs=20,
                                          random_state=0),
                        side_features="none", max_frames=4).fit(audio)
    d = diagnostics(space, audio)
    assert d.kl_per_dimension.shape == (3,)
    np.testing.assert_allclose(d.kl_per_dimension, kl_per_dimension(space, audio))
    assert d.kl_per_dimension.sum() == pytest.approx(d.final["kl"], rel=0.25)
    assert len(d.history) == space.vae_.n_epochs_
