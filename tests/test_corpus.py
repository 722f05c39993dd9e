"""Tests of the SoundFont corpus: find_soundfonts and load_instrument_corpus, on real renders.

Every render is real (TinySoundFont). The bundled TimGM6mb is always there; a tiny SoundFont
written here (one looped sine, one preset, a limited key range) makes silent zones and
missing presets deterministic; FluidR3_GM and sf_GMbank (Debian packages) are used when
installed and their tests skip otherwise.
"""

import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from joblib import parallel_config

from perceptual_timbre.datasets import (
    INSTRUMENT_PROGRAMS,
    INSTRUMENT_RANGES,
    _corpus,
    default_soundfont,
    find_soundfonts,
    load_instrument_corpus,
    render_instrument_notes,
)
from perceptual_timbre.exceptions import DataNotFoundError, ParameterError

pytest.importorskip("tinysoundfont")

SMALL = dict(instruments=["Flute", "Cello"], pitches=[55, 60, 67], velocities=[100],
             duration=0.25)
DEBIAN_HINT = "(Debian: apt-get install fluid-soundfont-gm csound-soundfont; .ci/run does)"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No user environment variable leaks into these tests; the data home is a tmp folder."""
    monkeypatch.delenv(_corpus.SOUNDFONTS_ENV, raising=False)
    monkeypatch.setenv("PERCEPTUAL_TIMBRE_DATA", str(tmp_path / "home"))


def _system_soundfont(name):
    path = next((p for folder in _corpus.SYSTEM_SOUNDFONT_DIRS
                 for p in _corpus._scan(folder) if p.stem == name), None)
    if path is None:
        pytest.skip(f"{name}.sf2 is not installed {DEBIAN_HINT}")
    return path


# --------------------------------------------------------------------------- a tiny SoundFont
def _chunk(tag, data):
    return tag + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")


def _name(text):
    return text.encode()[:19].ljust(20, b"\0")


def write_tiny_soundfont(path, program=0, key_range=(60, 72), sr=22050):
    """A valid SoundFont 2.01 file: one preset (bank 0, ``program``) whose only zone plays a
    looped 441 Hz sine (root key 69) over ``key_range``; every other key is silent."""
    period, n = 50, 2000
    wave = (0.5 * 32767 * np.sin(2 * np.pi * np.arange(n) / period)).astype("<i2")
    info = _chunk(b"LIST", b"INFO" + _chunk(b"ifil", struct.pack("<HH", 2, 1))
                  + _chunk(b"isng", b"EMU8000\0") + _chunk(b"INAM", b"tiny test font\0\0"))
    sdta = _chunk(b"LIST", b"sdta" + _chunk(b"smpl", wave.tobytes() + bytes(2 * 46)))
    pdta = [
        (b"phdr", _name("Tiny") + struct.pack("<HHHIII", program, 0, 0, 0, 0, 0)
         + _name("EOP") + struct.pack("<HHHIII", 0, 0, 1, 0, 0, 0)),
        (b"pbag", struct.pack("<HHHH", 0, 0, 1, 0)),
        (b"pmod", bytes(10)),
        (b"pgen", struct.pack("<HHHH", 41, 0, 0, 0)),  # zone -> instrument 0
        (b"inst", _name("TinyInst") + struct.pack("<H", 0) + _name("EOI") + struct.pack("<H", 1)),
        (b"ibag", struct.pack("<HHHH", 0, 0, 3, 0)),
        (b"imod", bytes(10)),
        (b"igen", struct.pack("<HBB", 43, *key_range)  # keyRange
         + struct.pack("<HhHHHH", 54, 1, 53, 0, 0, 0)),  # sampleModes=loop, sampleID=0
        (b"shdr", _name("sine") + struct.pack("<IIIIIBbHH", 0, n, 0, n, sr, 69, 0, 0, 1)
         + _name("EOS") + bytes(26)),
    ]
    pdta = _chunk(b"LIST", b"pdta" + b"".join(_chunk(tag, data) for tag, data in pdta))
    body = b"sfbk" + info + sdta + pdta
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


@pytest.fixture
def tiny(tmp_path):
    return write_tiny_soundfont(tmp_path / "fonts" / "tiny.sf2")


# --------------------------------------------------------------------------- find_soundfonts
def test_find_soundfonts_folders_env_and_dedup(tmp_path, monkeypatch):
    system = tmp_path / "system"
    home = tmp_path / "home"
    monkeypatch.setattr(_corpus, "SYSTEM_SOUNDFONT_DIRS", (str(system),))
    a = write_tiny_soundfont(system / "a.sf2", key_range=(60, 61))
    (system / "default-GM.sf2").symlink_to(a)  # a link to the same file counts once
    (system / "dangling.sf2").symlink_to(system / "missing.sf2")
    (system / "readme.txt").write_text("not a soundfont")
    user = write_tiny_soundfont(home / "soundfonts" / "sub" / "mine.SF3", key_range=(60, 62))
    envdir = write_tiny_soundfont(tmp_path / "env" / "a.sf2", key_range=(60, 63)).parent
    envfile = write_tiny_soundfont(tmp_path / "loose" / "single.sf2", key_range=(60, 64))
    copy = tmp_path / "env" / "copy_of_single.sf2"
    shutil.copy(envfile, copy)  # same content as single.sf2: counts once
    monkeypatch.setenv(_corpus.SOUNDFONTS_ENV, os.pathsep.join([str(envfile), str(envdir)]))

    fonts = find_soundfonts(data_home=home)
    assert fonts.columns.tolist() == ["name", "path", "size", "sha256", "source"]
    # search order: environment (file, then folder), data home, system folders, bundled
    assert fonts.path.tolist() == [str(p.resolve()) for p in
                                   [envfile, envdir / "a.sf2", user, a, default_soundfont()]]
    assert fonts.name.tolist()[:3] == ["single", "a", "mine"]
    assert fonts.name[3].startswith("a-") and len(fonts.name[3]) == 10  # second "a": sha tag
    assert fonts.name.iloc[-1] == "TimGM6mb" and fonts.source.iloc[-1] == "pretty_midi (bundled)"
    assert fonts.name.is_unique and fonts.sha256.is_unique
    for row in fonts.itertuples():
        data = open(row.path, "rb").read()
        assert row.size == len(data)
        assert row.sha256 == __import__("hashlib").sha256(data).hexdigest()
    assert "data home" in fonts.source[2] and "system folder" in fonts.source[3]

    # the bundled TimGM6mb found elsewhere first: one row, from the first place
    shutil.copy(default_soundfont(), home / "soundfonts" / "TimGM6mb.sf2")
    fonts = find_soundfonts(data_home=home)
    assert (fonts.name == "TimGM6mb").sum() == 1
    assert "data home" in fonts.source[fonts.name == "TimGM6mb"].item()


def test_find_soundfonts_bad_entries(tmp_path, monkeypatch):
    system = tmp_path / "system"
    monkeypatch.setattr(_corpus, "SYSTEM_SOUNDFONT_DIRS", (str(system),))
    system.mkdir()
    (system / "broken.sf2").write_bytes(b"RIFF\0\0\0\0WAVEfmt ")
    with pytest.warns(UserWarning, match=r"broken.sf2 .*is not a SoundFont.*ignored"):
        fonts = find_soundfonts(data_home=tmp_path)
    assert fonts.name.tolist() == ["TimGM6mb"]
    monkeypatch.setattr(_corpus, "SYSTEM_SOUNDFONT_DIRS", ())
    monkeypatch.setenv(_corpus.SOUNDFONTS_ENV, str(tmp_path / "nowhere.sf2"))
    with pytest.warns(UserWarning, match="nowhere.sf2.*does not exist"):
        find_soundfonts(data_home=tmp_path / "empty")
    text = tmp_path / "notes.sf2"
    text.write_text("hello")
    monkeypatch.setenv(_corpus.SOUNDFONTS_ENV, str(text))
    with pytest.raises(ParameterError, match=r"notes.sf2 \(from PERCEPTUAL_TIMBRE_SOUNDFONTS\) "
                                             r"is not a SoundFont"):
        find_soundfonts(data_home=tmp_path / "empty")


def test_find_soundfonts_lists_the_debian_packages():
    fluid, gm = _system_soundfont("FluidR3_GM"), _system_soundfont("sf_GMbank")
    fonts = find_soundfonts()
    assert {"FluidR3_GM", "sf_GMbank", "TimGM6mb"} <= set(fonts.name)
    # Debian links default-GM.sf2 / default-GM.sf3 to FluidR3 and installs sf_GMbank twice
    assert fonts.sha256.is_unique and fonts.path.is_unique
    assert str(fluid.resolve()) in fonts.path.tolist() and gm.stem in fonts.name.tolist()


# --------------------------------------------------------------------------- the corpus
def test_corpus_rows_are_the_notes_render_instrument_notes_renders(tmp_path):
    corpus = load_instrument_corpus("TimGM6mb", **SMALL, data_home=tmp_path)
    assert corpus.audio.shape == (6, 5512) and corpus.audio.dtype == np.float32
    assert corpus.instrument.tolist() == ["Flute"] * 3 + ["Cello"] * 3
    assert corpus.instrument.dtype == object and corpus.soundfont.dtype == object
    assert corpus.pitch.tolist() == [55, 60, 67] * 2 and corpus.velocity.tolist() == [100] * 6
    assert corpus.program.tolist() == [73] * 3 + [42] * 3
    assert corpus.soundfont.tolist() == ["TimGM6mb"] * 6 and corpus.sr == 22050
    assert corpus.soundfonts.name.tolist() == ["TimGM6mb"] and corpus.skipped.empty
    assert corpus.skipped.columns.tolist() == ["soundfont", "instrument", "pitch", "velocity",
                                               "reason"]
    assert "6 notes of 2" in " ".join(corpus.DESCR.split())
    notes = render_instrument_notes(**SMALL)
    np.testing.assert_array_equal(corpus.audio, notes.audio)


def test_corpus_cache_round_trip(tmp_path, monkeypatch):
    first = load_instrument_corpus("TimGM6mb", **SMALL, data_home=tmp_path)
    folder = tmp_path / "soundfont_corpus"
    assert first.cache_path is not None and first.cache_path.startswith(str(folder))
    files = sorted(p.name for p in (tmp_path / "soundfont_corpus").rglob("*") if p.is_file())
    assert files == ["audio.npz", "manifest.json"]  # no pickle, no temporary file left
    manifest = json.loads((folder.glob("*/manifest.json").__next__()).read_text())
    params = manifest["parameters"]
    assert params["perceptual_timbre"] == __import__("perceptual_timbre").__version__
    assert params["soundfonts"] == [{"name": "TimGM6mb",
                                     "sha256": first.soundfonts.sha256.item()}]
    assert params["instruments"] == [["Flute", 73, [55, 60, 67]], ["Cello", 42, [55, 60, 67]]]
    assert params["velocities"] == [100] and params["duration"] == 0.25
    assert manifest["n_notes"] == 6 and manifest["skipped"] == []
    with np.load(folder.glob("*/audio.npz").__next__(), allow_pickle=False) as npz:
        assert npz["instrument"].dtype.kind == "U"

    def no_render(*args, **kwargs):
        raise AssertionError("a cached corpus must not render")

    monkeypatch.setattr(_corpus, "_render_programs", no_render)
    second = load_instrument_corpus("TimGM6mb", **SMALL, data_home=tmp_path)
    for field in ["audio", "instrument", "pitch", "velocity", "program", "soundfont"]:
        np.testing.assert_array_equal(second[field], first[field])
        assert second[field].dtype == first[field].dtype
    pd.testing.assert_frame_equal(second.skipped, first.skipped)
    assert second.cache_path == first.cache_path and second.DESCR == first.DESCR
    # another setting is another corpus: it renders
    with pytest.raises(AssertionError, match="must not render"):
        load_instrument_corpus("TimGM6mb", **dict(SMALL, velocities=[99]), data_home=tmp_path)


def test_corpus_cache_off_and_unusable_cache(tmp_path):
    data = load_instrument_corpus("TimGM6mb", **SMALL, data_home=tmp_path, cache=False)
    assert data.cache_path is None and not (tmp_path / "soundfont_corpus").exists()
    first = load_instrument_corpus("TimGM6mb", **SMALL, data_home=tmp_path)
    npz = next((tmp_path / "soundfont_corpus").glob("*/audio.npz"))
    npz.write_bytes(b"not a zip file")
    with pytest.warns(UserWarning, match="cached corpus .* is unusable"):
        again = load_instrument_corpus("TimGM6mb", **SMALL, data_home=tmp_path)
    np.testing.assert_array_equal(again.audio, first.audio)  # rendered and cached again
    with np.load(npz, allow_pickle=False) as arrays:
        np.testing.assert_array_equal(arrays["audio"], first.audio)


def test_corpus_records_silent_zones_and_missing_presets(tiny, tmp_path):
    corpus = load_instrument_corpus(
        [tiny, "TimGM6mb"], instruments={"Sine": 0, "Violin": 40, "Saxophone": 65},
        pitches=[59, 64, 69], velocities=[100], duration=0.25, data_home=tmp_path)
    # tiny: program 0 over keys 60-72 only, no other preset; TimGM6mb: no alto sax at E4
    want = [("tiny", "Sine", 64), ("tiny", "Sine", 69)] + [
        ("TimGM6mb", name, p) for name in ["Sine", "Violin", "Saxophone"] for p in [59, 64, 69]
        if (name, p) != ("Saxophone", 64)]
    assert list(zip(corpus.soundfont, corpus.instrument, corpus.pitch)) == want
    skipped = corpus.skipped
    assert skipped.to_dict("records")[0] == dict(soundfont="tiny", instrument="Sine", pitch=59,
                                                 velocity=100, reason="silent")
    assert skipped.groupby(["soundfont", "reason"]).size().to_dict() == {
        ("tiny", "silent"): 1, ("tiny", "no preset"): 6, ("TimGM6mb", "silent"): 1}
    assert skipped.query("reason == 'no preset'").instrument.unique().tolist() == [
        "Violin", "Saxophone"]
    assert np.all(np.abs(corpus.audio).max(axis=1) > 0.02)
    assert "8 requested note(s) are left out" in " ".join(corpus.DESCR.split())


def test_corpus_pitch_range_and_parallel_rendering(tiny, tmp_path):
    corpus = load_instrument_corpus(tiny, instruments={"Flute": 0}, velocities=[80, 110],
                                    duration=0.1, data_home=tmp_path, cache=False)
    lo, hi = INSTRUMENT_RANGES["Flute"]  # the flute range, clipped to the tiny font's 60-72
    assert (lo, hi) == (60, 96)
    assert corpus.pitch.tolist() == [p for p in range(60, 73) for _ in range(2)]
    assert corpus.velocity.tolist() == [80, 110] * 13
    assert corpus.skipped.pitch.tolist() == [p for p in range(73, 97) for _ in range(2)]
    assert set(corpus.skipped.reason) == {"silent"}
    # (SoundFont, chunk of instruments) tasks over workers: the same rows, the same notes
    kwargs = dict(instruments={"Sine": 0, "Cello": 42, "Oboe": 68}, pitches=[60, 64, 76],
                  velocities=[100], duration=0.1, data_home=tmp_path, cache=False)
    one = load_instrument_corpus([tiny, "TimGM6mb"], **kwargs, n_jobs=1)
    with parallel_config(backend="threading"):
        two = load_instrument_corpus([tiny, "TimGM6mb"], **kwargs, n_jobs=2)
    assert len(one.audio) == 2 + 9 and len(one.skipped) == 1 + 6  # tiny: 76 silent, no presets
    for field in ["audio", "instrument", "pitch", "soundfont"]:
        np.testing.assert_array_equal(two[field], one[field])
    pd.testing.assert_frame_equal(two.skipped, one.skipped)


def test_every_default_instrument_has_a_range():
    assert list(INSTRUMENT_RANGES) == list(INSTRUMENT_PROGRAMS)
    for name, (lo, hi) in INSTRUMENT_RANGES.items():
        assert 0 <= lo <= 60 < hi <= 127, name  # every default instrument plays middle C


def test_corpus_bad_input(tmp_path, tiny):
    text = tmp_path / "song.sf2"
    text.write_text("this is not a SoundFont")
    with pytest.raises(ParameterError, match="song.sf2 .*is not a SoundFont"):
        load_instrument_corpus([tiny, text], **SMALL, data_home=tmp_path)
    with pytest.raises(DataNotFoundError, match="'NoSuchFont' is neither a file nor the name.*"
                                                "TimGM6mb"):
        load_instrument_corpus("NoSuchFont", **SMALL, data_home=tmp_path)
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(DataNotFoundError, match="holds no .sf2/.sf3 file"):
        load_instrument_corpus(tmp_path / "emptydir", **SMALL, data_home=tmp_path)
    with pytest.raises(ParameterError, match=r"the corpus is empty.*tiny 'silent': 2"):
        load_instrument_corpus(tiny, instruments={"Low": 0}, pitches=[30, 40],
                               velocities=[100], data_home=tmp_path)
    with pytest.raises(ParameterError, match=r"the corpus is empty.*TimGM6mb 'silent': 1"):
        load_instrument_corpus("TimGM6mb", instruments=["Saxophone"], pitches=[64],
                               velocities=[100], data_home=tmp_path)
    with pytest.raises(ParameterError, match=r"unknown instruments \['Kazoo'\]"):
        load_instrument_corpus("TimGM6mb", instruments=["Flute", "Kazoo"], data_home=tmp_path)
    with pytest.raises(ParameterError, match=r"no playable range is known for \['Sine'\]"):
        load_instrument_corpus("TimGM6mb", instruments={"Sine": 0}, data_home=tmp_path)
    for kwargs, match in [
        (dict(pitches=[60, 128]), "pitches must be integers in \\[0, 127\\], got 128"),
        (dict(pitches=[-1]), "pitches must be integers in \\[0, 127\\], got -1"),
        (dict(pitches=[60.5]), "pitches must be integers"),
        (dict(pitches="all"), "pitches must be 'range' or a list"),
        (dict(pitches=[]), "pitches is empty"),
        (dict(velocities=[0]), "velocities"),
        (dict(duration=0.0), "duration"),
        (dict(sr=0), "sr"),
        (dict(n_jobs=0), "n_jobs"),
        (dict(cache="yes"), "cache must be True or False"),
    ]:
        with pytest.raises(ParameterError, match=match):
            load_instrument_corpus("TimGM6mb", **dict(SMALL, **kwargs), data_home=tmp_path)
    for soundfonts, match in [([], "soundfonts is empty"), (3, "soundfonts must be None"),
                              ([3], "a SoundFont must be a name or a path"),
                              (pd.DataFrame({"name": ["x"]}), "needs a 'path' column")]:
        with pytest.raises(ParameterError, match=match):
            load_instrument_corpus(soundfonts, **SMALL, data_home=tmp_path)
    assert not (tmp_path / "soundfont_corpus").exists()  # nothing cached on failure


def test_corpus_accepts_a_find_soundfonts_table(tmp_path, monkeypatch):
    monkeypatch.setattr(_corpus, "SYSTEM_SOUNDFONT_DIRS", ())
    table = find_soundfonts(data_home=tmp_path)
    corpus = load_instrument_corpus(table, **SMALL, data_home=tmp_path, cache=False)
    assert corpus.soundfont.tolist() == ["TimGM6mb"] * 6
    default = load_instrument_corpus(**SMALL, data_home=tmp_path, cache=False)  # all found
    np.testing.assert_array_equal(default.audio, corpus.audio)


# --------------------------------------------------------------------------- Debian SoundFonts
def test_corpus_from_the_debian_soundfonts(tmp_path):
    """FluidR3_GM and sf_GMbank: rows ordered by SoundFont; the two banks sound different;
    FluidR3's violin has no sample zone at MIDI 94 (recorded, not raised)."""
    _system_soundfont("FluidR3_GM")
    _system_soundfont("sf_GMbank")
    corpus = load_instrument_corpus(["FluidR3_GM", "sf_GMbank"], instruments=["Violin"],
                                    pitches=[60, 94], velocities=[80], duration=0.5,
                                    data_home=tmp_path, cache=False)
    assert corpus.soundfont.tolist() == ["FluidR3_GM", "sf_GMbank", "sf_GMbank"]
    assert corpus.pitch.tolist() == [60, 60, 94]
    assert corpus.skipped.to_dict("records") == [dict(
        soundfont="FluidR3_GM", instrument="Violin", pitch=94, velocity=80, reason="silent")]
    a, b = corpus.audio[0].astype(float), corpus.audio[1].astype(float)
    assert np.corrcoef(a, b)[0, 1] < 0.9  # the same note from two banks is not the same sound
    with pytest.raises(ParameterError, match="rendered silence for program 40, pitch 94"):
        render_instrument_notes(["Violin"], pitches=[94], velocities=[80],
                                soundfont=_system_soundfont("FluidR3_GM"))


def test_user_guide_example_runs(tmp_path, capsys):
    """The corpus example of docs/user_guide/datasets.rst runs and prints what it says."""
    guide = (Path(__file__).resolve().parents[1] / "docs" / "user_guide" / "datasets.rst")
    text = guide.read_text(encoding="utf-8")
    section = text[text.index("A dense corpus from several SoundFonts"):]
    lines = section[section.index(".. code-block:: python"):].splitlines()[1:]
    end = next(i for i, line in enumerate(lines) if line and not line.startswith("   "))
    code = "\n".join(line[3:] for line in lines[:end])
    namespace = {}
    exec(compile(code, str(guide), "exec"), namespace)  # noqa: S102 - our own documentation
    corpus = namespace["corpus"]
    assert corpus.audio.shape == (40, 22050) and "(40, 22050)" in capsys.readouterr().out
    assert corpus.skipped[["instrument", "pitch"]].values.tolist() == [["Saxophone", 64]] * 2
    assert corpus.cache_path.startswith(str(tmp_path / "home"))  # the data home of _isolated
