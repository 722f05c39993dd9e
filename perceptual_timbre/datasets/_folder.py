"""A folder tree of instrument notes, labelled by sub-folder (e.g. TinySOL, Studio On Line)."""

import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ..exceptions import DataNotFoundError, ParameterError
from ..utils.validation import check_sr
from ._base import _read_mono

__all__ = ["load_audio_folder"]

AUDIO_EXTENSIONS = (".wav", ".aif", ".aiff", ".flac", ".ogg")


def load_audio_folder(path, sr=22050, extensions=AUDIO_EXTENSIONS, *, label_level=0):
    """Load every audio file under a folder, labelled by the sub-folder it sits in.

    Parameters
    ----------
    path : str or path-like
        Root folder, e.g. ``TinySOL/`` with ``Brass/Trumpet_C/ordinario/*.wav`` below.
    sr : int, default=22050
        Sample rate every file is resampled to (mono: channels are averaged).
    extensions : sequence of str, default=(".wav", ".aif", ".aiff", ".flac", ".ogg")
        File suffixes to load (case-insensitive); other files are ignored.
    label_level : int, default=0
        Which folder of a file's relative path is its label: 0 = the first sub-folder
        under ``path`` (``"Brass"``), 1 = the next (``"Trumpet_C"``), -1 = the file's own
        folder. Files too shallow for the level get the label ``None``.

    Returns
    -------
    data : sklearn.utils.Bunch
        - ``audio``: list of 1-D float64 arrays (lengths may differ).
        - ``instrument``: ndarray of object (n_files,), each file's label (the name of its
          folder at ``label_level``: an instrument, or a family such as ``"Brass"``), the
          per-sound label every loader of :mod:`perceptual_timbre.datasets` returns.
        - ``label``: the same array, an alias kept for code written before ``instrument``.
        - ``filenames``: list of str, paths relative to ``path`` (sorted).
        - ``sr``: int.

    Raises
    ------
    DataNotFoundError
        If ``path`` is not a folder or holds no file with one of ``extensions``.
    ParameterError
        If a file cannot be decoded (the message names it).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, soundfile as sf
    >>> from perceptual_timbre.datasets import load_audio_folder
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "flute").mkdir()
    >>> sf.write(root / "flute" / "a4.wav", np.sin(np.arange(4410) * 0.06), 44100)
    >>> data = load_audio_folder(root)
    >>> data.filenames, list(data.instrument), data.audio[0].shape
    (['flute/a4.wav'], ['flute'], (2205,))
    """
    sr = check_sr(sr)
    if isinstance(extensions, str):
        extensions = (extensions,)
    exts = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
    if not exts:
        raise ParameterError("extensions is empty; give at least one file suffix.")
    root = Path(os.fspath(path)).expanduser()
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise DataNotFoundError(f"audio folder {root} {what}.")
    files = sorted(
        p for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in exts and not p.name.startswith(".")
    )
    if not files:
        raise DataNotFoundError(
            f"no audio files with extensions {sorted(exts)} found under {root}."
        )
    labels = []
    for p in files:
        folders = p.relative_to(root).parts[:-1]
        try:
            labels.append(folders[label_level] if folders else None)
        except IndexError:
            labels.append(None)
    labels = np.array(labels, dtype=object)
    return Bunch(
        audio=[_read_mono(p, sr) for p in files],
        instrument=labels,
        label=labels,
        filenames=[p.relative_to(root).as_posix() for p in files],
        sr=sr,
    )
