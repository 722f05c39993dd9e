"""The perceptually regularized variational auto-encoder.

- :class:`PerceptualVAE` -- the scikit-learn estimator.
- ``_modules`` (torch ``Encoder``/``Decoder``/``VAEModule``), ``_losses`` (ELBO terms and
  perceptual regularizers) and ``_training`` (the loop) are reusable building blocks.
"""

from ._vae import PerceptualVAE

__all__ = ["PerceptualVAE"]
