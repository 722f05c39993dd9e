"""Compile librosa's numba kernels once, serially: ``python -m perceptual_timbre.utils._warmup``.

librosa caches its numba kernels on disk (``cache=True``) the first time each one runs. On a
fresh install, several processes doing that at once (pytest workers, joblib workers, gallery
scripts) can leave a corrupt cache behind, and the next process to load it segfaults. The
Makefile runs this after installing, so that every later process only reads the cache.
"""

import numpy as np


def warm_up(sr=22050):
    """Run every librosa code path of the package once on a short synthetic note."""
    import librosa

    from ..descriptors import SoundFeatures
    from ..transforms import NSGTTransformer, STFTTransformer

    t = np.arange(sr) / sr
    note = (np.sin(2 * np.pi * 220 * t) * np.exp(-3 * t)).astype(np.float64)
    SoundFeatures(sr=sr, blocks="all", cache=False).fit_transform([note])
    SoundFeatures(sr=sr, cache=False).fit_transform([note])
    for tr in (STFTTransformer(sr=sr), NSGTTransformer(sr=sr)):
        tr.fit([note]).inverse_transform(tr.transform([note]))
    librosa.griffinlim(np.abs(librosa.stft(note)), n_iter=2)
    librosa.onset.onset_detect(y=note, sr=sr)
    librosa.pyin(note[: sr // 4], fmin=80, fmax=800, sr=sr)
    librosa.cqt(note, sr=sr)


if __name__ == "__main__":  # pragma: no cover
    warm_up()
