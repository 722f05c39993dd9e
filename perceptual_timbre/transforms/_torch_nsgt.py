"""Batched NSGT (matrix form) and fast Griffin-Lim in torch.

The windows, dual windows, frequency positions and frame counts are taken from an ``nsgt.NSGT``
set-up (``nsgfwin`` / ``calcwinrange`` / ``nsdual``, real input, ``matrixform=True``,
``reducedform=1``, exactly as :class:`~perceptual_timbre.transforms.NSGTTransformer` builds
it), so the coefficients are nsgt's to rounding error. What nsgt does bin by bin in a Python
loop, one signal at a time, is done here as one gather + batched inverse FFT (analysis) and one
batched FFT + ``index_add`` (synthesis), over a whole batch of equal-length signals, on any torch
device. The lowest bins, whose windows are a few samples long, use a direct DFT over the
window's support (a matrix product) instead of an FFT of length ``M``, which is often prime.

Analysis of bin ``k`` (nsgt's ``nsgtf_loop``): the signal's spectrum ``F`` is read at the
bin's frequency positions ``win_range``, multiplied by the window ``g_k``, placed in a buffer of
``M`` (the common number of frames) with the window's centre at index 0, and inverse-FFT'd.
Synthesis (``nsigtf_loop``) FFTs each bin's coefficients, multiplies the same buffer positions
by the dual window ``gd_k`` (times ``M``) and adds them back at the same frequency positions;
the negative-frequency windows read the conjugate mirrored coefficients. Only the non-negative
frequencies are accumulated, and an inverse real FFT gives the signal.

Why not an existing port: the torch port of nsgt's sliCQ (for xumx-sliCQ) was reported at 2-3x
numpy nsgt on CPU (issue 13), short of the 10x asked, and it is a research fork with its own
window and matrix-form changes. Reusing nsgt 0.19's own set-up keeps the windows (including our
ERB scale) identical by construction, and the tests check the coefficients against nsgt.
"""

import numpy as np
import torch

from ..exceptions import ParameterError

__all__ = ["TORCH_CPU_THREADS", "TorchNSGT", "cpu_context", "fast_griffin_lim", "stft_pair"]

#: torch intra-op threads of the transformers' torch work on the CPU (``None``: torch's own
#: setting). One thread: on a 2-core machine shared with other processes, two threads made
#: Griffin-Lim up to 8x slower (threads wait on each other at every small step); batches give
#: the speed, and joblib workers the parallelism.
TORCH_CPU_THREADS = 1

# Bins whose windows have at most this many samples are transformed by a direct DFT (a matrix
# product over the window's support) instead of an FFT of length M (often prime).
_DIRECT_MAX = 32

# Largest number of complex coefficients processed in one chunk of a batch (memory bound:
# Griffin-Lim keeps about five such tensors alive).
_CHUNK_COEFS = 1 << 23

_COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}


def _buffer_layout(lengths, M):
    """Buffer positions and window-sample order of windows of ``lengths`` (nsgt's t1/t2 split).

    For the windows one after the other, window sample ``j`` (0 <= j < Lg) goes to buffer
    position ``pos`` and reads frequency ``win_range[freq]``. Returns ``(window, pos, freq)``
    for every sample of every window (``window`` indexes ``lengths``).
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    window = np.repeat(np.arange(lengths.size), lengths)
    Lg = lengths[window]
    j = np.arange(window.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    half_up, half_down = (Lg + 1) // 2, Lg // 2
    first = j < half_up
    pos = np.where(first, j, M - Lg + j)
    freq = np.where(first, half_down + j, j - half_up)
    return window, pos, freq


class TorchNSGT:
    """Batched torch version of one ``nsgt.NSGT`` set-up (real, matrix form, reducedform 1).

    Parameters
    ----------
    nsgt : nsgt.NSGT
        Built with ``real=True, matrixform=True, reducedform=1``; its windows are reused.

    Attributes
    ----------
    length : int
        Signal length the set-up is for.
    n_bins : int
        Number of frequency bins (the scale's bins below Nyquist).
    n_frames : int
        Coefficients per bin (nsgt's common ``M``).

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from perceptual_timbre._compat import nsgt as nsgt_compat
    >>> from perceptual_timbre.transforms._torch_nsgt import TorchNSGT
    >>> nsgt = nsgt_compat.apply()
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     ref = nsgt.NSGT(nsgt.OctScale(100, 3000, 12), 8000, 8000, real=True,
    ...                     matrixform=True, reducedform=1)
    >>> x = np.random.RandomState(0).randn(2, 8000)
    >>> tn = TorchNSGT(ref)
    >>> C = tn.forward(x)
    >>> C.shape == (2, tn.n_bins, tn.n_frames)
    True
    >>> bool(np.allclose(C[0].numpy(), np.asarray(ref.forward(x[0]))))
    True
    >>> y = np.asarray(ref.backward(list(C[0].numpy())))  # nsgt's inverse (band-limited)
    >>> bool(np.allclose(tn.backward(C)[0].numpy(), y))
    True
    """

    def __init__(self, nsgt, *, direct_max=_DIRECT_MAX):
        if not (nsgt.real and nsgt.reducedform == 1):
            raise ParameterError(
                "TorchNSGT needs an nsgt.NSGT built with real=True and reducedform=1."
            )
        n_win = len(nsgt.g)
        kept = list(range(1, n_win // 2))  # band windows (no DC, no Nyquist)
        M = np.asarray(nsgt.M)[kept]
        if not np.all(M == M[0]):
            raise ParameterError("TorchNSGT needs an nsgt.NSGT built with matrixform=True.")
        M = int(M[0])
        self.length = int(nsgt.Ls)
        self.nn = int(nsgt.nn)
        self.n_bins = len(kept)
        self.n_frames = M

        # The lowest bins, with short windows, get a direct DFT over offsets -h..h (h = half
        # the longest such window); the others an FFT of length M. Coefficient buffers are
        # laid out as [FFT bins x M | direct bins x (2h + 1)].
        lengths = np.array([len(nsgt.g[k]) for k in kept])
        # the lowest bins, up to the first longer window: contiguous slices, no gathers
        longer = np.flatnonzero(lengths > direct_max)
        n_direct = int(longer[0]) if longer.size else self.n_bins
        direct = np.arange(self.n_bins) < n_direct
        h = int(np.ceil(lengths[direct].max() / 2)) if direct.any() else 0
        if 2 * h + 1 > M:
            direct[:] = False
        self._width = 2 * h + 1
        self._fft_bins = np.flatnonzero(~direct)
        self._dir_bins = np.flatnonzero(direct)
        rank = np.empty(self.n_bins, dtype=np.int64)
        rank[self._fft_bins] = np.arange(self._fft_bins.size)
        rank[self._dir_bins] = np.arange(self._dir_bins.size)
        n_fft_coefs = self._fft_bins.size * M

        def loc(b, pos):  # flat buffer index of position pos of bin b (arrays)
            offset = np.where(pos <= M // 2, pos, pos - M)
            return np.where(direct[b], n_fft_coefs + rank[b] * self._width + offset + h,
                            rank[b] * M + pos)

        o = np.arange(-h, h + 1)[:, None] * np.arange(M)[None, :]
        self._dft = np.exp(2j * np.pi * o / M) / M  # (width, M): buffer -> coefficients

        # Analysis: the spectrum at the windows' supports, scattered into the buffers. Each
        # window's frequency range is contiguous (mod nn), from its first index on.
        if np.any(lengths > M):
            k = kept[int(np.argmax(lengths > M))]
            raise ParameterError(
                f"nsgt window {k} has {len(nsgt.g[k])} samples, more than the {M} frames of "
                f"the matrix form; this set-up is not supported by the torch backend."
            )
        start = np.array([int(nsgt.wins[k][0]) for k in kept])
        b, pos, freq = _buffer_layout(lengths, M)
        g = np.concatenate([np.asarray(nsgt.g[k], dtype=np.float64) for k in kept])
        self._ana = (loc(b, pos), (start[b] + freq) % self.nn, g)

        # Synthesis: positive windows read bin b, mirrored windows (highest band first) the
        # conjugate mirrored coefficients of bin b; only non-negative frequencies are kept
        # (the inverse real FFT reads only these).
        half = self.nn // 2
        mirrored = list(range(n_win // 2 + 1, n_win))
        windows = kept + mirrored
        bins = np.concatenate([np.arange(self.n_bins), self.n_bins - 1 - np.arange(len(mirrored))])
        is_conj = np.arange(len(windows)) >= len(kept)
        gd_lengths = np.array([len(nsgt.gd[k]) for k in windows])
        start = np.array([int(nsgt.wins[k][0]) for k in windows])
        w_idx, pos, freq = _buffer_layout(gd_lengths, M)
        conj = is_conj[w_idx]
        pos = np.where(conj, (-pos) % M, pos)  # fftsymm: conj(T[-p mod M])
        target = (start[w_idx] + freq) % self.nn
        gd = np.concatenate([np.asarray(nsgt.gd[k], dtype=np.float64) for k in windows]) * M
        keep = target <= half
        src = loc(bins[w_idx], pos)
        self._syn = {
            "pos": (src[keep & ~conj], target[keep & ~conj], gd[keep & ~conj]),
            "neg": (src[keep & conj], target[keep & conj], gd[keep & conj]),
        }
        self._tensors = {}

    def _get(self, device, dtype):
        key = (str(device), dtype)
        if key not in self._tensors:
            as_t = lambda a, dt: torch.as_tensor(a, dtype=dt, device=device)  # noqa: E731
            dft = as_t(self._dft, _COMPLEX[dtype])
            self._tensors[key] = {
                "dft": dft,  # (width, M)
                "dft_inv": (dft.conj() * self.n_frames).T.contiguous(),  # (M, width)
                **{
                    name: (as_t(s, torch.int64), as_t(t, torch.int64), as_t(w, dtype))
                    for name, (s, t, w) in [("ana", self._ana), *self._syn.items()]
                },
            }
        return self._tensors[key]

    def _check_signals(self, x, device, dtype):
        x = torch.as_tensor(x, device=device)
        if x.ndim != 2 or x.shape[1] != self.length:
            raise ParameterError(
                f"signals must have shape (n_signals, {self.length}) for this set-up, got "
                f"{tuple(x.shape)}; batch only equal-length signals (pad or group them)."
            )
        return x.to(dtype)

    def forward(self, x, *, device=None, dtype=torch.float64):
        """Complex coefficients of a batch of equal-length real signals.

        Parameters
        ----------
        x : array-like or tensor of shape (n_signals, length)
        device : torch.device, default=None
            Where to compute; ``None`` keeps the input's device (CPU for arrays).
        dtype : torch.dtype, default=torch.float64

        Returns
        -------
        C : complex tensor of shape (n_signals, n_bins, n_frames)
        """
        if device is None:
            device = x.device if isinstance(x, torch.Tensor) else torch.device("cpu")
        x = self._check_signals(x, device, dtype)
        t = self._get(device, dtype)
        spec = torch.fft.fft(x, dim=-1)
        if self.nn > self.length:  # nsgt pads the spectrum (never for the plain NSGT)
            spec = torch.nn.functional.pad(spec, (0, self.nn - self.length))
        loc, freq, w = t["ana"]
        n = x.shape[0]
        n_fft, n_dir = self._fft_bins.size, self._dir_bins.size
        buf = torch.zeros(n, n_fft * self.n_frames + n_dir * self._width, dtype=spec.dtype,
                          device=device)
        buf[:, loc] = spec[:, freq] * w
        C_fft = torch.fft.ifft(buf[:, : n_fft * self.n_frames].view(n, n_fft, self.n_frames))
        if n_dir == 0:
            return C_fft
        C_dir = buf[:, n_fft * self.n_frames :].view(n, n_dir, self._width) @ t["dft"]
        return torch.cat([C_dir, C_fft], dim=1)  # the direct bins are the lowest

    def backward(self, c):
        """Signals from coefficients (exact inverse of :meth:`forward`).

        Parameters
        ----------
        c : complex tensor of shape (n_signals, n_bins, n_frames)

        Returns
        -------
        x : real tensor of shape (n_signals, length), on ``c``'s device
        """
        if c.ndim != 3 or tuple(c.shape[1:]) != (self.n_bins, self.n_frames):
            raise ParameterError(
                f"coefficients must have shape (n_signals, {self.n_bins}, {self.n_frames}), "
                f"got {tuple(c.shape)}."
            )
        dtype = c.real.dtype
        t = self._get(c.device, dtype)
        if self._dir_bins.size == 0:
            T = torch.fft.fft(c, dim=-1).reshape(c.shape[0], -1)
        else:
            n_dir = self._dir_bins.size
            T = torch.cat([
                torch.fft.fft(c[:, n_dir:], dim=-1).reshape(c.shape[0], -1),
                (c[:, :n_dir] @ t["dft_inv"]).reshape(c.shape[0], -1),
            ], dim=1)
        fr = torch.zeros(c.shape[0], self.nn // 2 + 1, dtype=c.dtype, device=c.device)
        src, tgt, w = t["pos"]
        fr.index_add_(1, tgt, T[:, src] * w)
        src, tgt, w = t["neg"]
        fr.index_add_(1, tgt, T[:, src].conj() * w)
        return torch.fft.irfft(fr, n=self.nn, dim=-1)[:, : self.length]


def stft_pair(n_fft, hop_length, window, length, device, dtype):
    """Batched STFT / inverse STFT matching ``librosa.stft`` / ``librosa.istft`` (centered).

    ``librosa.stft(center=True, pad_mode="constant")`` and ``librosa.istft`` (overlap-add
    divided by the summed squared window wherever it is non-zero), for signals of ``length``.

    Returns
    -------
    analysis, synthesis : callables
        ``analysis(x)`` maps (n, length) real tensors to (n, n_fft // 2 + 1, n_frames)
        complex ones; ``synthesis`` maps them back.
    """
    win = torch.as_tensor(np.asarray(window, dtype=np.float64), dtype=dtype, device=device)
    n_frames = 1 + length // hop_length
    padded = n_fft + hop_length * (n_frames - 1)
    wsum = torch.nn.functional.fold(
        (win**2)[None, :, None].expand(1, n_fft, n_frames),
        output_size=(1, padded), kernel_size=(1, n_fft), stride=(1, hop_length),
    ).reshape(-1)
    tiny = torch.finfo(dtype).tiny
    inv_wsum = torch.where(wsum > tiny, 1.0 / torch.where(wsum > tiny, wsum, 1.0), 1.0)
    start = n_fft // 2

    def analysis(x):
        return torch.stft(x, n_fft, hop_length=hop_length, window=win, center=True,
                          pad_mode="constant", return_complex=True)

    def synthesis(S):
        frames = torch.fft.irfft(S, n=n_fft, dim=1) * win[:, None]
        y = torch.nn.functional.fold(
            frames, output_size=(1, padded), kernel_size=(1, n_fft), stride=(1, hop_length)
        ).reshape(S.shape[0], -1)
        y = y * inv_wsum
        y = y[:, start : start + length]
        if y.shape[1] < length:
            y = torch.nn.functional.pad(y, (0, length - y.shape[1]))
        return y

    return analysis, synthesis


def fast_griffin_lim(magnitude, analysis, synthesis, *, n_iter, momentum, angles=None):
    """Fast Griffin-Lim (Perraudin et al. 2013) over a batch, as ``librosa.griffinlim``.

    Parameters
    ----------
    magnitude : real tensor of shape (n, n_bins, n_frames)
    analysis, synthesis : callables
        Batched transform (audio -> complex coefficients) and its inverse.
    n_iter : int
    momentum : float
        0 gives plain Griffin-Lim.
    angles : complex tensor of the same shape, default=None
        Initial unit phases; ``None`` starts from zero phase.

    Returns
    -------
    audio : real tensor of shape (n, length)
    """
    # X = magnitude * unit phase; the phase update a / (|a| + eps) is folded into one
    # real scale per coefficient (fewer passes over the batch than angles, then X).
    if angles is None:
        coefs = magnitude.to(_COMPLEX[magnitude.dtype])
    else:
        coefs = magnitude * angles
    eps = torch.finfo(magnitude.dtype).tiny
    beta = momentum / (1.0 + momentum)
    previous = None
    for _ in range(n_iter):
        rebuilt = analysis(synthesis(coefs))
        if previous is not None and beta:
            a = torch.add(rebuilt, previous, alpha=-beta)
        else:
            a = rebuilt
        scale = a.abs().add_(eps)
        coefs = a * torch.div(magnitude, scale, out=scale)
        previous = rebuilt
    return synthesis(coefs)


def cpu_context(device):
    """Thread setting for torch work on ``device`` (see :data:`TORCH_CPU_THREADS`)."""
    from ..utils._torch import cpu_threads

    threads = TORCH_CPU_THREADS if torch.device(device).type == "cpu" else None
    return cpu_threads(threads)


def chunks(n_items, coefs_per_item):
    """Slices of a batch so that each chunk holds at most ``_CHUNK_COEFS`` coefficients."""
    step = max(1, _CHUNK_COEFS // max(1, coefs_per_item))
    return [slice(i, min(i + step, n_items)) for i in range(0, n_items, step)]
