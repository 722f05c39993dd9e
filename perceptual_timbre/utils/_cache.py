"""The one on-disk cache of perceptual_timbre: a :class:`joblib.Memory`, off unless asked for.

Expensive, deterministic results (rendered SoundFont notes today) go through
:func:`get_memory`. By default it returns a ``joblib.Memory(location=None)``, which caches
nothing, so a fresh process never reads stale results and never writes to disk unasked.
Caching is switched on per call (``cache=True``) or for every call with the
``PERCEPTUAL_TIMBRE_CACHE=1`` environment variable; results then live under
``<data home>/cache`` (see :func:`perceptual_timbre.datasets.get_data_home`) and survive
the process. Delete that folder, or call ``get_memory(True).clear()``, to empty it.

joblib stores results with its own pickle-based format: point the data home only at a
folder you trust. (Data sets that are *published* as files, such as the SoundFont corpus
of :func:`perceptual_timbre.datasets.load_instrument_corpus`, use ``.npz`` + JSON instead.)
"""

import os

import joblib

from ..exceptions import ParameterError

__all__ = ["CACHE_ENV", "get_memory"]

#: Environment variable that switches the cache on for every call ("1", "true", "yes", "on").
CACHE_ENV = "PERCEPTUAL_TIMBRE_CACHE"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def _cache_from_env():
    value = os.environ.get(CACHE_ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ParameterError(
        f"the {CACHE_ENV} environment variable must be 1/true/yes/on or 0/false/no/off "
        f"(or unset), got {os.environ[CACHE_ENV]!r}."
    )


def get_memory(cache=None, *, data_home=None):
    """The package's :class:`joblib.Memory`: a no-op unless caching is asked for.

    Parameters
    ----------
    cache : bool, default=None
        ``True`` caches under ``<data_home>/cache``; ``False`` caches nothing; ``None``
        follows the ``PERCEPTUAL_TIMBRE_CACHE`` environment variable (off when unset).
    data_home : str or path-like, default=None
        See :func:`perceptual_timbre.datasets.get_data_home`; only used when caching.

    Returns
    -------
    memory : joblib.Memory
        ``location`` is ``None`` (nothing cached) or ``<data_home>/cache`` (created on the
        first cached call).

    Raises
    ------
    ParameterError
        If ``cache`` is not a bool or None, or the environment variable is not a boolean.

    Examples
    --------
    >>> import tempfile
    >>> from perceptual_timbre.utils._cache import get_memory
    >>> print(get_memory(False).location)
    None
    >>> home = tempfile.mkdtemp()
    >>> get_memory(True, data_home=home).location == f"{home}/cache"
    True
    """
    if cache is None:
        cache = _cache_from_env()
    elif not isinstance(cache, bool):
        raise ParameterError(f"cache must be True, False or None, got {cache!r}.")
    if not cache:
        return joblib.Memory(location=None, verbose=0)
    from ..datasets._base import get_data_home  # datasets imports this module

    return joblib.Memory(location=os.fspath(get_data_home(data_home) / "cache"), verbose=0)
