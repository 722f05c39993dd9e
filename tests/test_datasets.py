"""Tests of perceptual_timbre.datasets on the real shared studies and real SoundFont notes."""

import functools
import hashlib
import http.server
import json
import os
import shutil
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.stats import spearmanr

from perceptual_timbre.datasets import (
    INSTRUMENT_PROGRAMS,
    _soundfont,
    combine_studies,
    default_soundfont,
    download_timbre_studies,
    get_data_home,
    instrument_from_filename,
    list_timbre_studies,
    load_audio_folder,
    load_instrument_ratings,
    load_timbre_study,
    render_instrument_notes,
)
from perceptual_timbre.exceptions import DataNotFoundError, ParameterError
from perceptual_timbre.utils import Ratings
from perceptual_timbre.utils._cache import get_memory

# Study sizes from ../shared/data/README.md.
STUDY_SIZES = {
    "Barthet2010": 15, "Grey1977": 16, "Grey1978": 16, "Iverson1993_Onset": 16,
    "Iverson1993_Remainder": 16, "Iverson1993_Whole": 16, "Lakatos2000_Comb": 20,
    "Lakatos2000_Harm": 17, "Lakatos2000_Perc": 18, "McAdams1995": 18, "Patil2012_A3": 11,
    "Patil2012_DX4": 11, "Patil2012_GD4": 11,
}
# General MIDI programs from ../shared/data/README.md.
README_PROGRAMS = {
    "Clarinet": 71, "Saxophone": 65, "Trumpet": 56, "Cello": 42, "FrenchHorn": 60, "Oboe": 68,
    "Flute": 73, "EnglishHorn": 69, "Bassoon": 70, "Trombone": 57, "Piano": 0, "Violin": 40,
}


# --------------------------------------------------------------------------- data home
def test_get_data_home_resolution_order(monkeypatch, tmp_path):
    monkeypatch.setenv("PERCEPTUAL_TIMBRE_DATA", str(tmp_path / "env"))
    assert get_data_home(tmp_path / "explicit") == tmp_path / "explicit"
    assert get_data_home() == tmp_path / "env"
    monkeypatch.delenv("PERCEPTUAL_TIMBRE_DATA")
    assert get_data_home() == Path.home() / "perceptual_timbre_data"
    assert get_data_home("~/x") == Path.home() / "x"
    assert not (tmp_path / "env").exists() and not (tmp_path / "explicit").exists()
    with pytest.raises(ParameterError, match="data_home must be a path"):
        get_data_home(3)


def test_missing_data_home_says_where_and_how(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    for call in (lambda: list_timbre_studies(missing),
                 lambda: load_timbre_study("Grey1977", data_home=missing)):
        with pytest.raises(DataNotFoundError) as info:
            call()
        message = str(info.value)
        assert str(missing) in message and "download_timbre_studies" in message
    monkeypatch.setenv("PERCEPTUAL_TIMBRE_DATA", str(missing))
    with pytest.raises(DataNotFoundError, match="PERCEPTUAL_TIMBRE_DATA environment variable"):
        list_timbre_studies()


# --------------------------------------------------------------------------- studies
def test_list_timbre_studies(data_home):
    assert list_timbre_studies(data_home) == sorted(STUDY_SIZES)


@pytest.mark.parametrize("study", sorted(STUDY_SIZES))
def test_load_timbre_study_real(data_home, study):
    data = load_timbre_study(study, data_home=data_home, sr=22050)
    n = STUDY_SIZES[study]
    D = data.dissimilarity
    assert D.shape == (n, n) and D.dtype == np.float64
    assert np.array_equal(D, D.T) and np.all(np.diag(D) == 0) and np.all(np.isfinite(D))
    # Every off-diagonal pair is rated, and the matrix is the file's upper triangle mirrored.
    matrix_file = f"timbremetrics/true_dissim/{study}_dissimilarity_matrix.txt"
    raw = np.loadtxt(data_home / matrix_file)
    np.testing.assert_array_equal(D, np.triu(raw, 1) + np.triu(raw, 1).T)
    assert np.all(D[~np.eye(n, dtype=bool)] > 0)
    assert data.names == sorted(data.names) and len(data.names) == n
    assert isinstance(data.ratings, Ratings) and data.ratings.labels.tolist() == data.names
    assert data.sr == 22050 and data.study == study and study in data.DESCR
    assert len(data.audio) == len(data.instrument) == n
    assert isinstance(data.instrument, np.ndarray) and data.instrument.dtype == object
    for y, path in zip(data.audio, data.filenames, strict=True):
        info = sf.info(path)
        assert y.ndim == 1 and np.all(np.isfinite(y)) and np.abs(y).max() > 1e-3
        assert abs(len(y) - info.frames * 22050 / info.samplerate) <= 1


def test_load_timbre_study_resamples(data_home):
    a = load_timbre_study("Patil2012_A3", data_home=data_home, sr=22050)
    b = load_timbre_study("Patil2012_A3", data_home=data_home, sr=11025)
    assert b.sr == 11025
    for ya, yb in zip(a.audio, b.audio, strict=True):
        assert abs(len(yb) - len(ya) / 2) <= 1
    with pytest.raises(ParameterError, match="sr must be a positive"):
        load_timbre_study("Patil2012_A3", data_home=data_home, sr=-1)


def test_instrument_names_from_files(data_home):
    assert instrument_from_filename("01.O.Violin.aiff") == "Violin"
    assert instrument_from_filename("06.R.MutedTrumpet.aiff") == "Trumpet"
    assert instrument_from_filename("07_Harpsichord.aiff") == "Harpsichord"
    assert instrument_from_filename("08_Harp.aiff") == "Harp"
    assert instrument_from_filename("14_Tuba.aiff") == "Tuba"
    assert instrument_from_filename("03.W.TubularBellsOR.aiff") == "TubularBells"
    assert instrument_from_filename("FL.aiff", study="Grey1977") == "Flute"
    assert instrument_from_filename("BNt.aiff", study="Grey1978") == "Bassoon"
    assert instrument_from_filename("10_dn_can.aiff", study="McAdams1995") == "EnglishHorn"
    assert instrument_from_filename("Unknown.aiff") is None
    iverson = load_timbre_study("Iverson1993_Onset", data_home=data_home)
    assert set(INSTRUMENT_PROGRAMS) <= set(iverson.instrument)
    grey = load_timbre_study("Grey1977", data_home=data_home)
    assert grey.instrument[grey.names.index("FL.aiff")] == "Flute"
    mcadams = load_timbre_study("McAdams1995", data_home=data_home)
    assert mcadams.instrument[mcadams.names.index("05_dn_tpr.aiff")] is None  # trumpar hybrid
    for study in ("Patil2012_A3", "Lakatos2000_Harm", "Lakatos2000_Perc"):
        assert None not in load_timbre_study(study, data_home=data_home).instrument


# --------------------------------------------------------------------------- corrupt studies
def _fake_home(tmp_path, data_home, matrix_text, study="Patil2012_A3", drop=0):
    """A data home with one real study's stimuli and a given matrix file."""
    root = tmp_path / "home" / "timbremetrics"
    (root / "true_dissim").mkdir(parents=True)
    shutil.copytree(data_home / "timbremetrics" / "sounds" / study, root / "sounds" / study)
    for p in sorted((root / "sounds" / study).iterdir())[:drop]:
        p.unlink()
    (root / "true_dissim" / f"{study}_dissimilarity_matrix.txt").write_text(matrix_text)
    return tmp_path / "home"


def _matrix_text(D):
    return "\n".join("\t".join(f"{v:.6f}" for v in row) for row in D) + "\n"


@pytest.fixture
def patil(data_home):
    return load_timbre_study("Patil2012_A3", data_home=data_home).dissimilarity


def test_unknown_study_lists_available(data_home):
    with pytest.raises(ParameterError, match=r"unknown timbre study 'Grey1999'.*Grey1977"):
        load_timbre_study("Grey1999", data_home=data_home)


def test_full_symmetric_matrix_equals_triangular(tmp_path, data_home, patil):
    home = _fake_home(tmp_path, data_home, _matrix_text(patil))
    np.testing.assert_allclose(load_timbre_study("Patil2012_A3", home).dissimilarity, patil,
                               atol=1e-6)


@pytest.mark.parametrize("corruption, message", [
    ("asymmetric", "not symmetric"),
    ("nan", "NaN"),
    ("ragged", "not square"),
    ("text", "non-numeric"),
    ("diagonal", "diagonal must be zero"),
    ("negative", "negative dissimilarity"),
])
def test_corrupt_matrix_rejected(tmp_path, data_home, patil, corruption, message):
    D = patil.copy()
    if corruption == "asymmetric":
        D[2, 5] += 0.3
    elif corruption == "nan":
        D[1, 4] = D[4, 1] = np.nan
    elif corruption == "diagonal":
        D[3, 3] = 0.5
    elif corruption == "negative":
        D[0, 1] = D[1, 0] = -0.2
    text = _matrix_text(D)
    if corruption == "ragged":
        text = _matrix_text(D[:, :-1])
    elif corruption == "text":
        text = text.replace("0.", "x.", 1)
    home = _fake_home(tmp_path, data_home, text)
    with pytest.raises(ParameterError, match=message):
        load_timbre_study("Patil2012_A3", data_home=home)


def test_stimulus_count_mismatch(tmp_path, data_home, patil):
    home = _fake_home(tmp_path, data_home, _matrix_text(np.triu(patil)), drop=1)
    with pytest.raises(ParameterError, match="11x11 but .* holds 10 stimuli"):
        load_timbre_study("Patil2012_A3", data_home=home)


def test_missing_stimuli_folder(tmp_path, data_home, patil):
    home = _fake_home(tmp_path, data_home, _matrix_text(patil))
    shutil.rmtree(home / "timbremetrics" / "sounds" / "Patil2012_A3")
    with pytest.raises(DataNotFoundError, match="no stimuli folder"):
        load_timbre_study("Patil2012_A3", data_home=home)


# --------------------------------------------------------------------------- ratings
def test_instrument_ratings_bundled():
    data = load_instrument_ratings(data_home="/nonexistent/home")
    assert data.instruments == list(README_PROGRAMS)
    assert data.programs == README_PROGRAMS == INSTRUMENT_PROGRAMS
    D, C = data.dissimilarity.to_numpy(), data.counts.to_numpy()
    assert D.shape == C.shape == (12, 12)
    assert np.allclose(D, D.T) and np.all(np.diag(D) == 0)
    assert D.min() == 0 and D.max() == pytest.approx(1.0)
    assert np.array_equal(C, C.T) and C.sum() // 2 == 7516
    assert data.ratings.labels.tolist() == data.instruments
    np.testing.assert_array_equal(data.ratings.counts, C)
    assert "bundled" in data.DESCR


def test_instrument_ratings_from_data_home(tmp_path, data_home):
    shared = load_instrument_ratings(data_home=data_home)
    bundled = load_instrument_ratings(data_home=tmp_path)
    np.testing.assert_array_equal(shared.ratings.matrix, bundled.ratings.matrix)
    assert str(data_home / "esling2018") in shared.DESCR
    # A data home with its own esling2018/ copy wins over the bundled files.
    folder = tmp_path / "esling2018"
    shutil.copytree(data_home / "esling2018", folder)
    mean = (folder / "dissimilarity_mean.csv").read_text()
    (folder / "dissimilarity_mean.csv").write_text(mean.replace("0.122799", "0.300000"))
    changed = load_instrument_ratings(data_home=tmp_path)
    assert changed.dissimilarity.loc["Cello", "Violin"] == pytest.approx(0.3)
    (folder / "ratings_count.csv").unlink()
    with pytest.raises(DataNotFoundError, match="ratings_count.csv"):
        load_instrument_ratings(data_home=tmp_path)


def test_programs_select_matching_soundfont_presets():
    tsf = pytest.importorskip("tinysoundfont")
    synth = tsf.Synth()
    sfid = synth.sfload(str(default_soundfont()))
    for name, program in INSTRUMENT_PROGRAMS.items():
        preset = synth.sfpreset_name(sfid, 0, program).lower().replace(" ", "")
        assert name.lower()[:3] in preset, (name, program, preset)


# --------------------------------------------------------------------------- combine_studies
def _shared_spearman(home):
    pooled, target = combine_studies(data_home=home), load_instrument_ratings()
    shared = [i for i in target.instruments if i in pooled.instruments]
    iu = np.triu_indices(len(shared), 1)
    a, b = pooled.ratings.subset(shared), target.ratings.subset(shared)
    rated = a.counts[iu] > 0
    rho, p = spearmanr(a.matrix[iu][rated], b.matrix[iu][rated])
    return shared, int(rated.sum()), rho, p


def _rho_id():
    """Test id carrying the Spearman value, computed at collection (cheap: no audio)."""
    try:
        from conftest import _find_data_home

        home = _find_data_home()
        return f"spearman={_shared_spearman(home)[2]:.3f}" if home else "spearman=n/a"
    except Exception:  # never break collection; the test itself reports the problem
        return "spearman=n/a"


@pytest.mark.parametrize("label", [_rho_id()])
def test_combined_studies_agree_with_instrument_ratings(data_home, label):
    shared, n_pairs, rho, p = _shared_spearman(data_home)
    print(f"\ncombine_studies vs esling2018 on {len(shared)} instruments, {n_pairs} pairs: "
          f"Spearman rho = {rho:.3f} (p = {p:.2g})")
    assert label in ("spearman=n/a", f"spearman={rho:.3f}")
    assert len(shared) == 12 and n_pairs == 66
    assert rho > 0.3 and p < 1e-3


def test_combine_studies_averages_per_instrument_pair(data_home):
    grey = load_timbre_study("Grey1977", data_home=data_home)
    D, inst = grey.dissimilarity, np.array(grey.instrument, dtype=object)
    off = ~np.eye(len(D), dtype=bool)
    Dn = (D - D[off].min()) / (D[off].max() - D[off].min())
    pooled = combine_studies(["Grey1977"], data_home=data_home)
    oboe, cello = inst == "Oboe", inst == "Cello"
    expected = Dn[np.ix_(oboe, cello)].mean()
    assert pooled.dissimilarity.loc["Oboe", "Cello"] == pytest.approx(expected)
    assert pooled.counts.loc["Oboe", "Cello"] == 2 * 3
    assert pooled.n_studies.loc["Oboe", "Cello"] == 1
    assert sorted(pooled.instruments) == sorted(set(grey.instrument))

    two = combine_studies(["Grey1977", "Iverson1993_Whole"], data_home=data_home)
    iv = load_timbre_study("Iverson1993_Whole", data_home=data_home)
    Div = iv.dissimilarity
    offv = ~np.eye(len(Div), dtype=bool)
    Divn = (Div - Div[offv].min()) / (Div[offv].max() - Div[offv].min())
    flute, oboe_iv = iv.instrument.tolist().index("Flute"), iv.instrument.tolist().index("Oboe")
    expected = (Dn[inst == "Flute"][:, oboe].mean() + Divn[flute, oboe_iv]) / 2
    assert two.dissimilarity.loc["Flute", "Oboe"] == pytest.approx(expected)
    assert two.n_studies.loc["Flute", "Oboe"] == 2 and two.counts.loc["Flute", "Oboe"] == 3
    assert two.n_studies.loc["Violin", "Cello"] == 1  # only Iverson has a violin
    M = two.dissimilarity.to_numpy()
    assert np.allclose(M, M.T) and M.min() >= 0 and M.max() <= 1


def test_combine_studies_errors(data_home):
    with pytest.raises(ParameterError, match="no pair of stimuli of two different"):
        combine_studies(["Barthet2010"], data_home=data_home)  # one instrument only
    with pytest.raises(ParameterError, match="unknown timbre study"):
        combine_studies(["Grey1977", "Nope"], data_home=data_home)
    with pytest.raises(ParameterError, match="empty"):
        combine_studies([], data_home=data_home)


# --------------------------------------------------------------------------- rendering
def test_rendered_notes_are_real_notes(rendered_notes):
    import librosa

    notes = rendered_notes
    X = notes.audio
    assert X.shape == (48, 22050) and X.dtype == np.float32 and notes.sr == 22050
    assert notes.instrument.tolist() == [i for i in INSTRUMENT_PROGRAMS for _ in range(4)]
    assert notes.pitch.tolist() == [60, 60, 67, 67] * 12
    assert notes.velocity.tolist() == [64, 100] * 24
    assert notes.program.tolist() == [INSTRUMENT_PROGRAMS[i] for i in notes.instrument]
    assert np.all(np.isfinite(X))
    peak = np.abs(X).max(axis=1)
    assert np.all(peak > 0.02) and np.all(peak < 1.0)
    assert np.all(np.abs(X.mean(axis=1)) < 1e-3 * peak)  # DC removed
    assert np.all(np.abs(X[:, -1]) < 1e-6)  # faded to silence inside the duration
    # The held part sounds at the requested pitch (within a quarter tone).
    f0 = librosa.yin(X[:, :16384].astype(float), fmin=100, fmax=800, sr=22050, frame_length=2048)
    midi = librosa.hz_to_midi(np.median(f0, axis=1))
    np.testing.assert_allclose(midi, notes.pitch, atol=0.5)
    # Louder velocity, louder note (same instrument and pitch).
    rms = np.sqrt((X.astype(float) ** 2).mean(axis=1)).reshape(24, 2)
    assert np.mean(rms[:, 1] > rms[:, 0]) >= 0.9


def test_rendered_spectra_differ_between_instruments(rendered_notes):
    X = rendered_notes.audio.astype(float)
    sel = (rendered_notes.pitch == 60) & (rendered_notes.velocity == 100)
    spectra = np.abs(np.fft.rfft(X[sel, 2048:14336], axis=1))
    spectra /= np.linalg.norm(spectra, axis=1, keepdims=True)
    similarity = spectra @ spectra.T
    # Different instruments at the same note never share a spectrum.
    assert similarity[~np.eye(12, dtype=bool)].max() < 0.95, similarity.round(3)


def test_rendering_is_deterministic(rendered_notes):
    kwargs = dict(pitches=(60, 67), velocities=(64, 100), duration=1.0, sr=22050)
    again = render_instrument_notes(**kwargs)
    np.testing.assert_array_equal(again.audio, rendered_notes.audio)
    again.audio[:] = 0  # callers get fresh arrays
    np.testing.assert_array_equal(render_instrument_notes(**kwargs).audio, rendered_notes.audio)


def test_render_cache_is_joblib_memory_off_unless_asked(tmp_path, monkeypatch):
    monkeypatch.delenv("PERCEPTUAL_TIMBRE_CACHE", raising=False)
    assert get_memory().location is None and get_memory(False, data_home=tmp_path).location is None
    kwargs = dict(instruments=["Flute", "Cello"], pitches=[60], velocities=[100], duration=0.25,
                  data_home=tmp_path)
    want = render_instrument_notes(**kwargs)
    assert not (tmp_path / "cache").exists()  # off by default: nothing written
    first = render_instrument_notes(**kwargs, cache=True)
    np.testing.assert_array_equal(first.audio, want.audio)
    assert len(list((tmp_path / "cache").rglob("output.pkl"))) == 1

    def no_render(*args, **kwargs):
        raise AssertionError("a cached call must not render")

    monkeypatch.setattr(_soundfont, "_render_programs", no_render)
    # a hit, whatever n_jobs (not part of the key); the environment variable switches it on
    np.testing.assert_array_equal(render_instrument_notes(**kwargs, cache=True, n_jobs=2).audio,
                                  want.audio)
    monkeypatch.setenv("PERCEPTUAL_TIMBRE_CACHE", "1")
    np.testing.assert_array_equal(render_instrument_notes(**kwargs).audio, want.audio)
    with pytest.raises(AssertionError, match="must not render"):  # cache=False overrides it
        render_instrument_notes(**kwargs, cache=False)
    assert get_memory(data_home=tmp_path).location == str(tmp_path / "cache")
    monkeypatch.setenv("PERCEPTUAL_TIMBRE_CACHE", "maybe")
    with pytest.raises(ParameterError, match="PERCEPTUAL_TIMBRE_CACHE .*got 'maybe'"):
        get_memory()
    with pytest.raises(ParameterError, match="cache must be True, False or None"):
        get_memory("yes")


def test_render_subset_dict_and_user_soundfont(tmp_path, rendered_notes):
    flute = render_instrument_notes(["Flute"], pitches=[60, 67], velocities=[64, 100])
    # Rendered alone or after other instruments, a note is the same (order-independent).
    in_full = rendered_notes.audio[rendered_notes.instrument == "Flute"]
    np.testing.assert_array_equal(flute.audio, in_full)
    user = tmp_path / "my font.sf2"
    shutil.copy(default_soundfont(), user)
    mine = render_instrument_notes({"MyFlute": 73, "Marimba": 12}, pitches=[67], velocities=[100],
                                   duration=0.5, sr=16000, soundfont=user)
    assert mine.audio.shape == (2, 8000) and mine.soundfont == str(user.resolve())
    assert mine.instrument.tolist() == ["MyFlute", "Marimba"] and mine.program.tolist() == [73, 12]
    assert np.all(np.abs(mine.audio).max(axis=1) > 0.02)


def test_render_errors(tmp_path, monkeypatch):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        render_instrument_notes(["Flute"], soundfont=tmp_path / "missing.sf2")
    bad = tmp_path / "bad.sf2"
    bad.write_bytes(b"RIFF" + os.urandom(256))
    with pytest.raises(ParameterError, match="not a readable SoundFont"):
        render_instrument_notes(["Flute"], soundfont=bad)
    # TimGM6mb's alto sax has no sample zone at E4: a silent render is refused.
    with pytest.raises(ParameterError, match="rendered silence for program 65, pitch 64"):
        render_instrument_notes(["Saxophone"], pitches=[64], velocities=[100])
    with pytest.raises(ParameterError, match="unknown instruments \\['Kazoo'\\]"):
        render_instrument_notes(["Kazoo"])
    for kwargs, match in [({"pitches": [128]}, "pitches"), ({"velocities": [0]}, "velocities"),
                          ({"duration": -1.0}, "duration"), ({"sr": 0}, "sr"),
                          ({"pitches": []}, "empty")]:
        with pytest.raises(ParameterError, match=match):
            render_instrument_notes(["Flute"], **kwargs)
    monkeypatch.setitem(sys.modules, "tinysoundfont", None)  # as if not installed
    with pytest.raises(ImportError, match="pip install --no-deps tinysoundfont"):
        render_instrument_notes(["Oboe"], pitches=[61], velocities=[99])


# --------------------------------------------------------------------------- audio folder
def test_load_audio_folder(tmp_path, rendered_notes):
    X, sr = rendered_notes.audio, rendered_notes.sr
    root = tmp_path / "sol"
    (root / "Winds" / "Flute").mkdir(parents=True)
    (root / "Strings" / "Cello").mkdir(parents=True)
    flute = X[rendered_notes.instrument == "Flute"]
    cello = X[rendered_notes.instrument == "Cello"]
    sf.write(root / "Winds" / "Flute" / "a.wav", flute[0], sr)
    sf.write(root / "Winds" / "Flute" / "b.flac", flute[1], sr)
    sf.write(root / "Strings" / "Cello" / "c.aiff", np.stack([cello[0], cello[0]], axis=1), 44100)
    sf.write(root / "loose.WAV", cello[1], sr)
    (root / "notes.txt").write_text("not audio")
    data = load_audio_folder(root, sr=sr)
    assert data.filenames == ["Strings/Cello/c.aiff", "Winds/Flute/a.wav", "Winds/Flute/b.flac",
                              "loose.WAV"]
    assert data.instrument.tolist() == ["Strings", "Winds", "Winds", None]
    assert data.label is data.instrument  # the documented alias
    np.testing.assert_allclose(data.audio[1], flute[0], atol=1e-4)  # 16-bit wav
    assert len(data.audio[0]) == len(cello[0]) // 2  # 44.1 kHz stereo file, mixed and resampled
    assert load_audio_folder(root, sr=sr, label_level=-1).instrument.tolist() == [
        "Cello", "Flute", "Flute", None]
    assert load_audio_folder(root, sr=sr, label_level=1).instrument.tolist()[:3] == [
        "Cello", "Flute", "Flute"]
    assert load_audio_folder(root, extensions=(".flac",)).filenames == ["Winds/Flute/b.flac"]


def test_load_audio_folder_errors(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_audio_folder(tmp_path / "missing")
    (tmp_path / "only.txt").write_text("x")
    with pytest.raises(DataNotFoundError, match="is a file"):
        load_audio_folder(tmp_path / "only.txt")
    with pytest.raises(DataNotFoundError, match="no audio files"):
        load_audio_folder(tmp_path)
    (tmp_path / "broken.wav").write_bytes(b"RIFF0000WAVE garbage")
    with pytest.raises(ParameterError, match="broken.wav"):
        load_audio_folder(tmp_path)


# --------------------------------------------------------------------------- downloader
@contextmanager
def _serve(directory):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _manifest():
    path = Path(_soundfont.__file__).parent / "data" / "timbremetrics_manifest.json"
    return json.loads(path.read_text())["files"]


@pytest.mark.network
def test_download_all_studies_over_loopback(tmp_path, data_home):
    target = tmp_path / "home"
    with _serve(data_home) as url:
        result = download_timbre_studies(target, base_url=url)
        assert len(result.downloaded) == len(_manifest()) == 13 + sum(STUDY_SIZES.values())
        assert result.skipped == [] and result.data_home == target
        assert list_timbre_studies(target) == sorted(STUDY_SIZES)
        got = load_timbre_study("Patil2012_GD4", data_home=target)  # '#' in names survives
        original = load_timbre_study("Patil2012_GD4", data_home=data_home)
        np.testing.assert_array_equal(got.dissimilarity, original.dissimilarity)
        # A second run skips verified files and repairs a damaged one.
        damaged = "timbremetrics/sounds/Grey1977/FL.aiff"
        (target / damaged).write_bytes(b"damaged")
        again = download_timbre_studies(target, base_url=url, studies=["Grey1977"])
        assert again.downloaded == [damaged] and len(again.skipped) == 16
    assert (target / damaged).read_bytes() == (data_home / damaged).read_bytes()
    assert not list(target.rglob("*.part"))


@pytest.mark.network
def test_download_checksum_mismatch_and_errors(tmp_path, data_home):
    served = tmp_path / "served" / "timbremetrics"
    shutil.copytree(data_home / "timbremetrics" / "sounds" / "Patil2012_A3",
                    served / "sounds" / "Patil2012_A3")
    (served / "true_dissim").mkdir()
    matrix = "timbremetrics/true_dissim/Patil2012_A3_dissimilarity_matrix.txt"
    text = (data_home / matrix).read_text()
    (tmp_path / "served" / matrix).write_text(text.replace("0.", "0.9", 1))  # tampered
    target = tmp_path / "home"
    with _serve(tmp_path / "served") as url:
        with pytest.raises(DataNotFoundError, match="checksum mismatch"):
            download_timbre_studies(target, base_url=url, studies="Patil2012_A3")
        assert not (target / matrix).exists() and not list(target.rglob("*.part"))
        with pytest.raises(DataNotFoundError, match="could not download .*Grey1977"):
            download_timbre_studies(target, base_url=url, studies=["Grey1977"])
    with pytest.raises(ParameterError, match="unknown timbre studies \\['Nope'\\]"):
        download_timbre_studies(target, base_url=url, studies=["Nope"])
    with pytest.raises(ParameterError, match="http"):
        download_timbre_studies(target, base_url="ftp://example.org/")


def test_manifest_matches_shared_data(data_home):
    manifest = _manifest()
    for rel in list(manifest)[::20]:  # a sample; the loopback download checks every file
        assert hashlib.sha256((data_home / rel).read_bytes()).hexdigest() == manifest[rel]["sha256"]
