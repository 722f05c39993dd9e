"""Timbre studies, instrument-level ratings, SoundFont-rendered notes and audio folders.

- :func:`get_data_home`: where research data lives (argument, ``PERCEPTUAL_TIMBRE_DATA``,
  then ``~/perceptual_timbre_data``).
- :func:`list_timbre_studies`, :func:`load_timbre_study`: the 13 timbremetrics studies
  (stimuli + mean dissimilarity ratings); :func:`download_timbre_studies` fetches them.
- :func:`load_instrument_ratings`: the bundled 12-instrument ratings of Esling et al. 2018;
  :func:`combine_studies` pools studies into a comparable instrument-level matrix.
- :func:`render_instrument_notes`: General MIDI notes rendered from a SoundFont.
- :func:`load_audio_folder`: a folder tree of notes labelled by sub-folder.

No loader unpickles data: matrices are parsed as text, audio is decoded by soundfile.
"""

from ._base import DATA_HOME_ENV, get_data_home
from ._download import TIMBREMETRICS_URL, download_timbre_studies
from ._folder import load_audio_folder
from ._instruments import INSTRUMENT_PROGRAMS, instrument_from_filename
from ._ratings import combine_studies, load_instrument_ratings
from ._soundfont import default_soundfont, render_instrument_notes
from ._studies import list_timbre_studies, load_timbre_study

__all__ = [
    "DATA_HOME_ENV",
    "INSTRUMENT_PROGRAMS",
    "TIMBREMETRICS_URL",
    "combine_studies",
    "default_soundfont",
    "download_timbre_studies",
    "get_data_home",
    "instrument_from_filename",
    "list_timbre_studies",
    "load_audio_folder",
    "load_instrument_ratings",
    "load_timbre_study",
    "render_instrument_notes",
]
