"""Posterior uncertainty of a VAE timbre space: does it say where it is unsure?

The space: ``STFTTransformer(n_fft=1024) -> LogMagnitude -> PerceptualVAE`` (``VAE``
settings below), the VAE fitted on EVERY frame of SoundFont notes of the 12 rated
instruments (the frames :func:`~perceptual_timbre.embed_sounds` encodes), for a fixed
number of gradient steps (``STEPS``; the epochs follow from the number of frames, so a
larger training set is not also a longer training). Intervals are
:func:`perceptual_timbre.predicted_dissimilarity` with ``return_interval=True`` (95 %,
``N_DRAWS`` posterior draws, fixed seed).

1. **Intervals shrink as training sounds grow.** Spaces are fitted on nested random subsets
   of a pool of 120 notes (12 instruments x pitches 48, 55, 60, 67, 72 x velocities 64, 100)
   of 12, 36 and 120 notes (the instruments in turn), 2 subsets (seeds) each. Measured on a
   fixed held-out set (the 12
   instruments at pitches 62 and 65, velocity 80: 24 notes no space was fitted on): the mean
   interval width over its pairs, the same relative to the predicted distance (width / D:
   spaces fitted on different data have different scales) and the mean posterior standard
   deviation.
2. **Sounds far from the training set get wider intervals.** On an evaluation set of the 24
   held-out notes, 6 General MIDI instruments outside the 12 (2 pitches each) and the stimuli
   of two shared studies (McAdams1995 synthetic tones, Lakatos2000_Perc percussion), each
   sound's distance to the training set is the mean, over its log-magnitude frames, of the
   Euclidean distance to the nearest training frame; its interval width is the mean width
   of its intervals to the other evaluation sounds (its posterior spread is reported too).
   Reported: Spearman between the two, per training size (mean over seeds) and its p-value
   on the largest space.

Checks (reported, from the issue): the mean width on the held-out notes at the largest
training size is below the smallest size's (absolute and relative), and the Spearman is
> 0 at every size.

Usage::

    python benchmarks/bench_uncertainty.py [--output DIR] [--quick] [--data-home DIR]
"""

import os
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, Timer, make_parser, markdown_table, write_results  # noqa: E402

SR = 22050
DURATION = 0.5
POOL = dict(pitches=(48, 55, 60, 67, 72), velocities=(64, 100))
HELD_OUT = dict(pitches=(62, 65), velocities=(80,))
#: General MIDI programs (0-based) outside the 12 rated instruments
OTHER_INSTRUMENTS = {"Sitar": 104, "Steel Drums": 114, "Square Lead": 80, "New Age Pad": 88,
                     "Banjo": 105, "Kalimba": 108}
OTHER = dict(pitches=(60, 67), velocities=(80,))
FAR_STUDIES = ("McAdams1995", "Lakatos2000_Perc")
VAE = dict(latent_dim=4, hidden_layer_sizes=(64,), batch_size=128)
STEPS = 1000
N_DRAWS = 200
CONFIDENCE = 0.95

FULL = dict(sizes=[12, 36, 120], seeds=[0, 1])
QUICK = dict(sizes=[12, 120], seeds=[0])


def fit_space(audio, seed):
    """The space fitted on every frame of ``audio``; also returns the training frames."""
    from sklearn.pipeline import Pipeline

    from perceptual_timbre import PerceptualVAE
    from perceptual_timbre.transforms import LogMagnitude, STFTTransformer

    stft = STFTTransformer(sr=SR, n_fft=1024, hop_length=512).fit(audio)
    log = LogMagnitude()
    frames = log.fit_transform(np.vstack(stft.transform_frames(list(audio))))
    epochs = max(1, round(STEPS / -(-len(frames) // VAE["batch_size"])))
    vae = PerceptualVAE(**VAE, max_epochs=epochs, random_state=seed).fit(frames)
    return Pipeline([("stft", stft), ("log", log), ("vae", vae)]), frames


def nested_subset(instruments, size, seed):
    """``size`` pool indices: instruments taken in turns (balanced), nested across sizes."""
    rng = np.random.default_rng(seed)
    classes = rng.permutation(np.unique(instruments))
    by_class = [rng.permutation(np.flatnonzero(instruments == c)) for c in classes]
    order = [b[k] for k in range(max(map(len, by_class))) for b in by_class if k < len(b)]
    return np.sort(np.asarray(order[:size]))


def distance_to_training(space, sounds, train_frames):
    """Per sound: mean distance of its log-magnitude frames to the nearest training frame."""
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=1).fit(train_frames)
    return np.array([nn.kneighbors(space["log"].transform(f))[0].mean()
                     for f in space["stft"].transform_frames(sounds)])


def load(data_home):
    from perceptual_timbre.datasets import load_timbre_study, render_instrument_notes

    pool = render_instrument_notes(**POOL, duration=DURATION, sr=SR)
    held = render_instrument_notes(**HELD_OUT, duration=DURATION, sr=SR)
    other = render_instrument_notes(OTHER_INSTRUMENTS, **OTHER, duration=DURATION, sr=SR)
    evaluation = list(held.audio) + list(other.audio)
    groups = ["held-out notes"] * len(held.audio) + ["other GM instruments"] * len(other.audio)
    for name in FAR_STUDIES:
        study = load_timbre_study(name, data_home=data_home, sr=SR)
        evaluation += [np.asarray(a, dtype=np.float32) for a in study.audio]
        groups += [name] * len(study.audio)
    return pool, held, evaluation, np.array(groups)


def run(cfg, data_home, log=print):
    from scipy.stats import spearmanr

    from perceptual_timbre.embedding import embed_sounds, predicted_dissimilarity

    pool, held, evaluation, groups = load(data_home)
    n_held = len(held.audio)
    records = []
    for size in cfg["sizes"]:
        for seed in cfg["seeds"]:
            idx = nested_subset(np.asarray(pool.instrument), size, seed)
            with Timer() as t:
                space, train_frames = fit_space(pool.audio[idx], seed)
            D, lo, hi = predicted_dissimilarity(space, evaluation, SR, return_interval=True,
                                                n_samples=N_DRAWS, confidence=CONFIDENCE,
                                                random_state=seed)
            _, S = embed_sounds(space, evaluation, SR, return_std=True)
            width = hi - lo
            iu = np.triu_indices(n_held, 1)
            W_held, D_held = width[:n_held, :n_held][iu], D[:n_held, :n_held][iu]
            # per evaluation sound: mean width of its intervals, and distance to training
            per_sound = width.sum(axis=1) / (len(width) - 1)
            dist = distance_to_training(space, evaluation, train_frames)
            rho, p = spearmanr(dist, per_sound)
            rho_std = spearmanr(dist, S.mean(axis=1))[0]
            records.append({
                "n_train": size, "seed": seed, "fit_s": t.seconds,
                "width": float(W_held.mean()), "relative_width": float(np.mean(W_held / D_held)),
                "posterior_std": float(S[:n_held].mean()), "mean_distance": float(D_held.mean()),
                "spearman": float(rho), "p_value": float(p),
                "spearman_posterior_std": float(rho_std), "epochs": int(space["vae"].n_epochs_),
                "width_by_group": {g: float(per_sound[groups == g].mean())
                                   for g in np.unique(groups)},
                "distance_by_group": {g: float(dist[groups == g].mean())
                                      for g in np.unique(groups)},
            })
            log(f"n_train {size} seed {seed}: fit {t.seconds:.1f} s, width "
                f"{W_held.mean():.3f}, relative {np.mean(W_held / D_held):.3f}, spearman "
                f"{rho:.3f}")
    return summarize(records, cfg, groups)


def summarize(records, cfg, groups):
    rows = []
    for size in cfg["sizes"]:
        rs = [r for r in records if r["n_train"] == size]
        row = {"n_train": size}
        for key in ("width", "relative_width", "posterior_std", "mean_distance", "spearman",
                    "spearman_posterior_std"):
            vals = np.array([r[key] for r in rs])
            row[key] = float(vals.mean())
            if len(vals) > 1:
                row[f"{key} sd"] = float(vals.std(ddof=1))
        row["fit_s"] = float(np.mean([r["fit_s"] for r in rs]))
        rows.append(row)
    largest = [r for r in records if r["n_train"] == cfg["sizes"][-1]]
    by_group = [{"group": g, "n_sounds": int((groups == g).sum()),
                 "distance to training": float(np.mean([r["distance_by_group"][g]
                                                        for r in largest])),
                 "interval width": float(np.mean([r["width_by_group"][g] for r in largest]))}
                for g in dict.fromkeys(groups.tolist())]
    first, last = rows[0], rows[-1]
    checks = {
        "width_shrinks": last["width"] < first["width"],
        "relative_width_shrinks": last["relative_width"] < first["relative_width"],
        "spearman_positive_at_every_size": all(r["spearman"] > 0 for r in rows),
    }
    return {"rows": rows, "by_group": by_group, "records": records, "checks": checks,
            "largest_p_values": [r["p_value"] for r in largest]}


def report(result, cfg, seconds, quick):
    rows, checks = result["rows"], result["checks"]
    first, last = rows[0], rows[-1]
    ok = {k: "yes" if v else "NO" for k, v in checks.items()}
    lines = [
        f"Mean 95 % interval width on the 24 held-out notes: {first['width']:.3f} with "
        f"{first['n_train']} training notes, {last['width']:.3f} with {last['n_train']} "
        f"({100 * (last['width'] / first['width'] - 1):+.0f} %; shrinks: {ok['width_shrinks']}); "
        f"relative to the predicted distance {first['relative_width']:.3f} -> "
        f"{last['relative_width']:.3f} (shrinks: {ok['relative_width_shrinks']}).",
        "Spearman between a sound's distance to the training notes and its interval width: "
        + ", ".join(f"{r['spearman']:+.3f} ({r['n_train']} notes)" for r in rows)
        + f" (> 0 at every size: {ok['spearman_positive_at_every_size']}); p-values on the "
        f"largest space: " + ", ".join(f"{p:.1g}" for p in result["largest_p_values"]) + ".",
    ]
    intro = (
        f"Configuration: {'quick' if quick else 'full'}; training sizes {cfg['sizes']}, "
        f"seeds {cfg['seeds']}; VAE {VAE}, {STEPS} gradient steps; {N_DRAWS} posterior "
        f"draws, {CONFIDENCE:.0%} "
        f"intervals; {seconds:.0f} s. Means over seeds (sd: their standard deviation)."
    )
    return intro, [
        ("Findings", "\n".join(f"- {line}" for line in lines)),
        ("Held-out notes by training size", markdown_table(rows)),
        (f"Evaluation sounds by group (spaces of {last['n_train']} notes)",
         markdown_table(result["by_group"])),
    ]


def main(argv=None):
    parser = make_parser(__doc__)
    parser.add_argument("--data-home", default=None)
    args = parser.parse_args(argv)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO),
                                                             os.environ.get("PYTHONPATH")]))
    data_home = args.data_home or os.environ.get("PERCEPTUAL_TIMBRE_DATA")
    if data_home is None and (REPO.parent / "shared" / "data").is_dir():
        data_home = str(REPO.parent / "shared" / "data")
    cfg = QUICK if args.quick else FULL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with Timer() as t:
            result = run(cfg, data_home)
    args.output.mkdir(parents=True, exist_ok=True)
    intro, sections = report(result, cfg, t.seconds, args.quick)
    write_results(args.output, "bench_uncertainty",
                  {"config": cfg, "vae": VAE, "steps": STEPS, "n_draws": N_DRAWS,
                   "confidence": CONFIDENCE,
                   "quick": args.quick, "seconds": t.seconds, **result},
                  title="Posterior uncertainty: interval width vs training size and novelty",
                  sections=sections, intro=intro)
    print((args.output / "bench_uncertainty.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
