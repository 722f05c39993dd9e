"""Timbre studies, instrument-level ratings, SoundFont-rendered notes and audio folders.

- :func:`get_data_home`: where research data lives (argument, ``PERCEPTUAL_TIMBRE_DATA``,
  then ``~/perceptual_timbre_data``).
- :func:`list_timbre_studies`, :func:`load_timbre_study`: the 13 timbremetrics studies
  (stimuli + mean dissimilarity ratings); :func:`download_timbre_studies` fetches them.
- :func:`load_instrument_ratings`: the bundled 12-instrument ratings of Esling et al. 2018;
  :func:`combine_studies` pools studies into a comparable instrument-level matrix.
- :func:`render_instrument_notes`: General MIDI notes rendered from a SoundFont.
- :func:`load_instrument_corpus`: a dense, cached corpus of notes over each instrument's
  playable range (:data:`INSTRUMENT_RANGES`) from several SoundFonts
  (:func:`find_soundfonts`).
- :func:`load_audio_folder`: a folder tree of notes labelled by sub-folder.

Every loader that returns sounds returns a :class:`~sklearn.utils.Bunch` whose per-sound
fields run row for row with ``audio``, and names the per-sound label the same way:

- ``instrument``: the sound's label, an object ndarray of str (``None`` where unknown): the
  rendered instrument (:func:`render_instrument_notes`, :func:`load_instrument_corpus`), the
  instrument a study stimulus is named after (:func:`load_timbre_study`), or the sub-folder
  of a file (:func:`load_audio_folder`, which also keeps ``label`` as an alias of the same
  array for older code). Instrument-level ratings are labelled by these names, so
  ``fit(audio, instrument, dissimilarity=ratings)`` lines them up.
- ``names`` (timbre studies only) is not a label but the identifier of each stimulus, its
  file name: the study's ``ratings`` are per stimulus and labelled by ``names``.
- ``pitch``, ``velocity``, ``program``, ``soundfont``, ``filenames``: further per-sound
  fields where a loader knows them; ``instruments`` (plural) in the ratings loaders is the
  list of distinct instruments that label the matrix.

No loader unpickles data: matrices are parsed as text, audio is decoded by soundfile, and
the corpus cache is ``.npz`` (loaded with ``allow_pickle=False``) plus JSON.
"""

from ._base import DATA_HOME_ENV, get_data_home
from ._corpus import SOUNDFONTS_ENV, find_soundfonts, load_instrument_corpus
from ._download import TIMBREMETRICS_URL, download_timbre_studies
from ._folder import load_audio_folder
from ._instruments import INSTRUMENT_PROGRAMS, INSTRUMENT_RANGES, instrument_from_filename
from ._ratings import combine_studies, load_instrument_ratings
from ._soundfont import default_soundfont, render_instrument_notes
from ._studies import list_timbre_studies, load_timbre_study

__all__ = [
    "DATA_HOME_ENV",
    "INSTRUMENT_PROGRAMS",
    "INSTRUMENT_RANGES",
    "SOUNDFONTS_ENV",
    "TIMBREMETRICS_URL",
    "combine_studies",
    "default_soundfont",
    "download_timbre_studies",
    "find_soundfonts",
    "get_data_home",
    "instrument_from_filename",
    "list_timbre_studies",
    "load_audio_folder",
    "load_instrument_corpus",
    "load_instrument_ratings",
    "load_timbre_study",
    "render_instrument_notes",
]
