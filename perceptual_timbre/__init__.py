"""perceptual_timbre: generative timbre spaces regularized by perceptual ratings.

A variational auto-encoder learns a continuous, invertible latent space of instrument
spectra; human timbre-dissimilarity ratings (or a learned perceptual metric) organise it so
that latent distances follow perception. Sub-packages:

- :mod:`perceptual_timbre.transforms` -- invertible spectral transformers (STFT, DCT, NSGT).
- :mod:`perceptual_timbre.datasets` -- timbre studies, instrument ratings, SoundFont notes.
- :mod:`perceptual_timbre.model` -- the :class:`PerceptualVAE` estimator.
- :mod:`perceptual_timbre.metrics` -- agreement between a space and ratings.
- :mod:`perceptual_timbre.ensemble` -- ensembles of spaces, for epistemic uncertainty.
- :mod:`perceptual_timbre.descriptors` -- audio descriptors and sound-level features.
- :mod:`perceptual_timbre.synthesis` -- latent paths and descriptor-guided synthesis.
- :mod:`perceptual_timbre.listening` -- design, run (in a browser) and read listening tests.
"""

import importlib

__version__ = "0.1.0"

# Public names resolved lazily, so `import perceptual_timbre` stays cheap (no torch/librosa
# until a name that needs them is used).
_LAZY = {
    "PerceptualVAE": "model",
    "MFCCEmbedding": "baselines",
    "embed_sounds": "embedding",
    "SpaceEnsemble": "ensemble",
    "DescriptorPathSynthesizer": "synthesis",
    "PerceptualMetric": "perceptual_metric",
    "fit_perceptual_metric": "perceptual_metric",
    "make_timbre_space": "timbre_space",
    "TimbreSpace": "timbre_space",
}
_SUBMODULES = {
    "baselines",
    "datasets",
    "descriptors",
    "diagnostics",
    "embedding",
    "ensemble",
    "exceptions",
    "listening",
    "metrics",
    "model",
    "perceptual_metric",
    "plotting",
    "synthesis",
    "timbre_space",
    "transforms",
    "utils",
}

__all__ = sorted(_LAZY) + sorted(_SUBMODULES)


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return __all__ + ["__version__"]
