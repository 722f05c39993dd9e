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

Usage: ``python benchmarks/bench_vae.py [--output benchmarks/results] [--seeds 0 1 2]
[--threads N] [--quick]``
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="benchmarks/results")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's own choice)")
    parser.add_argument("--quick", action="store_true", help="fewer notes, epochs and seeds")
    args = parser.parse_args(argv)
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
