"""Benchmark the pitch mode of PerceptualVAE: one timbre at any pitch (issue 12).

Data: the 12 default instruments rendered chromatically over MIDI 48-84 x velocities
50/80/110 from FluidR3_GM (Debian package ``fluid-soundfont-gm``) with
``load_instrument_corpus``; every 4th pitch (50, 54, ..., 82) is held out, leaving 1,008
training notes. "Other SoundFont": the 168 default notes of the bundled TimGM6mb
(``render_instrument_notes()``). Front: the default ``NSGTTransformer()`` (constant-Q, about
48 bins per octave, one stable frame per note) and ``LogMagnitude`` fitted on the training
notes.

Rows (neural rows: mean of ``--seeds``, fitted in parallel processes):

- today's default ``PerceptualVAE()`` (no labels);
- PCA-16 on pitch-normalized (shifted) frames;
- the pitch-mode VAE (``pitch_mode="shift"``, beta 0.1 with warm-up, Adam 1e-3 with cosine
  decay, input noise 0.5, 1000 epochs), without labels;
- the same with the pull term (``pull``, groups = instrument + velocity);
- the same with the pull and the 12-instrument ratings (``regularization="l2"``,
  ``alpha=0.3``): the perceptual regularizer on the timbre coordinates;
- with ``--second-bank sf_GMbank``: the pitch-mode VAE + pull trained on both SoundFonts'
  training pitches (does a second bank close the gap to shift-PCA on TimGM6mb?).

Columns: err = 1 - R^2 of the decoded log-NSGT frame around the training mean, on the
training notes, the held-out pitches and the other SoundFont; the invariance ratio (mean
distance between the timbre coordinates of notes of one instrument and velocity at different
pitches over the mean distance between the instrument centroids) on all FluidR3 notes, the
held-out ones and TimGM6mb; the centroid Spearman with the ratings (timbre coordinates, all
FluidR3 notes); pitch accuracy (every instrument centroid decoded at MIDI 48, 60, 72, 84,
rendered to audio by Griffin-Lim, f0 by pYIN: share within 25 cents, first seed); fit time
and epochs/s. Targets: held-out err <= 0.05, other SoundFont <= 0.15, invariance <= 0.4
(with labels; the label-free rows report the label-free value), pitch accuracy >= 90 %.

Usage::

    python benchmarks/bench_pitch.py [--quick] [--device cpu|cuda|auto] [--jobs N]
        [--seeds 0 1 2] [--pull 0.1] [--epochs N] [--data FILE.npz [--prepare]]
        [--output DIR]
    python benchmarks/bench_pitch.py --logo [--seeds 0 1 2 3 4] [--data-home DIR]
    python benchmarks/bench_pitch.py --full-corpus [--corpus-data FILE.npz [--prepare]]
        [--epochs N] [--threads T]

Two further measurements, each an option that runs only itself and writes its own files:

- ``--logo [--seeds ...] [--logo-spaces mel cqt cqt_pitch]``: leave-one-family-out agreement
  over the 13 shared rating studies, with bench_generalization's folds, fold metrics, teacher
  space (``space_teacher``) and scores (imported, not copied): that space on its mel front,
  on a constant-Q front of the same size, and on the constant-Q front with
  ``pitch_mode="shift"`` (pitch by pYIN, memoized per stimulus). Per-anchor Spearman pooled
  over families (fam), clean-9 and all anchors; writes ``bench_pitch_logo.md/.json``.
- ``--full-corpus [--corpus-data FILE.npz] [--epochs N] [--threads T]``: the "pitch-mode VAE
  + pull" on the full corpus (``load_instrument_corpus`` over FluidR3_GM, sf_GMbank and the
  bundled TimGM6mb, about 4,600 notes): render and analysis time, epochs/s and the fit time
  (``--epochs N``: N epochs, the 1000-epoch time extrapolated and marked so); writes
  ``bench_pitch_corpus.md/.json`` with the load averages.

``--data FILE.npz`` keeps the analysed frames (4 MB): read when the file exists, else
rendered, analysed and written there (``--prepare`` stops after writing it), so a machine
without the SoundFont can run the benchmark on frames prepared elsewhere. ``--quick``: 4
instruments, one velocity, 150 epochs, one seed (a CPU smoke run). Writes
``bench_pitch.json`` and ``bench_pitch.md``.
"""

import os
import sys
import time
import warnings
from pathlib import Path

import bench_generalization as bg
import numpy as np
from _common import Timer, environment_info, make_parser, markdown_table, write_results

PITCHES = tuple(range(48, 85))
HELD_OUT = tuple(range(50, 85, 4))  # every 4th pitch, inside the trained range
VELOCITIES = (50, 80, 110)
QUICK_INSTRUMENTS = ["Flute", "Trumpet", "Cello", "Clarinet"]
RENDER_PITCHES = (48, 60, 72, 84)
# input noise 0.5 (a denoising encoder) generalizes to the other SoundFont: at 300 epochs
# (seed 0, pull 0.1) TimGM6mb err 0.189 -> 0.151 and its invariance 0.60 -> 0.39 against no
# noise, for +0.001 held-out err (noise 1.0: 0.162 / 0.33, held-out +0.010)
PITCH_VAE = dict(pitch_mode="shift", beta=0.1, learning_rate=1e-3, lr_schedule="cosine",
                 input_noise=0.5, max_epochs=1000)
ROWS = [  # name, kind, labels
    ("default PerceptualVAE", "default", "none"),
    ("PCA-16, shift-normalized", "pca", "none"),
    ("pitch-mode VAE", "pitch", "none"),
    ("pitch-mode VAE + pull", "pull", "instrument+velocity"),
    ("pitch-mode VAE + pull + ratings", "ratings", "instrument+velocity, ratings"),
]
#: the row of ``--second-bank``: trained on both SoundFonts' training pitches
BANK_ROW = ("pitch-mode VAE + pull, two SoundFonts", "bank2", "instrument+velocity")
COLUMNS = ["model", "labels", "train err", "held-out err", "TimGM6mb err", "invariance all",
           "invariance held-out", "invariance TimGM6mb", "Spearman", "pitch within 25 cents",
           "fit (s)", "epochs/s"]


# ------------------------------------------------------------------------------ data
def _analyse(audio):
    from perceptual_timbre.transforms import NSGTTransformer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nsgt = NSGTTransformer(random_state=0).fit(audio[:1])
        return nsgt.transform(audio)


def prepare(args):
    """NSGT magnitudes and labels of the FluidR3 corpus and the TimGM6mb notes."""
    from perceptual_timbre.datasets import load_instrument_corpus, render_instrument_notes

    instruments = QUICK_INSTRUMENTS if args.quick else None
    velocities = (80,) if args.quick else VELOCITIES
    t0 = time.perf_counter()
    corpus = load_instrument_corpus([args.soundfont], instruments=instruments,
                                    pitches=PITCHES, velocities=velocities, cache=False,
                                    n_jobs=args.jobs)
    other = render_instrument_notes(instruments)
    second = None
    if args.second_bank:
        second = load_instrument_corpus([args.second_bank], instruments=instruments,
                                        pitches=PITCHES, velocities=velocities, cache=False,
                                        n_jobs=args.jobs)
    t_render = time.perf_counter() - t0
    t0 = time.perf_counter()
    data = {
        "S": _analyse(corpus.audio), "pitch": corpus.pitch, "velocity": corpus.velocity,
        "instrument": corpus.instrument.astype(str),
        "S_other": _analyse(other.audio), "pitch_other": other.pitch,
        "velocity_other": other.velocity, "instrument_other": other.instrument.astype(str),
        "n_skipped": len(corpus.skipped),
    }
    if second is not None:
        data |= {"S2": _analyse(second.audio), "pitch2": second.pitch,
                 "velocity2": second.velocity, "instrument2": second.instrument.astype(str)}
    data["seconds"] = {"render": t_render, "analysis": time.perf_counter() - t0}
    return data


def load_data(args):
    path = args.data
    if path is not None and Path(path).is_file():
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
        if args.second_bank and "S2" not in data:
            raise SystemExit(f"{path} has no second bank: prepare it again with "
                             f"--second-bank {args.second_bank}.")
        data["seconds"] = {"render": 0.0, "analysis": 0.0}
        return data
    data = prepare(args)
    if path is not None:
        np.savez_compressed(path, **{k: v for k, v in data.items() if k != "seconds"})
    return data


# ------------------------------------------------------------------------------ models
def _fit_job(kind, seed, L, pitch, y, groups, bpo, epochs, device, pull):
    """Fit one neural row (runs in a worker process)."""
    import torch

    from perceptual_timbre.datasets import load_instrument_ratings
    from perceptual_timbre.model import PerceptualVAE

    torch.set_num_threads(1)
    if kind == "default":
        model = PerceptualVAE(random_state=seed, device=device)
        fit = {}
    else:
        model = PerceptualVAE(**PITCH_VAE, bins_per_octave=bpo, random_state=seed,
                              device=device)
        fit = {"pitch": pitch}
        if kind in ("pull", "ratings", "bank2"):
            model.set_params(pull=pull)
            fit |= {"groups": groups}
        if kind == "ratings":
            # "l2" at alpha 0.3: at 300 epochs (seed 0) train err 0.022 and centroid
            # Spearman 0.94, where the default "kl" at alpha 1 (0.1) gave 0.187 (0.053)
            # and 0.69 (0.55)
            model.set_params(regularization="l2", alpha=0.3)
            fit |= {"y": y, "dissimilarity": load_instrument_ratings().ratings}
    if epochs is not None:
        model.set_params(max_epochs=epochs)
    t0 = time.perf_counter()
    model.fit(L, **fit)
    seconds = time.perf_counter() - t0
    model.set_params(device="cpu")
    return kind, seed, model, seconds


class ShiftPCA:
    """PCA on pitch-normalized frames (the shift of pitch mode, linear in between)."""

    def __init__(self, n_components, bpo):
        self.n_components, self.bpo = n_components, bpo

    def _shift(self, X, offset, width):
        import torch

        from perceptual_timbre.model._modules import shift_bins

        x = torch.as_tensor(X, dtype=torch.float64)
        return shift_bins(x, torch.as_tensor(offset, dtype=torch.float64), width).numpy()

    def fit(self, L, pitch):
        from sklearn.decomposition import PCA

        self.lo, self.hi = float(pitch.min()), float(pitch.max())
        self.n_bins = L.shape[1]
        self.width = self.n_bins + int(np.ceil(self.bpo / 12 * (self.hi - self.lo)))
        W = self._shift(L, -self.bpo / 12 * (self.hi - pitch), self.width)
        self.pca = PCA(self.n_components, random_state=0).fit(W)
        return self

    def transform(self, L, pitch):
        W = self._shift(L, -self.bpo / 12 * (self.hi - pitch), self.width)
        return np.column_stack([self.pca.transform(W), pitch])

    def inverse_transform(self, Z):
        W = self.pca.inverse_transform(Z[:, :-1])
        return self._shift(W, self.bpo / 12 * (self.hi - Z[:, -1]), self.n_bins)


# ------------------------------------------------------------------------------ metrics
def err(L_hat, L, mean):
    """1 - R^2 of decoded log frames around the training mean."""
    return float(((L_hat - L) ** 2).sum() / ((L - mean) ** 2).sum())


def invariance(Z, instrument, velocity):
    """Mean distance between notes of one (instrument, velocity) at different pitches over
    the mean distance between instrument centroids."""
    from scipy.spatial.distance import pdist

    groups = np.char.add(instrument.astype(str), velocity.astype(str))
    within = np.concatenate([pdist(Z[groups == g]) for g in np.unique(groups)
                             if np.sum(groups == g) > 1])
    centroids = np.vstack([Z[instrument == c].mean(0) for c in np.unique(instrument)])
    return float(within.mean() / pdist(centroids).mean())


def _f0_cents(audio, sr, target):
    from perceptual_timbre.exceptions import ParameterError
    from perceptual_timbre.model import estimate_pitch

    try:
        midi = estimate_pitch(audio[None], sr)[0]  # C2-C7: an octave around 48-84
    except ParameterError:
        return float("nan")
    return 100.0 * (midi - target)


def pitch_accuracy(model, Z_train, instrument, log, nsgt, jobs):
    """Share of instrument centroids decoded at RENDER_PITCHES whose audio f0 is within 25
    cents of the request (pYIN; unvoiced counts as a miss)."""
    from joblib import Parallel, delayed

    timbre = np.vstack([Z_train[instrument == c, :-1].mean(0) for c in np.unique(instrument)])
    Z = np.vstack([np.column_stack([timbre, np.full(len(timbre), p)]) for p in RENDER_PITCHES])
    targets = np.repeat(RENDER_PITCHES, len(timbre))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        audio = nsgt.inverse_transform(log.inverse_transform(model.inverse_transform(Z)))
    cents = np.array(Parallel(n_jobs=jobs)(delayed(_f0_cents)(a, nsgt.sr_, t)
                                           for a, t in zip(audio, targets, strict=True)))
    return float(np.mean(np.abs(cents) <= 25.0)), cents


def evaluate(model, data, mean, pitched):
    """Errors, invariance and Spearman of one fitted model (dict of columns)."""
    from perceptual_timbre.datasets import load_instrument_ratings
    from perceptual_timbre.metrics import centroid_correlation

    L, Lo, test = data["L"], data["L_other"], data["test"]
    kw = {"pitch": data["pitch"]} if pitched else {}
    kwo = {"pitch": data["pitch_other"]} if pitched else {}
    Z = model.transform(L, **kw)
    Zo = model.transform(Lo, **kwo)
    L_hat, Lo_hat = model.inverse_transform(Z), model.inverse_transform(Zo)
    T, To = (Z[:, :-1], Zo[:, :-1]) if pitched else (Z, Zo)
    inst, vel = data["instrument"], data["velocity"]
    return {
        "train err": err(L_hat[~test], L[~test], mean),
        "held-out err": err(L_hat[test], L[test], mean),
        "TimGM6mb err": err(Lo_hat, Lo, mean),
        "invariance all": invariance(T, inst, vel),
        "invariance held-out": invariance(T[test], inst[test], vel[test]),
        "invariance TimGM6mb": invariance(To, data["instrument_other"],
                                          data["velocity_other"]),
        "Spearman": centroid_correlation(T, inst, load_instrument_ratings().ratings),
    }, Z


# ------------------------------------------------------------------------------ --logo
#: Bins per octave of the constant-Q front of ``--logo``: 206 bins over 30 Hz-11 kHz, as many
#: as the mel front of bench_generalization (``NSGTTransformer("mel", bins=24)``), so the two
#: fronts differ only in the spacing of their bins.
LOGO_CQT_BINS = 24
#: The spaces of ``--logo``: key -> (label, front, pitch mode). All are bench_generalization's
#: ``space_teacher`` as it was measured (``make_space(fold metric, FORMER_PARAMS)``: latent
#: 32, all coordinates perceptual) with the front and the VAE's ``pitch_mode`` replaced (and
#: ``random_state`` = the seed).
LOGO_SPACES = {
    "mel": ("teacher space, mel front (= space_teacher)", "mel", False),
    "cqt": ("teacher space, CQT front", "cqt", False),
    "cqt_pitch": ("teacher space, CQT front, pitch mode", "cqt", True),
}


class CachedCQT(bg.CachedSpectral):
    """bench_generalization's frame cache on a constant-Q NSGT (a log-frequency axis)."""

    _base = None
    _cache = {}

    def fit(self, X, y=None):
        if CachedCQT._base is None:
            from perceptual_timbre.transforms import NSGTTransformer

            CachedCQT._base = NSGTTransformer("cqt", bins=LOGO_CQT_BINS, sr=bg.SR).fit(X)
        return self

    @property
    def frequencies_(self):  # pitch mode reads the bins per octave from it
        return self._base.frequencies_


def _sound_key(a):
    import hashlib

    return hashlib.sha1(np.ascontiguousarray(a, dtype=np.float64).tobytes()).hexdigest()


class CachedPitch:
    """``estimate_pitch`` memoized per sound (pYIN runs once per stimulus, not per fold).

    Installed in place of ``perceptual_timbre.model._pitch.estimate_pitch``, which
    TimbreSpace imports at each call; returns exactly what the original returns.
    """

    def __init__(self, original):
        self.original, self.cache = original, {}

    def fill(self, sounds, sr, jobs):
        from joblib import Parallel, delayed

        todo = {_sound_key(a): a for a in sounds}
        todo = {k: a for k, a in todo.items() if (k, sr) not in self.cache}
        values = Parallel(n_jobs=jobs)(delayed(self.original)([a], sr, unpitched="nan")
                                       for a in todo.values())
        for k, v in zip(todo, values, strict=True):
            self.cache[k, sr] = float(v[0])

    def __call__(self, sounds, sr=22050, *, unpitched="raise", **kwargs):
        from perceptual_timbre.exceptions import ParameterError

        if kwargs:  # another search range: not what the space asks for, no cache
            return self.original(sounds, sr, unpitched=unpitched, **kwargs)
        keys = [_sound_key(a) for a in sounds]
        missing = [a for k, a in zip(keys, sounds, strict=True) if (k, sr) not in self.cache]
        if missing:
            self.fill(missing, sr, 1)
        out = np.array([self.cache[k, sr] for k in keys])
        if unpitched == "raise" and np.isnan(out).any():
            raise ParameterError("a sound has no voiced frame")
        return out


def _logo_space(teacher, key, seed):
    """bench_generalization's teacher space with the front, pitch mode and seed of ``key``."""
    _, front, pitched = LOGO_SPACES[key]
    space = bg.make_space(teacher, bg.FORMER_PARAMS)
    space.set_params(spectral=bg.CachedSpectral() if front == "mel" else CachedCQT(),
                     vae__random_state=seed)
    if pitched:
        space.set_params(vae__pitch_mode="shift")
    return space


def run_logo(args):
    """Leave-one-family-out agreement of the pitch-mode teacher space (issue 12)."""
    from unittest import mock

    import torch

    import perceptual_timbre.model._pitch as pitch_module

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=UserWarning)
    keys = args.logo_spaces
    seeds = args.seeds[:1] if args.quick else args.seeds
    families = ["Patil", "Barthet"] if args.quick else list(bg.GROUPS)
    t_start = time.perf_counter()
    studies = bg.load_all(args.data_home)
    all_names = [s for names in bg.GROUPS.values() for s in names]
    X_all, ids_all = bg._pool(studies, all_names)
    timings = {"load": time.perf_counter() - t_start}
    t0 = time.perf_counter()
    bg.CachedSpectral().fit(X_all).transform_frames(X_all)  # as bench_generalization.prepare
    if any(LOGO_SPACES[k][1] == "cqt" for k in keys):
        CachedCQT().fit(X_all).transform_frames(X_all)
    timings["frames"] = time.perf_counter() - t0
    # pYIN pitch of every stimulus, once (what every pitch-mode space estimates)
    pitch_cache = CachedPitch(pitch_module.estimate_pitch)
    t0 = time.perf_counter()
    pitch_cache.fill(X_all, bg.SR, args.jobs)
    timings["pyin_all_stimuli"] = time.perf_counter() - t0
    stim_pitch = np.array([pitch_cache.cache[_sound_key(a), bg.SR] for a in X_all])
    unpitched = [str(i) for i, p in zip(ids_all, stim_pitch, strict=True) if np.isnan(p)]
    n_unique = len({_sound_key(a) for a in X_all})
    n_unique_unpitched = len({_sound_key(a) for a, p in zip(X_all, stim_pitch, strict=True)
                              if np.isnan(p)})
    print(f"[logo] {len(X_all)} stimuli ({n_unique} distinct sounds): {len(unpitched)} "
          f"unpitched ({n_unique_unpitched} distinct); frames {timings['frames']:.0f} s, "
          f"pYIN {timings['pyin_all_stimuli']:.0f} s", flush=True)

    results = {f"{k}|{s}": {} for k in keys for s in seeds}  # -> family -> study -> scores
    with_pitch = {f"{k}|{s}": {} for k in keys if LOGO_SPACES[k][2] for s in seeds}
    recon, fit_s, problems = {}, {}, []
    with mock.patch.object(pitch_module, "estimate_pitch", pitch_cache):
        for g in families:
            held = bg.GROUPS[g]
            train = [s for s in all_names if s not in held]
            Xtr, _ = bg._pool(studies, train)
            Xte, _ = bg._pool(studies, held)
            tg = time.perf_counter()
            metric = bg.fold_metric(studies, all_names, g)
            timings[f"metric_{g}"] = time.perf_counter() - tg
            for k in keys:
                for seed in seeds:
                    name = f"{k}|{seed}"
                    t0 = time.perf_counter()
                    space = _logo_space(metric, k, seed).fit(Xtr)
                    fit_s.setdefault(name, {})[g] = time.perf_counter() - t0
                    Z = {s: space.transform(studies[s]["audio"]) for s in held}
                    bad = {s: int(np.sum(~np.isfinite(z))) for s, z in Z.items()}
                    if any(bad.values()):
                        problems.append({"space": name, "family": g, "non_finite": bad})
                    pitched = LOGO_SPACES[k][2]
                    results[name][g] = bg.scores(
                        {s: z[:, :-1] if pitched else z for s, z in Z.items()}, studies, held)
                    if pitched:
                        with_pitch[name][g] = bg.scores(Z, studies, held)
                    recon.setdefault(name, {})[g] = float(space.reconstruction_error(Xte))
                    print(f"[logo] {g} {name}: "
                          f"{bg._mean_spearman(results[name][g]):.3f} "
                          f"({fit_s[name][g]:.0f} s fit)", flush=True)
    n_anchors = {s: len(studies[s]["ids"]) for s in all_names}

    def summaries(res):  # bench_generalization's anchors / clean-9 / fam for each entry
        by_family = {g: {n: res[n][g] for n in res} for g in families}
        with mock.patch.object(bg, "METHODS", list(res)):
            return bg.anchor_summaries(by_family, n_anchors)

    per_run = summaries(results)
    per_run_pitch = summaries(with_pitch) if with_pitch else {}
    rows, stats = [], {}
    for k in keys:
        label = LOGO_SPACES[k][0]
        runs = [per_run[f"{k}|{s}"] for s in seeds]
        stats[k] = {c: [r[c] for r in runs] for c in ("fam", "clean9", "anchors")}
        row = {"space": label, "front": LOGO_SPACES[k][1], "pitch mode": LOGO_SPACES[k][2],
               "seeds": len(seeds)}
        for c, head in (("fam", "fam"), ("clean9", "clean-9"), ("anchors", "anchors")):
            row[head] = float(np.mean(stats[k][c]))
            row[f"{head} std"] = float(np.std(stats[k][c]))
        row["recon. err"] = float(np.mean([np.mean(list(recon[f"{k}|{s}"].values()))
                                           for s in seeds]))
        row["fit (s) per fold"] = float(np.mean([np.mean(list(fit_s[f"{k}|{s}"].values()))
                                                 for s in seeds]))
        rows.append(row)
        if LOGO_SPACES[k][2]:
            runs = [per_run_pitch[f"{k}|{s}"] for s in seeds]
            rows.append({"space": label + " (timbre + pitch column)", "front": "cqt",
                         "pitch mode": True, "seeds": len(seeds),
                         **{h: float(np.mean([r[c] for r in runs]))
                            for c, h in (("fam", "fam"), ("clean9", "clean-9"),
                                         ("anchors", "anchors"))}})
    # the mark: the pitch-mode space is not below an unconditioned one by > 0.01
    checks = []
    for ref in ("mel", "cqt"):
        if "cqt_pitch" not in keys or ref not in keys:
            continue
        for c, head in (("fam", "fam"), ("clean9", "clean-9"), ("anchors", "anchors")):
            paired = np.array(stats["cqt_pitch"][c]) - np.array(stats[ref][c])
            checks.append({"reference": LOGO_SPACES[ref][0], "summary": head,
                           "pitch mode - reference": float(paired.mean()),
                           "std over seeds": float(paired.std()),
                           "min over seeds": float(paired.min()),
                           "not below by > 0.01": bool(paired.mean() >= -0.01)})
    reference = None
    gen = Path(__file__).resolve().parent / "results" / "generalization.json"
    if gen.is_file() and "mel" in keys and 0 in seeds:
        import json

        ref = json.loads(gen.read_text())["anchor_summaries"]["space_teacher"]
        reference = {"generalization.json space_teacher": {c: ref[c] for c in
                                                          ("fam", "clean9", "anchors")},
                     "this run, mel seed 0": {c: per_run["mel|0"][c] for c in
                                              ("fam", "clean9", "anchors")}}
    timings["total"] = time.perf_counter() - t_start
    intro = (
        f"Leave-one-family-out over {len(families)} families of the 13 shared studies "
        f"(bench_generalization's folds, fold metrics as teachers, its `scores` and "
        f"`anchor_summaries`): per-anchor Spearman pooled over families (fam), over the "
        f"anchors of the clean-9 studies and over all anchors; mean (std) over seeds {seeds}. "
        f"Every space is bench_generalization's `space_teacher` (`SPACE_PARAMS`, 40 epochs, "
        f"teacher side input, alpha 10) with its front and `pitch_mode` replaced. Mel front: "
        f"`NSGTTransformer('mel', bins=24)` (206 bins, bench_generalization's); CQT front: "
        f"`NSGTTransformer('cqt', bins={LOGO_CQT_BINS})` (206 bins, {LOGO_CQT_BINS} per "
        f"octave). Pitch mode: `pitch_mode='shift'` and nothing else changed (no `y`, so no "
        f"pull); the pitch of every stimulus is pYIN's (estimated by the space, memoized per "
        f"sound). Distances on the timbre coordinates (the pitch column dropped; the row "
        f"'timbre + pitch column' keeps it, in MIDI units). {len(X_all)} stimuli "
        f"({n_unique} distinct sounds): {len(unpitched)} unpitched for pYIN "
        f"({n_unique_unpitched} distinct), placed at the training median in fit and at the "
        f"decoder's pitch estimate in transform. Reconstruction error: held-out families' log "
        f"frames (mel and CQT frames are not on one scale). Total {timings['total']:.0f} s."
        + (" QUICK run (2 families): not the benchmark's numbers." if args.quick else "")
    )
    cols = ["space", "front", "pitch mode", "seeds", "fam", "fam std", "clean-9",
            "clean-9 std", "anchors", "anchors std", "recon. err", "fit (s) per fold"]
    per_family = []
    for k in keys:
        for s in seeds:
            per_family.append({"space": k, "seed": s, **{
                g: bg._mean_spearman(results[f"{k}|{s}"][g]) for g in families}})
    sections = [("Agreement with held-out families", markdown_table(rows, cols)),
                ("Pitch mode against the unconditioned spaces (paired by seed)",
                 markdown_table(checks) if checks else "_(not run)_"),
                ("Per held-out family (mean per-anchor Spearman of its studies)",
                 markdown_table(per_family)),
                ("Unpitched stimuli (pYIN)", ", ".join(unpitched) or "none")]
    if problems:
        sections.append(("Non-finite coordinates", markdown_table(problems)))
    if reference:
        sections.append(("Check against generalization.json",
                         markdown_table([{"run": n, **v} for n, v in reference.items()])))
    write_results(
        args.output, "bench_pitch_logo",
        {"rows": rows, "checks": checks, "per_run": per_run, "per_run_with_pitch":
         per_run_pitch, "per_study": results, "reconstruction": recon, "fit_seconds": fit_s,
         "unpitched": unpitched, "n_stimuli": len(X_all), "n_distinct_sounds": n_unique,
         "n_unpitched_distinct": n_unique_unpitched,
         "stimulus_pitch": dict(zip(map(str, ids_all), stim_pitch.tolist(), strict=True)),
         "problems": problems, "reference": reference, "timings": timings,
         "args": vars(args), "environment": environment_info(), "load": _load()},
        title="Pitch mode and leave-one-family-out agreement (bench_pitch --logo)",
        intro=intro, sections=sections)
    print(f"[logo] {timings['total']:.0f} s; wrote {args.output}/bench_pitch_logo.md")
    return 0


def _load():
    """The machine's load averages (1, 5, 15 min) and CPU count, to read timings by."""
    return {"loadavg": list(os.getloadavg()), "cpu_count": os.cpu_count()}


# ------------------------------------------------------------------------------ --full-corpus
CORPUS_SOUNDFONTS = ("FluidR3_GM", "sf_GMbank", "TimGM6mb")


def run_corpus(args):
    """Data preparation, epochs/s and fit time of "pitch mode + pull" on the full corpus."""
    import torch

    from perceptual_timbre.datasets import load_instrument_corpus
    from perceptual_timbre.model import PerceptualVAE, log_bins_per_octave
    from perceptual_timbre.transforms import LogMagnitude, NSGTTransformer

    threads = args.threads or int(os.environ.get("OMP_NUM_THREADS") or 1)
    torch.set_num_threads(threads)
    load_start = _load()
    path = args.corpus_data
    seconds = {}
    if path is not None and Path(path).is_file():
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
        seconds = {k[2:]: float(data.pop(k)) for k in list(data) if k.startswith("s_")}
        seconds["loaded from"] = str(path)
        print(f"[corpus] read {path}", flush=True)
    else:
        t0 = time.perf_counter()
        corpus = load_instrument_corpus(list(CORPUS_SOUNDFONTS), cache=False, n_jobs=args.jobs)
        seconds["render"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        S = np.vstack([_analyse(corpus.audio[i:i + 500])
                       for i in range(0, len(corpus.audio), 500)])
        seconds["analysis"] = time.perf_counter() - t0
        data = {"S": S, "pitch": corpus.pitch, "velocity": corpus.velocity,
                "instrument": corpus.instrument.astype(str),
                "soundfont": corpus.soundfont.astype(str),
                "n_skipped": np.asarray(len(corpus.skipped))}
        print(f"[corpus] {len(S)} notes: render {seconds['render']:.0f} s, analysis "
              f"{seconds['analysis']:.0f} s", flush=True)
        if path is not None:
            np.savez_compressed(path, **data, **{f"s_{k}": v for k, v in seconds.items()})
    if args.prepare:
        return 0
    load_prep = _load()
    S, pitch = data["S"], data["pitch"].astype(float)
    t0 = time.perf_counter()
    log = LogMagnitude().fit(S)
    L = log.transform(S)
    seconds["log"] = time.perf_counter() - t0
    nsgt = NSGTTransformer(random_state=0).fit(np.zeros((1, 22050)) + 1e-3)
    bpo = log_bins_per_octave(nsgt.frequencies_)
    # the pull keeps the SoundFonts' samples of one instrument and velocity apart (as the
    # two-SoundFont row of the main benchmark)
    groups = np.char.add(np.char.add(data["instrument"], data["velocity"].astype(str)),
                         np.char.add("/", data["soundfont"]))
    epochs = args.epochs or PITCH_VAE["max_epochs"]
    model = PerceptualVAE(**{**PITCH_VAE, "max_epochs": epochs}, bins_per_octave=bpo,
                          pull=args.pull, random_state=0, verbose=2)  # a line per epoch
    t0 = time.perf_counter()
    model.fit(L, pitch=pitch, groups=groups)
    fit = time.perf_counter() - t0
    load_fit = _load()
    eps = model.n_epochs_ / fit
    full_epochs = PITCH_VAE["max_epochs"]
    measured = model.n_epochs_ >= full_epochs
    Z = model.transform(L, pitch=pitch)
    mean = L.mean(axis=0)
    train_err = err(model.inverse_transform(Z), L, mean)
    inv = invariance(Z[:, :-1], data["instrument"],
                     np.char.add(data["velocity"].astype(str), data["soundfont"]))
    n_sf = {str(sf): int(np.sum(data["soundfont"] == sf)) for sf in np.unique(data["soundfont"])}
    row = {"notes": len(L), "bins": L.shape[1], "threads": threads, "epochs run": model.n_epochs_,
           "fit (s)": fit, "epochs/s": eps,
           "full fit (s)": fit if measured else full_epochs / eps,
           "full fit": "measured" if measured else f"extrapolated from {model.n_epochs_} epochs",
           "train err": train_err, "invariance (all notes)": inv}
    prep = {k: v for k, v in seconds.items() if k in ("render", "analysis", "log")}
    intro = (
        f"The full corpus: `load_instrument_corpus({list(CORPUS_SOUNDFONTS)})`, the 12 "
        f"instruments over their playable ranges x velocities "
        f"{sorted(set(data['velocity'].tolist()))}: {len(L)} notes ({n_sf}; "
        f"{int(data['n_skipped'])} notes skipped, unsounded). Front: `NSGTTransformer()` "
        f"(constant-Q, {bpo:.3f} bins per octave, {L.shape[1]} bins, one stable frame per "
        f"note) and `LogMagnitude`. Model: the main benchmark's 'pitch-mode VAE + pull' "
        f"(`PITCH_VAE` = {PITCH_VAE}, pull {args.pull}, groups = instrument + velocity + "
        f"SoundFont), seed 0, on the CPU with {threads} torch thread(s). "
        + ("The full fit was run." if measured else
           f"Only {model.n_epochs_} of {full_epochs} epochs were run: the full fit time is "
           f"EXTRAPOLATED as {full_epochs} / (epochs/s).")
        + f" Data preparation (s): {', '.join(f'{k} {v:.1f}' for k, v in prep.items())}"
        + (f" (frames read from {seconds['loaded from']}; rendered and analysed in the run "
           f"that wrote it)" if "loaded from" in seconds else "")
        + f". Load averages (1/5/15 min) on {os.cpu_count()} cores shared with other jobs: "
        f"at start {load_start['loadavg']}, after data preparation {load_prep['loadavg']}, "
        f"after the fit {load_fit['loadavg']}."
    )
    write_results(
        args.output, "bench_pitch_corpus",
        {"row": row, "seconds": seconds, "soundfonts": n_sf, "bins_per_octave": bpo,
         "pitch_range": [float(pitch.min()), float(pitch.max())],
         "load": {"start": load_start, "after_prep": load_prep, "after_fit": load_fit},
         "history_last": {k: float(v) for k, v in model.history_[-1].items()
                          if isinstance(v, (int, float))}
         if model.history_ and isinstance(model.history_[-1], dict) else None,
         "args": vars(args), "environment": environment_info()},
        title="Pitch mode + pull on the full corpus (bench_pitch --full-corpus)",
        intro=intro, sections=[("Fit", markdown_table([row])),
                               ("Data preparation (s)", markdown_table([prep]))])
    print(f"[corpus] {row}; wrote {args.output}/bench_pitch_corpus.md", flush=True)
    return 0


# ------------------------------------------------------------------------------ main
PULL = 0.1  # chosen on the FluidR3 split (see the user guide's pitch-mode section)


def main(argv=None):
    parser = make_parser(__doc__)
    parser.add_argument("--device", default="cpu",
                        help="where the VAEs train: cpu (default; one process per fit), "
                             "cuda or auto")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(),
                        help="parallel fits and renders (default: all cores)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pull", type=float, default=PULL, help="weight of the pull term")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of every VAE (default 1000; 150 with --quick)")
    parser.add_argument("--soundfont", default="FluidR3_GM",
                        help="training SoundFont: a path or a name find_soundfonts() knows")
    parser.add_argument("--data", type=Path, default=None,
                        help="npz of analysed frames: read if present, else written")
    parser.add_argument("--second-bank", default=None,
                        help="also fit the pitch-mode VAE + pull on this SoundFont too (e.g. "
                             "sf_GMbank, Debian csound-soundfont): one more row")
    parser.add_argument("--prepare", action="store_true",
                        help="only render, analyse and write --data")
    parser.add_argument("--logo", action="store_true",
                        help="only the leave-one-family-out agreement of the teacher space with "
                             "and without pitch mode (bench_pitch_logo.md/.json)")
    parser.add_argument("--logo-spaces", nargs="+", default=list(LOGO_SPACES),
                        choices=list(LOGO_SPACES), help="the spaces of --logo")
    parser.add_argument("--data-home", default=None, help="shared data of --logo's studies")
    parser.add_argument("--full-corpus", action="store_true",
                        help="only data preparation and fit time of pitch mode + pull on the "
                             "full three-SoundFont corpus (bench_pitch_corpus.md/.json); "
                             "--epochs N fits N epochs and extrapolates the 1000")
    parser.add_argument("--corpus-data", type=Path, default=None,
                        help="npz of --full-corpus's analysed notes: read if present, else "
                             "written")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of the --full-corpus fit (default OMP_NUM_THREADS)")
    args = parser.parse_args(argv)
    if args.logo or args.full_corpus:
        return max(run_logo(args) if args.logo else 0,
                   run_corpus(args) if args.full_corpus else 0)
    from joblib import Parallel, delayed

    from perceptual_timbre.datasets import find_soundfonts
    from perceptual_timbre.model import log_bins_per_octave
    from perceptual_timbre.transforms import LogMagnitude, NSGTTransformer

    if (args.data is None or not args.data.is_file()) and not Path(args.soundfont).is_file():
        if args.soundfont not in find_soundfonts().name.tolist():
            if not args.quick:
                print(f"[bench_pitch] SoundFont {args.soundfont} not found (Debian: apt install "
                      f"fluid-soundfont-gm); skipped.", file=sys.stderr)
                write_results(args.output, "bench_pitch", {"skipped": args.soundfont},
                              title="Pitch-equivariant timbre space",
                              sections=[("Skipped", f"{args.soundfont} not found.")])
                return 0
            args.soundfont = "TimGM6mb"  # a smoke run works on the bundled SoundFont
    seeds = args.seeds[:1] if args.quick else args.seeds
    epochs = args.epochs or (150 if args.quick else None)
    with Timer() as total:
        data = load_data(args)
        if args.prepare:
            print(f"[bench_pitch] wrote {args.data}")
            return 0
        pitch = data["pitch"].astype(float)
        data["pitch"] = pitch
        data["pitch_other"] = data["pitch_other"].astype(float)
        test = np.isin(pitch, HELD_OUT)
        data["test"] = test
        log = LogMagnitude().fit(data["S"][~test])
        data["L"], data["L_other"] = log.transform(data["S"]), log.transform(data["S_other"])
        mean = data["L"][~test].mean(axis=0)
        nsgt = NSGTTransformer(random_state=0).fit(np.zeros((1, 22050)) + 1e-3)
        bpo = log_bins_per_octave(nsgt.frequencies_)
        inst, vel = data["instrument"], data["velocity"]
        groups = np.char.add(inst, vel.astype(str))
        tr = ~test
        rows_spec = ROWS + ([BANK_ROW] if args.second_bank else [])
        kinds = [k for _, k, _ in rows_spec if k != "pca"]
        inputs = {k: (data["L"][tr], pitch[tr], inst[tr], groups[tr]) for k in kinds}
        if args.second_bank:
            p2 = data["pitch2"].astype(float)
            tr2 = ~np.isin(p2, HELD_OUT)
            g2 = np.char.add(np.char.add(data["instrument2"], data["velocity2"].astype(str)),
                             "/2")  # the pull keeps the two banks' samples apart
            inputs["bank2"] = (np.vstack([data["L"][tr], log.transform(data["S2"][tr2])]),
                               np.r_[pitch[tr], p2[tr2]],
                               np.r_[inst[tr], data["instrument2"][tr2]],
                               np.r_[groups[tr], g2[tr2]])
        device = args.device
        with Timer() as t_fit:
            fits = Parallel(n_jobs=min(args.jobs, len(kinds) * len(seeds)))(
                delayed(_fit_job)(kind, s, *inputs[kind], bpo, epochs, device, args.pull)
                for kind in kinds for s in seeds)
        rows = []
        for name, kind, labels in rows_spec:
            row = {"model": name, "labels": labels}
            if kind == "pca":
                t0 = time.perf_counter()
                models = [ShiftPCA(16, bpo).fit(data["L"][tr], pitch[tr])]
                times, eps = [time.perf_counter() - t0], [float("nan")]
            else:
                found = [(m, sec) for k, _, m, sec in fits if k == kind]
                models = [m for m, _ in found]
                times = [sec for _, sec in found]
                eps = [m.n_epochs_ / sec for m, sec in found]
            pitched = kind != "default"
            runs = []
            for i, model in enumerate(models):
                values, Z = evaluate(model, data, mean, pitched)
                if i == 0 and pitched:
                    values["pitch within 25 cents"], cents = pitch_accuracy(
                        model, Z[tr], inst[tr], log, nsgt, args.jobs)
                    row["cents"] = cents.tolist()
                runs.append(values)
            for key in runs[0]:
                vals = [r[key] for r in runs if key in r]  # pitch accuracy: first seed only
                row[key] = float(np.mean(vals))
                row[f"{key} std"] = float(np.std(vals))
            row["fit (s)"] = float(np.mean(times))
            row["epochs/s"] = float(np.mean(eps))
            row["seeds"] = len(models)
            rows.append(row)
            print(f"[bench_pitch] {name}: " + ", ".join(
                f"{c}={row.get(c, float('nan')):.3f}" for c in COLUMNS[2:]), flush=True)
    label_free = next(r for r in rows if r["model"] == "pitch-mode VAE")
    with_labels = next(r for r in rows if r["model"] == "pitch-mode VAE + pull")
    targets = [
        {"target": "held-out pitch err <= 0.05", "value": with_labels["held-out err"],
         "met": with_labels["held-out err"] <= 0.05},
        {"target": "TimGM6mb err <= 0.15", "value": with_labels["TimGM6mb err"],
         "met": with_labels["TimGM6mb err"] <= 0.15},
        {"target": "invariance <= 0.4 (all / held-out / TimGM6mb, with labels)",
         "value": max(with_labels[f"invariance {s}"] for s in ("all", "held-out", "TimGM6mb")),
         "met": max(with_labels[f"invariance {s}"]
                    for s in ("all", "held-out", "TimGM6mb")) <= 0.4},
        {"target": "pitch within 25 cents >= 90 %", "value": with_labels["pitch within 25 cents"],
         "met": with_labels["pitch within 25 cents"] >= 0.9},
        {"target": "label-free invariance (reported)", "value": label_free["invariance all"],
         "met": "-"},
    ]
    n_train, n_test = int(tr.sum()), int(test.sum())
    intro = (
        f"{args.soundfont}: {len(np.unique(inst))} instruments x MIDI 48-84 x velocities "
        f"{sorted(set(vel.tolist()))}; {n_train} training notes, {n_test} at the held-out "
        f"pitches {list(HELD_OUT)}; other SoundFont: {len(data['L_other'])} TimGM6mb notes. "
        f"Neural rows: mean of seeds {seeds}, {epochs or 1000} epochs, fitted in parallel "
        f"processes on `{device}` ({args.jobs} jobs); pull = {args.pull}; bins per octave of the "
        f"NSGT = {bpo:.3f}. Pitch accuracy: first seed, {len(np.unique(inst))} centroids x MIDI "
        f"{list(RENDER_PITCHES)}. Total {total.seconds:.0f} s (fits {t_fit.seconds:.0f} s, "
        f"render {data['seconds']['render']:.0f} s, analysis {data['seconds']['analysis']:.0f} s)."
        + (" QUICK run: not the benchmark's numbers." if args.quick else "")
    )
    write_results(
        args.output, "bench_pitch",
        {"rows": rows, "targets": targets, "args": vars(args), "seconds": total.seconds,
         "fit_seconds": t_fit.seconds, "data_seconds": data["seconds"],
         "bins_per_octave": bpo, "environment": environment_info()},
        title="Pitch-equivariant timbre space (bench_pitch)",
        intro=intro,
        sections=[("Models", markdown_table(rows, COLUMNS)),
                  ("Targets (pitch-mode VAE + pull)", markdown_table(targets))],
    )
    print(f"[bench_pitch] {total.seconds:.0f} s; wrote {args.output}/bench_pitch.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
