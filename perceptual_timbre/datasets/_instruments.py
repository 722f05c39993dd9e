"""Instrument names: the 12 rated instruments, their General MIDI programs, and the table
that maps timbre-study stimulus file names to normalized instrument names.

Normalized names are CamelCase instrument names (``"FrenchHorn"``, ``"EnglishHorn"``),
matching the labels of :func:`load_instrument_ratings`. Playing technique and variant are
dropped (a muted trumpet is a ``"Trumpet"``, an E-flat or bass clarinet a ``"Clarinet"``,
alto/tenor/soprano saxophones a ``"Saxophone"``), because the ratings are instrument-level.
Stimuli that are hybrids or synthetic blends (most of McAdams 1995's) get ``None``.
"""

import re

__all__ = ["INSTRUMENT_PROGRAMS", "INSTRUMENT_RANGES", "instrument_from_filename"]

#: General MIDI program (0-based) that sounds each of the 12 rated instruments, in the row
#: order of the bundled ``esling2018`` ratings.
INSTRUMENT_PROGRAMS = {
    "Clarinet": 71,
    "Saxophone": 65,
    "Trumpet": 56,
    "Cello": 42,
    "FrenchHorn": 60,
    "Oboe": 68,
    "Flute": 73,
    "EnglishHorn": 69,
    "Bassoon": 70,
    "Trombone": 57,
    "Piano": 0,
    "Violin": 40,
}

#: Playable range of each of the 12 rated instruments: (lowest, highest) MIDI note at
#: sounding pitch, both included (60 = C4). The usual orchestral ranges of orchestration
#: manuals (e.g. S. Adler, *The Study of Orchestration*), with the extreme top notes that
#: only soloists reach left out; the clarinet is the B-flat, the saxophone the alto (General
#: MIDI program 65). :func:`load_instrument_corpus` renders ``pitches="range"`` over these,
#: and drops, with the reason, the notes a SoundFont does not sound: of these ranges,
#: FluidR3_GM is silent only at the violin's MIDI 94, TimGM6mb only at the saxophone's
#: MIDI 64, and sf_GMbank sounds every note. (Beyond them, FluidR3_GM's alto saxophone,
#: English horn and bassoon fall silent above MIDI 84-85, its horn, oboe and trombone
#: above 96.)
#:
#: ===========  ========  ===========
#: instrument   MIDI      notes
#: ===========  ========  ===========
#: Clarinet     50 - 94   D3 - A#6
#: Saxophone    49 - 81   C#3 - A5
#: Trumpet      52 - 82   E3 - A#5
#: Cello        36 - 81   C2 - A5
#: FrenchHorn   35 - 77   B1 - F5
#: Oboe         58 - 91   A#3 - G6
#: Flute        60 - 96   C4 - C7
#: EnglishHorn  52 - 84   E3 - C6
#: Bassoon      34 - 75   A#1 - D#5
#: Trombone     40 - 77   E2 - F5
#: Piano        21 - 108  A0 - C8
#: Violin       55 - 100  G3 - E7
#: ===========  ========  ===========
INSTRUMENT_RANGES = {
    "Clarinet": (50, 94),
    "Saxophone": (49, 81),
    "Trumpet": (52, 82),
    "Cello": (36, 81),
    "FrenchHorn": (35, 77),
    "Oboe": (58, 91),
    "Flute": (60, 96),
    "EnglishHorn": (52, 84),
    "Bassoon": (34, 75),
    "Trombone": (40, 77),
    "Piano": (21, 108),
    "Violin": (55, 100),
}

# Prefix of a descriptive file-name word -> normalized name. Matched case-insensitively,
# longest prefix first ("Harpsichord" before "Harp", "Tuba" vs "TubularBells").
_NAME_PREFIXES = {
    "clarinet": "Clarinet",
    "saxophone": "Saxophone",
    "sax": "Saxophone",
    "trumpet": "Trumpet",
    "cello": "Cello",
    "frenchhorn": "FrenchHorn",
    "oboe": "Oboe",
    "flute": "Flute",
    "englishhorn": "EnglishHorn",
    "bassoon": "Bassoon",
    "trombone": "Trombone",
    "piano": "Piano",
    "violin": "Violin",
    "vibraphone": "Vibraphone",
    "tubularbells": "TubularBells",
    "tuba": "Tuba",
    "harpsichord": "Harpsichord",
    "harp": "Harp",
    "marimba": "Marimba",
    "celesta": "Celesta",
    "recorder": "Recorder",
    "crumhorn": "Crumhorn",
    "organ": "Organ",
    "guitar": "Guitar",
    "cuica": "Cuica",
    "cymbal": "Cymbal",
    "logdrum": "LogDrum",
    "snare": "SnareDrum",
    "steeldrum": "SteelDrum",
    "tympani": "Timpani",
    "timpani": "Timpani",
    "bamboochimes": "BambooChimes",
    "bongo": "Bongo",
    "castanets": "Castanets",
    "tambourine": "Tambourine",
    "tamtam": "TamTam",
    "templeblock": "TempleBlock",
}
_PREFIXES = sorted(_NAME_PREFIXES, key=len, reverse=True)

# Grey (1977, 1978) two-letter stimulus codes; Grey 1978's modified tones add a "t".
_GREY = {
    "BN": "Bassoon",
    "C1": "Clarinet",  # E-flat clarinet
    "C2": "Clarinet",  # bass clarinet
    "EH": "EnglishHorn",
    "FH": "FrenchHorn",
    "FL": "Flute",
    "O1": "Oboe",
    "O2": "Oboe",
    "S1": "Cello",  # sul ponticello
    "S2": "Cello",  # normale
    "S3": "Cello",  # muted, sul tasto
    "TM": "Trombone",  # muted
    "TP": "Trumpet",
    "X1": "Saxophone",  # alto, mf
    "X2": "Saxophone",  # alto, p
    "X3": "Saxophone",  # soprano
}

# McAdams et al. (1995) codes (Wessel/Krimphoff FM instruments). Hybrids map to None:
# tpr trumpar, ols oboleste, vbs vibraslide, sno striano, obc obochord, vbn vibrone,
# gtn guitarnet; stg is a generic bowed string.
_MCADAMS = {
    "hrn": "FrenchHorn",
    "tpt": "Trumpet",
    "tbn": "Trombone",
    "hrp": "Harp",
    "hcd": "Harpsichord",
    "can": "EnglishHorn",  # cor anglais
    "bsn": "Bassoon",
    "cnt": "Clarinet",
    "gtr": "Guitar",
    "pno": "Piano",
}

# Studies whose stimuli all come from one instrument, whatever the file is called.
_WHOLE_STUDY = {
    "Barthet2010": "Clarinet",  # physical-model clarinet tones (Barthet et al. 2010)
}


def instrument_from_filename(filename, study=None):
    """Normalized instrument name of a timbre-study stimulus, or ``None``.

    Parameters
    ----------
    filename : str
        Stimulus file name, e.g. ``"01.O.Violin.aiff"`` or ``"FL.aiff"``.
    study : str, default=None
        Study name; selects the code tables of Grey 1977/1978, McAdams 1995 and the
        single-instrument Barthet 2010 set.

    Returns
    -------
    instrument : str or None

    Examples
    --------
    >>> from perceptual_timbre.datasets import instrument_from_filename
    >>> instrument_from_filename("01.O.Violin.aiff")
    'Violin'
    >>> instrument_from_filename("FLt.aiff", study="Grey1978")
    'Flute'
    >>> instrument_from_filename("08_SaxTenorGrowls.aiff")
    'Saxophone'
    >>> print(instrument_from_filename("05_dn_tpr.aiff", study="McAdams1995"))
    None
    """
    if study in _WHOLE_STUDY:
        return _WHOLE_STUDY[study]
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    if study is not None and study.startswith("Grey"):
        code = stem[:-1] if stem.endswith("t") else stem
        return _GREY.get(code)
    if study is not None and study.startswith("McAdams"):
        return _MCADAMS.get(stem.rsplit("_", 1)[-1].lower())
    # Descriptive names: "01.O.Violin", "06_Piano", "02_Cello.A3", "06.O.MutedTrumpet".
    for word in re.split(r"[._\s-]+", stem):
        word = word.lower()
        if word.startswith("muted"):
            word = word[len("muted"):]
        for prefix in _PREFIXES:
            if word.startswith(prefix):
                return _NAME_PREFIXES[prefix]
    return None
