"""Write a listening test to a folder (:func:`write_experiment`) and load it back."""

import csv
import hashlib
import json
import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from .. import __version__
from ..datasets._download import _sha256
from ..exceptions import DataNotFoundError, ParameterError
from ..utils.validation import check_audio, check_sr
from ._design import ExperimentDesign
from ._page import render_page

__all__ = ["integrated_loudness", "load_experiment", "write_experiment", "MANIFEST_FORMAT"]

MANIFEST_FORMAT = "perceptual_timbre.listening/1"
_DEFAULT_INSTRUCTIONS = (
    "In each trial you hear two sounds, A then B. Move the slider to say how different their "
    "timbres are (their tone colour, not their pitch or loudness), from very similar (left) "
    "to very different (right). You can replay each sound. Use headphones in a quiet room and "
    "keep the volume fixed during the test."
)


def _biquad_k_weighting(sr):
    """The two BS.1770 K-weighting biquads (high shelf, then high pass) at any rate.

    Designed with the audio-EQ-cookbook formulas and the standard's parameters (shelf
    +4 dB above 1.5 kHz, Q 1/sqrt(2); high pass 38 Hz, Q 0.5), as pyloudnorm does; at
    48 kHz they match the standard's coefficients to within 0.1 dB.
    """
    out = []
    w0 = 2 * np.pi * 1500.0 / sr
    A, alpha = 10 ** (4.0 / 40), np.sin(w0) / (2 * (1 / np.sqrt(2)))
    c, sa = np.cos(w0), 2 * np.sqrt(A) * alpha
    b = [A * ((A + 1) + (A - 1) * c + sa), -2 * A * ((A - 1) + (A + 1) * c),
         A * ((A + 1) + (A - 1) * c - sa)]
    a = [(A + 1) - (A - 1) * c + sa, 2 * ((A - 1) - (A + 1) * c), (A + 1) - (A - 1) * c - sa]
    out.append((np.array(b) / a[0], np.array(a) / a[0]))
    w0 = 2 * np.pi * 38.0 / sr
    alpha, c = np.sin(w0) / (2 * 0.5), np.cos(w0)
    b = [(1 + c) / 2, -(1 + c), (1 + c) / 2]
    a = [1 + alpha, -2 * c, 1 - alpha]
    out.append((np.array(b) / a[0], np.array(a) / a[0]))
    return out


def integrated_loudness(x, sr):
    """Integrated loudness of a mono sound in LUFS (ITU-R BS.1770-4, gated).

    K-weighting, mean square in 400 ms blocks with 75 % overlap, an absolute gate at
    -70 LUFS and a relative gate 10 LU below the ungated level. A sound shorter than one
    block is measured as a single block.

    Parameters
    ----------
    x : ndarray of shape (n_audio_samples,)
        Mono sound, full scale = 1.
    sr : int
        Sample rate in Hz.

    Returns
    -------
    loudness : float
        In LUFS; ``-inf`` for a silent sound.

    Examples
    --------
    >>> import numpy as np
    >>> from perceptual_timbre.listening import integrated_loudness
    >>> t = np.arange(48000) / 48000
    >>> round(integrated_loudness(0.5 * np.sin(2 * np.pi * 1000 * t), 48000), 1)  # -3 - 6 dB
    -9.1
    """
    from scipy.signal import lfilter

    sr = check_sr(sr)
    y = np.asarray(x, dtype=np.float64)
    for b, a in _biquad_k_weighting(sr):
        y = lfilter(b, a, y)
    block, hop = int(round(0.4 * sr)), int(round(0.1 * sr))
    if y.size <= block:
        z = np.array([np.mean(y**2)])
    else:
        starts = np.arange(0, y.size - block + 1, hop)
        c = np.r_[0.0, np.cumsum(y**2)]
        z = (c[starts + block] - c[starts]) / block
    with np.errstate(divide="ignore"):
        level = -0.691 + 10 * np.log10(z)
    z = z[level > -70]
    if z.size == 0:
        return float("-inf")
    rel = -0.691 + 10 * np.log10(z.mean()) - 10
    with np.errstate(divide="ignore"):
        z = z[-0.691 + 10 * np.log10(z) > rel]
    return float(-0.691 + 10 * np.log10(z.mean()))




def write_experiment(folder, sounds, sr, design, *, target_lufs=-23.0, max_peak=0.89,
                     title="How different do these two sounds feel?", instructions=None,
                     scale=(0, 100), scale_labels=("very similar", "very different"),
                     gap_ms=500, overwrite=False):
    """Write a self-contained listening test: sounds, trial list, manifest and HTML page.

    The folder gets

    - ``sounds/NNN.wav``: every sound, loudness-normalized to ``target_lufs`` (16-bit PCM,
      mono, at ``sr``), so that listeners judge timbre rather than level;
    - ``trials.csv``: the trial order (``trial``, ``sound_a``, ``sound_b``, ``file_a``,
      ``file_b``, ``repeat``);
    - ``manifest.json``: sound ids, files, sha256 checksums, gains, the design (with its
      seed), the rating scale and the loudness target actually used;
    - ``index.html``: one static page (inline script, no server, no network) that plays
      each pair (A, a pause, then B; each can be replayed), takes a slider rating once the
      pair was heard, keeps answers in the browser (a reload resumes) and exports them as
      CSV for :func:`read_responses`.

    Parameters
    ----------
    folder : str or path-like
        Output folder; created, and must be empty unless ``overwrite``.
    sounds : list of ndarray or dict of str -> ndarray
        The mono sounds, in the order of ``design.sound_ids`` (or keyed by id).
    sr : int
        Their sample rate.
    design : ExperimentDesign
        From :func:`design_experiment`.
    target_lufs : float, default=-23.0
        Integrated loudness of every written sound (see :func:`integrated_loudness`). If a
        sound would then peak above ``max_peak``, the target is lowered for ALL sounds, so
        that they stay equally loud; the target used is in the manifest.
    max_peak : float, default=0.89
        Highest sample magnitude after normalization (0.89 is -1 dBFS).
    title, instructions : str
        Shown on the page.
    scale : (int, int), default=(0, 100)
        Slider range; :func:`read_responses` maps it to dissimilarities in [0, 1].
    scale_labels : (str, str), default=("very similar", "very different")
        Words under the two ends of the slider.
    gap_ms : int, default=500
        Silence between A and B.
    overwrite : bool, default=False
        Allow writing into a non-empty folder (files of the same names are replaced).

    Returns
    -------
    experiment : sklearn.utils.Bunch
        ``folder``, ``page``, ``manifest``, ``trials`` (paths), ``sound_files`` (list of
        paths) and ``target_lufs`` (the level used).

    Raises
    ------
    ParameterError
        For a non-empty folder, sounds that do not match the design's ids, bad audio
        (see :func:`~perceptual_timbre.utils.check_audio`) or a bad scale.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from perceptual_timbre.listening import design_experiment, write_experiment
    >>> sr = 22050
    >>> t = np.arange(sr // 2) / sr
    >>> sounds = [np.sin(2 * np.pi * f * t) * np.exp(-3 * t) for f in (220, 330, 440)]
    >>> design = design_experiment(["low", "mid", "high"], random_state=0)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     exp = write_experiment(tmp, sounds, sr, design)
    ...     sorted(p.name for p in exp.folder.iterdir())
    ['index.html', 'manifest.json', 'sounds', 'trials.csv']
    """
    import soundfile as sf

    if not isinstance(design, ExperimentDesign):
        raise ParameterError(
            f"design must be an ExperimentDesign (from design_experiment), got "
            f"{type(design).__name__}."
        )
    sr = check_sr(sr)
    ids = design.sound_ids
    if isinstance(sounds, dict):
        missing = [s for s in ids if s not in sounds]
        if missing:
            raise ParameterError(f"sounds has no audio for the design's ids {missing[:5]}.")
        sounds = [sounds[s] for s in ids]
    audio = check_audio(sounds, name="sounds")
    if len(audio) != len(ids):
        raise ParameterError(
            f"sounds holds {len(audio)} sounds but the design has {len(ids)} ids; give them in "
            f"the order of design.sound_ids."
        )
    lo, hi = scale
    if not (float(lo) == int(lo) and float(hi) == int(hi) and int(lo) < int(hi)):
        raise ParameterError(f"scale must be two integers lo < hi, got {scale!r}.")
    lo, hi = int(lo), int(hi)
    if not 0 < max_peak <= 1:
        raise ParameterError(f"max_peak must be in (0, 1], got {max_peak!r}.")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ParameterError(f"{folder} exists and is not a folder.")
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise ParameterError(
            f"{folder} is not empty; choose a new folder or pass overwrite=True."
        )
    (folder / "sounds").mkdir(parents=True, exist_ok=True)

    loud = np.array([integrated_loudness(x, sr) for x in audio])
    peaks = np.array([np.max(np.abs(x)) for x in audio])
    gains_db = target_lufs - loud
    over = np.max(20 * np.log10(peaks) + gains_db) - 20 * np.log10(max_peak)
    used = float(target_lufs - max(over, 0.0))
    gains_db = used - loud

    width = max(3, len(str(len(ids) - 1)))
    entries, files = [], []
    for i, (sid, x, g) in enumerate(zip(ids, audio, gains_db)):
        rel = f"sounds/{i:0{width}d}.wav"
        path = folder / rel
        sf.write(os.fspath(path), x * 10 ** (g / 20), sr, subtype="PCM_16")
        files.append(path)
        entries.append({"id": sid, "file": rel, "sha256": _sha256(path),
                        "n_samples": int(x.size), "duration_s": round(x.size / sr, 4),
                        "loudness_lufs_before": round(float(loud[i]), 3),
                        "gain_db": round(float(g), 3)})
    file_of = {e["id"]: e["file"] for e in entries}
    trial_rows = []
    for t, ((a, b), rep) in enumerate(zip(design.trials, design.repeat), start=1):
        trial_rows.append({"trial": t, "sound_a": ids[a], "sound_b": ids[b],
                           "file_a": file_of[ids[a]], "file_b": file_of[ids[b]],
                           "repeat": int(rep)})
    trials_path = folder / "trials.csv"
    with open(trials_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(trial_rows[0]))
        writer.writeheader()
        writer.writerows(trial_rows)

    exp_id = hashlib.sha256(
        json.dumps([design.to_dict(), [e["sha256"] for e in entries]]).encode()
    ).hexdigest()[:12]
    manifest = {
        "format": MANIFEST_FORMAT,
        "id": exp_id,
        "created_with": f"perceptual_timbre {__version__}",
        "title": title,
        "sr": sr,
        "scale": [lo, hi],
        "scale_labels": list(scale_labels),
        "loudness": {"method": "ITU-R BS.1770-4 integrated (K-weighted, gated)",
                     "target_lufs": float(target_lufs), "target_lufs_used": round(used, 3),
                     "max_peak": float(max_peak)},
        "sounds": entries,
        "trials_file": "trials.csv",
        "trials_sha256": _sha256(trials_path),
        "seed": design.seed,
        "design": design.to_dict(),
    }
    page = render_page(
        {"id": exp_id, "trials": trial_rows, "gap_ms": int(gap_ms),
         "scale_mid": (lo + hi) // 2},
        title=title, instructions=instructions or _DEFAULT_INSTRUCTIONS, scale=(lo, hi),
        labels=scale_labels,
    )
    page_path = folder / "index.html"
    page_path.write_text(page, encoding="utf-8")
    manifest["page_sha256"] = _sha256(page_path)
    manifest_path = folder / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return Bunch(folder=folder, page=page_path, manifest=manifest_path, trials=trials_path,
                 sound_files=files, target_lufs=used)


def _read_manifest(folder):
    folder = Path(folder)
    path = folder / "manifest.json" if folder.is_dir() else folder
    if not path.is_file():
        raise DataNotFoundError(f"no experiment manifest at {path}.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParameterError(f"{path}: not a JSON manifest ({exc}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ParameterError(f"{path}: not a listening-test manifest ({MANIFEST_FORMAT}).")
    return path, manifest


def load_experiment(folder, *, verify=True):
    """Load a folder written by :func:`write_experiment`, checking its files.

    Parameters
    ----------
    folder : str or path-like
        The experiment folder (or its ``manifest.json``).
    verify : bool, default=True
        Check every sound's, the trial list's and the page's sha256 against the manifest.

    Returns
    -------
    experiment : sklearn.utils.Bunch
        ``folder``, ``manifest`` (dict), ``design`` (ExperimentDesign), ``sound_ids``,
        ``sound_files`` and ``scale``.

    Raises
    ------
    DataNotFoundError
        If the manifest or a listed file is missing.
    ParameterError
        If a checksum differs (the message names the file).

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from perceptual_timbre.listening import (design_experiment, load_experiment,
    ...                                          write_experiment)
    >>> t = np.arange(8000) / 16000
    >>> sounds = [np.sin(2 * np.pi * f * t) for f in (200, 300, 450)]
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = write_experiment(tmp, sounds, 16000, design_experiment(3, random_state=1))
    ...     load_experiment(tmp).design.n_trials
    4
    """
    path, manifest = _read_manifest(folder)
    root = path.parent
    files = [root / e["file"] for e in manifest["sounds"]]
    if verify:
        checks = [(f, e["sha256"]) for f, e in zip(files, manifest["sounds"])]
        checks.append((root / manifest["trials_file"], manifest["trials_sha256"]))
        if "page_sha256" in manifest:
            checks.append((root / "index.html", manifest["page_sha256"]))
        for f, digest in checks:
            if not f.is_file():
                raise DataNotFoundError(f"{f} is listed in {path} but missing.")
            if _sha256(f) != digest:
                raise ParameterError(
                    f"{f} does not match its sha256 in {path}: the file was changed after the "
                    f"experiment was written."
                )
    design = ExperimentDesign.from_dict(manifest["design"])
    return Bunch(folder=root, manifest=manifest, design=design,
                 sound_ids=list(design.sound_ids), sound_files=files,
                 scale=tuple(manifest["scale"]))
