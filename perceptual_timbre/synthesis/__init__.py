"""Synthesis from a fitted timbre space.

- :func:`latent_path`, :func:`interpolate_sounds`, :func:`render_path`,
  :func:`sound_centroids`: paths between latent points, sounds or instruments, rendered to one
  continuous sound (one phase reconstruction over the whole path).
- :class:`DescriptorPathSynthesizer`: sounds whose descriptors follow a target trajectory
  (greedy grid search, the paper's Algorithm 1, or gradient descent through the decoder).
"""

from ._paths import interpolate_sounds, latent_path, render_path, sound_centroids
from ._synthesizer import TARGET_SHAPES, DescriptorPathSynthesizer, target_shape

__all__ = [
    "TARGET_SHAPES",
    "DescriptorPathSynthesizer",
    "sound_centroids",
    "interpolate_sounds",
    "latent_path",
    "render_path",
    "target_shape",
]
