"""Feature blocks of :class:`~perceptual_timbre.descriptors.SoundFeatures` that carry timbre.

Each block is a function of one analysed sound (:class:`_Analysis`, which computes the
shared STFT, envelope, pitch track and harmonic/percussive split lazily, once) that returns
a fixed number of values, with one name per value (:data:`BLOCK_NAMES`). Summaries over time
are weighted by frame energy over the frames above ``-40 dB`` of the loudest one, so that the
silent tail of a sound and its fade-out do not dominate them. Everything is level-free: the
sound is peak-normalized first.

The blocks, measured by leave-one-family-out on the 13 shared rating studies
(``benchmarks/bench_generalization.py``):

``spectral`` (12)
    Energy-weighted mean and standard deviation of log2 centroid, log2 spread, log10
    flatness, log2 85 % rolloff, spectral flux and log10 zero-crossing rate.
``contrast`` (14)
    Spectral contrast (Jiang et al. 2002) in 7 octave bands: weighted mean and std.
``summary`` (8)
    RMS crest (max - median, dB), log10 harmonic/percussive energy ratio (HPSS), log2 median
    f0 (YIN) and the attack: log10 10->90 % attack time, log10 time of the maximum, temporal
    centroid / duration, signed log1p decay slope (dB/s), fraction of frames >= 50 % of the
    maximum.
``envelope`` (35)
    RMS envelope at 2.5 ms: log10 times from the onset to 10/20/30/50/70/90/100 % of the peak,
    dB level 10 ms to 2.56 s after the peak on an octave grid, a 16-point envelope shape (dB)
    over the active part, log10 durations above -6/-20/-40 dB.
``harmonics`` (16)
    dB of the first 12 harmonics relative to the strongest (peaks within f0/4 of h*f0 in the
    mean loud spectrum), their slope against log2 h (dB/octave), the noise (non-harmonic)
    energy fraction, inharmonicity and the autocorrelation salience (periodicity).
``noisiness`` (14)
    log10 spectral flatness in 6 log-spaced bands from 50 Hz to 11 kHz (weighted mean and
    std), the HPSS percussive energy fraction per frame (mean and std).
``modulation`` (56)
    Amplitude-modulation depth (log10) of 8 mel sub-bands in the 7 octaves 1-2, ..., 64-128 Hz.
``mfcc``, ``mfcc_delta``, ``mfcc_delta2`` (40 each)
    MFCC-20 mean and std; mean |delta| and std of the deltas; the same for delta-deltas.
``logmel_flux`` (32)
    Mean |frame-to-frame difference| of a 32-band log-mel spectrogram (dB), per band.
"""

import functools

import numpy as np

__all__ = ["BLOCK_NAMES", "compute_block", "block_width"]

_LOUD_DB = 40.0
_N_HARM = 12
_ATTACK_LEVELS = (10, 20, 30, 50, 70, 90, 100)
_DECAY_MS = (10, 20, 40, 80, 160, 320, 640, 1280, 2560)
_SHAPE_POINTS = 16
_DURATION_DB = (6, 20, 40)
_N_NOISE_BANDS = 6
_N_MOD_BANDS = 8
_MOD_OCTAVES = tuple((2**k, 2 ** (k + 1)) for k in range(7))  # 1-2 ... 64-128 Hz
_N_MFCC = 20
_N_FLUX_MELS = 32


@functools.lru_cache(maxsize=16)
def _mel_basis(sr, n_fft, n_mels, fmin, fmax):
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)


def _mel_power(P, sr, n_mels, fmin=0.0, fmax=None):
    """``librosa.feature.melspectrogram(S=P, ...)`` of a power spectrogram ``P``.

    One matrix product with a filterbank built once per setting: librosa rebuilds the
    filterbank and contracts with ``np.einsum``, which took a fifth of feature extraction.
    """
    n_fft = 2 * (P.shape[0] - 1)
    return _mel_basis(sr, n_fft, n_mels, float(fmin), float(fmax or sr / 2)) @ P
_FLOOR_DB = -80.0

_STATS = ("centroid", "spread", "flatness", "rolloff", "flux", "zcr")

#: Feature names of each block (every name starts with its block's name).
BLOCK_NAMES = {
    "spectral": tuple(f"spectral_{d}_{s}" for d in _STATS for s in ("wmean", "wstd")),
    "contrast": tuple(f"contrast_{b}_{s}" for b in range(7) for s in ("mean", "std")),
    "summary": (
        "summary_crest_db",
        "summary_harmonic_percussive_ratio",
        "summary_log2_f0",
        "summary_log_attack_time",
        "summary_log_time_of_max",
        "summary_temporal_centroid_ratio",
        "summary_decay_slope",
        "summary_fraction_above_half",
    ),
    "envelope": tuple(
        [f"envelope_log_time_to_{p}pct" for p in _ATTACK_LEVELS]
        + [f"envelope_db_{ms}ms_after_peak" for ms in _DECAY_MS]
        + [f"envelope_shape_{i:02d}" for i in range(_SHAPE_POINTS)]
        + [f"envelope_log_duration_above_{d}db" for d in _DURATION_DB]
    ),
    "harmonics": tuple(
        [f"harmonics_db_{h:02d}" for h in range(1, _N_HARM + 1)]
        + ["harmonics_slope", "harmonics_noise_fraction", "harmonics_inharmonicity",
           "harmonics_salience"]
    ),
    "noisiness": tuple(
        [f"noisiness_flatness_{b}_{s}" for b in range(_N_NOISE_BANDS) for s in ("mean", "std")]
        + ["noisiness_percussive_mean", "noisiness_percussive_std"]
    ),
    "modulation": tuple(
        f"modulation_{b}_{lo}_{hi}hz" for b in range(_N_MOD_BANDS) for lo, hi in _MOD_OCTAVES
    ),
    "mfcc": tuple(f"mfcc_{s}_{i:02d}" for s in ("mean", "std") for i in range(_N_MFCC)),
    "mfcc_delta": tuple(
        f"mfcc_delta_{s}_{i:02d}" for s in ("absmean", "std") for i in range(_N_MFCC)
    ),
    "mfcc_delta2": tuple(
        f"mfcc_delta2_{s}_{i:02d}" for s in ("absmean", "std") for i in range(_N_MFCC)
    ),
    "logmel_flux": tuple(f"logmel_flux_{i:02d}" for i in range(_N_FLUX_MELS)),
}


def block_width(name):
    """Number of features of a (non log-mel) block."""
    return len(BLOCK_NAMES[name])


def _wstats(v, w):
    """Weighted mean and standard deviation of ``v`` (last axis) with weights ``w``."""
    m = np.sum(v * w, axis=-1)
    s = np.sqrt(np.maximum(np.sum((v - m[..., None]) ** 2 * w, axis=-1), 0.0))
    return m, s


class _Analysis:
    """Lazily computed, shared analyses of one peak-normalized sound."""

    def __init__(self, y, params):
        self.sr = params["sr"]
        self.n_fft = params["n_fft"]
        self.hop = params["hop_length"]
        self.fmin_f0 = params["fmin_f0"]
        peak = np.max(np.abs(y))
        self.duration = y.size / self.sr
        y = y / peak
        if y.size < self.n_fft:
            y = np.pad(y, (0, self.n_fft - y.size))
        self.y = y
        self._memo = {}

    def _get(self, key, fn):
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]

    # ------------------------------------------------------------------ spectra
    @property
    def S(self):
        """|STFT| (n_fft, hop)."""
        import librosa

        return self._get("S", lambda: np.abs(
            librosa.stft(self.y, n_fft=self.n_fft, hop_length=self.hop, center=True)))

    @property
    def freqs(self):
        import librosa

        return self._get("freqs", lambda: librosa.fft_frequencies(sr=self.sr, n_fft=self.n_fft))

    @property
    def weights(self):
        """Normalized energy weights of the frames above -40 dB of the loudest (else 0)."""

        def make():
            e = np.sum(self.S**2, axis=0)
            loud = 10 * np.log10(e / (e.max() + 1e-20) + 1e-20) > -_LOUD_DB
            w = np.where(loud, e, 0.0)
            return w / (w.sum() + 1e-30)

        return self._get("weights", make)

    @property
    def loud(self):
        return self.weights > 0

    @property
    def hpss(self):
        """Harmonic and percussive power spectrograms (median-filtering HPSS), frame weights.

        On a coarser STFT of its own (46 ms windows, half overlap), which keeps the median
        filters cheap: HPSS is the costliest analysis of a sound.
        """
        import librosa

        def make():
            n_fft = int(2 ** np.round(np.log2(0.046 * self.sr)))
            y = self.y if self.y.size >= n_fft else np.pad(self.y, (0, n_fft - self.y.size))
            S = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=n_fft // 2, center=True))
            H, P = librosa.decompose.hpss(S, kernel_size=(13, 13))
            e = np.sum(S**2, axis=0)
            loud = 10 * np.log10(e / (e.max() + 1e-20) + 1e-20) > -_LOUD_DB
            w = np.where(loud, e, 0.0)
            return H**2, P**2, w / (w.sum() + 1e-30)

        return self._get("hpss", make)

    @property
    def mel_power(self):

        return self._get("mel", lambda: _mel_power(self.S**2, self.sr, 128))

    @property
    def f0(self):
        """Median YIN f0 over the loud frames (Hz)."""
        import librosa

        def make():
            fmax = min(2000.0, self.sr / 4)
            f = librosa.yin(self.y, fmin=self.fmin_f0, fmax=fmax, sr=self.sr,
                            frame_length=self.n_fft, hop_length=2 * self.hop, center=True)
            loud = self.loud[::2]
            n = min(f.size, loud.size)
            sel = f[:n][loud[:n]]
            return float(np.median(sel if sel.size else f))

        return self._get("f0", make)

    # ------------------------------------------------------------------ envelope
    @property
    def envelope(self):
        """RMS envelope at a 2.5 ms hop, its hop in seconds."""
        import librosa

        def make():
            hop = max(1, int(round(self.sr / 400)))
            y = self.y[: max(int(round(self.duration * self.sr)), 1)]
            env = librosa.feature.rms(y=y, frame_length=4 * hop, hop_length=hop, center=True)[0]
            return env + 1e-10, hop / self.sr

        return self._get("env", make)

    @property
    def fine_mel(self):
        """8-band mel magnitude envelopes at a 2.5 ms hop (for the modulation block)."""
        import librosa

        def make():
            hop = max(1, int(round(self.sr / 400)))
            n_fft = 512 if self.sr <= 24000 else 1024
            y = self.y[: max(int(round(self.duration * self.sr)), n_fft)]
            P = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop, center=True)) ** 2
            M = _mel_power(P, self.sr, _N_MOD_BANDS, fmin=50.0)
            return np.sqrt(M), hop / self.sr

        return self._get("fine_mel", make)


# ---------------------------------------------------------------------------- blocks
def _spectral(a):
    import librosa

    S, f, w = a.S, a.freqs, a.weights
    p = S / (S.sum(axis=0, keepdims=True) + 1e-12)
    centroid = np.sum(f[:, None] * p, axis=0)
    spread = np.sqrt(np.sum((f[:, None] - centroid) ** 2 * p, axis=0))
    flat = librosa.feature.spectral_flatness(S=S)[0]
    cum = np.cumsum(S**2, axis=0)
    rolloff = f[np.minimum(np.argmax(cum >= 0.85 * cum[-1:], axis=0), f.size - 1)]
    flux = np.r_[0.0, np.sqrt(np.sum(np.diff(p, axis=1) ** 2, axis=0))]
    zcr = librosa.feature.zero_crossing_rate(a.y, frame_length=a.n_fft, hop_length=a.hop)[0]
    zcr = np.pad(zcr, (0, max(w.size - zcr.size, 0)))[: w.size]
    out = []
    for v in (np.log2(np.maximum(centroid, 20.0)), np.log2(np.maximum(spread, 20.0)),
              np.log10(flat + 1e-10), np.log2(np.maximum(rolloff, 20.0)), flux,
              np.log10(zcr + 1e-4)):
        out += list(_wstats(v, w))
    return out


def _contrast(a):
    import librosa

    fmin = min(200.0, 0.45 * a.sr / 2**6)
    C = librosa.feature.spectral_contrast(S=a.S, sr=a.sr, n_fft=a.n_fft, fmin=fmin, n_bands=6)
    m, s = _wstats(C, a.weights)
    return list(np.ravel(np.column_stack([m, s])))


def _summary(a):
    env, dt = a.envelope
    rms_db = 20 * np.log10(env)
    crest = float(rms_db.max() - np.median(rms_db))
    H, P, w = a.hpss
    hpr = float(np.log10((H.sum(axis=0) @ w + 1e-12) / (P.sum(axis=0) @ w + 1e-12)))
    peak_i = int(np.argmax(env))
    peak = env[peak_i]
    start = int(np.argmax(env >= 0.1 * peak))
    stop = int(np.argmax(env >= 0.9 * peak))
    attack = np.log10(max(stop - start, 1) * dt)
    t_max = np.log10(max(peak_i, 1) * dt)
    t = np.arange(env.size) * dt
    tc = float(np.sum(t * env**2) / np.sum(env**2)) / max(env.size * dt, dt)
    db = rms_db - rms_db[peak_i]
    tail = np.arange(peak_i, env.size)
    tail = tail[db[tail] > -_LOUD_DB]
    slope = float(np.polyfit(t[tail], db[tail], 1)[0]) if tail.size >= 3 else 0.0
    decay = float(np.sign(slope) * np.log1p(abs(slope)))
    frac = float(np.mean(env >= 0.5 * peak))
    return [crest, hpr, float(np.log2(a.f0)), attack, t_max, tc, decay, frac]


def _envelope(a):
    env, dt = a.envelope
    peak_i = int(np.argmax(env))
    peak = env[peak_i]
    onset = int(np.argmax(env >= 0.01 * peak))
    out = []
    for p in _ATTACK_LEVELS:
        k = int(np.argmax(env >= (p / 100.0) * peak * (1 - 1e-9)))
        out.append(np.log10(max(k - onset, 0) * dt + dt))
    db = np.maximum(20 * np.log10(env / peak), _FLOOR_DB)
    for ms in _DECAY_MS:
        k = peak_i + int(round(ms / 1000.0 / dt))
        out.append(float(db[k]) if k < db.size else _FLOOR_DB)
    active = np.flatnonzero(db > -_LOUD_DB)
    lo, hi = int(active[0]), int(active[-1]) + 1
    seg = db[lo:hi]
    grid = np.linspace(0, seg.size - 1, _SHAPE_POINTS)
    out += list(np.interp(grid, np.arange(seg.size), seg))
    for d in _DURATION_DB:
        out.append(np.log10(np.count_nonzero(db > -d) * dt + dt))
    return out


def _harmonic_peaks(spec, freqs, f0, n_harmonics):
    """Harmonic peaks of a power spectrum: for each multiple h * f0 below the top bin, the
    strongest bin within a quarter of f0 (a slightly stretched partial, e.g. a piano's, is
    still found).

    Returns the peaks' powers and their distances to h * f0 in Hz (one per harmonic found,
    from h = 1 up) and a mask of the bins they cover (a Hann-windowed partial spans ~4 bins).
    """
    amps, devs, mask = [], [], np.zeros(spec.size, bool)
    for h in range(1, n_harmonics + 1):
        target = h * f0
        if target + f0 / 4 >= freqs[-1]:
            break
        lo = int(np.searchsorted(freqs, target - f0 / 4))
        hi = max(int(np.searchsorted(freqs, target + f0 / 4)), lo + 1)
        k = lo + int(np.argmax(spec[lo:hi]))
        amps.append(spec[k])
        devs.append(abs(freqs[k] - target))
        mask[max(k - 2, 0) : k + 3] = True
    return np.asarray(amps, dtype=float), np.asarray(devs, dtype=float), mask


def _harmonics(a):
    f0 = a.f0
    spec = np.sum(a.S**2 * a.weights, axis=1)
    f = a.freqs
    found, found_devs, mask = _harmonic_peaks(spec, f, f0, _N_HARM)
    amps, devs = np.full(_N_HARM, np.nan), np.full(_N_HARM, np.nan)
    amps[: found.size], devs[: found.size] = found, found_devs
    ok = np.isfinite(amps)
    db = np.full(_N_HARM, _FLOOR_DB)
    if ok.any():
        db[ok] = np.maximum(10 * np.log10(amps[ok] / (np.nanmax(amps) + 1e-30) + 1e-30),
                            _FLOOR_DB)
    hs = np.log2(np.arange(1, _N_HARM + 1))[ok]
    slope = float(np.polyfit(hs, db[ok], 1)[0]) if ok.sum() >= 2 else 0.0
    noise = float(1.0 - spec[mask].sum() / (spec.sum() + 1e-30))
    w = np.where(ok, amps, 0.0)
    df = f[1] - f[0]
    inharm = float(2 * np.nansum(devs * w) / (f0 * w.sum() + 1e-30)) if ok.any() else 0.0
    inharm = max(inharm, 0.5 * df / max(f0, df))
    return list(db) + [slope, noise, inharm, _salience(a)]


def _salience(a, max_frames=24):
    """Median over the loudest frames of the peak normalized autocorrelation at pitch lags."""
    n = a.n_fft
    frames = np.lib.stride_tricks.sliding_window_view(a.y, n)[:: a.hop]
    if frames.shape[0] == 0:
        return 0.0
    e = np.sum(frames**2, axis=1)
    pick = np.argsort(e)[::-1][:max_frames]
    fr = frames[pick] * np.hanning(n)
    spec = np.fft.rfft(fr, 2 * n, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :n]
    # unbias (divide by the window's own autocorrelation) and normalize by lag 0
    wac = np.fft.irfft(np.abs(np.fft.rfft(np.hanning(n), 2 * n)) ** 2)[:n]
    ac = ac / np.maximum(wac, 1e-3 * wac[0])
    ac = ac / (ac[:, :1] + 1e-20)
    lo = max(int(a.sr / min(2000.0, a.sr / 4)), 1)
    hi = min(int(a.sr / a.fmin_f0), n // 2)
    if hi <= lo:
        return 0.0
    return float(np.median(np.clip(ac[:, lo:hi].max(axis=1), 0.0, 1.0)))


def _noisiness(a):
    f, w = a.freqs, a.weights
    P = a.S**2
    edges = np.geomspace(50.0, min(11000.0, 0.95 * a.sr / 2), _N_NOISE_BANDS + 1)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (f >= lo) & (f < hi)
        if sel.sum() < 2:
            out += [0.0, 0.0]
            continue
        B = P[sel] + 1e-12
        flat = np.exp(np.mean(np.log(B), axis=0)) / np.mean(B, axis=0)
        out += list(_wstats(np.log10(flat), w))
    H, Pp, wh = a.hpss
    frac = Pp.sum(axis=0) / (H.sum(axis=0) + Pp.sum(axis=0) + 1e-20)
    out += list(_wstats(frac, wh))
    return out


def _modulation(a):
    M, dt = a.fine_mel
    n = M.shape[1]
    nfft = int(2 ** np.ceil(np.log2(max(n, 2))))
    F = np.abs(np.fft.rfft(M - M.mean(axis=1, keepdims=True), nfft, axis=1)) ** 2
    fm = np.fft.rfftfreq(nfft, d=dt)
    mean = M.mean(axis=1) + 1e-12
    out = np.zeros((_N_MOD_BANDS, len(_MOD_OCTAVES)))
    for j, (lo, hi) in enumerate(_MOD_OCTAVES):
        sel = (fm >= lo) & (fm < hi)
        if sel.any():
            # Parseval: rms of the band-passed envelope over its mean (a depth)
            out[:, j] = np.sqrt(2 * F[:, sel].sum(axis=1) / (n * nfft)) / mean
    return list(np.log10(out + 1e-3).ravel())


def _mfcc_family(a):
    import librosa

    def make():
        logmel = librosa.power_to_db(a.mel_power, ref=np.max, top_db=80.0)
        C = librosa.feature.mfcc(S=logmel, n_mfcc=_N_MFCC)
        n = C.shape[1]
        width = min(9, n if n % 2 else n - 1)
        if width >= 3:
            d1 = librosa.feature.delta(C, width=width, order=1, mode="interp")
            d2 = librosa.feature.delta(C, width=width, order=2, mode="interp")
        else:
            d1 = d2 = np.zeros_like(C)
        w = a.weights
        m, s = _wstats(C, w)
        out = {"mfcc": list(m) + list(s)}
        for key, D in (("mfcc_delta", d1), ("mfcc_delta2", d2)):
            am, _ = _wstats(np.abs(D), w)
            _, ds = _wstats(D, w)
            out[key] = list(am) + list(ds)
        return out

    return a._get("mfcc_family", make)


def _logmel_flux(a):
    import librosa

    def make():
        M = _mel_power(a.S**2, a.sr, _N_FLUX_MELS)
        L = librosa.power_to_db(M, ref=np.max, top_db=80.0)
        if L.shape[1] < 2:
            return [0.0] * _N_FLUX_MELS
        d = np.abs(np.diff(L, axis=1))
        w = a.weights[1:] + a.weights[:-1]
        w = w / (w.sum() + 1e-30)
        return list(np.sum(d * w, axis=1))

    return make()


_FUNCS = {
    "spectral": _spectral,
    "contrast": _contrast,
    "summary": _summary,
    "envelope": _envelope,
    "harmonics": _harmonics,
    "noisiness": _noisiness,
    "modulation": _modulation,
    "mfcc": lambda a: _mfcc_family(a)["mfcc"],
    "mfcc_delta": lambda a: _mfcc_family(a)["mfcc_delta"],
    "mfcc_delta2": lambda a: _mfcc_family(a)["mfcc_delta2"],
    "logmel_flux": _logmel_flux,
}


def compute_block(name, analysis):
    """Values of one block for an analysed sound, as a float64 vector."""
    v = np.asarray(_FUNCS[name](analysis), dtype=np.float64)
    if v.size != len(BLOCK_NAMES[name]):  # pragma: no cover - a programming error
        raise RuntimeError(f"block {name!r} gave {v.size} values, expected "
                           f"{len(BLOCK_NAMES[name])}")
    return v
