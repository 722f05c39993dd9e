"""Listening tests: design, write, run the page in a real headless browser, read back, refit.

Real data throughout: the stimuli and mean ratings of the shared studies (``load_study``);
simulated participants answer with the study's own mean ratings plus noise.
"""

import csv
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from perceptual_timbre.exceptions import DataNotFoundError, ParameterError
from perceptual_timbre.listening import (
    ExperimentDesign,
    ListeningRatings,
    design_experiment,
    integrated_loudness,
    load_experiment,
    read_responses,
    write_experiment,
)
from perceptual_timbre.utils import Ratings

STUDY = "Patil2012_A3"  # 11 stimuli of 0.25 s: quick to write and to play in the browser


@pytest.fixture(scope="module")
def study(load_study):
    audio, names, D = load_study(STUDY)
    return [np.asarray(a) for a in audio], list(names), D


@pytest.fixture(scope="module")
def experiment(study, tmp_path_factory):
    """A coverage design over the study (half its pairs, 3 repeats), written once."""
    audio, names, _ = study
    design = design_experiment(names, n_pairs=0.5, repeats=3, random_state=7)
    folder = tmp_path_factory.mktemp("listening") / "exp"
    return write_experiment(folder, audio, 22050, design, gap_ms=100), design


def _answers(design, D, participant, *, noise, rng, scale=(0, 100)):
    """A participant's rows: the study's normalized ratings plus Gaussian noise."""
    Dn = D / D.max()
    rows = []
    for t, (a, b) in enumerate(design.trials, start=1):
        r = np.clip(Dn[a, b] + rng.normal(0, noise), 0, 1) * (scale[1] - scale[0]) + scale[0]
        rows.append({"participant": participant, "trial": t, "sound_a": design.sound_ids[a],
                     "sound_b": design.sound_ids[b], "rating": int(round(r))})
    return rows


def _write_csv(path, rows, columns=("participant", "trial", "sound_a", "sound_b", "rating")):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


# --------------------------------------------------------------------------------- design
def _position_balance(design):
    first = design.trials[~design.repeat]
    n = design.n_sounds
    return np.bincount(first[:, 0], minlength=n) - np.bincount(first[:, 1], minlength=n)


def test_full_design_covers_every_pair_once_in_a_balanced_order(study):
    _, names, _ = study
    design = design_experiment(names, random_state=0)
    n = len(names)
    assert design.strategy == "all" and design.n_pairs == n * (n - 1) // 2
    first = design.trials[~design.repeat]
    assert sorted(map(tuple, np.sort(first, axis=1).tolist())) == sorted(
        (i, j) for i in range(n) for j in range(i + 1, n))
    assert np.all(design.pairs_per_sound() == n - 1)
    # each sound is played first about as often as second
    assert np.abs(_position_balance(design)).max() <= 2
    # no sound in two consecutive first presentations
    assert not any(set(p) & set(q) for p, q in zip(first.tolist(), first[1:].tolist()))
    # repeats: 10 % of 55 pairs rounded up, reversed, a third of the session after the original
    assert design.repeat.sum() == 6 and design.n_trials == 61
    rows = [tuple(t) for t in design.trials.tolist()]
    for pos in np.flatnonzero(design.repeat):
        a, b = rows[pos]
        orig = rows.index((b, a))
        assert not design.repeat[orig] and pos - orig >= design.n_pairs // 3


@pytest.mark.parametrize("n_pairs", [6, 0.2, 0.35, 0.5, 0.8])
def test_coverage_balances_anchors(study, n_pairs):
    _, names, _ = study
    design = design_experiment(names, n_pairs=n_pairs, random_state=1)
    assert design.strategy == "coverage"
    counts = design.pairs_per_sound()
    assert counts.max() - counts.min() <= 1
    assert len({tuple(p) for p in np.sort(design.pairs, axis=1).tolist()}) == design.n_pairs
    assert np.abs(_position_balance(design)).max() <= 2


def test_coverage_counts_pairs_rated_before_and_never_proposes_them(study):
    _, names, _ = study
    first = design_experiment(names, n_pairs=0.3, strategy="random", random_state=2)
    counts = np.zeros((len(names),) * 2)
    counts[first.pairs[:, 0], first.pairs[:, 1]] = 1
    rated = Ratings(np.zeros_like(counts), names, counts + counts.T)
    second = design_experiment(names, n_pairs=0.3, rated=rated, random_state=2)
    assert second.n_rated_before == first.n_pairs
    old = {tuple(p) for p in np.sort(first.pairs, axis=1).tolist()}
    new = {tuple(p) for p in np.sort(second.pairs, axis=1).tolist()}
    assert not old & new
    total = first.pairs_per_sound() + second.pairs_per_sound()
    assert total.max() - total.min() <= 1  # coverage fills the random design's gaps
    # the same with a plain count matrix
    again = design_experiment(names, n_pairs=0.3, rated=counts, random_state=2)
    assert again == second


def test_stratified_coverage_spreads_each_sounds_partners_over_its_distance_range(study):
    """With ``space`` = a prior dissimilarity matrix, stratified coverage keeps the anchor
    balance and gives every sound partners in its near, middle and far third (as far as its
    count allows); plain coverage leaves that to chance."""
    from perceptual_timbre.listening._design import _anchor_strata

    _, names, D = study
    n = len(names)
    strata = _anchor_strata(D)

    def worst_gap(design):  # per sound: max - min partners per distance third
        fill = np.zeros((n, 3))
        for i, j in design.pairs:
            fill[i, strata[i, j]] += 1
            fill[j, strata[j, i]] += 1
        return (fill.max(axis=1) - fill.min(axis=1)).max()

    design = design_experiment(names, n_pairs=0.4, strategy="stratified", space=D,
                               random_state=0)
    counts = design.pairs_per_sound()
    assert counts.max() - counts.min() <= 1
    assert worst_gap(design) <= 2
    plain = [worst_gap(design_experiment(names, n_pairs=0.4, random_state=s)) for s in range(5)]
    assert np.mean(plain) > worst_gap(design)
    assert design == design_experiment(names, n_pairs=0.4, strategy="stratified", space=D,
                                       random_state=0)
    with pytest.raises(ParameterError, match='"stratified" needs space'):
        design_experiment(names, n_pairs=0.4, strategy="stratified")


def test_coverage_with_a_prior_rates_the_directions_not_yet_rated():
    """Sounds on the corners of a square, both horizontal pairs rated: every sound anchors
    one pair, so the counts tie; the leverage sends the next pair along the vertical, the
    direction no rated pair spans (a diagonal half spans it), whatever the seed. Plain
    coverage picks among the four at random."""
    xy = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    prior = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    rated = np.zeros((4, 4))
    rated[0, 1] = rated[2, 3] = 1
    vertical = {(0, 2), (1, 3)}
    picked = [tuple(design_experiment(4, n_pairs=1, space=prior, rated=rated, repeats=0,
                                      random_state=s).pairs[0]) for s in range(10)]
    assert set(picked) <= vertical
    plain = [tuple(design_experiment(4, n_pairs=1, rated=rated, repeats=0,
                                     random_state=s).pairs[0]) for s in range(10)]
    assert not set(plain) <= vertical


def test_coverage_with_a_prior_spans_more_directions_and_keeps_the_balance(study):
    """On the study's own dissimilarities as the prior: coverage with ``space`` keeps every
    sound within one pair of every other, and its pairs' directions in the prior's space
    (the terms the leverage counts) span more than plain coverage's: a larger
    log-determinant of their information matrix, for every seed."""
    from perceptual_timbre.listening._design import (
        _RIDGE,
        _pair_terms,
        _prior_coordinates,
    )

    _, names, D = study
    Y = _prior_coordinates(D)

    def logdet(design):
        X = _pair_terms(Y, design.pairs)
        return np.linalg.slogdet(_RIDGE * np.eye(X.shape[1]) + X.T @ X)[1]

    for s in range(3):
        design = design_experiment(names, n_pairs=0.3, space=D, random_state=s)
        assert design.strategy == "coverage"
        counts = design.pairs_per_sound()
        assert counts.max() - counts.min() <= 1
        plain = design_experiment(names, n_pairs=0.3, random_state=s)
        assert logdet(design) > logdet(plain)
    # a prior on a line cannot tell pairs apart (one direction): ties go to chance, as
    # without a prior
    line = np.abs(np.subtract.outer(np.arange(11.0), np.arange(11.0)))
    assert np.array_equal(design_experiment(names, n_pairs=0.3, space=line, random_state=0).pairs,
                          design_experiment(names, n_pairs=0.3, random_state=0).pairs)


def test_designs_are_reproducible(study):
    _, names, _ = study
    a = design_experiment(names, n_pairs=20, random_state=3)
    assert a == design_experiment(names, n_pairs=20, random_state=3)
    assert a != design_experiment(names, n_pairs=20, random_state=4)
    free = design_experiment(names, n_pairs=20)  # a drawn seed reproduces the design
    assert design_experiment(names, n_pairs=20, random_state=free.seed) == free
    assert ExperimentDesign.from_dict(json.loads(json.dumps(a.to_dict()))) == a
    frame = a.to_frame()
    assert list(frame.columns) == ["trial", "sound_a", "sound_b", "repeat"]
    assert frame["trial"].tolist() == list(range(1, a.n_trials + 1))


def test_uncertainty_picks_the_pairs_an_ensemble_disagrees_on(study):
    _, names, D = study
    n = len(names)
    rng = np.random.default_rng(0)
    ensemble = np.repeat(D[None], 5, axis=0)
    hot = [(0, 5), (2, 9), (3, 4)]
    for i, j in hot:  # members disagree on these pairs only
        noise = rng.normal(0, D.mean(), 5)
        ensemble[:, i, j] += noise
        ensemble[:, j, i] += noise
    ensemble = np.abs(ensemble)
    design = design_experiment(names, n_pairs=3, strategy="uncertainty", space=ensemble,
                               repeats=0, random_state=0)
    assert {tuple(p) for p in np.sort(design.pairs, axis=1).tolist()} == set(hot)
    with pytest.raises(ParameterError, match="needs space"):
        design_experiment(names, n_pairs=3, strategy="uncertainty")
    with pytest.raises(ParameterError, match=r"shape \(n_members >= 2, 11, 11\)"):
        design_experiment(names, n_pairs=3, strategy="uncertainty", space=ensemble[:, :n - 1])


@pytest.mark.parametrize("kwargs, match", [
    (dict(sounds=["a", "b", "a"]), "'a' appears twice"),
    (dict(sounds=["a"]), "at least 2 sounds"),
    (dict(sounds="abc"), "list of sound ids"),
    (dict(strategy="greedy", n_pairs=2), "strategy must be one of"),
    (dict(n_pairs=11), "asks for 11 pairs but only 10"),
    (dict(n_pairs=1.5), "fraction in"),
    (dict(n_pairs=4, strategy="all"), 'strategy="all" rates all 10'),
    (dict(n_pairs=4, repeats=5), "5 repeats of 4 pairs"),
    (dict(n_pairs=4, strategy="random", space=np.zeros((5, 5))),
     'only used by strategy="coverage", "stratified" or "uncertainty"'),
    (dict(n_pairs=4, strategy="stratified", space=np.zeros((4, 4))),
     r'strategy="stratified" takes space = a prior dissimilarity matrix of shape \(5, 5\)'),
    (dict(n_pairs=4, space=np.zeros((2, 5, 5))), r"prior dissimilarity matrix of shape \(5, 5\)"),
    (dict(rated=np.ones((5, 5))), "all 10 pairs of the 5 sounds are already rated"),
    (dict(rated=np.ones((4, 4))), r"rated has shape \(4, 4\); expected \(5, 5\)"),
])
def test_design_errors(kwargs, match):
    kwargs = dict(kwargs)
    sounds = kwargs.pop("sounds", ["a", "b", "c", "d", "e"])
    with pytest.raises(ParameterError, match=match):
        design_experiment(sounds, **kwargs)


# ---------------------------------------------------------------------------------- write
def test_write_experiment_files(experiment, study):
    import soundfile as sf

    exp, design = experiment
    audio, names, _ = study
    manifest = json.loads(exp.manifest.read_text())
    assert manifest["seed"] == design.seed == 7
    assert ExperimentDesign.from_dict(manifest["design"]) == design
    assert [s["id"] for s in manifest["sounds"]] == names
    target = manifest["loudness"]["target_lufs_used"]
    assert target <= -23.0
    for entry, path, a in zip(manifest["sounds"], exp.sound_files, audio):
        x, sr = sf.read(path)
        assert sr == 22050 and x.ndim == 1 and x.size == entry["n_samples"] == a.size
        assert abs(integrated_loudness(x, sr) - target) < 0.1  # equally loud
        assert np.max(np.abs(x)) <= manifest["loudness"]["max_peak"] + 1e-4
    with open(exp.trials) as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["sound_a"], r["sound_b"]) for r in rows] == [
        (names[a], names[b]) for a, b in design.trials]
    assert sum(int(r["repeat"]) for r in rows) == 3
    page = exp.page.read_text()
    assert "http://" not in page and "https://" not in page  # no network
    assert "<script src" not in page and "<link" not in page  # nothing external
    assert names[0] in page and manifest["id"] in page
    # loading verifies every checksum
    loaded = load_experiment(exp.folder)
    assert loaded.design == design and loaded.scale == (0, 100)


def test_load_experiment_detects_changed_files(experiment, tmp_path):
    exp, _ = experiment
    copy = tmp_path / "copy"
    shutil.copytree(exp.folder, copy)
    wav = copy / "sounds" / "003.wav"
    wav.write_bytes(wav.read_bytes()[:-2] + b"\x00\x01")
    with pytest.raises(ParameterError, match=r"003\.wav does not match its sha256"):
        load_experiment(copy)
    assert load_experiment(copy, verify=False).design.n_sounds == 11
    wav.unlink()
    with pytest.raises(DataNotFoundError, match=r"003\.wav is listed"):
        load_experiment(copy)
    with pytest.raises(DataNotFoundError, match="no experiment manifest"):
        load_experiment(tmp_path / "nowhere")


def test_write_experiment_errors(study, tmp_path):
    audio, names, _ = study
    design = design_experiment(names[:4], random_state=0)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    with pytest.raises(ParameterError, match="is not empty"):
        write_experiment(tmp_path / "full", audio[:4], 22050, design)
    with pytest.raises(ParameterError, match="holds 5 sounds but the design has 4 ids"):
        write_experiment(tmp_path / "a", audio[:5], 22050, design)
    with pytest.raises(ParameterError, match="no audio for the design's ids"):
        write_experiment(tmp_path / "b", dict(zip(names[:3], audio)), 22050, design)
    with pytest.raises(ParameterError, match=r"sounds\[1\] is silent"):
        write_experiment(tmp_path / "c", [audio[0], np.zeros(100)] + audio[2:4], 22050, design)
    with pytest.raises(ParameterError, match="must be an ExperimentDesign"):
        write_experiment(tmp_path / "d", audio[:4], 22050, design.to_dict())


def test_loudness_normalization_keeps_sounds_equally_loud_when_one_would_clip(tmp_path):
    sr = 16000
    t = np.arange(sr // 2) / sr
    quiet_click = np.zeros(t.size)
    quiet_click[::400] = 0.5  # sparse clicks: low loudness, high peak
    sounds = [0.1 * np.sin(2 * np.pi * 440 * t), quiet_click, 0.3 * np.sin(2 * np.pi * 90 * t)]
    exp = write_experiment(tmp_path / "e", sounds, sr, design_experiment(3, random_state=0),
                           target_lufs=-14.0, max_peak=0.5)
    import soundfile as sf

    levels = [integrated_loudness(sf.read(p)[0], sr) for p in exp.sound_files]
    assert exp.target_lufs < -14.0
    np.testing.assert_allclose(levels, exp.target_lufs, atol=0.1)
    assert max(np.abs(sf.read(p)[0]).max() for p in exp.sound_files) <= 0.5 + 1e-4


# ----------------------------------------------------------------------------------- read
def test_read_responses_round_trip(experiment, study, tmp_path):
    exp, design = experiment
    _, names, D = study
    rng = np.random.default_rng(0)
    files = []
    for k, noise in enumerate([0.05, 0.05, 0.3]):
        rows = _answers(design, D, f"p{k}", noise=noise, rng=rng)
        files.append(_write_csv(tmp_path / f"p{k}.csv", rows))
    r = read_responses(files, experiment=exp.folder)
    assert isinstance(r, ListeningRatings) and isinstance(r, Ratings)
    assert list(r.labels) == names
    # counts: 3 participants per pair, 6 on the 3 repeated pairs, 0 where not rated
    iu = np.triu_indices(len(names), 1)
    expected = np.zeros((len(names),) * 2)
    for a, b in design.trials:
        expected[a, b] += 3
        expected[b, a] += 3
    np.testing.assert_array_equal(r.counts, expected)
    assert (r.counts[iu] == 0).sum() == len(iu[0]) - design.n_pairs
    assert np.all(r.matrix[r.counts == 0] == 0)
    # each pair: the mean over participants of each one's mean answer, mapped to [0, 1]
    pos = {s: i for i, s in enumerate(names)}
    per = {}
    for f in files:
        with open(f) as fh:
            for row in csv.DictReader(fh):
                i, j = sorted((pos[row["sound_a"]], pos[row["sound_b"]]))
                per.setdefault((i, j), {}).setdefault(row["participant"], []).append(
                    float(row["rating"]) / 100)
    for (i, j), answers in per.items():
        want = np.mean([np.mean(v) for v in answers.values()])
        assert r.matrix[i, j] == pytest.approx(want) and r.matrix[j, i] == r.matrix[i, j]
    # and they follow the study's ratings
    from scipy.stats import spearmanr

    rated = r.counts[iu] > 0
    assert spearmanr(r.matrix[iu][rated], D[iu][rated])[0] > 0.7
    assert len(r.responses) == 3 * design.n_trials
    assert {"file", "line"} <= set(r.responses.columns)
    # consistency: the careful participants repeat themselves better than the careless one
    c = r.consistency
    assert c["n_repeated"].tolist() == [3, 3, 3]
    assert c["n_responses"].tolist() == [design.n_trials] * 3
    assert c.loc["p2", "mean_abs_difference"] > c.loc[["p0", "p1"], "mean_abs_difference"].max()
    # one participant split over two files (a resumed session) reads the same
    rows = _answers(design, D, "p0", noise=0.05, rng=np.random.default_rng(0))
    half = len(rows) // 2
    a = _write_csv(tmp_path / "s1.csv", rows[:half])
    b = _write_csv(tmp_path / "s2.csv", rows[half:])
    whole = read_responses(_write_csv(tmp_path / "all.csv", rows), experiment=exp.folder)
    split = read_responses([a, b], experiment=exp.folder)
    np.testing.assert_array_equal(whole.matrix, split.matrix)
    # without the experiment only the sounds named in the files are labels
    alone = read_responses(files[0])
    assert set(alone.labels) <= set(names)


def _base_rows(design):
    return [{"participant": "p1", "trial": t, "sound_a": design.sound_ids[a],
             "sound_b": design.sound_ids[b], "rating": 50}
            for t, (a, b) in enumerate(design.trials, start=1)]


def _bad_file(kind, design, tmp_path):
    rows = _base_rows(design)
    path = tmp_path / "bad.csv"
    if kind == "columns":
        _write_csv(path, rows, columns=("participant", "trial", "sound_a", "sound_b", "score"))
        return path, r"bad\.csv: line 1 \(header\) lacks the column\(s\) \['rating'\]"
    if kind == "unknown id":
        rows[2]["sound_b"] = "Trumpet.wav"
        _write_csv(path, rows)
        return path, r"bad\.csv: line 4: unknown sound id 'Trumpet\.wav' in sound_b"
    if kind == "out of range":
        rows[4]["rating"] = 101
        _write_csv(path, rows)
        return path, r"bad\.csv: line 6: rating '101' is outside the scale \[0\.0, 100\.0\]"
    if kind == "not a number":
        rows[0]["rating"] = "n/a"
        _write_csv(path, rows)
        return path, r"bad\.csv: line 2: rating must be a number, got 'n/a'"
    if kind == "nan":
        rows[1]["rating"] = "nan"
        _write_csv(path, rows)
        return path, r"bad\.csv: line 3: rating 'nan' is outside the scale"
    if kind == "duplicate trial":
        rows.insert(5, dict(rows[3]))
        _write_csv(path, rows)
        return path, (r"bad\.csv: line 7: participant 'p1' answered trial 4 twice "
                      r"\(first at .*bad\.csv: line 5\)")
    if kind == "wrong pair":
        pair = {rows[1]["sound_a"], rows[1]["sound_b"]}
        rows[1]["sound_b"] = next(s for s in design.sound_ids if s not in pair)
        _write_csv(path, rows)
        return path, r"bad\.csv: line 3: trial 2 compares .* but the experiment's trial 2"
    if kind == "trial beyond design":
        rows[0]["trial"] = 999
        _write_csv(path, rows)
        return path, r"bad\.csv: line 2: trial 999 is not in the experiment"
    if kind == "same sound":
        rows[0]["sound_b"] = rows[0]["sound_a"]
        _write_csv(path, rows)
        return path, r"bad\.csv: line 2: sound_a and sound_b are the same sound"
    if kind == "empty participant":
        rows[3]["participant"] = " "
        _write_csv(path, rows)
        return path, r"bad\.csv: line 5: empty participant id"
    if kind == "short row":
        _write_csv(path, rows)
        with open(path, "a") as fh:
            fh.write("p1,99,a\n")
        return path, rf"bad\.csv: line {len(rows) + 2} has 3 fields but the header has 5"
    if kind == "header only":
        _write_csv(path, [])
        return path, r"bad\.csv: no responses \(only a header\)"
    if kind == "empty":
        path.write_text("")
        return path, r"bad\.csv: empty file"
    raise AssertionError(kind)


BAD_KINDS = ["columns", "unknown id", "out of range", "not a number", "nan", "duplicate trial",
             "wrong pair", "trial beyond design", "same sound", "empty participant",
             "short row", "header only", "empty"]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_response_files_name_file_and_line(experiment, tmp_path, kind):
    exp, design = experiment
    path, match = _bad_file(kind, design, tmp_path)
    with pytest.raises(ParameterError, match=match):
        read_responses(path, experiment=exp.folder)


def test_duplicate_trials_across_files_and_missing_files(experiment, tmp_path):
    exp, design = experiment
    rows = _base_rows(design)
    a = _write_csv(tmp_path / "a.csv", rows[:5])
    b = _write_csv(tmp_path / "b.csv", rows[4:])
    with pytest.raises(ParameterError, match=r"b\.csv: line 2: .*trial 5 twice .*a\.csv: line 6"):
        read_responses([a, b], experiment=exp.folder)
    with pytest.raises(DataNotFoundError, match=r"missing\.csv does not exist"):
        read_responses(tmp_path / "missing.csv")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(DataNotFoundError, match="holds no .csv response files"):
        read_responses(tmp_path / "empty_dir")
    with pytest.raises(ParameterError, match="low < high"):
        read_responses(a, scale=(5, 1))


# ------------------------------------------------------------------- fitting partial ratings
def test_perceptual_metric_ignores_unrated_pairs(experiment, study, tmp_path):
    from perceptual_timbre import PerceptualMetric

    exp, design = experiment
    audio, names, D = study
    rng = np.random.default_rng(1)
    files = [_write_csv(tmp_path / f"p{k}.csv", _answers(design, D, f"p{k}", noise=0.05,
                                                         rng=rng)) for k in range(2)]
    r = read_responses(files, experiment=exp.folder)
    ids = [f"{STUDY}/{n}" for n in names]
    params = dict(n_components=8, max_iter=30)
    fitted = PerceptualMetric(**params).fit(audio, ids, {STUDY: r})
    # whatever stands in the unrated cells, the fit is the same
    junk = np.where(r.counts > 0, r.matrix, 7.0)
    np.fill_diagonal(junk, 0)
    other = PerceptualMetric(**params).fit(audio, ids, {STUDY: Ratings(junk, names, r.counts)})
    np.testing.assert_allclose(fitted.components_, other.components_)
    # ...while reading those cells as ratings would change it
    dense = PerceptualMetric(**params).fit(audio, ids, {STUDY: Ratings(junk, names)})
    assert not np.allclose(dense.components_, fitted.components_)
    # the score on the half-rated study uses the rated pairs only
    assert fitted.score(audio, ids) == pytest.approx(
        fitted.score(audio, ids, {STUDY: Ratings(junk, names, r.counts)}))


# ------------------------------------------------------------------------ headless browser
def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    binary, driver = _chromium(), shutil.which("chromedriver")
    if binary is None or driver is None:
        pytest.skip("headless browser test needs chromium and chromedriver "
                    "(Debian: apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-dev-shm-usage", "--window-size=900,700",
                f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    drv = webdriver.Chrome(service=Service(driver), options=options)
    drv.downloads = downloads
    yield drv
    drv.quit()


def _wait(predicate, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.mark.slow  # about 12 s: real playback of every trial
def test_page_runs_in_headless_chromium(browser, study, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    audio, names, _ = study
    design = design_experiment(names, n_pairs=8, repeats=1, random_state=5)
    exp = write_experiment(tmp_path / "exp", audio, 22050, design, gap_ms=100)
    browser.get(exp.page.as_uri())  # file:// : no server
    body = browser.find_element(By.TAG_NAME, "body")
    assert body.get_attribute("data-state") == "intro"
    browser.find_element(By.ID, "start").click()  # no participant id: refused
    assert "participant id" in browser.find_element(By.ID, "status").text
    browser.find_element(By.ID, "participant").send_keys("listener-01")
    browser.find_element(By.ID, "start").click()
    assert body.get_attribute("data-state") == "trial"
    expected = []
    for k in range(design.n_trials):
        assert browser.find_element(By.ID, "progress").text == (
            f"Trial {k + 1} of {design.n_trials}")
        nxt = browser.find_element(By.ID, "next")
        assert not nxt.is_enabled()  # nothing heard, nothing rated
        browser.find_element(By.ID, "play").click()
        _wait(lambda: body.get_attribute("data-played") == "1", 10, f"trial {k + 1} to play")
        assert not nxt.is_enabled()  # heard but the slider not moved yet
        steps = 3 * k + 1
        browser.find_element(By.ID, "rating").send_keys(Keys.ARROW_RIGHT * steps)
        expected.append(50 + steps)
        if k == 0:
            browser.save_screenshot(str(tmp_path / "listening_page.png"))
        assert nxt.is_enabled()
        nxt.click()
    assert body.get_attribute("data-state") == "done"
    assert browser.find_element(By.ID, "status").text == ""  # no playback error
    text = browser.find_element(By.ID, "csv").get_attribute("value")
    browser.find_element(By.ID, "download").click()
    csv_path = _wait(lambda: next(iter(browser.downloads.glob("*.csv")), None), 10,
                     "the CSV download")
    _wait(lambda: csv_path.stat().st_size > 0, 5, "the download to finish")
    assert csv_path.read_text().replace("\r\n", "\n") == text.replace("\r\n", "\n")
    browser.save_screenshot(str(tmp_path / "listening_page_done.png"))
    assert (tmp_path / "listening_page.png").stat().st_size > 1000

    r = read_responses(csv_path, experiment=exp.folder)
    assert int(r.counts.sum()) // 2 == design.n_trials  # every answer read back
    assert r.responses["rating"].tolist() == expected
    assert r.responses["participant"].unique().tolist() == ["listener-01"]
    assert r.consistency.loc["listener-01", "n_repeated"] == 1
    assert (np.triu(r.counts, 1) > 0).sum() == design.n_pairs

    # a reload resumes where the participant stopped (answers kept in the browser)
    browser.get(exp.page.as_uri())
    browser.find_element(By.ID, "participant").send_keys("listener-01")
    browser.find_element(By.ID, "start").click()
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "done"
    assert browser.find_element(By.ID, "csv").get_attribute("value") == text
    # ids with commas or quotes are quoted the way the csv module reads them
    assert browser.execute_script("return csvField(arguments[0])", 'cello, "pizz."') == (
        '"cello, ""pizz."""')


# ------------------------------------------------------------------------------ benchmark
def test_benchmark_summary_chooses_shrinkage_without_the_held_out_family():
    """bench_listening's leave-one-family-out choice and pass marks, on made-up scores."""
    import importlib.util

    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    spec = importlib.util.spec_from_file_location("bench_listening", bench / "bench_listening.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    levels = np.array([0.2, 0.6, 0.8, 1.0])
    lams = module.LAMBDAS
    studies = ["Grey1977", "Patil2012_A3", "Patil2012_DX4"]
    raw = {}
    for s in studies:
        for st in module.STRATEGIES:
            base = {"random": 0.5, "coverage": 0.55, "leverage": 0.55, "stratified": 0.55,
                    "uncertainty": 0.45}[st]
            curve = base + 0.4 * levels[:, None] + 0 * lams[None]
            # Grey gains from shrinkage at 20 %, the Patil studies lose from it
            curve[0] += (0.1 * lams) if s == "Grey1977" else (-0.1 * lams)
            raw[s, st, 0] = curve
    prior = {s: 0.6 for s in studies}
    spreads = {(s, st, 0): [0.0] for s in studies for st in module.STRATEGIES}
    out = module.summarize(raw, prior, spreads, studies, levels, [0])
    # Grey's lambda comes from the Patil family (no shrinkage), Patil's from Grey (full)
    grey = next(r for r in out["per_study_20"] if r["study"] == "Grey1977")
    patil = next(r for r in out["per_study_20"] if r["study"] == "Patil2012_A3")
    assert grey["random 20 %, shrunk"] == pytest.approx(0.5 + 0.08)
    assert patil["random 20 %, shrunk"] == pytest.approx(0.5 + 0.08 - 0.1)
    assert out["below_prior_at_20_shrunk"]["random"] == ["Grey1977", "Patil2012_A3",
                                                         "Patil2012_DX4"]
    # coverage is +0.05 everywhere: it reaches random's 80 % score (0.82) at 67.5 %
    assert out["budget_to_reach_random_80"]["coverage"] == pytest.approx(67.5)
    assert out["budget_to_reach_random_80"]["uncertainty"] == pytest.approx(92.5)
    assert out["pass"]["coverage_reaches_random80_within_75"]
    assert not out["pass"]["shrunk_20_never_below_prior"]


def test_benchmark_maximin_shrinkage_protects_the_worst_study():
    """The maximin weight keeps every other-family study at or above its prior where the
    best-mean weight does not: mean gains favour lam=0, one study loses from it."""
    import importlib.util

    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    spec = importlib.util.spec_from_file_location("bench_listening", bench / "bench_listening.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lams = module.LAMBDAS
    studies = ["Grey1977", "Barthet2010", "McAdams1995", "Patil2012_A3"]
    prior = {s: 0.6 for s in studies}
    # gain over the prior per lambda: Grey and Barthet gain most without shrinkage,
    # McAdams loses without it and gains from lam >= 0.5
    gains = {"Grey1977": 0.2 - 0.2 * lams, "Barthet2010": 0.2 - 0.2 * lams,
             "McAdams1995": -0.1 + 0.2 * lams, "Patil2012_A3": 0 * lams}
    per_study = {(s, "random"): (prior[s] + gains[s])[None] for s in studies}
    mean = module.choose_lambda(per_study, prior, studies, "Patil", "random", "mean")
    maximin = module.choose_lambda(per_study, prior, studies, "Patil", "random")
    assert lams[mean[0]] == 0.0
    # worst gain: min(0.2 - 0.2 lam, -0.1 + 0.2 lam), largest at lam = 0.75 -> 0.8 on the grid
    assert lams[maximin[0]] in (0.7, 0.8)
    assert min(gains[s][maximin[0]] for s in studies[:3]) >= 0


def test_bootstrap_ensemble_feeds_the_uncertainty_strategy(experiment, study, tmp_path):
    from perceptual_timbre import PerceptualMetric
    from perceptual_timbre.listening import bootstrap_dissimilarities

    exp, design = experiment
    audio, names, D = study
    r = read_responses(_write_csv(tmp_path / "p.csv", _answers(
        design, D, "p", noise=0.05, rng=np.random.default_rng(2))), experiment=exp.folder)
    ids = [f"{STUDY}/{n}" for n in names]
    E = bootstrap_dissimilarities(PerceptualMetric(n_components=8, max_iter=20), audio, ids, r,
                                  study=STUDY, n_members=3, random_state=0)
    assert E.shape == (3, 11, 11) and np.all(np.isfinite(E))
    assert not np.allclose(E[0], E[1])  # members saw different pairs
    nxt = design_experiment(names, n_pairs=5, strategy="uncertainty", space=E, rated=r,
                            random_state=0)
    assert not np.any(r.counts[nxt.pairs[:, 0], nxt.pairs[:, 1]])  # only unrated pairs
    with pytest.raises(ParameterError, match="n_members must be an int >= 2"):
        bootstrap_dissimilarities(PerceptualMetric(), audio, ids, r, n_members=1)
    with pytest.raises(ParameterError, match="11 rated sounds in the order"):
        bootstrap_dissimilarities(PerceptualMetric(), audio[:5], ids, r)


def test_page_embeds_any_sound_id_safely(study, tmp_path):
    audio, _, _ = study
    ids = ['oboe "solo"', "</script><b>x</b>", "cello, pizz.", "cor anglais é", "a&b"]
    design = design_experiment(ids, random_state=0)
    exp = write_experiment(tmp_path / "exp", audio[:5], 22050, design)
    page = exp.page.read_text()
    assert page.count("</script>") == 1  # only the page's own
    literal = page.split("const EXP = ", 1)[1].split(";\nconst $", 1)[0]
    data = json.loads(literal)
    assert [(t["sound_a"], t["sound_b"]) for t in data["trials"]] == [
        (ids[a], ids[b]) for a, b in design.trials]
    # the CSV the page would export (quoted fields) reads back
    rows = _base_rows(design)
    path = _write_csv(tmp_path / "p.csv", rows)
    r = read_responses(path, experiment=exp.folder)
    assert list(r.labels) == ids and int(r.counts.sum()) // 2 == design.n_trials
