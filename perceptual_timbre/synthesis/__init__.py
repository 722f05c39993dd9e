"""Synthesis from a fitted timbre space.

- :func:`latent_path`, :func:`interpolate_sounds`, :func:`render_path`,
  :func:`class_centroids`: paths between latent points, sounds or instruments, rendered to one
  continuous sound (one phase reconstruction over the whole path).
- :class:`DescriptorPathSynthesizer`: sounds whose descriptors follow a target trajectory
  (greedy grid search, the paper's Algorithm 1, or gradient descent through the decoder).
"""

from ._paths import class_centroids, interpolate_sounds, latent_path, render_path
from ._synthesizer import TARGET_SHAPES, DescriptorPathSynthesizer, target_shape

__all__ = [
    "TARGET_SHAPES",
    "DescriptorPathSynthesizer",
    "class_centroids",
    "interpolate_sounds",
    "latent_path",
    "render_path",
    "target_shape",
]
