"""Invertible spectral transformers (scikit-learn style).

Each transformer maps mono sounds to one spectral frame per sound (``transform``) or to all
their frames (``transform_frames``), and frames back to audio (``inverse_transform``,
``inverse_transform_frames``). :class:`LogMagnitude` is an exactly invertible scaling step to
put after them in a :class:`~sklearn.pipeline.Pipeline`.
"""

from ._base import FRAME_OPTIONS, spectral_convergence
from ._dct import DCTTransformer
from ._nsgt import NSGTTransformer
from ._scaling import LogMagnitude
from ._stft import STFTTransformer

__all__ = [
    "DCTTransformer",
    "FRAME_OPTIONS",
    "LogMagnitude",
    "NSGTTransformer",
    "STFTTransformer",
    "spectral_convergence",
]
