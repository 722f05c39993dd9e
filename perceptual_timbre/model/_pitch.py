"""Pitch for the pitch mode of :class:`~perceptual_timbre.PerceptualVAE`: the f0 of sounds
(librosa's pYIN) and the bins per octave of a log-frequency axis."""

import warnings

import numpy as np

from ..exceptions import ParameterError
from ..utils.validation import check_audio, check_sr

__all__ = ["estimate_pitch", "log_bins_per_octave"]

# pYIN search range: MIDI 36-96 (C2-C7); pYIN's cost grows with the range (its Viterbi
# runs over 10 states per semitone), and a wider range is slower without helping notes
# of orchestral instruments in their usual registers
_FMIN, _FMAX = 65.41, 2093.0
# hop of pYIN in samples: a sustained note needs few frames for a median
_HOP = 1024


#: relative difference of bins per octave below which a VAE and a front match (48 vs the
#: NSGT's 48.014: 0.0012 bins per semitone, 0.04 bins over 3 octaves)
BPO_RTOL = 1e-3


def hz_to_midi(f):
    return 69.0 + 12.0 * np.log2(np.asarray(f, dtype=float) / 440.0)


def estimate_pitch(sounds, sr=22050, *, fmin=_FMIN, fmax=_FMAX, unpitched="raise"):
    """MIDI pitch of each sound: the median pYIN f0 of its voiced frames.

    Parameters
    ----------
    sounds : ndarray or list of ndarray
        Mono audio: one sound of shape (n_audio_samples,), an array of shape (n_sounds,
        n_audio_samples) or a list of 1-D arrays.
    sr : int, default=22050
    fmin, fmax : float, default=65.41, 2093
        Search range of pYIN in Hz (C2-C7); widen it for very low or high notes (pYIN
        is slower over a wider range).
    unpitched : {"raise", "nan"}, default="raise"
        What a sound without a voiced frame (noise, silence, a drum) gets: an error naming
        it, or NaN for the caller to fill.

    Returns
    -------
    pitch : ndarray of shape (n_sounds,)
        Fractional MIDI pitch (69 = A4 = 440 Hz).

    Raises
    ------
    ParameterError
        With ``unpitched="raise"``, when a sound has no voiced frame: pass its pitch instead.

    Examples
    --------
    >>> import numpy as np
    >>> from perceptual_timbre.model import estimate_pitch
    >>> t = np.arange(11025) / 22050
    >>> np.round(estimate_pitch(np.sin(2 * np.pi * 440 * t)), 1)
    array([69.])
    """
    import librosa

    sr = check_sr(sr)
    if unpitched not in ("raise", "nan"):
        raise ParameterError(f'unpitched must be "raise" or "nan", got {unpitched!r}.')
    single = isinstance(sounds, np.ndarray) and sounds.ndim == 1
    sounds = check_audio([sounds] if single else sounds, name="sounds")
    out = np.empty(len(sounds))
    for i, x in enumerate(sounds):
        f0, voiced, _ = librosa.pyin(np.asarray(x, dtype=float), fmin=fmin, fmax=fmax, sr=sr,
                                     frame_length=2048, hop_length=_HOP)
        ok = voiced & np.isfinite(f0)
        if not ok.any() and unpitched == "nan":
            out[i] = np.nan
        elif not ok.any():
            raise ParameterError(
                f"sounds[{i}] has no pitched frame (pYIN found no f0 between {fmin:g} and "
                f"{fmax:g} Hz); pass its MIDI pitch with pitch= instead.")
        else:
            out[i] = float(np.median(hz_to_midi(f0[ok])))
    return out


def log_bins_per_octave(frequencies, name="the spectral transform"):
    """Bins per octave of a log-frequency axis (constant ratio between neighbouring bins).

    Parameters
    ----------
    frequencies : array-like of shape (n_bins,)
        Centre frequencies in Hz, increasing.
    name : str
        How error messages call the transform.

    Returns
    -------
    float

    Raises
    ------
    ParameterError
        When the bins are not equally spaced in log-frequency (STFT, DCT, mel, ERB): pitch
        mode moves a note along the axis, which needs a fixed number of bins per semitone.

    Examples
    --------
    >>> import numpy as np
    >>> from perceptual_timbre.model import log_bins_per_octave
    >>> log_bins_per_octave(110 * 2 ** (np.arange(10) / 24))
    24.0

    The constant-Q NSGT spreads its bins evenly between ``fmin`` and ``fmax``, so its
    ``bins=48`` is 48 bins per octave up to rounding:

    >>> from perceptual_timbre.transforms import NSGTTransformer
    >>> nsgt = NSGTTransformer("cqt").fit(np.zeros((1, 22050)) + 1e-3)
    >>> round(log_bins_per_octave(nsgt.frequencies_), 3)
    48.014
    """
    f = np.asarray(frequencies, dtype=float).ravel()
    steps = np.diff(np.log2(f)) if f.size > 2 and np.all(f > 0) else np.array([0.0])
    if steps.min() <= 0 or np.ptp(steps) > 1e-6 * steps.mean():
        raise ParameterError(
            f"pitch mode needs a log-frequency axis with a fixed number of bins per octave, "
            f"and {name} has none (its bin spacing is not geometric: a linear STFT/DCT axis or "
            f"a mel/ERB scale). Use NSGTTransformer('cqt') (48 bins per octave by default), "
            f"or pitch_mode=None.")
    return float(np.round(1.0 / steps.mean(), 6))


def check_front(vae_bpo, frequencies, name, *, fitted=False):
    """The bins per octave of a spectral front, checked against a pitch-mode VAE's.

    ``vae_bpo`` is the VAE's ``bins_per_octave`` (None: take the front's) or, with
    ``fitted``, its fitted ``bins_per_octave_``. Returns the front's bins per octave.
    """
    bpo = log_bins_per_octave(frequencies, name)
    if vae_bpo is not None and abs(float(vae_bpo) - bpo) > BPO_RTOL * bpo:
        raise ParameterError(
            f"the VAE {'was fitted in pitch mode with' if fitted else 'has'} "
            f"bins_per_octave={float(vae_bpo):g} but {name} has {bpo:g} bins per octave"
            f"{'' if fitted else '; leave it None to read it from the transformer'}.")
    return bpo


def sound_pitch(sounds, sr, decoder_pitch=None):
    """MIDI pitch per sound, pYIN's, for a pitch-mode space.

    A sound pYIN finds no pitch in (a drum, noise) gets ``decoder_pitch(i)`` when given (a
    fitted space: the decoder's most likely pitch for sound ``i``); otherwise (fitting) the
    median pitch of the pitched sounds, with a warning, so unpitched sounds are not shifted
    against each other.
    """
    out = estimate_pitch(sounds, sr, unpitched="nan")
    missing = np.flatnonzero(np.isnan(out))
    if decoder_pitch is not None:
        for i in missing:
            out[i] = decoder_pitch(i)
        return out
    if missing.size == len(out):
        raise ParameterError("pYIN finds no pitch in any training sound; pass their MIDI "
                             "pitch with pitch= (any constant for unpitched sounds).")
    if missing.size:
        out[missing] = np.median(np.delete(out, missing))
        warnings.warn(f"{missing.size} of {len(out)} training sounds have no pitch pYIN can "
                      f"find (sounds {missing[:5].tolist()}...); they are placed at the median "
                      f"pitch of the others, MIDI {out[missing[0]]:.1f}. Pass pitch= to set "
                      f"it.", UserWarning, stacklevel=4)
    return out
