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

3. **Ensembles (epistemic).** The same measurements for a
   :class:`~perceptual_timbre.SpaceEnsemble` of ``N_MEMBERS`` fits of the same space on the
   same training notes (seeds drawn from the subset's seed), pooled by
   :func:`~perceptual_timbre.predicted_dissimilarity` (mean distance matrix; interval from
   every member's ``N_DRAWS`` posterior draws), in two variants: different seeds only
   (``bootstrap=False``) and each member on a bootstrap resample of the training notes
   (``bootstrap=True``). Also reported: how much the members' scales differ (``scale_cv``:
   coefficient of variation over members of the mean distance between the member's
   training notes), the widths when every member's distances are divided by that scale
   and brought back to the members' mean scale (``*_normalized``), and the epistemic part
   alone (``disagreement``: over the held-out pairs, the mean of the members' standard
   deviation of the pair's distance divided by their mean).

Checks (reported, from the issue): the mean width on the held-out notes at the largest
training size is below the smallest size's (absolute and relative), and the Spearman is
> 0 at every size; for the posterior alone and for each ensemble.

Usage::

    python benchmarks/bench_uncertainty.py [--output DIR] [--quick] [--data-home DIR]
        [--variants seeds bootstrap]
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

N_MEMBERS = 5
#: ensemble variants: SpaceEnsemble parameters
VARIANTS = {"seeds": dict(bootstrap=False), "bootstrap": dict(bootstrap=True)}

FULL = dict(sizes=[12, 36, 120], seeds=[0, 1])
QUICK = dict(sizes=[12, 120], seeds=[0])


def _pipeline_class():
    from sklearn.pipeline import Pipeline

    class FramePipeline(Pipeline):
        """STFT -> LogMagnitude -> VAE fitted on every frame of the sounds (as
        :func:`fit_space`), so that an ensemble can clone and refit it on sounds."""

        def fit(self, X, y=None, **fit_params):
            stft, log, vae = (step for _, step in self.steps)
            stft.fit(X)
            vae.fit(log.fit_transform(np.vstack(stft.transform_frames(list(X)))))
            return self

    return FramePipeline


def member_template(epochs):
    """The unfitted space the ensembles clone (the members' seeds are set by the ensemble)."""
    from perceptual_timbre import PerceptualVAE
    from perceptual_timbre.transforms import LogMagnitude, STFTTransformer

    return _pipeline_class()([("stft", STFTTransformer(sr=SR, n_fft=1024, hop_length=512)),
                              ("log", LogMagnitude()),
                              ("vae", PerceptualVAE(**VAE, max_epochs=epochs))])


def ensemble_record(ensemble, evaluation, train_sounds, n_held, dist, seed):
    """Pooled widths on the held-out notes, Spearman with the distance to training, and the
    same with every member's distances on a common scale."""
    from scipy.spatial.distance import pdist, squareform

    from perceptual_timbre.embedding import (
        _distance_draws,
        _interval,
        embed_sounds,
        predicted_dissimilarity,
    )

    out = {}
    D, lo, hi = predicted_dissimilarity(ensemble, evaluation, SR, return_interval=True,
                                        n_samples=N_DRAWS, confidence=CONFIDENCE,
                                        random_state=seed)
    out.update(_widths(D, hi - lo, n_held, dist))
    # each member's scale: mean distance between its own training notes
    scales, points, draws = [], [], []
    rng = np.random.RandomState(seed)
    for k, member in enumerate(ensemble.estimators_):
        own = (train_sounds if ensemble.bootstrap_indices_ is None
               else train_sounds[np.unique(ensemble.bootstrap_indices_[k])])
        scales.append(pdist(embed_sounds(member, own, SR)).mean())
        d, dr = _distance_draws(member, evaluation, SR, "euclidean", "mean", N_DRAWS, rng)
        points.append(d)
        draws.append(dr)
    scales = np.array(scales)
    out["scale_cv"] = float(scales.std(ddof=1) / scales.mean())
    # the epistemic part alone: how far the members' point distances disagree, relative
    # to their mean, on the held-out pairs
    iu = np.triu_indices(n_held, 1)
    held = np.array([squareform(d)[:n_held, :n_held][iu] for d in points])
    out["disagreement"] = float(np.mean(held.std(axis=0, ddof=1) / held.mean(axis=0)))
    factor = scales.mean() / scales
    Dn = squareform(np.mean([f * d for f, d in zip(factor, points)], axis=0))
    lon, hin = _interval(np.concatenate([f * dr for f, dr in zip(factor, draws)]), CONFIDENCE)
    out.update({f"{k}_normalized": v for k, v in _widths(Dn, hin - lon, n_held, dist).items()
                if k in ("width", "relative_width", "spearman")})
    return out


def _widths(D, width, n_held, dist):
    """Mean (and relative) width on the held-out pairs; Spearman(distance, per-sound width)."""
    from scipy.stats import spearmanr

    iu = np.triu_indices(n_held, 1)
    W_held, D_held = width[:n_held, :n_held][iu], D[:n_held, :n_held][iu]
    per_sound = width.sum(axis=1) / (len(width) - 1)
    rho, p = spearmanr(dist, per_sound)
    return {"width": float(W_held.mean()), "relative_width": float(np.mean(W_held / D_held)),
            "mean_distance": float(D_held.mean()), "spearman": float(rho),
            "p_value": float(p), "per_sound": per_sound}


def n_epochs(n_frames):
    """Epochs of ``STEPS`` gradient steps over ``n_frames`` frames."""
    return max(1, round(STEPS / -(-n_frames // VAE["batch_size"])))


def fit_space(audio, seed):
    """The space fitted on every frame of ``audio``; also returns the training frames."""
    from sklearn.pipeline import Pipeline

    from perceptual_timbre import PerceptualVAE
    from perceptual_timbre.transforms import LogMagnitude, STFTTransformer

    stft = STFTTransformer(sr=SR, n_fft=1024, hop_length=512).fit(audio)
    log = LogMagnitude()
    frames = log.fit_transform(np.vstack(stft.transform_frames(list(audio))))
    vae = PerceptualVAE(**VAE, max_epochs=n_epochs(len(frames)),
                        random_state=seed).fit(frames)
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

    from perceptual_timbre import SpaceEnsemble
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
            dist = distance_to_training(space, evaluation, train_frames)
            rec = _widths(D, hi - lo, n_held, dist)
            per_sound = rec.pop("per_sound")  # mean width of each evaluation sound's intervals
            records.append({
                "variant": "posterior", "n_train": size, "seed": seed, "fit_s": t.seconds,
                **rec, "posterior_std": float(S[:n_held].mean()),
                "spearman_posterior_std": float(spearmanr(dist, S.mean(axis=1))[0]),
                "epochs": int(space["vae"].n_epochs_),
                "width_by_group": {g: float(per_sound[groups == g].mean())
                                   for g in np.unique(groups)},
                "distance_by_group": {g: float(dist[groups == g].mean())
                                      for g in np.unique(groups)},
            })
            log(f"n_train {size} seed {seed}: fit {t.seconds:.1f} s, width "
                f"{rec['width']:.3f}, relative {rec['relative_width']:.3f}, spearman "
                f"{rec['spearman']:.3f}")
            for name in cfg["variants"]:
                template = member_template(n_epochs(len(train_frames)))
                ensemble = SpaceEnsemble(template, n_members=cfg["members"],
                                         random_state=seed, **VARIANTS[name])
                with Timer() as te:
                    ensemble.fit(pool.audio[idx])
                rec = ensemble_record(ensemble, evaluation, pool.audio[idx], n_held, dist, seed)
                per_sound = rec.pop("per_sound")
                records.append({"variant": name, "n_train": size, "seed": seed,
                                "fit_s": te.seconds, **rec,
                                "width_by_group": {g: float(per_sound[groups == g].mean())
                                                   for g in np.unique(groups)}})
                log(f"  ensemble {name}: fit {te.seconds:.1f} s, width {rec['width']:.3f}, "
                    f"relative {rec['relative_width']:.3f}, spearman {rec['spearman']:.3f}, "
                    f"disagreement {rec['disagreement']:.3f}, scale cv {rec['scale_cv']:.3f}")
    return summarize(records, cfg, groups)


def _mean_rows(records, cfg, keys):
    rows = []
    for size in cfg["sizes"]:
        rs = [r for r in records if r["n_train"] == size]
        row = {"n_train": size}
        for key in keys:
            vals = np.array([r[key] for r in rs])
            row[key] = float(vals.mean())
            if len(vals) > 1:
                row[f"{key} sd"] = float(vals.std(ddof=1))
        row["fit_s"] = float(np.mean([r["fit_s"] for r in rs]))
        rows.append(row)
    return rows


def _checks(rows, suffix=""):
    first, last = rows[0], rows[-1]
    return {
        "width_shrinks": last["width" + suffix] < first["width" + suffix],
        "relative_width_shrinks": (last["relative_width" + suffix]
                                   < first["relative_width" + suffix]),
        "spearman_positive_at_every_size": all(r["spearman" + suffix] > 0 for r in rows),
    }


def summarize(records, cfg, groups):
    posterior = [r for r in records if r["variant"] == "posterior"]
    rows = _mean_rows(posterior, cfg, ("width", "relative_width", "posterior_std",
                                       "mean_distance", "spearman", "spearman_posterior_std"))
    largest = [r for r in posterior if r["n_train"] == cfg["sizes"][-1]]
    by_group = [{"group": g, "n_sounds": int((groups == g).sum()),
                 "distance to training": float(np.mean([r["distance_by_group"][g]
                                                        for r in largest])),
                 "posterior width": float(np.mean([r["width_by_group"][g] for r in largest]))}
                for g in dict.fromkeys(groups.tolist())]
    ensembles, ensemble_checks = {}, {}
    for name in cfg["variants"]:
        recs = [r for r in records if r["variant"] == name]
        ens_rows = _mean_rows(recs, cfg, (
            "width", "relative_width", "mean_distance", "spearman", "disagreement", "scale_cv",
            "width_normalized", "relative_width_normalized", "spearman_normalized"))
        big = [r for r in recs if r["n_train"] == cfg["sizes"][-1]]
        ensembles[name] = {"rows": ens_rows, "largest_p_values": [r["p_value"] for r in big]}
        ensemble_checks[name] = _checks(ens_rows)
        ensemble_checks[f"{name}_normalized"] = _checks(ens_rows, "_normalized")
        for row in by_group:
            row[f"{name} ensemble width"] = float(np.mean([r["width_by_group"][row["group"]]
                                                           for r in big]))
    return {"rows": rows, "by_group": by_group, "records": records, "checks": _checks(rows),
            "largest_p_values": [r["p_value"] for r in largest], "ensembles": ensembles,
            "ensemble_checks": ensemble_checks}


def _findings(rows, p_values, checks, what, suffix=""):
    first, last = rows[0], rows[-1]
    ok = {k: "yes" if v else "NO" for k, v in checks.items()}
    w, rw, sp = "width" + suffix, "relative_width" + suffix, "spearman" + suffix
    line = (
        f"{what}: mean 95 % interval width on the 24 held-out notes {first[w]:.3f} with "
        f"{first['n_train']} training notes, {last[w]:.3f} with {last['n_train']} "
        f"({100 * (last[w] / first[w] - 1):+.0f} %; shrinks: {ok['width_shrinks']}); relative "
        f"to the predicted distance {first[rw]:.3f} -> {last[rw]:.3f} (shrinks: "
        f"{ok['relative_width_shrinks']}). Spearman(distance to training, width): "
        + ", ".join(f"{r[sp]:+.3f} ({r['n_train']})" for r in rows)
        + f" (> 0 at every size: {ok['spearman_positive_at_every_size']})")
    if p_values is not None:
        line += "; p-values on the largest space: " + ", ".join(f"{p:.1g}" for p in p_values)
    return line + "."


def report(result, cfg, seconds, quick):
    rows = result["rows"]
    lines = [_findings(rows, result["largest_p_values"], result["checks"], "Posterior only")]
    sections = []
    comparison = [{"n_train": r["n_train"], "posterior width": r["width"],
                   "posterior width / D": r["relative_width"],
                   "posterior spearman": r["spearman"], "posterior fit_s": r["fit_s"]}
                  for r in rows]
    for name, ens in result["ensembles"].items():
        label = f"{cfg['members']}-member ensemble, {name}"
        lines.append(_findings(ens["rows"], ens["largest_p_values"],
                               result["ensemble_checks"][name], label.capitalize())
                     + " Members' disagreement (sd / mean of their distances, held-out "
                     "pairs): " + ", ".join(f"{r['disagreement']:.3f} ({r['n_train']})"
                                            for r in ens["rows"]) + ".")
        lines.append(_findings(ens["rows"], None,
                               result["ensemble_checks"][f"{name}_normalized"],
                               "Same, members' distances on a common scale", "_normalized")
                     + " Members' scale CV: "
                     + ", ".join(f"{r['scale_cv']:.3f} ({r['n_train']})" for r in ens["rows"])
                     + ".")
        for row, er in zip(comparison, ens["rows"]):
            row[f"{name} width"] = er["width"]
            row[f"{name} width / D"] = er["relative_width"]
            row[f"{name} spearman"] = er["spearman"]
            row[f"{name} disagreement"] = er["disagreement"]
            row[f"{name} fit_s"] = er["fit_s"]
        sections.append((f"Ensemble ({label}) on the held-out notes by training size",
                         markdown_table(ens["rows"])))
    intro = (
        f"Configuration: {'quick' if quick else 'full'}; training sizes {cfg['sizes']}, "
        f"seeds {cfg['seeds']}; VAE {VAE}, {STEPS} gradient steps; {N_DRAWS} posterior "
        f"draws, {CONFIDENCE:.0%} intervals; ensembles of {cfg['members']} members "
        f"({', '.join(cfg['variants']) or 'none'}); {seconds:.0f} s. Means over seeds (sd: "
        f"their standard deviation)."
    )
    return intro, [
        ("Findings", "\n".join(f"- {line}" for line in lines)),
        ("Posterior-only vs ensemble intervals (held-out notes)", markdown_table(comparison)),
        ("Posterior only: held-out notes by training size", markdown_table(rows)),
        *sections,
        (f"Evaluation sounds by group (spaces of {rows[-1]['n_train']} notes)",
         markdown_table(result["by_group"])),
    ]


def main(argv=None):
    parser = make_parser(__doc__)
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS),
                        help="ensemble variants to run (default: all; none: posterior only)")
    parser.add_argument("--members", type=int, default=N_MEMBERS)
    args = parser.parse_args(argv)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO),
                                                             os.environ.get("PYTHONPATH")]))
    data_home = args.data_home or os.environ.get("PERCEPTUAL_TIMBRE_DATA")
    if data_home is None and (REPO.parent / "shared" / "data").is_dir():
        data_home = str(REPO.parent / "shared" / "data")
    cfg = dict(QUICK if args.quick else FULL, variants=args.variants, members=args.members)
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
                  title="Posterior vs ensemble uncertainty: width vs training size and novelty",
                  sections=sections, intro=intro)
    print((args.output / "bench_uncertainty.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
