"""Benchmark PerceptualVAE on the 12 rated instruments: perceptual agreement and speed.

On SoundFont notes of the 12 instruments of the combined ratings (Esling et al. 2018;
default: 7 pitches C4-C5 x 2 velocities = 168 notes), analysed by ``NSGTTransformer`` +
``LogMagnitude`` (one stable frame per note, as the timbre-space pipeline does), in one run:

- regularized vs unregularized side by side, same seeds and epochs: the paper's KL
  (``latent_kl_divergence``; the paper reports 517 -> 2.8 for NSGT with its own scaling),
  class-centroid Spearman and Pearson with the ratings, reconstruction MSE and fit time,
  for the default model (``"kl"``, alpha=1) and the ``"l2"``/``"prior"`` alternatives;
- wall time to fit the default ``PerceptualVAE()`` (and the NSGT analysis time);
- epochs/s of the paper-size network (3 x 2000 ReLU, latent 64, Adam 1e-4).

Writes ``bench_vae.json`` and ``bench_vae.md`` to ``--output``.

``--sweep`` instead runs the sweep that chose the defaults: a pitch split (train pitches
60, 65, 67, 71, 72; held-out 62, 69; all 12 instruments, both velocities), one torch
thread, and for each configuration (regularized, plus the plain model where the settings
differ) the reconstruction (1 - R^2 of the standardized log frames, and MSE), the paper's
KL and the centroid Spearman on the training notes AND on the held-out notes, how well
held-out notes are placed (nearest training class centroid accuracy; Spearman, per
held-out note, of its distances to the training class centroids against its class's
ratings) and the fit time. Writes ``bench_vae_sweep.json`` / ``.md``.

Usage: ``python benchmarks/bench_vae.py [--output benchmarks/results] [--seeds 0 1 2]
[--threads N] [--quick] [--sweep]``
"""

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from perceptual_timbre.datasets import load_instrument_ratings, render_instrument_notes
from perceptual_timbre.metrics import centroid_correlation, latent_kl_divergence
from perceptual_timbre.model import PerceptualVAE
from perceptual_timbre.transforms import LogMagnitude, NSGTTransformer

VARIANTS = {  # name -> PerceptualVAE params on top of the defaults
    "plain VAE (alpha=0)": {"alpha": 0.0},
    "kl (paper, default)": {},
    "l2": {"regularization": "l2"},
    "prior": {"regularization": "prior"},
}
PAPER = {"latent_dim": 64, "hidden_layer_sizes": (2000, 2000, 2000), "learning_rate": 1e-4}


def load_data(quick):
    t0 = time.perf_counter()
    kw = {"pitches": (60, 67, 72), "velocities": (100,)} if quick else {}
    notes = render_instrument_notes(**kw)
    t_render = time.perf_counter() - t0
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        S = NSGTTransformer().fit(notes.audio).transform(notes.audio)
    X = LogMagnitude().fit_transform(S)
    t_analysis = time.perf_counter() - t0
    return X, notes.instrument, load_instrument_ratings().ratings, t_render, t_analysis


def evaluate(X, y, ratings, params, seed, max_epochs):
    model = PerceptualVAE(random_state=seed, **params)
    if max_epochs is not None:
        model.set_params(max_epochs=max_epochs)
    t0 = time.perf_counter()
    model.fit(X, y, dissimilarity=ratings)
    t_fit = time.perf_counter() - t0
    Z = model.transform(X)
    return {
        "paper_kl": latent_kl_divergence(Z, y, ratings),
        "spearman": centroid_correlation(Z, y, ratings),
        "pearson": centroid_correlation(Z, y, ratings, method="pearson"),
        "recon_mse": model.reconstruction_error(X),
        "fit_s": t_fit,
        "epochs": model.n_epochs_,
    }


def paper_speed(X, y, ratings, n_epochs):
    model = PerceptualVAE(max_epochs=n_epochs, random_state=0, **PAPER)
    t0 = time.perf_counter()
    model.fit(X, y, dissimilarity=ratings)
    total = time.perf_counter() - t0
    per_epoch = np.diff([0.0] + [h["time"] for h in model.history_])
    steady = float(np.median(per_epoch[1:])) if len(per_epoch) > 1 else float(per_epoch[0])
    return {"epochs": n_epochs, "fit_s": total, "epochs_per_s": 1.0 / steady,
            "rows_per_s": X.shape[0] / steady}


# ----------------------------------------------------------------------- default sweep
SWEEP_TRAIN_PITCHES = (60, 65, 67, 71, 72)
SWEEP_HELD_OUT_PITCHES = (62, 69)
OLD_DEFAULTS = {"max_epochs": 300, "input_noise": 0.0}  # the defaults before the sweep
NEW = {"max_epochs": 1000, "input_noise": 1.0}  # the defaults the sweep chose
SWEEP = [  # (name, params on top of the CURRENT defaults); alpha=0 rows are the plain VAE
    ("plain, old defaults", OLD_DEFAULTS | {"alpha": 0.0}),
    ("kl a=1, old defaults", OLD_DEFAULTS),
    ("kl a=0.3", OLD_DEFAULTS | {"alpha": 0.3}),
    ("kl a=0.1", OLD_DEFAULTS | {"alpha": 0.1}),
    ("kl + AdamW wd=0.1", OLD_DEFAULTS | {"weight_decay": 0.1}),
    ("kl + AdamW wd=10", OLD_DEFAULTS | {"weight_decay": 10.0}),
    ("kl + dropout 0.2", OLD_DEFAULTS | {"dropout": 0.2}),
    ("kl + early stop (val 0.2, patience 30)", OLD_DEFAULTS | {
        "early_stopping": True, "validation_fraction": 0.2, "n_iter_no_change": 30}),
    ("kl, 100 epochs", OLD_DEFAULTS | {"max_epochs": 100}),
    ("kl, latent 8", OLD_DEFAULTS | {"latent_dim": 8}),
    ("kl, hidden (512, 512)", OLD_DEFAULTS | {"hidden_layer_sizes": (512, 512)}),
    ("kl, beta 4", OLD_DEFAULTS | {"beta": 4.0}),
    ("kl + noise 0.5", OLD_DEFAULTS | {"input_noise": 0.5}),
    ("kl + noise 1", OLD_DEFAULTS | {"input_noise": 1.0}),
    ("kl + noise 2", OLD_DEFAULTS | {"input_noise": 2.0}),
    ("l2", OLD_DEFAULTS | {"regularization": "l2"}),
    ("l2 + noise 1", OLD_DEFAULTS | {"regularization": "l2", "input_noise": 1.0}),
    ("plain, 1000 epochs", {"max_epochs": 1000, "input_noise": 0.0, "alpha": 0.0}),
    ("kl, 1000 epochs", {"max_epochs": 1000, "input_noise": 0.0}),
    ("plain + noise 1, 1000 epochs (new plain)", NEW | {"alpha": 0.0}),
    ("kl + noise 1, 1000 epochs (NEW DEFAULT)", NEW),
    ("kl + noise 0.5, 1000 epochs", NEW | {"input_noise": 0.5}),
    ("kl a=0.3 + noise 1, 1000 epochs", NEW | {"alpha": 0.3}),
]
SWEEP_COLUMNS = [
    ("1-R2 train", "train_1mr2"), ("1-R2 held-out", "held_out_1mr2"),
    ("MSE train", "train_mse"), ("MSE held-out", "held_out_mse"),
    ("KL train", "train_kl"), ("KL held-out", "held_out_kl"),
    ("Spearman train", "train_spearman"), ("Spearman held-out", "held_out_spearman"),
    ("held-out row Spearman", "held_out_row_spearman"),
    ("held-out NC acc.", "held_out_nc_accuracy"), ("fit (s)", "fit_s"), ("epochs", "epochs"),
]


def load_split(quick):
    """Log frames of the 12 instruments, split by pitch; LogMagnitude fitted on train."""
    pitches = sorted(SWEEP_TRAIN_PITCHES + SWEEP_HELD_OUT_PITCHES)
    notes = render_instrument_notes(pitches=pitches, velocities=(100,) if quick else (64, 100))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        S = NSGTTransformer().fit(notes.audio).transform(notes.audio)
    test = np.isin(notes.pitch, SWEEP_HELD_OUT_PITCHES)
    L = LogMagnitude().fit(S[~test]).transform(S)
    return L, notes.instrument, ~test, test


def _placement(Z, y, train, test, ratings):
    """Held-out notes against the training class centroids: accuracy and row Spearman."""
    from scipy.stats import spearmanr

    labels = [c for c in np.unique(y[train]) if c in ratings]
    C = np.vstack([Z[train & (y == c)].mean(axis=0) for c in labels])
    D = ratings.subset(labels).matrix
    d = np.linalg.norm(Z[test][:, None, :] - C[None], axis=-1)
    yt = y[test]
    acc = float(np.mean(np.asarray(labels)[d.argmin(axis=1)] == yt))
    rows = []
    for i, c in enumerate(yt):
        k = labels.index(c)
        others = np.arange(len(labels)) != k
        rows.append(spearmanr(d[i, others], D[k, others])[0])
    return acc, float(np.nanmean(rows))


def sweep_one(L, y, train, test, ratings, params, seed):
    model = PerceptualVAE(random_state=seed, **params)
    t0 = time.perf_counter()
    model.fit(L[train], y[train], dissimilarity=ratings if model.alpha > 0 else None)
    fit_s = time.perf_counter() - t0
    Z = model.transform(L)
    L_hat = model.inverse_transform(Z)
    mean, scale = L[train].mean(axis=0), L[train].std(axis=0) + 1e-12
    out = {"fit_s": fit_s, "epochs": model.n_epochs_}
    for name, mask in (("train", train), ("held_out", test)):
        err = ((L_hat[mask] - L[mask]) / scale) ** 2
        out[f"{name}_1mr2"] = float(err.sum() / (((L[mask] - mean) / scale) ** 2).sum())
        out[f"{name}_mse"] = float(np.mean((L_hat[mask] - L[mask]) ** 2))
        out[f"{name}_kl"] = latent_kl_divergence(Z[mask], y[mask], ratings, random_state=0)
        out[f"{name}_spearman"] = centroid_correlation(Z[mask], y[mask], ratings)
    out["held_out_nc_accuracy"], out["held_out_row_spearman"] = _placement(
        Z, y, train, test, ratings)
    return out


def run_sweep(args, seeds):
    """The pitch-split sweep that chose the defaults (see the module docstring)."""
    torch.set_num_threads(args.threads or 1)
    L, y, train, test = load_split(args.quick)
    ratings = load_instrument_ratings().ratings
    configs = SWEEP[:2] + SWEEP[-4:-2] if args.quick else SWEEP
    rows = []
    for name, params in configs:
        if args.quick:
            params = params | {"max_epochs": min(params.get("max_epochs", 1000), 60)}
        runs = [sweep_one(L, y, train, test, ratings, params, s) for s in seeds]
        row = {"config": name, "params": params}
        row |= {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
        row |= {f"{k}_std": float(np.std([r[k] for r in runs]))
                for k in ("held_out_spearman", "held_out_row_spearman")}
        rows.append(row)
        print(f"{name:45s} " + " ".join(f"{k}={row[k]:.3f}" for _, k in SWEEP_COLUMNS),
              flush=True)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    result = {"train_pitches": SWEEP_TRAIN_PITCHES, "held_out_pitches": SWEEP_HELD_OUT_PITCHES,
              "n_train": int(train.sum()), "n_held_out": int(test.sum()), "seeds": seeds,
              "torch_threads": torch.get_num_threads(), "rows": rows}
    (out / "bench_vae_sweep.json").write_text(json.dumps(result, indent=2, default=str))
    lines = [
        "# PerceptualVAE defaults sweep: pitch split",
        "",
        f"12 SoundFont instruments, NSGT-CQT log frames; train pitches "
        f"{list(SWEEP_TRAIN_PITCHES)} ({int(train.sum())} notes), held-out pitches "
        f"{list(SWEEP_HELD_OUT_PITCHES)} ({int(test.sum())} notes); mean over seeds {seeds}, "
        f"{torch.get_num_threads()} torch thread(s). 1-R2: squared error of the standardized "
        f"log frames over their variance around the training mean (lower better). KL: paper "
        f"KL (lower better). Spearman: class-centroid Spearman with the ratings. Held-out "
        f"row Spearman: per held-out note, its distances to the training class centroids vs "
        f"its class's ratings. NC acc.: held-out notes whose nearest training centroid is "
        f"their own instrument (chance 1/12).",
        "",
        "| config | " + " | ".join(c for c, _ in SWEEP_COLUMNS) + " |",
        "|---|" + "---|" * len(SWEEP_COLUMNS),
    ]
    for row in rows:
        cells = [f"{row[k]:.0f}" if k == "epochs" else
                 f"{row[k]:.1f}" if k == "fit_s" else f"{row[k]:.3f}" for _, k in SWEEP_COLUMNS]
        lines.append(f"| {row['config']} | " + " | ".join(cells) + " |")
    (out / "bench_vae_sweep.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="benchmarks/results")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's own choice)")
    parser.add_argument("--quick", action="store_true", help="fewer notes, epochs and seeds")
    parser.add_argument("--sweep", action="store_true",
                        help="run the pitch-split sweep that chose the defaults instead")
    args = parser.parse_args(argv)
    if args.sweep:
        return run_sweep(args, args.seeds[:1] if args.quick else args.seeds)
    if args.threads:
        torch.set_num_threads(args.threads)
    seeds = args.seeds[:1] if args.quick else args.seeds
    max_epochs = 60 if args.quick else None

    X, y, ratings, t_render, t_analysis = load_data(args.quick)
    print(f"{X.shape[0]} notes x {X.shape[1]} NSGT bins (render {t_render:.1f}s, "
          f"analysis {t_analysis:.1f}s), torch threads: {torch.get_num_threads()}")

    runs = {name: [] for name in VARIANTS}
    for seed in seeds:
        for name, params in VARIANTS.items():
            runs[name].append(evaluate(X, y, ratings, params, seed, max_epochs))
            r = runs[name][-1]
            print(f"seed {seed} {name:22s} KL={r['paper_kl']:.3f} "
                  f"Spearman={r['spearman']:.3f} MSE={r['recon_mse']:.4f} fit={r['fit_s']:.1f}s")
    summary = {
        name: {k: float(np.mean([r[k] for r in rs])) for k in rs[0]}
        | {f"{k}_std": float(np.std([r[k] for r in rs])) for k in ("paper_kl", "spearman")}
        for name, rs in runs.items()
    }
    speed = paper_speed(X, y, ratings, 3 if args.quick else 5)
    print(f"paper-size network: {speed['epochs_per_s']:.2f} epochs/s")

    result = {
        "data": {"n_notes": int(X.shape[0]), "n_features": int(X.shape[1]),
                 "render_s": t_render, "nsgt_analysis_s": t_analysis},
        "seeds": seeds,
        "default_params": {k: v for k, v in PerceptualVAE().get_params().items()},
        "variants": summary,
        "runs": runs,
        "default_fit_s": summary["kl (paper, default)"]["fit_s"],
        "paper_network": speed | {"params": {**PAPER, "hidden_layer_sizes": [2000] * 3}},
        "environment": {"torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                        "cpu_count": __import__("os").cpu_count(),
                        "platform": platform.platform(), "quick": args.quick},
    }
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_vae.json").write_text(json.dumps(result, indent=2, default=str))
    lines = [
        "# PerceptualVAE on the 12 rated instruments",
        "",
        f"{X.shape[0]} SoundFont notes, NSGT-CQT log-magnitude stable frames "
        f"({X.shape[1]} bins); mean over seeds {seeds}; same seeds and epochs for every row; "
        f"torch threads: {torch.get_num_threads()}.",
        "",
        "| model | paper KL (lower better) | centroid Spearman | centroid Pearson "
        "| recon. MSE | fit (s) |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in summary.items():
        lines.append(
            f"| {name} | {s['paper_kl']:.3f} ± {s['paper_kl_std']:.3f} | "
            f"{s['spearman']:.3f} ± {s['spearman_std']:.3f} | {s['pearson']:.3f} | "
            f"{s['recon_mse']:.4f} | {s['fit_s']:.1f} |"
        )
    plain, reg = summary["plain VAE (alpha=0)"], summary["kl (paper, default)"]
    lines += [
        "",
        f"- Paper KL drops by a factor {plain['paper_kl'] / reg['paper_kl']:.0f} "
        f"({plain['paper_kl']:.3f} -> {reg['paper_kl']:.3f}); centroid Spearman "
        f"{plain['spearman']:.3f} -> {reg['spearman']:.3f}.",
        f"- Default model fit: {reg['fit_s']:.1f} s ({int(reg['epochs'])} epochs) on "
        f"{X.shape[0]} frames (target < 60 s on CPU); NSGT analysis of the notes "
        f"{t_analysis:.1f} s.",
        f"- Paper-size network (3 x 2000 ReLU, latent 64, Adam 1e-4): "
        f"{speed['epochs_per_s']:.2f} epochs/s ({speed['rows_per_s']:.0f} frames/s).",
    ]
    (out / "bench_vae.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    main()
