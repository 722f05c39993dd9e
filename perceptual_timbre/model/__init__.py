"""The perceptually regularized variational auto-encoder.

- :class:`PerceptualVAE` -- the scikit-learn estimator (with an optional pitch mode).
- :func:`estimate_pitch` -- MIDI pitch of sounds (pYIN), for the pitch mode's ``pitch=``;
  :func:`log_bins_per_octave` -- bins per octave of a transformer's ``frequencies_``.
- ``_modules`` (torch ``Encoder``/``Decoder``/``VAEModule``), ``_losses`` (ELBO terms and
  perceptual regularizers) and ``_training`` (the loop) are reusable building blocks.
"""

from ._pitch import estimate_pitch, log_bins_per_octave
from ._vae import PerceptualVAE

__all__ = ["PerceptualVAE", "estimate_pitch", "log_bins_per_octave"]
