"""Sound-level timbre features: named blocks of log-mel statistics and descriptors.

One fixed-length row per sound (whatever its length), in the spirit of the timbre
descriptors of Peeters et al. (2011, "The Timbre Toolbox"): the long-term log-mel spectrum
(mean and standard deviation over time), the temporal envelope, the spectral shape and the
harmonic content. Unlike spectral frames, these rows carry attack, decay, pitch and
harmonicity, which is what listeners' dissimilarity ratings of whole sounds depend on.

The row is a concatenation of named blocks (:data:`FEATURE_BLOCKS`, chosen by the
``blocks`` parameter): the three original ones (``logmel_mean``, ``logmel_std``,
``descriptors``) and eleven that carry timbre across studies (see :mod:`._blocks`).
"""

import hashlib
import threading
from collections import OrderedDict
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from ..exceptions import ParameterError
from ..utils.validation import ParamValidationMixin, check_audio, check_sr
from ._blocks import BLOCK_NAMES, _Analysis, _harmonic_peaks, _mel_power, compute_block

__all__ = ["SoundFeatures", "DESCRIPTOR_NAMES", "FEATURE_BLOCKS", "BLOCK_PRESETS"]

#: Names of the scalar descriptors, in output order (after the log-mel statistics).
DESCRIPTOR_NAMES = (
    # temporal envelope
    "log_attack_time",
    "temporal_centroid",
    "decay_slope",
    "log_effective_duration",
    "amplitude_modulation",
    "release_fraction",
    # spectral shape (mean and std over the loud frames)
    "spectral_centroid_mean",
    "spectral_centroid_std",
    "spectral_spread_mean",
    "spectral_spread_std",
    "spectral_skewness_mean",
    "spectral_skewness_std",
    "spectral_kurtosis_mean",
    "spectral_kurtosis_std",
    "spectral_flatness_mean",
    "spectral_flatness_std",
    "spectral_rolloff_mean",
    "spectral_rolloff_std",
    "spectral_slope_mean",
    "spectral_slope_std",
    "spectral_flux_mean",
    "spectral_flux_std",
    "zero_crossing_rate_mean",
    "zero_crossing_rate_std",
    # harmonic content
    "log_f0",
    "f0_deviation",
    "harmonicity",
    "inharmonicity",
    "odd_even_ratio",
    "tristimulus_1",
    "tristimulus_2",
    "tristimulus_3",
)

#: Every block, in output order: the three original blocks, then the blocks of
#: :mod:`._blocks` (documented there and in :class:`SoundFeatures`).
FEATURE_BLOCKS = ("logmel_mean", "logmel_std", "descriptors") + tuple(BLOCK_NAMES)

#: Named choices of ``blocks``: ``"legacy"`` is the original row (log-mel mean and std and
#: the 32 descriptors), ``"timbre"`` the 13 blocks chosen by leave-one-family-out for the
#: perceptual metric (every block but the 32 original descriptors), ``"all"`` every block.
BLOCK_PRESETS = {
    "legacy": ("logmel_mean", "logmel_std", "descriptors"),
    "timbre": ("logmel_mean", "logmel_std") + tuple(BLOCK_NAMES),
    "all": FEATURE_BLOCKS,
}

# The blocks of ._blocks analyse with a real STFT: shorter windows cannot resolve the
# octave bands of spectral contrast or the harmonics of a low note.
_MIN_N_FFT_BLOCKS = 256

_N_HARMONICS = 20
_LOUD_DB = 40.0  # frames quieter than this below the loudest are left out of spectral stats

# Per-process cache of feature rows, keyed by a hash of the samples and of the parameters.
# Features of a 1.5 s sound cost ~10 ms; cross-validation and benchmarks compute the same
# sounds many times, so a lookup saves nearly all of it (see benchmarks/bench_generalization.py).
_CACHE = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_MAX = 32768  # rows of ~300 floats: at most ~80 MB, and a 10k-note corpus fits


def _cache_key(y, params):
    h = hashlib.sha1(np.ascontiguousarray(y, dtype=np.float64).tobytes())
    h.update(repr(sorted(params.items())).encode())
    return h.hexdigest()


def _envelope_descriptors(y, sr):
    import librosa

    hop = max(1, sr // 200)  # 5 ms envelope resolution: attacks of 10-20 ms still resolved
    env = librosa.feature.rms(y=y, frame_length=4 * hop, hop_length=hop, center=True)[0]
    t = librosa.frames_to_time(np.arange(env.size), sr=sr, hop_length=hop)
    peak_i = int(np.argmax(env))
    peak = env[peak_i] + 1e-12
    # Attack: from 10 % to 90 % of the peak (Peeters 2004); floor at one envelope hop.
    start = int(np.argmax(env >= 0.1 * peak))
    stop = int(np.argmax(env >= 0.9 * peak))
    attack = max(t[stop] - t[start], hop / sr)
    temporal_centroid = float(np.sum(t * env) / np.sum(env))
    # Decay: slope (dB/s) of the envelope from its peak down to 40 dB below it.
    db = 20 * np.log10(env / peak + 1e-12)
    tail = np.arange(peak_i, env.size)
    tail = tail[db[tail] > -_LOUD_DB]
    decay = float(np.polyfit(t[tail], db[tail], 1)[0]) if tail.size >= 3 else 0.0
    above = env >= 0.4 * peak
    effective = max(np.count_nonzero(above) * hop / sr, hop / sr)
    sustained = env[above]
    modulation = float(np.std(sustained) / (np.mean(sustained) + 1e-12))
    release = float((t[-1] - t[peak_i]) / max(t[-1], hop / sr))
    return [
        np.log10(attack),
        temporal_centroid,
        decay,
        np.log10(effective),
        modulation,
        release,
    ]


def _spectral_descriptors(S, freqs, loud, y, sr, n_fft, hop_length):
    import librosa

    Sl = S[:, loud]
    p = Sl / (np.sum(Sl, axis=0, keepdims=True) + 1e-12)
    centroid = np.sum(freqs[:, None] * p, axis=0)
    dev = freqs[:, None] - centroid
    spread = np.sqrt(np.sum(dev**2 * p, axis=0)) + 1e-12
    skew = np.sum(dev**3 * p, axis=0) / spread**3
    kurt = np.sum(dev**4 * p, axis=0) / spread**4
    flatness = librosa.feature.spectral_flatness(S=Sl)[0]
    rolloff = librosa.feature.spectral_rolloff(S=Sl, sr=sr, n_fft=n_fft, roll_percent=0.85)[0]
    # Slope of the normalized spectrum against frequency (Peeters 2004), in 1/kHz.
    fk = freqs / 1000.0
    slope = np.sum((fk - fk.mean())[:, None] * (p - p.mean(axis=0)), axis=0) / np.sum(
        (fk - fk.mean()) ** 2
    )
    flux = np.sqrt(np.sum(np.diff(p, axis=1) ** 2, axis=0)) if p.shape[1] > 1 else np.zeros(1)
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop_length)[0]
    zcr = zcr[loud[: zcr.size]] if zcr.size >= loud.size else zcr
    octaves = np.log2(np.maximum(centroid, 20.0))
    out = []
    for v in (
        octaves,
        np.log2(np.maximum(spread, 20.0)),
        skew,
        np.log10(kurt + 1e-12),
        np.log10(flatness + 1e-12),
        np.log2(np.maximum(rolloff, 20.0)),
        slope * 1000.0,
        flux,
        zcr,
    ):
        out += [float(np.mean(v)), float(np.std(v))]
    return out


def _harmonic_descriptors(y, S, freqs, loud, sr, n_fft, hop_length, fmin, fmax):
    import librosa

    f0 = librosa.yin(
        y, fmin=fmin, fmax=min(fmax, sr / 4), sr=sr, frame_length=n_fft, hop_length=hop_length
    )
    f0 = f0[loud[: f0.size]] if f0.size >= loud.size else f0
    f0_med = float(np.median(f0))
    deviation = float(np.std(1200 * np.log2(f0 / f0_med)) / 100.0)  # in semitones
    # harmonic peaks of the long-term spectrum
    spec = np.mean(S[:, loud] ** 2, axis=1)
    df = freqs[1] - freqs[0]
    amps, devs, mask = _harmonic_peaks(spec, freqs, f0_med, _N_HARMONICS)
    amps = np.sqrt(amps + 1e-20)
    total = np.sum(spec) + 1e-20
    harmonicity = float(np.sum(spec[mask]) / total)
    w = amps**2
    inharmonicity = float(2 * np.sum(devs * w) / (f0_med * np.sum(w) + 1e-20)) if amps.size else 0.0
    inharmonicity = max(inharmonicity, 0.5 * df / max(f0_med, df))  # resolution floor
    odd = np.sum(w[0::2]) + 1e-20
    even = np.sum(w[1::2]) + 1e-20
    s = np.sum(amps) + 1e-20
    t1 = amps[0] / s if amps.size else 0.0
    t2 = np.sum(amps[1:4]) / s
    t3 = np.sum(amps[4:]) / s
    return [
        np.log2(f0_med),
        deviation,
        harmonicity,
        inharmonicity,
        float(np.log10(odd / even)),
        float(t1),
        float(t2),
        float(t3),
    ]


def _sound_features(y, params):
    """Feature row of one sound: the blocks ``params["blocks"]``, concatenated in order.

    Every block reads the one shared analysis of the sound (its STFT is computed once).
    """
    a = _Analysis(y, params)
    parts = {b: _legacy_block(b, a, params) if b in BLOCK_PRESETS["legacy"]
             else compute_block(b, a) for b in params["blocks"]}
    row = np.concatenate([np.asarray(parts[b], dtype=np.float64) for b in params["blocks"]])
    # A pathological sound (e.g. a click) may leave a feature undefined: 0, not NaN.
    return np.nan_to_num(row, nan=0.0, posinf=0.0, neginf=0.0)


def _legacy_block(name, a, params):
    """One of the original blocks (log-mel mean or std, or :data:`DESCRIPTOR_NAMES`)."""
    import librosa

    if name != "descriptors":
        logmel = a._get("logmel", lambda: librosa.power_to_db(
            _mel_power(a.S**2, a.sr, params["n_mels"], fmin=params["fmin"]),
            ref=np.max, top_db=80.0))
        return logmel.mean(axis=1) if name == "logmel_mean" else logmel.std(axis=1)
    return np.concatenate([
        _envelope_descriptors(a.y, a.sr),
        _spectral_descriptors(a.S, a.freqs, a.loud, a.y, a.sr, a.n_fft, a.hop),
        _harmonic_descriptors(a.y, a.S, a.freqs, a.loud, a.sr, a.n_fft, a.hop,
                              params["fmin_f0"], 2000.0),
    ])


class SoundFeatures(ParamValidationMixin, TransformerMixin, BaseEstimator):
    """Sound-level timbre features: one fixed-length row per sound, in named blocks.

    Each sound (a mono signal of any length at ``sr``) becomes the concatenation of the
    feature blocks named in ``blocks`` (in the order of :data:`FEATURE_BLOCKS`). Sounds are
    peak-normalized first, so the features ignore playback level. Time summaries of the
    newer blocks are weighted by frame energy over the frames above -40 dB of the loudest.

    ``logmel_mean``, ``logmel_std`` (``n_mels`` each)
        Mean and standard deviation over time of the log-mel spectrum (dB relative to the
        sound's loudest bin).
    ``descriptors`` (32, :data:`DESCRIPTOR_NAMES`)
        The original descriptors: temporal envelope (log attack time, temporal centroid,
        decay slope, effective duration, amplitude modulation, release), spectral shape
        over the loud frames (centroid, spread, skewness, kurtosis, flatness, rolloff, slope,
        flux, zero-crossing rate; mean and std each) and harmonic content (f0, its deviation,
        harmonicity, inharmonicity, odd/even ratio, tristimulus).
    ``spectral`` (12)
        Energy-weighted mean and std of log2 centroid, log2 spread, log10 flatness, log2
        85 % rolloff, spectral flux and log10 zero-crossing rate.
    ``contrast`` (14)
        Spectral contrast in 7 octave bands, weighted mean and std.
    ``summary`` (8)
        RMS crest (dB), log10 harmonic/percussive energy ratio (HPSS), log2 median f0 (YIN),
        log10 10->90 % attack time, log10 time of the maximum, temporal centroid / duration,
        signed log1p decay slope, fraction of frames at or above half the maximum.
    ``envelope`` (35)
        RMS envelope at a 2.5 ms hop: log10 times from the onset to 10, 20, 30, 50, 70, 90
        and 100 % of the peak; dB level 10 ms to 2.56 s after the peak (octave grid); a
        16-point envelope shape (dB) over the part above -40 dB; log10 durations above -6,
        -20 and -40 dB.
    ``harmonics`` (16)
        dB of the first 12 harmonics relative to the strongest, their slope against log2 of
        the harmonic number (dB/octave: negative for dull sounds, near 0 for bright ones),
        the non-harmonic energy fraction, inharmonicity and the autocorrelation salience.
    ``noisiness`` (14)
        log10 spectral flatness in 6 log-spaced bands from 50 Hz to 11 kHz (mean and std),
        HPSS percussive energy fraction (mean and std over frames).
    ``modulation`` (56)
        log10 amplitude-modulation depth of 8 mel sub-bands in the 7 octaves from 1 to 128 Hz.
    ``mfcc``, ``mfcc_delta``, ``mfcc_delta2`` (40 each)
        MFCC-20 mean and std; mean absolute value and std of their deltas and delta-deltas.
    ``logmel_flux`` (32)
        Mean absolute frame-to-frame difference (dB) of a 32-band log-mel spectrogram.

    Every feature name starts with its block's name, except the 32 original
    ``descriptors`` (:data:`DESCRIPTOR_NAMES`); ``feature_blocks_`` maps each block to its
    columns.

    Parameters
    ----------
    sr : int, default=22050
        Sample rate of the sounds, in Hz.
    n_mels : int, default=128
        Number of mel bands of the log-mel statistics.
    n_fft : int, default=2048
        STFT window length, in samples (at least 256 for the blocks other than the
        original three).
    hop_length : int, default=256
        STFT hop, in samples.
    fmin : float, default=0.0
        Lowest mel band edge of the log-mel statistics, in Hz.
    fmin_f0 : float, default=32.7
        Lowest fundamental frequency searched by the pitch tracker (YIN), in Hz.
    blocks : {"legacy", "timbre", "all"} or sequence of str, default="legacy"
        The feature blocks, a preset of :data:`BLOCK_PRESETS` or names of
        :data:`FEATURE_BLOCKS` (output in the order of :data:`FEATURE_BLOCKS`, whatever the
        order given). ``"legacy"`` is the original row (log-mel statistics and the 32
        descriptors); ``"timbre"`` the blocks the perceptual metric uses.
    standardize : bool, default=False
        If True, ``fit`` learns each feature's mean and standard deviation over the training
        sounds and ``transform`` returns standardized features.
    cache : bool, default=True
        Keep each sound's row in a per-process cache keyed by a hash of its samples and of
        these parameters, so the same sound is analysed once.
    n_jobs : int, default=None
        Number of joblib workers over sounds (``None`` = 1 unless a
        ``joblib.parallel_config`` context says otherwise, ``-1`` = all cores). Threads by
        default (the analysis releases the GIL); a backend set with
        ``joblib.parallel_config`` is used instead: ``"loky"`` processes, or ``"dask"`` to
        spread a large corpus over a cluster. Rows do not depend on it.

    Attributes
    ----------
    n_features_out_ : int
        Number of output features (``2 * n_mels + 32`` for ``blocks="legacy"``).
    blocks_ : tuple of str
        The resolved block names, in output order.
    feature_blocks_ : dict of str -> slice
        Columns of each block in the output.
    scaler_ : sklearn.preprocessing.StandardScaler or None
        The fitted standardization (``standardize=True``).

    Notes
    -----
    Cost: ``blocks="timbre"`` analyses the 201 sounds of the 13 shared studies (237 s of
    audio) in about 32 s with ``n_jobs=2`` on two busy cores (measured by
    ``benchmarks/bench_generalization.py``); HPSS (on a coarser STFT of its own) and the
    YIN pitch track are the costliest analyses. Workers are threads (librosa's FFTs and
    numba kernels release the GIL, and threads need no re-import of the package).

    Examples
    --------
    >>> import numpy as np
    >>> from perceptual_timbre.descriptors import SoundFeatures
    >>> t = np.arange(11025) / 22050
    >>> tones = [np.sin(2 * np.pi * f * t) * np.exp(-d * t) for f, d in [(220, 1), (440, 8)]]
    >>> feats = SoundFeatures(n_mels=32).fit(tones)
    >>> F = feats.transform(tones)
    >>> F.shape
    (2, 96)
    >>> i = list(feats.get_feature_names_out()).index("log_f0")
    >>> np.round(2 ** F[:, i])
    array([220., 440.])
    >>> feats = SoundFeatures(blocks=["summary", "harmonics"]).fit(tones)
    >>> {b: (s.start, s.stop) for b, s in feats.feature_blocks_.items()}
    {'summary': (0, 8), 'harmonics': (8, 24)}
    """

    _parameter_constraints = {
        "sr": [Interval(Real, 0, None, closed="neither")],
        "n_mels": [Interval(Integral, 1, None, closed="left")],
        "n_fft": [Interval(Integral, 16, None, closed="left")],
        "hop_length": [Interval(Integral, 1, None, closed="left")],
        "fmin": [Interval(Real, 0, None, closed="left")],
        "fmin_f0": [Interval(Real, 0, None, closed="neither")],
        "blocks": [str, list, tuple],
        "standardize": ["boolean"],
        "cache": ["boolean"],
        "n_jobs": [None, Integral],
    }

    def __init__(
        self,
        *,
        sr=22050,
        n_mels=128,
        n_fft=2048,
        hop_length=256,
        fmin=0.0,
        fmin_f0=32.7,
        blocks="legacy",
        standardize=False,
        cache=True,
        n_jobs=None,
    ):
        self.sr = sr
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.fmin = fmin
        self.fmin_f0 = fmin_f0
        self.blocks = blocks
        self.standardize = standardize
        self.cache = cache
        self.n_jobs = n_jobs

    def _params(self):
        sr = check_sr(self.sr)
        if self.fmin >= sr / 2:
            raise ParameterError(
                f"fmin={self.fmin} Hz must be below the Nyquist frequency {sr / 2}."
            )
        if self.fmin_f0 >= sr / 4:
            raise ParameterError(
                f"fmin_f0={self.fmin_f0} Hz must be below a quarter of sr ({sr / 4} Hz)."
            )
        blocks = self._check_blocks()
        if any(b not in BLOCK_PRESETS["legacy"] for b in blocks) and (
            self.n_fft < _MIN_N_FFT_BLOCKS
        ):
            newer = [b for b in blocks if b not in BLOCK_PRESETS["legacy"]]
            raise ParameterError(
                f"n_fft={self.n_fft} is too short for the blocks {newer}: they need "
                f"n_fft >= {_MIN_N_FFT_BLOCKS}."
            )
        return {
            "sr": sr,
            "n_mels": int(self.n_mels),
            "n_fft": int(self.n_fft),
            "hop_length": int(self.hop_length),
            "fmin": float(self.fmin),
            "fmin_f0": float(self.fmin_f0),
            "blocks": blocks,
        }

    def _check_blocks(self):
        """The resolved block names (a tuple in :data:`FEATURE_BLOCKS` order)."""
        blocks = self.blocks
        if isinstance(blocks, str):
            if blocks in BLOCK_PRESETS:
                return BLOCK_PRESETS[blocks]
            if blocks not in FEATURE_BLOCKS:
                raise ParameterError(
                    f"blocks={blocks!r} is neither a preset ({sorted(BLOCK_PRESETS)}) nor a "
                    f"block name ({list(FEATURE_BLOCKS)})."
                )
            blocks = [blocks]
        blocks = list(blocks)
        if not blocks:
            raise ParameterError("blocks is empty; name at least one feature block.")
        for b in blocks:
            if not isinstance(b, str) or b not in FEATURE_BLOCKS:
                raise ParameterError(
                    f"unknown feature block {b!r} in blocks; choose from "
                    f"{list(FEATURE_BLOCKS)}."
                )
        if len(set(blocks)) != len(blocks):
            dup = sorted({b for b in blocks if blocks.count(b) > 1})
            raise ParameterError(f"blocks names {dup} more than once.")
        return tuple(b for b in FEATURE_BLOCKS if b in blocks)

    def _block_names(self, blocks):
        n = int(self.n_mels)
        names = {
            "logmel_mean": [f"logmel_mean_{i:03d}" for i in range(n)],
            "logmel_std": [f"logmel_std_{i:03d}" for i in range(n)],
            "descriptors": list(DESCRIPTOR_NAMES),
        }
        return {b: names[b] if b in names else list(BLOCK_NAMES[b]) for b in blocks}

    def _features(self, X):
        params = self._params()
        sounds = check_audio(X)
        rows = [None] * len(sounds)
        keys = [_cache_key(s, params) for s in sounds] if self.cache else [None] * len(sounds)
        if self.cache:
            with _CACHE_LOCK:
                for i, k in enumerate(keys):
                    if k in _CACHE:
                        rows[i] = _CACHE[k]
                        _CACHE.move_to_end(k)
        todo = [i for i, r in enumerate(rows) if r is None]
        if todo:
            n_jobs = 1 if len(todo) == 1 else self.n_jobs
            # threads: librosa's FFTs and numba kernels release the GIL, and threads need no
            # pickling or re-import of the package in worker processes
            done = Parallel(n_jobs=n_jobs, prefer="threads")(
                delayed(_sound_features)(sounds[i], params) for i in todo
            )
            for i, r in zip(todo, done):
                rows[i] = r
            if self.cache:
                with _CACHE_LOCK:
                    for i in todo:
                        _CACHE[keys[i]] = rows[i]
                    while len(_CACHE) > _CACHE_MAX:
                        _CACHE.popitem(last=False)
        return np.vstack(rows)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the standardization (if any) from the training sounds.

        Parameters
        ----------
        X : list of ndarray of shape (n_audio_samples_i,) or ndarray of shape (n_sounds, n)
            Mono sounds at ``sr``.
        y : ignored

        Returns
        -------
        self : SoundFeatures
        """
        params = self._params()
        F = self._features(X) if self.standardize else check_audio(X)
        self.scaler_ = StandardScaler().fit(F) if self.standardize else None
        self.blocks_ = params["blocks"]
        self.feature_blocks_, start = {}, 0
        for b, names in self._block_names(self.blocks_).items():
            self.feature_blocks_[b] = slice(start, start + len(names))
            start += len(names)
        self.n_features_out_ = start
        return self

    def transform(self, X):
        """Feature rows of the sounds.

        Parameters
        ----------
        X : list of ndarray of shape (n_audio_samples_i,) or ndarray of shape (n_sounds, n)
            Mono sounds at ``sr``.

        Returns
        -------
        F : ndarray of shape (n_sounds, n_features_out_)
        """
        check_is_fitted(self, "n_features_out_")
        F = self._features(X)
        return self.scaler_.transform(F) if self.scaler_ is not None else F

    def fit_transform(self, X, y=None):
        """Fit, then return the feature rows (each sound is analysed once)."""
        self.fit(X, y)
        return self.transform(X)

    def get_feature_names_out(self, input_features=None):
        """Names of the output features, block after block (see ``feature_blocks_``).

        Returns
        -------
        names : ndarray of str of shape (n_features_out_,)
        """
        check_is_fitted(self, "n_features_out_")
        names = [v for vs in self._block_names(self.blocks_).values() for v in vs]
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        return tags
