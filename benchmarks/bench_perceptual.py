"""Perceptual agreement of timbre spaces on real data (the paper's RQ2 and RQ3).

Three experiments, each comparing models fitted in the same run with the same seed and
epochs (every ratio is computed within one run):

1. **Transform comparison (RQ2).** STFT, DCT and NSGT (constant-Q, Mel, ERB) frames of the
   12 default SoundFont instruments (several pitches and velocities). For each transform a
   ``LogMagnitude -> PerceptualVAE`` is fitted with and without the 12-instrument ratings
   on the training pitches; reported: the VAE's spectral reconstruction error on held-out
   pitches, the transform's own phase reconstruction (Griffin-Lim / exact), the end-to-end
   resynthesis of decoded held-out frames, the paper's KL divergence and the Spearman
   correlation between instrument-centroid distances and the ratings.
2. **Novel instruments (RQ3).** Leave one instrument out: fit without its notes and without
   its ratings, encode its notes, predict its row of dissimilarities from centroid
   distances and rank-correlate it with its true ratings row. Regularized vs unregularized
   VAE vs time-averaged MFCCs vs the raw log spectrum.
3. **Study stimuli.** Fit the VAE on frames of the stimuli of some published timbre studies
   (class = stimulus, ratings of each study normalized to 0..1, pairs across studies
   unrated), then place whole sounds of the studies left out of the fit
   (``embed_sounds``) and report per-anchor Spearman and triplet agreement against their
   ratings, with the MFCC baseline and the unregularized VAE.

Run ``python benchmarks/bench_perceptual.py [--output DIR] [--quick]``; results go to
``DIR/bench_perceptual.json`` and ``DIR/bench_perceptual.md``.
"""

import os
import re
import sys
import warnings
from pathlib import Path

import numpy as np
from _common import REPO, Timer, environment_info, make_parser, markdown_table, write_results

NAME = "bench_perceptual"
TRANSFORM_NAMES = ("stft", "dct", "nsgt-cqt", "nsgt-mel", "nsgt-erb")
SECTIONS = ("transforms", "novel", "studies")

# Configurations. Held-out pitches are never seen by the VAE in the transform comparison.
FULL = {
    "pitches": (60, 62, 65, 67, 69, 71, 72),
    "velocities": (64, 100),
    "held_out_pitches": (62, 69),
    "max_epochs": None,  # PerceptualVAE's default
    "phase_notes": 12,  # held-out notes resynthesized per transform (one per instrument)
    # Grey1978 reuses (modified) Grey1977 sounds: a family is fitted or held out as a whole
    "train_studies": ("Grey1977", "Grey1978", "McAdams1995"),
    "eval_studies": None,  # every study of another family
    "frames_per_stimulus": 24,
}
QUICK = {
    "pitches": (60, 67, 72),
    "velocities": (100,),
    "held_out_pitches": (67,),
    "max_epochs": 30,
    "phase_notes": 3,
    "train_studies": ("Grey1977",),
    "eval_studies": ("McAdams1995", "Patil2012_A3"),
    "frames_per_stimulus": 8,
}
# Studies of one author share or reuse sounds (Grey1978 modifies Grey1977's, Lakatos2000_Comb
# mixes _Harm and _Perc): they form a family, and only studies of families absent from the
# fit count as left out.
def _family(study):
    return re.sub(r"\d{4}.*$", "", study)


# frames of a stimulus used for fitting: within this many dB of its loudest frame
_FRAME_RANGE_DB = 30.0


def _log(msg):
    print(f"[{NAME}] {msg}", flush=True)


def _data_home(arg):
    """--data-home, then $PERCEPTUAL_TIMBRE_DATA, then the shared data next to the checkout."""
    if arg is not None:
        return Path(arg)
    if os.environ.get("PERCEPTUAL_TIMBRE_DATA"):
        return Path(os.environ["PERCEPTUAL_TIMBRE_DATA"])
    shared = REPO.parent / "shared" / "data"
    return shared if shared.is_dir() else None


def _make_transform(name, sr, seed):
    from perceptual_timbre.transforms import DCTTransformer, NSGTTransformer, STFTTransformer

    if name == "stft":
        return STFTTransformer(sr=sr, random_state=seed)
    if name == "dct":
        return DCTTransformer(sr=sr)
    return NSGTTransformer(name.split("-")[1], sr=sr, random_state=seed)


def _make_vae(regularized, cfg, seed):
    from perceptual_timbre.model import PerceptualVAE

    extra = {} if cfg["max_epochs"] is None else {"max_epochs": cfg["max_epochs"]}
    return PerceptualVAE(alpha=1.0 if regularized else 0.0, random_state=seed, **extra)


def _sc_db(estimate, target):
    """Spectral convergence 20 log10(||est - target|| / ||target||) of each row, in dB."""
    num = np.linalg.norm(estimate - target, axis=-1)
    den = np.maximum(np.linalg.norm(target, axis=-1), np.finfo(float).tiny)
    return 20 * np.log10(np.maximum(num / den, 1e-300))


def _centroids(Z, y, labels):
    return np.vstack([Z[y == label].mean(axis=0) for label in labels])


def _row_rho(Z, y, labels, k, rated, true_row):
    """Spearman of instrument k's centroid distances to the others with its ratings row."""
    C = _centroids(Z, y, labels)
    pred = np.linalg.norm(np.delete(C, k, axis=0) - C[k], axis=1)[rated]
    return _spearman(pred, true_row)


def _spearman(a, b):
    from scipy.stats import spearmanr

    return float(spearmanr(a, b)[0])


# ----------------------------------------------------------------------- 1. transforms
def transform_comparison(notes, ratings, cfg, names, seed, spectra):
    """RQ2 table: one regularized and one unregularized VAE per transform."""
    from perceptual_timbre.metrics import centroid_correlation, latent_kl_divergence
    from perceptual_timbre.transforms import LogMagnitude, spectral_convergence

    y = notes.instrument
    test = np.isin(notes.pitch, cfg["held_out_pitches"])
    train = ~test
    # one held-out note per instrument (loudest velocity) for the phase reconstruction
    phase_idx = np.flatnonzero(
        test & (notes.pitch == cfg["held_out_pitches"][0])
        & (notes.velocity == max(cfg["velocities"]))
    )[: cfg["phase_notes"]]

    models, transforms = [], []
    for name in names:
        tr = _make_transform(name, notes.sr, seed)
        with Timer() as t_analysis:
            S = tr.fit(notes.audio).transform(notes.audio)
        spectra[name] = (tr, S)
        log = LogMagnitude().fit(S[train])
        L = log.transform(S)
        decoded = {}
        for regularized in (False, True):
            vae = _make_vae(regularized, cfg, seed)
            with Timer() as t_fit:
                vae.fit(L[train], y[train], dissimilarity=ratings if regularized else None)
            Z = vae.transform(L)
            S_hat = log.inverse_transform(vae.inverse_transform(Z))
            decoded[regularized] = S_hat
            L_hat = vae.inverse_transform(Z[test])
            models.append({
                "transform": name,
                "model": "regularized" if regularized else "unregularized",
                "VAE spectral SC, held-out (dB)": float(np.mean(_sc_db(S_hat[test], S[test]))),
                "VAE spectral SC, train (dB)": float(np.mean(_sc_db(S_hat[train], S[train]))),
                # 1 - R^2 of the log frames the VAE models, relative to the training mean
                "VAE log-frame relative error, held-out": float(
                    np.sum((L_hat - L[test]) ** 2)
                    / np.sum((L[test] - L[train].mean(axis=0)) ** 2)
                ),
                "paper KL": latent_kl_divergence(Z, y, ratings, random_state=seed),
                "centroid Spearman": centroid_correlation(Z, y, ratings),
                "centroid Spearman, held-out": centroid_correlation(Z[test], y[test], ratings),
                "epochs": vae.n_epochs_,
                "fit (s)": t_fit.seconds,
            })
            _log(f"{name} {models[-1]['model']}: KL {models[-1]['paper KL']:.3f}, "
                 f"Spearman {models[-1]['centroid Spearman']:.3f}, fit {t_fit.seconds:.1f} s")
        with Timer() as t_phase:
            phase_sc = spectral_convergence(tr, S[phase_idx])
        # decoded held-out frames of the regularized model -> audio -> analysed again
        with Timer() as t_e2e:
            audio = tr.inverse_transform(decoded[True][phase_idx])
            e2e_sc = _sc_db(tr.transform(audio), S[phase_idx])
        transforms.append({
            "transform": name,
            "bins": int(tr.n_features_out_),
            "analysis (s)": t_analysis.seconds,
            "phase reconstruction SC (dB)": float(np.mean(phase_sc)),
            "decoded -> audio SC (dB)": float(np.mean(e2e_sc)),
            "resynthesis (s / note)": (t_phase.seconds + t_e2e.seconds) / (2 * len(phase_idx)),
        })
        _log(f"{name}: phase SC {transforms[-1]['phase reconstruction SC (dB)']:.1f} dB")

    side_by_side = []
    for name in names:
        plain, reg = (m for m in models if m["transform"] == name)
        side_by_side.append({
            "transform": name,
            "KL unregularized": plain["paper KL"],
            "KL regularized": reg["paper KL"],
            "KL ratio (unreg / reg)": plain["paper KL"] / max(reg["paper KL"], 1e-12),
            "Spearman unregularized": plain["centroid Spearman"],
            "Spearman regularized": reg["centroid Spearman"],
            "SC held-out unreg (dB)": plain["VAE spectral SC, held-out (dB)"],
            "SC held-out reg (dB)": reg["VAE spectral SC, held-out (dB)"],
            "log rel. error held-out unreg": plain["VAE log-frame relative error, held-out"],
            "log rel. error held-out reg": reg["VAE log-frame relative error, held-out"],
        })
    return {
        "n_train_notes": int(train.sum()),
        "n_held_out_notes": int(test.sum()),
        "phase_notes": [str(v) for v in y[phase_idx]],
        "models": models,
        "transforms": transforms,
        "side_by_side": side_by_side,
    }


# ------------------------------------------------------------------ 2. novel instruments
def novel_instruments(notes, ratings, cfg, space_name, seed, spectra):
    """RQ3: leave one instrument (notes and ratings) out, predict its ratings row."""
    from perceptual_timbre.baselines import MFCCEmbedding
    from perceptual_timbre.transforms import LogMagnitude

    y = notes.instrument
    labels = [str(v) for v in ratings.labels]
    if space_name not in spectra:
        tr = _make_transform(space_name, notes.sr, seed)
        spectra[space_name] = (tr, tr.fit(notes.audio).transform(notes.audio))
    L = LogMagnitude().fit_transform(spectra[space_name][1])
    with Timer() as t_mfcc:
        M = MFCCEmbedding(sr=notes.sr).fit_transform(notes.audio)
    rows = []
    for k, held in enumerate(labels):
        others = [j for j in range(len(labels)) if j != k]
        rated = ratings.counts[k, others] > 0 if ratings.counts is not None else slice(None)
        true_row = ratings.matrix[k, others][rated]
        keep = y != held
        sub = ratings.subset([labels[j] for j in others])

        row = {"held-out instrument": held}
        for regularized in (True, False):
            vae = _make_vae(regularized, cfg, seed)
            vae.fit(L[keep], y[keep], dissimilarity=sub if regularized else None)
            col = "VAE regularized" if regularized else "VAE unregularized"
            row[col] = _row_rho(vae.transform(L), y, labels, k, rated, true_row)
        row["MFCC"] = _row_rho(M, y, labels, k, rated, true_row)
        row["log spectrum"] = _row_rho(L, y, labels, k, rated, true_row)
        rows.append(row)
        _log(f"left out {held}: " + ", ".join(
            f"{c} {v:.3f}" for c, v in row.items() if c != "held-out instrument"))
    columns = ["VAE regularized", "VAE unregularized", "MFCC", "log spectrum"]
    mean = {"held-out instrument": "mean"}
    mean.update({c: float(np.nanmean([r[c] for r in rows])) for c in columns})
    wins = {c: int(sum(r["VAE regularized"] > r[c] for r in rows)) for c in columns[1:]}
    return {
        "space": space_name,
        "rows": rows,
        "mean": mean,
        "regularized_wins": wins,
        "mfcc_seconds": t_mfcc.seconds,
    }


# ---------------------------------------------------------------------- 3. study stimuli
def _select_frames(frames, n):
    """Up to ``n`` evenly spaced frames within _FRAME_RANGE_DB of the loudest one."""
    energy = np.sum(frames**2, axis=1)
    loud = np.flatnonzero(energy >= energy.max() * 10 ** (-_FRAME_RANGE_DB / 10))
    pick = loud[np.unique(np.linspace(0, loud.size - 1, min(n, loud.size)).round().astype(int))]
    return frames[pick]


def _pad(sounds, n_min):
    """Zero-pad sounds shorter than the transform's shortest accepted input."""
    return [np.pad(s, (0, max(0, n_min - s.size))) for s in sounds]


def study_stimuli(data_home, cfg, space_name, seed, sr=22050):
    """Fit on some studies' stimuli (ratings per study), score the studies left out."""
    from sklearn.pipeline import Pipeline

    from perceptual_timbre.baselines import MFCCEmbedding
    from perceptual_timbre.datasets import list_timbre_studies, load_timbre_study
    from perceptual_timbre.embedding import predicted_dissimilarity
    from perceptual_timbre.metrics import anchor_spearman, triplet_agreement
    from perceptual_timbre.transforms import LogMagnitude
    from perceptual_timbre.utils import Ratings

    available = list_timbre_studies(data_home)
    train_names = [s for s in cfg["train_studies"] if s in available]
    fitted_families = {_family(s) for s in train_names}
    eval_names = cfg["eval_studies"] or [
        s for s in available if _family(s) not in fitted_families]
    studies = {s: load_timbre_study(s, data_home=data_home, sr=sr)
               for s in dict.fromkeys(train_names + list(eval_names))}

    # training frames: class = "study/stimulus"; each study's ratings scaled to 0..1 and
    # pairs across studies marked unrated (counts 0), as their scales are not comparable
    tr = _make_transform(space_name, sr, seed)
    train_audio = [a for s in train_names for a in studies[s].audio]
    tr.fit(_pad(train_audio, 4096))  # longer than the default windows of every transform
    X, y, ids, blocks = [], [], [], []
    for s in train_names:
        study = studies[s]
        frames_per_sound = tr.transform_frames(_pad(study.audio, tr.min_samples_))
        for stim, frames in zip(study.names, frames_per_sound, strict=True):
            sel = _select_frames(frames, cfg["frames_per_stimulus"])
            X.append(sel)
            y += [f"{s}/{stim}"] * len(sel)
        ids += [f"{s}/{stim}" for stim in study.names]
        blocks.append(study.dissimilarity / study.dissimilarity.max())
    n = len(ids)
    D, counts, start = np.zeros((n, n)), np.zeros((n, n)), 0
    for B in blocks:
        stop = start + len(B)
        D[start:stop, start:stop] = B
        counts[start:stop, start:stop] = 1 - np.eye(len(B))
        start = stop
    ratings = Ratings(D, ids, counts=counts)
    X, y = np.vstack(X), np.array(y)
    log = LogMagnitude().fit(X)
    L = log.transform(X)

    spaces, fits = {}, {}
    for regularized in (True, False):
        vae = _make_vae(regularized, cfg, seed)
        with Timer() as t_fit:
            vae.fit(L, y, dissimilarity=ratings if regularized else None)
        name = "VAE regularized" if regularized else "VAE unregularized"
        fits[name] = {"fit (s)": t_fit.seconds, "epochs": vae.n_epochs_}
        spaces[name] = Pipeline([("spectrum", tr), ("log", log), ("vae", vae)])
        _log(f"studies: {name} fitted on {len(X)} frames in {t_fit.seconds:.1f} s")
    spaces["MFCC"] = MFCCEmbedding(sr=sr)

    rows = []
    for s, study in studies.items():
        sounds = _pad(study.audio, tr.min_samples_)
        in_fit = "yes" if s in train_names else (
            "family" if _family(s) in fitted_families else "no")
        row = {"study": s, "in fit": in_fit, "stimuli": len(sounds)}
        for name, space in spaces.items():
            if name == "MFCC":
                space.fit(sounds)
            P = predicted_dissimilarity(space, sounds, sr=sr)
            row[f"{name} anchor Spearman"] = anchor_spearman(P, study.dissimilarity)
            row[f"{name} triplet"] = triplet_agreement(P, study.dissimilarity)
        rows.append(row)
        _log(f"study {s}: " + ", ".join(
            f"{k} {v:.3f}" for k, v in row.items() if isinstance(v, float)))
    held = [r for r in rows if r["in fit"] == "no"]
    metric_cols = [c for c in rows[0] if c.endswith(("Spearman", "triplet"))]
    mean = {"study": "mean, left out", "in fit": "no", "stimuli": sum(r["stimuli"] for r in held)}
    mean.update({c: float(np.nanmean([r[c] for r in held])) for c in metric_cols})
    return {
        "space": space_name,
        "train_studies": train_names,
        "eval_studies": [r["study"] for r in held],
        "n_frames": int(len(X)),
        "fits": fits,
        "rows": rows,
        "mean_left_out": mean,
    }


# -------------------------------------------------------------------------------- report
def _report(results, args, cfg):
    sections = []
    if "transforms" in results:
        r = results["transforms"]
        sections.append((
            "Transform comparison (RQ2): regularized vs unregularized, side by side",
            f"{r['n_train_notes']} training notes, {r['n_held_out_notes']} held-out notes "
            f"(pitches {list(cfg['held_out_pitches'])}). Paper KL: lower is better; centroid "
            f"Spearman with the 12-instrument ratings: higher is better; SC = spectral "
            f"convergence of the VAE reconstruction of held-out notes' magnitude frames (dB, "
            f"lower is better); log rel. error = squared error of the reconstructed log "
            f"frames over their variance around the training mean (1 - R^2, lower is better)."
            f"\n\n" + markdown_table(r["side_by_side"]),
        ))
        sections.append(("Transform comparison: every model", markdown_table(r["models"])))
        sections.append((
            "Transform comparison: phase reconstruction",
            f"On {len(r['phase_notes'])} held-out notes ({', '.join(r['phase_notes'])}). Phase "
            f"reconstruction: the transform's own inversion of the true frames; decoded -> "
            f"audio: frames decoded by the regularized VAE, inverted to audio and analysed "
            f"again, compared with the true frames.\n\n" + markdown_table(r["transforms"]),
        ))
    if "novel" in results:
        r = results["novel"]
        wins = ", ".join(f"{k}: {v}/{len(r['rows'])}" for k, v in r["regularized_wins"].items())
        sections.append((
            "Novel instruments (RQ3): leave-one-instrument-out",
            f"Spearman correlation between the held-out instrument's predicted row (distances "
            f"from its notes' centroid to the other instruments' centroids) and its true "
            f"ratings row; the model never saw its notes nor its ratings. Space: "
            f"{r['space']} -> LogMagnitude -> PerceptualVAE. Instruments where the regularized "
            f"VAE beats each alternative: {wins}.\n\n"
            + markdown_table(r["rows"] + [r["mean"]]),
        ))
    if "studies" in results:
        r = results["studies"]
        if "skipped" in r:
            sections.append(("Study stimuli", f"Skipped: {r['skipped']}"))
        else:
            cols = ["study", "in fit", "stimuli"] + [
                f"{m} {k}" for k in ("anchor Spearman", "triplet")
                for m in ("VAE regularized", "VAE unregularized", "MFCC")
            ]
            sections.append((
                "Study stimuli: fitted on some studies, scored on the others",
                f"Fitted on frames of {', '.join(r['train_studies'])} ({r['n_frames']} frames, "
                f"class = stimulus); every sound is placed with `embed_sounds` (mean latent of "
                f"its frames). Per-anchor Spearman and triplet agreement (margin 0.1, chance "
                f"0.5) against each study's ratings; the last row averages the studies left "
                f"out of the fit (\"in fit\": no); \"family\" marks a study that shares "
                f"sounds with a fitted one.\n\n"
                + markdown_table(r["rows"] + [r["mean_left_out"]], cols),
            ))
    intro = (
        f"Configuration: {'quick' if args.quick else 'full'}; seed {args.seed}; "
        f"{len(results.get('notes', {}).get('instruments', []))} instruments x pitches "
        f"{list(cfg['pitches'])} x velocities {list(cfg['velocities'])}; PerceptualVAE("
        + ", ".join(f"{k}={v!r}" for k, v in results["vae_params"].items())
        + f"), alpha=0 for the unregularized model. Wall time {results['seconds']:.0f} s."
    )
    return intro, sections


def main(argv=None):
    parser = make_parser(__doc__)
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        help="experiments to run (default: all)")
    parser.add_argument("--transforms", nargs="+", choices=TRANSFORM_NAMES,
                        default=list(TRANSFORM_NAMES), help="transforms compared in RQ2")
    parser.add_argument("--space-transform", choices=TRANSFORM_NAMES, default="nsgt-cqt",
                        help="transform of the novel-instrument and study spaces")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None,
                        help="VAE max_epochs (default: PerceptualVAE's, 30 with --quick)")
    parser.add_argument("--data-home", default=None,
                        help="research data (default: $PERCEPTUAL_TIMBRE_DATA, ../shared/data)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default 1, see below)")
    args = parser.parse_args(argv)
    import torch

    # The networks are small (one batch per epoch here): a second intra-op thread gains
    # little, and on a busy 2-core machine OpenMP threads that wait for each other made
    # fits 10x slower. Timings are reported for this setting.
    torch.set_num_threads(args.threads)
    cfg = dict(QUICK if args.quick else FULL)
    if args.epochs is not None:
        cfg["max_epochs"] = args.epochs

    warnings.filterwarnings("ignore", category=UserWarning, module="nsgt")
    from perceptual_timbre.datasets import load_instrument_ratings, render_instrument_notes

    results, spectra = {"config": cfg, "args": vars(args)}, {}
    results["vae_params"] = {
        k: v for k, v in _make_vae(True, cfg, args.seed).get_params().items()
        if k in ("latent_dim", "hidden_layer_sizes", "max_epochs", "beta", "alpha",
                 "regularization", "batch_size", "learning_rate")
    }
    with Timer() as total:
        need_notes = {"transforms", "novel"} & set(args.sections)
        if need_notes:
            notes = render_instrument_notes(pitches=cfg["pitches"], velocities=cfg["velocities"])
            ratings = load_instrument_ratings(data_home=_data_home(args.data_home)).ratings
            results["notes"] = {
                "n_notes": len(notes.audio),
                "instruments": sorted(set(notes.instrument.tolist())),
                "soundfont": Path(notes.soundfont).name,
                "sr": notes.sr,
            }
            _log(f"{len(notes.audio)} notes of {len(results['notes']['instruments'])} "
                 f"instruments")
        if "transforms" in args.sections:
            with Timer() as t:
                results["transforms"] = transform_comparison(
                    notes, ratings, cfg, args.transforms, args.seed, spectra)
            results["transforms"]["seconds"] = t.seconds
        if "novel" in args.sections:
            with Timer() as t:
                results["novel"] = novel_instruments(
                    notes, ratings, cfg, args.space_transform, args.seed, spectra)
            results["novel"]["seconds"] = t.seconds
        if "studies" in args.sections:
            home = _data_home(args.data_home)
            if home is None or not (home / "timbremetrics").is_dir():
                results["studies"] = {
                    "skipped": f"no timbremetrics/ in the data home ({home}); set "
                               f"PERCEPTUAL_TIMBRE_DATA or --data-home"}
                _log(results["studies"]["skipped"])
            else:
                with Timer() as t:
                    results["studies"] = study_stimuli(home, cfg, args.space_transform, args.seed)
                results["studies"]["seconds"] = t.seconds
    results["seconds"] = total.seconds
    results["environment"] = environment_info()
    intro, sections = _report(results, args, cfg)
    json_path, md_path = write_results(
        args.output, NAME, results, title="Perceptual agreement (RQ2, RQ3, study stimuli)",
        sections=sections, intro=intro,
    )
    _log(f"done in {total.seconds:.0f} s: {json_path}, {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
