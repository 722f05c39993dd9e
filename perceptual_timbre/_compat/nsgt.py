"""Compatibility fix for nsgt 0.19 with numpy >= 1.25.

``nsgt.nsgfwin_sl.nsgfwin`` (used by every NSGT constructor: ``NSGT``, ``CQ_NSGT``,
``NSGT_sliced``) ends with ``np.clip(M, min_win, np.inf, out=M)`` where ``M`` is an int
array. Since numpy 1.25 the ``inf`` bound makes the result float, which cannot be cast into
the int ``out`` array, so construction raises ``numpy._core._exceptions._UFuncOutputCastingError``
(a ``TypeError``). The upstream fix is ``np.clip(M, min_win, None, out=M)``.

Rather than copying nsgt's code, :func:`apply` gives that one module a numpy namespace whose
``clip`` drops an infinite upper bound (``None``: no upper clip, same result) and forwards
everything else to numpy. It is applied once, by :mod:`perceptual_timbre.transforms._nsgt`,
and is idempotent.
"""

import contextlib
import warnings

import numpy as np

__all__ = ["apply", "is_applied", "unpatched"]


class _NumpyWithIntClip:
    """Proxy of the numpy module whose ``clip`` accepts ``np.inf`` bounds on int ``out``."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def clip(a, a_min, a_max, *args, **kwargs):
        if a_max is not None and np.isscalar(a_max) and np.isposinf(a_max):
            a_max = None
        if a_min is not None and np.isscalar(a_min) and np.isneginf(a_min):
            a_min = None
        return np.clip(a, a_min, a_max, *args, **kwargs)


def _module():
    # nsgt warns at import that it falls back to numpy.fft (no pyfftw): expected here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="nsgt.fft falling back", category=UserWarning)
        warnings.filterwarnings("ignore", message="Audio IO routines", category=UserWarning)
        import nsgt  # noqa: F401
        from nsgt import nsgfwin_sl
    return nsgfwin_sl


def is_applied():
    """Whether the fix is active."""
    return isinstance(_module().np, _NumpyWithIntClip)


def apply():
    """Apply the fix (idempotent) and return the patched ``nsgt`` package.

    Examples
    --------
    >>> from perceptual_timbre._compat import nsgt as nsgt_compat
    >>> nsgt = nsgt_compat.apply()
    >>> nsgt_compat.is_applied()
    True
    >>> nsgt.CQ_NSGT(100, 1000, 12, 8000, 8000).fwd is not None
    True
    """
    module = _module()
    if not isinstance(module.np, _NumpyWithIntClip):
        module.np = _NumpyWithIntClip()
    import nsgt

    return nsgt


@contextlib.contextmanager
def unpatched():
    """Temporarily restore nsgt's original numpy namespace (for tests)."""
    module = _module()
    saved = module.np
    module.np = np
    try:
        yield
    finally:
        module.np = saved
