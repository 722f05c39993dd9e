"""Audio descriptors: frame-level spectral descriptors, descriptor maps of a latent space,
and sound-level features.

- :mod:`._spectral` -- descriptors of magnitude frames on their true frequency axis
  (NumPy and torch), :data:`DESCRIPTORS`, :func:`compute_descriptors`,
  :func:`audio_descriptors`.
- :mod:`._maps` -- descriptor maps over a plane of a fitted timbre space and their local
  smoothness.
"""

from ._maps import DescriptorMap, descriptor_map, global_nonlinearity, local_smoothness
from ._spectral import (
    DESCRIPTORS,
    audio_descriptors,
    compute_descriptors,
    loudness,
    spectral_bandwidth,
    spectral_centroid,
    spectral_flatness,
    spectral_kurtosis,
    spectral_rolloff,
    spectral_skewness,
    spectral_slope,
)

__all__ = [
    "DESCRIPTORS",
    "DescriptorMap",
    "audio_descriptors",
    "compute_descriptors",
    "descriptor_map",
    "global_nonlinearity",
    "local_smoothness",
    "loudness",
    "spectral_bandwidth",
    "spectral_centroid",
    "spectral_flatness",
    "spectral_kurtosis",
    "spectral_rolloff",
    "spectral_skewness",
    "spectral_slope",
]

# ---------------------------------------------------------------------------------------------
# Sound-level features (descriptors/_features.py, other engineer): append imports and extend
# __all__ below this line.
# ---------------------------------------------------------------------------------------------
from ._features import BLOCK_PRESETS, DESCRIPTOR_NAMES, FEATURE_BLOCKS, SoundFeatures  # noqa: E402,E501

__all__ += ["BLOCK_PRESETS", "DESCRIPTOR_NAMES", "FEATURE_BLOCKS", "SoundFeatures"]
