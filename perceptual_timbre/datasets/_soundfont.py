"""Offline rendering of General MIDI instrument notes from a SoundFont (tinysoundfont)."""

import contextvars
import numbers
import os
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.utils import Bunch

from ..exceptions import DataNotFoundError, ParameterError
from ..utils._cache import get_memory
from ..utils.validation import check_sr
from ._instruments import INSTRUMENT_PROGRAMS

__all__ = ["default_soundfont", "render_instrument_notes"]

# C major scale C4..C5 inside the playable range of all 12 default instruments (flute
# and oboe start at C4/Bb3, bassoon and trombone end near E5/F5), without E4 (64):
# TimGM6mb's alto saxophone preset has no sample zone at that key and renders silence.
DEFAULT_PITCHES = (60, 62, 65, 67, 69, 71, 72)
DEFAULT_VELOCITIES = (64, 100)
_RELEASE_FRACTION = 0.25  # last quarter of each note: note-off and its release tail
_FADE_SECONDS = 0.01  # raised-cosine fade so every note ends exactly at silence
_SILENCE = 1e-4  # peak below this (full scale 1.0) counts as a silent render
# joblib workers of the render under way: not part of the render cache's key (the notes do
# not depend on it), so it reaches the cached function through a context variable.
# Reasons a note is left out of a corpus (see _render_programs(strict=False)).
SILENT = "silent"
NO_PRESET = "no preset"
_RENDER_JOBS = contextvars.ContextVar("render_n_jobs", default=None)

_DESCR = """\
General MIDI instrument notes rendered offline with TinySoundFont from {soundfont}.
Each note is held for {hold:.3g} s, released, and faded out to end at {duration:.3g} s;
mono (left/right average), DC removed, {sr} Hz, float32. Rows are ordered instrument, then
pitch, then velocity.
"""


def default_soundfont():
    """Path of the General MIDI SoundFont that pretty_midi ships (TimGM6mb.sf2).

    Examples
    --------
    >>> from perceptual_timbre.datasets import default_soundfont
    >>> default_soundfont().name
    'TimGM6mb.sf2'
    """
    try:
        import pretty_midi
    except ImportError:  # pragma: no cover - pretty_midi is a dependency
        raise ImportError(
            "the default SoundFont comes with pretty_midi: pip install pretty_midi, or pass "
            "soundfont='path/to/file.sf2'."
        ) from None
    path = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    if not path.is_file():  # pragma: no cover - broken install
        raise DataNotFoundError(f"pretty_midi's SoundFont {path} is missing; pass soundfont=.")
    return path


def _import_tinysoundfont():
    try:
        import tinysoundfont
    except ImportError:
        raise ImportError(
            "rendering SoundFont notes needs tinysoundfont: pip install --no-deps tinysoundfont "
            "(--no-deps skips its optional pyaudio, which is only for live playback)."
        ) from None
    return tinysoundfont


def _check_midi_values(values, name, low, high):
    if isinstance(values, numbers.Integral):
        values = (values,)
    values = tuple(values)
    if not values:
        raise ParameterError(f"{name} is empty; give at least one value.")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not low <= v <= high:
            raise ParameterError(f"{name} must be integers in [{low}, {high}], got {v!r}.")
    return tuple(int(v) for v in values)


def _check_instruments(instruments):
    if instruments is None:
        return dict(INSTRUMENT_PROGRAMS)
    if isinstance(instruments, dict):
        programs = {str(k): v for k, v in instruments.items()}
    else:
        if isinstance(instruments, str):
            instruments = [instruments]
        unknown = [i for i in instruments if i not in INSTRUMENT_PROGRAMS]
        if unknown:
            raise ParameterError(
                f"unknown instruments {unknown}; choose among {list(INSTRUMENT_PROGRAMS)} or pass "
                f"a dict {{name: General MIDI program (0-127)}}."
            )
        programs = {i: INSTRUMENT_PROGRAMS[i] for i in instruments}
    if not programs:
        raise ParameterError("instruments is empty; give at least one instrument.")
    for name, program in programs.items():
        _check_midi_values(program, f"the General MIDI program of {name!r}", 0, 127)
    return programs


def _flush(synth, sr):
    """Silence every voice and run the synth until it outputs zeros.

    ``sounds_off`` only starts a fast release, so the previous note would leak into the
    next one; flushing makes each note independent of what was rendered before it.
    """
    synth.sounds_off()
    for _ in range(int(2 * sr) // 256):
        if not np.any(np.frombuffer(synth.generate(256), dtype=np.float32)):
            return
    raise RuntimeError("the synthesizer did not fall silent within 2 s of sounds_off.")


def _check_duration(duration, sr):
    if (
        isinstance(duration, bool) or not isinstance(duration, numbers.Real)
        or not np.isfinite(duration) or duration * sr < 16
    ):
        raise ParameterError(
            f"duration must be a positive number of seconds (at least 16 samples), "
            f"got {duration!r}."
        )
    return float(duration)


def _check_n_jobs(n_jobs):
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral)
                               or n_jobs == 0):
        raise ParameterError(f"n_jobs must be a non-zero integer or None, got {n_jobs!r}.")
    return n_jobs


def _render_programs(soundfont, programs, velocities, duration, sr, *, strict=True):
    """Every (pitch, velocity) of several programs, with one synthesizer of its own.

    ``programs`` is a list of ``(program, pitches)``; the SoundFont is loaded once (0.5 s for
    the 141 MB FluidR3_GM). Returns, per program, the notes, float32
    ``(len(pitches) * len(velocities), n_samples)`` in pitch then velocity order, and a
    reason per row: ``None`` for a note that sounds, else why it is left out
    (:data:`SILENT`, :data:`NO_PRESET`; its row is zeros). With ``strict`` a missing preset
    or a silent note raises :class:`ParameterError` instead. Each note is flushed before it
    starts, so a note renders the same whatever was rendered before it.
    """
    tsf = _import_tinysoundfont()
    synth = tsf.Synth(samplerate=sr)
    try:
        sfid = synth.sfload(soundfont)
    except (RuntimeError, tsf.SoundFontException) as exc:
        raise ParameterError(f"{soundfont} is not a readable SoundFont (sf2/sf3): {exc}") from None
    n_samples = int(round(duration * sr))
    n_hold = int(round(n_samples * (1 - _RELEASE_FRACTION)))
    n_fade = min(int(round(_FADE_SECONDS * sr)), n_samples // 4)
    fade = 0.5 * (1 + np.cos(np.linspace(0, np.pi, n_fade)))
    results = []
    for program, pitches in programs:
        n_notes = len(pitches) * len(velocities)
        out = np.zeros((n_notes, n_samples), np.float32)
        if synth.sfpreset_name(sfid, 0, program) is None:
            if strict:
                raise ParameterError(
                    f"{soundfont} has no preset for General MIDI program {program}."
                )
            results.append((out, [NO_PRESET] * n_notes))
            continue
        synth.program_select(0, sfid, 0, program)
        reasons = []
        for pitch in pitches:
            for velocity in velocities:
                _flush(synth, sr)
                synth.noteon(0, pitch, velocity)
                held = np.frombuffer(synth.generate(n_hold), dtype=np.float32)
                synth.noteoff(0, pitch)
                tail = np.frombuffer(synth.generate(n_samples - n_hold), dtype=np.float32)
                x = np.concatenate([held, tail]).reshape(-1, 2).mean(axis=1)
                x = x - x.mean()
                x[n_samples - n_fade:] *= fade
                if np.max(np.abs(x)) < _SILENCE:
                    if strict:
                        raise ParameterError(
                            f"{soundfont} rendered silence for program {program}, pitch "
                            f"{pitch}, velocity {velocity}; the preset may not cover this pitch."
                        )
                    reasons.append(SILENT)
                else:
                    out[len(reasons)] = x
                    reasons.append(None)
        results.append((out, reasons))
    return results


def _render_notes(soundfont, stamp, programs, pitches, velocities, duration, sr):
    """Every (program, pitch, velocity), strictly; cached through :func:`get_memory`.

    The programs are split into one chunk per ``_RENDER_JOBS`` joblib worker, each chunk
    rendered by one synthesizer (each note is flushed before it starts, so a program renders
    the same alone or after another).
    """
    del stamp  # part of the cache key only: a rewritten SoundFont file renders afresh
    n_jobs = _RENDER_JOBS.get()
    n_chunks = max(1, min(len(programs), effective_n_jobs(n_jobs)))
    chunks = [c.tolist() for c in np.array_split(np.asarray(programs), n_chunks)]
    parts = Parallel(n_jobs=n_jobs if n_chunks > 1 else 1)(
        delayed(_render_programs)(soundfont, [(p, pitches) for p in chunk], velocities,
                                  duration, sr)
        for chunk in chunks
    )
    return np.concatenate([out for results in parts for out, _ in results])


def render_instrument_notes(
    instruments=None,
    pitches=DEFAULT_PITCHES,
    velocities=DEFAULT_VELOCITIES,
    duration=1.0,
    sr=22050,
    soundfont=None,
    n_jobs=None,
    *,
    cache=None,
    data_home=None,
):
    """Render real sampled instrument notes offline from a General MIDI SoundFont.

    One note per (instrument, pitch, velocity): held for the first three quarters of
    ``duration``, then released, with a 10 ms fade so it ends at silence. The default
    instruments are the 12 of :func:`load_instrument_ratings`, so audio and ratings match.

    Parameters
    ----------
    instruments : list of str or dict, default=None
        Names from :data:`INSTRUMENT_PROGRAMS` (default: all 12), or a dict
        ``{name: program}`` of 0-based General MIDI programs.
    pitches : sequence of int, default=(60, 62, 65, 67, 69, 71, 72)
        MIDI pitches (60 = C4); the default C4..C5 scale suits every default instrument
        (E4 is left out: the default SoundFont's saxophone has no sample there).
    velocities : sequence of int, default=(64, 100)
        MIDI velocities, 1-127.
    duration : float, default=1.0
        Length of every note in seconds.
    sr : int, default=22050
        Sample rate (the synthesizer renders at this rate directly).
    soundfont : str or path-like, default=None
        An .sf2/.sf3 file; default :func:`default_soundfont` (TimGM6mb, shipped with
        pretty_midi).
    n_jobs : int, default=None
        joblib workers over chunks of instruments, one chunk per worker (``None``: 1 unless
        a ``joblib.parallel_config`` context says otherwise; ``-1``: all cores). The default
        backend is loky (processes); any joblib backend set with ``joblib.parallel_config``
        (threading, or dask for a cluster) is used instead. The notes do not depend on it.
    cache : bool, default=None
        Keep the notes in the package's on-disk :class:`joblib.Memory` cache under
        ``<data_home>/cache`` (``True``), or not (``False``); ``None`` follows the
        ``PERCEPTUAL_TIMBRE_CACHE`` environment variable, off when unset. See
        ``perceptual_timbre.utils._cache.get_memory``.
    data_home : str or path-like, default=None
        See :func:`get_data_home`; only used when caching.

    Returns
    -------
    data : sklearn.utils.Bunch
        - ``audio``: float32 ndarray (n_notes, round(duration * sr)), mono.
        - ``instrument``, ``pitch``, ``velocity``, ``program``: ndarray (n_notes,).
        - ``sr``: int; ``soundfont``: str; ``DESCR``: str.

    Raises
    ------
    ImportError
        If tinysoundfont is not installed.
    DataNotFoundError
        If the SoundFont file does not exist.
    ParameterError
        For an unreadable SoundFont, a missing preset, a silent render, or bad values.

    See Also
    --------
    load_instrument_corpus : every instrument over its range, several dynamics and
        SoundFonts, with the notes a SoundFont does not sound recorded rather than raised.

    Notes
    -----
    Rendering is deterministic and costs 1-3 ms per note on one core, plus loading the
    SoundFont once per worker (0.4 s for the 141 MB FluidR3_GM): the 12 x 7 x 2 default notes
    take 0.3 s from TimGM6mb, 0.9 s from FluidR3_GM. Every call returns a fresh array.
    ``n_jobs`` renders the instruments in parallel, and ``cache=True`` keeps the notes on disk
    across processes.

    Examples
    --------
    >>> from perceptual_timbre.datasets import render_instrument_notes
    >>> notes = render_instrument_notes(["Flute", "Cello"], pitches=[60], velocities=[100])
    >>> notes.audio.shape, notes.instrument.tolist(), notes.program.tolist()
    ((2, 22050), ['Flute', 'Cello'], [73, 42])
    """
    programs = _check_instruments(instruments)
    pitches = _check_midi_values(pitches, "pitches", 0, 127)
    velocities = _check_midi_values(velocities, "velocities", 1, 127)
    sr = check_sr(sr)
    duration = _check_duration(duration, sr)
    n_jobs = _check_n_jobs(n_jobs)
    path = default_soundfont() if soundfont is None else Path(os.fspath(soundfont)).expanduser()
    if not path.is_file():
        raise DataNotFoundError(f"SoundFont file {path} does not exist.")
    path = path.resolve()
    stat = path.stat()
    render = get_memory(cache, data_home=data_home).cache(_render_notes)
    token = _RENDER_JOBS.set(n_jobs)
    try:
        audio = render(
            str(path), (stat.st_size, stat.st_mtime_ns), tuple(programs.values()),
            pitches, velocities, duration, sr,
        )
    finally:
        _RENDER_JOBS.reset(token)
    names, progs = list(programs), list(programs.values())
    n_each = len(pitches) * len(velocities)
    return Bunch(
        audio=np.asarray(audio, dtype=np.float32),
        instrument=np.repeat(np.array(names, dtype=object), n_each),
        program=np.repeat(np.array(progs, dtype=int), n_each),
        pitch=np.tile(np.repeat(np.array(pitches, dtype=int), len(velocities)), len(names)),
        velocity=np.tile(np.array(velocities, dtype=int), len(names) * len(pitches)),
        sr=sr,
        soundfont=str(path),
        DESCR=_DESCR.format(
            soundfont=path.name, hold=duration * (1 - _RELEASE_FRACTION), duration=duration, sr=sr
        ),
    )
