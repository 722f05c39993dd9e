"""Sound-level timbre features: log-mel statistics and ~30 classic descriptors.

One fixed-length row per sound (whatever its length), in the spirit of the timbre
descriptors of Peeters et al. (2011, "The Timbre Toolbox"): the long-term log-mel spectrum
(mean and standard deviation over time), the temporal envelope, the spectral shape and the
harmonic content. Unlike spectral frames, these rows carry attack, decay, pitch and
harmonicity, which is what listeners' dissimilarity ratings of whole sounds depend on.
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

__all__ = ["SoundFeatures", "DESCRIPTOR_NAMES"]

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

_N_HARMONICS = 20
_LOUD_DB = 40.0  # frames quieter than this below the loudest are left out of spectral stats

# Per-process cache of feature rows, keyed by a hash of the samples and of the parameters.
# Features of a 1.5 s sound cost ~10 ms; cross-validation and benchmarks compute the same
# sounds many times, so a lookup saves nearly all of it (see benchmarks/bench_generalization.py).
_CACHE = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_MAX = 8192


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
    # Harmonic peaks of the long-term spectrum: the strongest bin within a quarter of f0 of
    # each multiple h * f0 (a slightly stretched partial, e.g. a piano's, is still found).
    spec = np.mean(S[:, loud] ** 2, axis=1)
    df = freqs[1] - freqs[0]
    amps, devs, mask = [], [], np.zeros(spec.size, bool)
    for h in range(1, _N_HARMONICS + 1):
        target = h * f0_med
        if target + f0_med / 4 >= freqs[-1]:
            break
        lo = int(np.searchsorted(freqs, target - f0_med / 4))
        hi = max(int(np.searchsorted(freqs, target + f0_med / 4)), lo + 1)
        k = lo + int(np.argmax(spec[lo:hi]))
        amps.append(spec[k])
        devs.append(abs(freqs[k] - target))
        mask[max(k - 2, 0) : k + 3] = True  # a Hann-windowed partial spans ~4 bins
    amps = np.sqrt(np.asarray(amps) + 1e-20)
    devs = np.asarray(devs)
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
    """Feature row of one sound (log-mel mean/std, then :data:`DESCRIPTOR_NAMES`)."""
    import librosa

    sr, n_fft, hop = params["sr"], params["n_fft"], params["hop_length"]
    peak = np.max(np.abs(y))
    y = y / peak  # level-free: timbre studies equalize loudness
    if y.size < n_fft:  # very short sounds (e.g. 90 ms onsets): pad to one full window
        y = np.pad(y, (0, n_fft - y.size))
    S = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop, center=True))
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    mel = librosa.feature.melspectrogram(
        S=S**2, sr=sr, n_mels=params["n_mels"], fmin=params["fmin"], fmax=sr / 2
    )
    logmel = librosa.power_to_db(mel, ref=np.max, top_db=80.0)
    energy = np.sum(S**2, axis=0)
    loud = 10 * np.log10(energy / (energy.max() + 1e-20) + 1e-20) > -_LOUD_DB
    row = np.concatenate(
        [
            logmel.mean(axis=1),
            logmel.std(axis=1),
            _envelope_descriptors(y, sr),
            _spectral_descriptors(S, freqs, loud, y, sr, n_fft, hop),
            _harmonic_descriptors(y, S, freqs, loud, sr, n_fft, hop, params["fmin_f0"], 2000.0),
        ]
    )
    # A pathological sound (e.g. a click) may leave a descriptor undefined: 0, not NaN.
    return np.nan_to_num(row.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)


class SoundFeatures(ParamValidationMixin, TransformerMixin, BaseEstimator):
    """Sound-level timbre features: one fixed-length row per sound.

    Each sound (a mono signal of any length at ``sr``) becomes the mean and standard
    deviation over time of its log-mel spectrum (``n_mels`` bands, dB relative to its loudest
    bin) followed by 32 descriptors (:data:`DESCRIPTOR_NAMES`): the temporal envelope (log
    attack time, temporal centroid, decay slope, effective duration, amplitude modulation,
    release), the spectral shape over the loud frames (centroid, spread, skewness, kurtosis,
    flatness, rolloff, slope, flux, zero-crossing rate; mean and std each) and the harmonic
    content (f0, its deviation, harmonicity, inharmonicity, odd/even ratio, tristimulus).
    Sounds are peak-normalized first, so the features ignore playback level.

    Parameters
    ----------
    sr : int, default=22050
        Sample rate of the sounds, in Hz.
    n_mels : int, default=128
        Number of mel bands of the log-mel statistics.
    n_fft : int, default=2048
        STFT window length, in samples.
    hop_length : int, default=256
        STFT hop, in samples.
    fmin : float, default=0.0
        Lowest mel band edge, in Hz.
    fmin_f0 : float, default=32.7
        Lowest fundamental frequency searched by the pitch tracker (YIN), in Hz.
    standardize : bool, default=False
        If True, ``fit`` learns each feature's mean and standard deviation over the training
        sounds and ``transform`` returns standardized features.
    cache : bool, default=True
        Keep each sound's row in a per-process cache keyed by a hash of its samples and of
        these parameters, so the same sound is analysed once.
    n_jobs : int, default=None
        Number of joblib workers over sounds (``None`` = 1, ``-1`` = all cores).

    Attributes
    ----------
    n_features_out_ : int
        Number of output features, ``2 * n_mels + 32``.
    scaler_ : sklearn.preprocessing.StandardScaler or None
        The fitted standardization (``standardize=True``).

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
    """

    _parameter_constraints = {
        "sr": [Interval(Real, 0, None, closed="neither")],
        "n_mels": [Interval(Integral, 1, None, closed="left")],
        "n_fft": [Interval(Integral, 16, None, closed="left")],
        "hop_length": [Interval(Integral, 1, None, closed="left")],
        "fmin": [Interval(Real, 0, None, closed="left")],
        "fmin_f0": [Interval(Real, 0, None, closed="neither")],
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
        return {
            "sr": sr,
            "n_mels": int(self.n_mels),
            "n_fft": int(self.n_fft),
            "hop_length": int(self.hop_length),
            "fmin": float(self.fmin),
            "fmin_f0": float(self.fmin_f0),
        }

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
        self._params()
        F = self._features(X) if self.standardize else check_audio(X)
        self.scaler_ = StandardScaler().fit(F) if self.standardize else None
        self.n_features_out_ = 2 * int(self.n_mels) + len(DESCRIPTOR_NAMES)
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
        """Names of the output features.

        Returns
        -------
        names : ndarray of str of shape (n_features_out_,)
        """
        check_is_fitted(self, "n_features_out_")
        n = int(self.n_mels)
        names = [f"logmel_mean_{i:03d}" for i in range(n)]
        names += [f"logmel_std_{i:03d}" for i in range(n)]
        return np.asarray(names + list(DESCRIPTOR_NAMES), dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        return tags
