"""A dense note corpus: every instrument over its playable range, from several SoundFonts.

SoundFonts are found in the system folders where Linux packages install them (Debian:
``fluid-soundfont-gm`` gives ``FluidR3_GM.sf2``, ``csound-soundfont`` gives
``sf_GMbank.sf2``), in ``<data home>/soundfonts/``, in the folders or files named by the
``PERCEPTUAL_TIMBRE_SOUNDFONTS`` environment variable, and pretty_midi's bundled TimGM6mb.
A rendered corpus is cached under ``<data home>/soundfont_corpus/`` as a NumPy ``.npz``
(read with ``allow_pickle=False``) next to a JSON manifest; nothing is pickled.
"""

import hashlib
import json
import logging
import os
import textwrap
import time
import warnings
import zipfile
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.utils import Bunch

from .. import __version__
from ..exceptions import DataNotFoundError, ParameterError
from ..utils.validation import check_sr
from ._base import get_data_home
from ._download import _sha256
from ._instruments import INSTRUMENT_RANGES
from ._soundfont import (
    _RELEASE_FRACTION,
    _check_duration,
    _check_instruments,
    _check_midi_values,
    _check_n_jobs,
    _import_tinysoundfont,
    _render_programs,
    default_soundfont,
)

__all__ = ["SOUNDFONTS_ENV", "find_soundfonts", "load_instrument_corpus"]

logger = logging.getLogger(__name__)

#: Environment variable naming extra SoundFont files or folders, separated by ``os.pathsep``.
SOUNDFONTS_ENV = "PERCEPTUAL_TIMBRE_SOUNDFONTS"
#: System folders searched for ``.sf2``/``.sf3`` files (and their sub-folders). Debian's
#: ``fluid-soundfont-gm`` and ``csound-soundfont`` install into ``/usr/share/sounds/sf2``
#: (csound's bank also into ``/usr/share/samples``); Arch uses ``/usr/share/soundfonts``.
SYSTEM_SOUNDFONT_DIRS = (
    "/usr/share/sounds/sf2",
    "/usr/share/sounds/sf3",
    "/usr/share/soundfonts",
    "/usr/share/samples",
    "/usr/local/share/soundfonts",
)
_SUFFIXES = (".sf2", ".sf3")
_COLUMNS = ["name", "path", "size", "sha256", "source"]
_SKIPPED_COLUMNS = ["soundfont", "instrument", "pitch", "velocity", "reason"]
_CORPUS_DIR = "soundfont_corpus"
_FORMAT = 1  # bump when the rendering or the file layout changes: old caches are ignored
DEFAULT_CORPUS_VELOCITIES = (50, 80, 110)

_DESCR = (
    "General MIDI instrument notes rendered offline with TinySoundFont: {n} notes of {n_inst} "
    "instrument(s) from {n_fonts} SoundFont(s) ({fonts}), {pitches}, velocities {velocities}. "
    "Each note is held for {hold:.3g} s, released, and faded out to end at {duration:.3g} s; "
    "mono (left/right average), DC removed, {sr} Hz, float32. Rows are ordered SoundFont, "
    "instrument, pitch, then velocity. {n_skipped} requested note(s) are left out because the "
    "SoundFont does not sound them (``skipped`` lists each with its reason)."
)


# --------------------------------------------------------------------------- finding
def _soundfont_problem(path):
    """Why ``path`` is not a SoundFont file, or ``None`` when its RIFF header says it is."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        return "is not a SoundFont (an .sf2/.sf3 file starts with a RIFF 'sfbk' header)"
    return None


def _scan(folder):
    """The .sf2/.sf3 files under ``folder`` (sub-folders included), sorted."""
    try:
        return sorted(
            p for p in Path(folder).rglob("*")
            if p.suffix.lower() in _SUFFIXES and p.is_file() and not p.name.startswith(".")
        )
    except OSError:  # an unreadable system folder holds nothing we can use
        return []


def _records(entries):
    """One record per distinct SoundFont of ``entries`` = [(path, source, explicit)].

    Files are deduplicated by real path, then by content (sha256); the first one wins. A
    file that is not a SoundFont raises when it was named explicitly, else warns.
    """
    records, paths, digests, names = [], set(), set(), set()
    for path, source, explicit in entries:
        real = Path(os.path.realpath(path))
        if real in paths:
            continue
        paths.add(real)
        problem = _soundfont_problem(real)
        if problem is not None:
            message = f"{path} (from {source}) {problem}"
            if explicit:
                raise ParameterError(message + ".")
            warnings.warn(message + "; it is ignored.", UserWarning, stacklevel=4)
            continue
        sha = _sha256(real)
        if sha in digests:
            continue
        digests.add(sha)
        name = real.stem if real.stem not in names else f"{real.stem}-{sha[:8]}"
        names.add(name)
        records.append(dict(name=name, path=str(real), size=real.stat().st_size, sha256=sha,
                            source=source))
    return records


def _env_entries():
    entries = []
    for item in os.environ.get(SOUNDFONTS_ENV, "").split(os.pathsep):
        if not item.strip():
            continue
        path = Path(item.strip()).expanduser()
        if path.is_dir():
            entries += [(p, f"{SOUNDFONTS_ENV} folder {path}", False) for p in _scan(path)]
        elif path.is_file():
            entries.append((path, SOUNDFONTS_ENV, True))
        else:
            warnings.warn(f"{SOUNDFONTS_ENV} names {item!r}, which does not exist; it is ignored.",
                          UserWarning, stacklevel=4)
    return entries


def find_soundfonts(data_home=None):
    """The SoundFont files available to :func:`load_instrument_corpus`.

    Searched in this order (the first copy of a file wins): the files and folders of the
    ``PERCEPTUAL_TIMBRE_SOUNDFONTS`` environment variable (separated by ``os.pathsep``),
    the user folder ``<data_home>/soundfonts/``, the system folders of
    ``SYSTEM_SOUNDFONT_DIRS`` (``/usr/share/sounds/sf2``, ``/usr/share/sounds/sf3``,
    ``/usr/share/soundfonts``, ``/usr/share/samples``, ``/usr/local/share/soundfonts``,
    sub-folders included), then pretty_midi's bundled TimGM6mb (:func:`default_soundfont`).
    Folders contribute their ``.sf2``/``.sf3`` files. Copies are dropped: two paths to the
    same file (a symbolic link such as Debian's ``default-GM.sf2``) or two files with the
    same content count once. Every file is read to hash it (about 0.3 s for the 141 MB
    FluidR3_GM), so keep large collections out of the searched folders.

    Parameters
    ----------
    data_home : str or path-like, default=None
        See :func:`get_data_home`.

    Returns
    -------
    soundfonts : pandas.DataFrame
        One row per SoundFont, in search order, with columns ``name`` (the file name without
        its suffix; a second file of the same name gets ``-<first 8 hex of its sha256>``),
        ``path`` (real path), ``size`` (bytes), ``sha256`` and ``source`` (where it was
        found).

    Raises
    ------
    ParameterError
        If the environment variable names a file that is not a SoundFont. A non-SoundFont
        ``.sf2``/``.sf3`` file inside a searched folder, or an environment entry that does
        not exist, only warns.

    Examples
    --------
    >>> from perceptual_timbre.datasets import find_soundfonts
    >>> fonts = find_soundfonts()
    >>> "TimGM6mb" in fonts.name.tolist()
    True
    >>> fonts.columns.tolist()
    ['name', 'path', 'size', 'sha256', 'source']
    """
    return pd.DataFrame(_found_records(data_home), columns=_COLUMNS)


def _found_records(data_home):
    entries = _env_entries()
    user = get_data_home(data_home) / "soundfonts"
    entries += [(p, f"the data home's {user}", False) for p in _scan(user)]
    for folder in SYSTEM_SOUNDFONT_DIRS:
        entries += [(p, f"system folder {folder}", False) for p in _scan(folder)]
    entries.append((default_soundfont(), "pretty_midi (bundled)", True))
    return _records(entries)


def _resolve_soundfonts(soundfonts, data_home):
    """Records of the SoundFonts asked for: None (all found), names, files, folders, a table."""
    if soundfonts is None:
        return _found_records(data_home)
    if isinstance(soundfonts, pd.DataFrame):
        if "path" not in soundfonts.columns:
            raise ParameterError("a table of soundfonts needs a 'path' column (see "
                                 "find_soundfonts).")
        soundfonts = soundfonts["path"].tolist()
    elif isinstance(soundfonts, (str, os.PathLike)):
        soundfonts = [soundfonts]
    try:
        items = list(soundfonts)
    except TypeError:
        raise ParameterError(
            f"soundfonts must be None, a name, a path, or a list of them, got "
            f"{type(soundfonts).__name__}."
        ) from None
    if not items:
        raise ParameterError("soundfonts is empty; give at least one SoundFont (or None for "
                             "every SoundFont find_soundfonts finds).")
    found = None
    entries = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            raise ParameterError(f"a SoundFont must be a name or a path, got {item!r}.")
        path = Path(os.fspath(item)).expanduser()
        if path.is_file():
            entries.append((path, "the soundfonts argument", True))
            continue
        if path.is_dir():
            files = _scan(path)
            if not files:
                raise DataNotFoundError(f"the folder {path} holds no .sf2/.sf3 file.")
            entries += [(p, f"folder {path}", True) for p in files]
            continue
        if found is None:
            found = _found_records(data_home)
        key = str(item).lower()
        match = [f for f in found if key in (f["name"].lower(), Path(f["path"]).name.lower())]
        if not match:
            raise DataNotFoundError(
                f"SoundFont {str(item)!r} is neither a file nor the name of a SoundFont "
                f"found by find_soundfonts(): {[f['name'] for f in found]}. Install one "
                f"(Debian: apt-get install fluid-soundfont-gm csound-soundfont), put it in "
                f"{get_data_home(data_home) / 'soundfonts'}, or name it in {SOUNDFONTS_ENV}."
            )
        entries.append((Path(match[0]["path"]), match[0]["source"], True))
    return _records(entries)


# --------------------------------------------------------------------------- rendering
def _check_pitches(pitches, programs):
    """Per-instrument tuple of MIDI pitches."""
    if isinstance(pitches, str):
        if pitches != "range":
            raise ParameterError(f"pitches must be 'range' or a list of MIDI pitches (0-127), "
                                 f"got {pitches!r}.")
        unknown = [name for name in programs if name not in INSTRUMENT_RANGES]
        if unknown:
            raise ParameterError(
                f"no playable range is known for {unknown} (INSTRUMENT_RANGES covers "
                f"{list(INSTRUMENT_RANGES)}); pass pitches= as a list of MIDI pitches."
            )
        return {name: tuple(range(INSTRUMENT_RANGES[name][0], INSTRUMENT_RANGES[name][1] + 1))
                for name in programs}
    if isinstance(pitches, np.ndarray):
        pitches = pitches.tolist()
    pitches = _check_midi_values(pitches, "pitches", 0, 127)
    return {name: pitches for name in programs}


def _describe_pitches(per_instrument):
    ranges = {(min(p), max(p), len(p)) for p in per_instrument.values()}
    if len(ranges) == 1:
        lo, hi, n = ranges.pop()
        return f"{n} pitch(es), MIDI {lo}-{hi}"
    return "pitches over each instrument's playable range (INSTRUMENT_RANGES)"


def _tinysoundfont_version():
    try:
        return metadata.version("tinysoundfont")
    except metadata.PackageNotFoundError:
        _import_tinysoundfont()  # raises the ImportError with the install hint
        return "unknown"  # pragma: no cover - importable but without metadata


def _corpus_key(fonts, programs, per_pitches, velocities, duration, sr):
    params = {
        "format": _FORMAT,
        "perceptual_timbre": __version__,
        "tinysoundfont": _tinysoundfont_version(),
        "soundfonts": [{"name": f["name"], "sha256": f["sha256"]} for f in fonts],
        "instruments": [[name, int(program), list(per_pitches[name])]
                        for name, program in programs.items()],
        "velocities": list(velocities),
        "duration": duration,
        "sr": sr,
    }
    text = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest(), params


def _load_cached(folder, key, n_samples):
    """The cached corpus arrays and skipped records, or None when absent or unusable."""
    manifest_path, audio_path = folder / "manifest.json", folder / "audio.npz"
    if not manifest_path.is_file():
        return None
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("key") != key:
            raise ValueError(f"its key {manifest.get('key')!r} is not {key!r}")
        with np.load(audio_path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in
                      ("audio", "instrument", "pitch", "velocity", "program", "soundfont")}
        n = manifest["n_notes"]
        if arrays["audio"].shape != (n, n_samples) or arrays["audio"].dtype != np.float32:
            raise ValueError(f"its audio has shape {arrays['audio'].shape}, not {(n, n_samples)}")
        if any(len(v) != n for v in arrays.values()):
            raise ValueError("its arrays differ in length")
        return arrays, manifest["skipped"]
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        warnings.warn(f"the cached corpus in {folder} is unusable ({exc}); rendering it again.",
                      UserWarning, stacklevel=3)
        return None


def _atomic_write(path, write):
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _save_cached(folder, key, params, fonts, arrays, skipped):
    """Write audio.npz, then manifest.json (its presence marks a complete cache)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _atomic_write(folder / "audio.npz", lambda fh: np.savez(fh, **arrays))
        manifest = {
            "key": key,
            "parameters": params,
            "soundfonts": fonts,
            "n_notes": int(len(arrays["audio"])),
            "skipped": skipped,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        text = json.dumps(manifest, indent=1)
        _atomic_write(folder / "manifest.json", lambda fh: fh.write(text.encode("utf-8")))
    except OSError as exc:
        warnings.warn(f"could not cache the corpus in {folder} ({exc}); it is returned "
                      f"uncached (pass cache=False to skip caching).", UserWarning, stacklevel=3)
        return False
    return True


def _render_corpus(fonts, programs, per_pitches, velocities, duration, sr, n_jobs):
    names = list(programs)
    n_total = len(fonts) * sum(len(per_pitches[name]) for name in names) * len(velocities)
    logger.info("rendering %d notes (%d SoundFont(s) x %d instrument(s) x %d velocities)",
                n_total, len(fonts), len(names), len(velocities))
    start = time.perf_counter()
    # one task per SoundFont and chunk of instruments: a SoundFont loads once per task, and
    # there are as many chunks as workers
    n_chunks = max(1, min(len(names), effective_n_jobs(n_jobs)))
    chunks = [list(c) for c in np.array_split(np.array(names, dtype=object), n_chunks)]
    tasks = [(font, chunk) for font in fonts for chunk in chunks]
    done = Parallel(n_jobs=n_jobs if len(tasks) > 1 else 1)(
        delayed(_render_programs)(font["path"], [(programs[n], per_pitches[n]) for n in chunk],
                                  velocities, duration, sr, strict=False)
        for font, chunk in tasks
    )
    parts = [((font, name, programs[name]), result)
             for (font, chunk), results in zip(tasks, done, strict=True)
             for name, result in zip(chunk, results, strict=True)]
    audio, cols, skipped = [], {k: [] for k in ("instrument", "pitch", "velocity", "program",
                                                "soundfont")}, []
    for (font, name, program), (out, reasons) in parts:
        notes = [(p, v) for p in per_pitches[name] for v in velocities]
        keep = np.array([r is None for r in reasons], dtype=bool)
        audio.append(out[keep])
        for (pitch, velocity), reason in zip(notes, reasons, strict=True):
            if reason is None:
                cols["instrument"].append(name)
                cols["pitch"].append(pitch)
                cols["velocity"].append(velocity)
                cols["program"].append(program)
                cols["soundfont"].append(font["name"])
            else:
                skipped.append(dict(soundfont=font["name"], instrument=name, pitch=pitch,
                                    velocity=velocity, reason=reason))
    logger.info("rendered %d notes in %.1f s (%d left out)", n_total - len(skipped),
                time.perf_counter() - start, len(skipped))
    if len(skipped) == n_total:
        summary = pd.DataFrame(skipped).groupby(["soundfont", "reason"]).size()
        raise ParameterError(
            "the corpus is empty: the SoundFonts sound none of the requested notes (notes "
            "left out per SoundFont and reason: "
            + "; ".join(f"{f} {r!r}: {n}" for (f, r), n in summary.items())
            + "). Choose other instruments, pitches or SoundFonts."
        )
    arrays = dict(
        audio=np.concatenate(audio),
        instrument=np.array(cols["instrument"], dtype=str),
        pitch=np.array(cols["pitch"], dtype=np.int64),
        velocity=np.array(cols["velocity"], dtype=np.int64),
        program=np.array(cols["program"], dtype=np.int64),
        soundfont=np.array(cols["soundfont"], dtype=str),
    )
    return arrays, skipped


def load_instrument_corpus(
    soundfonts=None,
    *,
    instruments=None,
    pitches="range",
    velocities=DEFAULT_CORPUS_VELOCITIES,
    duration=1.0,
    sr=22050,
    data_home=None,
    cache=True,
    n_jobs=None,
):
    """A dense corpus of instrument notes from one or several General MIDI SoundFonts.

    Every instrument is rendered at every pitch of its playable range (or of ``pitches``)
    and every velocity, from every SoundFont, as :func:`render_instrument_notes` renders one
    note. Notes a SoundFont does not sound (a key with no sample zone, a program without a
    preset) are left out and listed in ``skipped`` rather than raised, so each SoundFont
    clips the range to what it plays. The corpus is cached in the data home: the second call
    with the same arguments loads it instead of rendering.

    Parameters
    ----------
    soundfonts : str, path-like, list of them, or pandas.DataFrame, default=None
        SoundFont files, folders (their ``.sf2``/``.sf3`` files), or names of SoundFonts
        that :func:`find_soundfonts` finds (``"FluidR3_GM"``, ``"sf_GMbank"``,
        ``"TimGM6mb"``), or a table from :func:`find_soundfonts`. ``None``: every SoundFont
        :func:`find_soundfonts` finds (so the corpus depends on what is installed; the
        bundled TimGM6mb is always there). The same file given twice counts once.
    instruments : list of str or dict, default=None
        Names from :data:`INSTRUMENT_PROGRAMS` (default: all 12), or a dict
        ``{name: program}`` of 0-based General MIDI programs.
    pitches : "range" or sequence of int, default="range"
        ``"range"``: each instrument's playable range from :data:`INSTRUMENT_RANGES`
        (dict instruments need names from that table). A sequence: these MIDI pitches
        (0-127) for every instrument, e.g. ``range(48, 85)``.
    velocities : sequence of int, default=(50, 80, 110)
        MIDI velocities, 1-127.
    duration : float, default=1.0
        Length of every note in seconds.
    sr : int, default=22050
        Sample rate.
    data_home : str or path-like, default=None
        See :func:`get_data_home`: where the cache and the user's ``soundfonts/`` live.
    cache : bool, default=True
        Load the corpus from, and save it to, ``<data_home>/soundfont_corpus/<key>/``
        (``audio.npz`` and ``manifest.json``). The key hashes the SoundFonts' sha256, the
        parameters and the package and tinysoundfont versions, so a changed file or setting
        renders afresh. ``False`` renders without reading or writing anything.
    n_jobs : int, default=None
        joblib workers over (SoundFont, chunk of instruments) tasks, one chunk per worker
        (``None``: 1 unless a ``joblib.parallel_config`` context says otherwise; ``-1``: all
        cores). The notes do not depend on it.

    Returns
    -------
    data : sklearn.utils.Bunch
        - ``audio``: float32 ndarray (n_notes, round(duration * sr)), mono.
        - ``instrument``, ``soundfont`` (the SoundFont's ``name``): object ndarrays of str.
        - ``pitch``, ``velocity``, ``program``: int ndarrays (n_notes,).
        - ``sr``: int; ``duration``: float.
        - ``soundfonts``: pandas.DataFrame of the SoundFonts used (see
          :func:`find_soundfonts`).
        - ``skipped``: pandas.DataFrame of the notes left out, with columns ``soundfont``,
          ``instrument``, ``pitch``, ``velocity`` and ``reason`` (``"silent"``: the render is
          silent, the preset has no sample there; ``"no preset"``: the SoundFont lacks the
          program).
        - ``cache_path``: str, the cache folder, or None.
        - ``DESCR``: str.

    Raises
    ------
    DataNotFoundError
        If a named SoundFont is neither a file nor found.
    ParameterError
        For a file that is not a SoundFont (the message names it), unknown instruments,
        pitches outside 0-127, bad values, or a corpus left empty after skipping (the
        message counts the notes left out per SoundFont and reason).
    ImportError
        If tinysoundfont is not installed.

    See Also
    --------
    render_instrument_notes : a few notes from one SoundFont; a silent note raises.
    find_soundfonts : the SoundFonts ``soundfonts=None`` uses.

    Notes
    -----
    Rendering costs 1-3 ms per note on one core, plus loading each SoundFont once per task
    (0.4 s for the 141 MB FluidR3_GM). The 12 default instruments over their ranges at 3
    velocities are 1,548 notes per SoundFont (136 MB of float32 audio at 1 s and 22,050 Hz),
    rendered in 2-4 s; a cached corpus loads at disk speed (FluidR3_GM, sf_GMbank and
    TimGM6mb together, 409 MB, in about 2 s).

    Examples
    --------
    >>> import tempfile
    >>> from perceptual_timbre.datasets import load_instrument_corpus
    >>> home = tempfile.mkdtemp()
    >>> corpus = load_instrument_corpus("TimGM6mb", instruments=["Flute", "Saxophone"],
    ...                                 pitches=[62, 64], velocities=[100], data_home=home)
    >>> corpus.audio.shape, corpus.instrument.tolist(), corpus.pitch.tolist()
    ((3, 22050), ['Flute', 'Flute', 'Saxophone'], [62, 64, 62])
    >>> corpus.skipped.to_dict("records")  # TimGM6mb's saxophone has no sample at E4
    [{'soundfont': 'TimGM6mb', 'instrument': 'Saxophone', 'pitch': 64, 'velocity': 100,
      'reason': 'silent'}]

    Over the whole playable range of every instrument, from every installed SoundFont:

    >>> corpus = load_instrument_corpus(n_jobs=-1)  # doctest: +SKIP
    """
    programs = _check_instruments(instruments)
    per_pitches = _check_pitches(pitches, programs)
    velocities = _check_midi_values(velocities, "velocities", 1, 127)
    sr = check_sr(sr)
    duration = _check_duration(duration, sr)
    n_jobs = _check_n_jobs(n_jobs)
    if not isinstance(cache, (bool, np.bool_)):
        raise ParameterError(f"cache must be True or False, got {cache!r}.")
    fonts = _resolve_soundfonts(soundfonts, data_home)
    key, params = _corpus_key(fonts, programs, per_pitches, velocities, duration, sr)
    n_samples = int(round(duration * sr))
    folder = get_data_home(data_home) / _CORPUS_DIR / key[:24] if cache else None
    loaded = _load_cached(folder, key, n_samples) if cache else None
    if loaded is not None:
        arrays, skipped = loaded
        logger.info("loaded %d cached notes from %s", len(arrays["audio"]), folder)
    else:
        arrays, skipped = _render_corpus(fonts, programs, per_pitches, velocities, duration,
                                         sr, n_jobs)
        if cache and not _save_cached(folder, key, params, fonts, arrays, skipped):
            folder = None
    return Bunch(
        audio=arrays["audio"],
        instrument=arrays["instrument"].astype(object),
        pitch=arrays["pitch"].astype(np.int64),
        velocity=arrays["velocity"].astype(np.int64),
        program=arrays["program"].astype(np.int64),
        soundfont=arrays["soundfont"].astype(object),
        sr=sr,
        duration=duration,
        soundfonts=pd.DataFrame(fonts, columns=_COLUMNS),
        skipped=pd.DataFrame(skipped, columns=_SKIPPED_COLUMNS),
        cache_path=None if folder is None else str(folder),
        DESCR=textwrap.fill(_DESCR.format(
            n=len(arrays["audio"]), n_inst=len(programs), n_fonts=len(fonts),
            fonts=", ".join(f["name"] for f in fonts), pitches=_describe_pitches(per_pitches),
            velocities=list(velocities), hold=duration * (1 - _RELEASE_FRACTION),
            duration=duration, sr=sr, n_skipped=len(skipped),
        ), width=88) + "\n",
    )
