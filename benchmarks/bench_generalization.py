"""Generalization of timbre spaces to rating studies left out of training.

Leave-one-family-out over the 13 shared timbre studies (families reuse sounds, so a family is
held out as a whole): {Grey1977, Grey1978}, {Iverson1993 x3}, {Lakatos2000 x3},
{Patil2012 x3}, {Barthet2010}, {McAdams1995}. For each held-out family, in one run:

- ``mfcc``: librosa MFCC (40 coefficients, time mean), no training;
- ``features``: standardized SoundFeatures (standardization fitted on the training sounds);
- ``metric``: PerceptualMetric fitted on the training studies;
- ``vae_plain``: PerceptualVAE on spectral frames, no regularizer;
- ``vae_paper``: PerceptualVAE with the paper's KL regularizer on the training ratings;
- ``space_teacher``: TimbreSpace with the fold's metric as teacher (no ratings);
- ``space_plain``: the same TimbreSpace without teacher (reconstruction reference).

Scores per held-out study: per-anchor Spearman and triplet agreement (margin 0.1); per
family the mean over its studies; "pooled" the mean over families (and, separately, over
studies). Pass marks: metric - mfcc >= 0.05 pooled; space_teacher > mfcc and
metric - space_teacher <= 0.05; teacher-space reconstruction error within 10 % of the
plain space's.

Usage::

    python benchmarks/bench_generalization.py [--output DIR] [--data-home DIR] [--quick]
"""

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

_ROOT = str(Path(__file__).resolve().parents[1])
sys.path.insert(0, _ROOT)
# joblib workers (parallel feature extraction) must find the package too
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [_ROOT, os.environ.get("PYTHONPATH")]))

GROUPS = {
    "Grey": ["Grey1977", "Grey1978"],
    "Iverson": ["Iverson1993_Onset", "Iverson1993_Remainder", "Iverson1993_Whole"],
    "Lakatos": ["Lakatos2000_Comb", "Lakatos2000_Harm", "Lakatos2000_Perc"],
    "Patil": ["Patil2012_A3", "Patil2012_DX4", "Patil2012_GD4"],
    "Barthet": ["Barthet2010"],
    "McAdams": ["McAdams1995"],
}
METHODS = ["mfcc", "features", "metric", "vae_plain", "vae_paper", "space_teacher"]
SR = 22050
FRAMES_PER_SOUND = 16

# Settings of the VAE-based spaces: small, so the whole run fits in < 10 min on 2 cores.
VAE_PARAMS = dict(latent_dim=16, hidden_layer_sizes=(256,), max_epochs=30, batch_size=128,
                  warmup=10, learning_rate=1e-3)
SPACE_PARAMS = dict(latent_dim=16, hidden_layer_sizes=(256,), max_epochs=60,
                    sounds_per_batch=16, frames_per_sound=8, max_frames=32)


def load_all(data_home):
    from perceptual_timbre.datasets import load_timbre_study

    studies = {}
    for names in GROUPS.values():
        for name in names:
            b = load_timbre_study(name, data_home=data_home, sr=SR)
            ids = [f"{name}/{n}" for n in b.names]
            studies[name] = {"audio": list(b.audio), "ids": ids, "D": b.dissimilarity,
                             "ratings": b.ratings}
    return studies


def _pool(studies, names):
    X, y = [], []
    for s in names:
        X += studies[s]["audio"]
        y += studies[s]["ids"]
    return X, np.asarray(y, dtype=object)


def block_ratings(studies, names):
    """One Ratings over several studies: each normalized by its mean; cross pairs unrated."""
    from perceptual_timbre.utils import Ratings

    sizes = [len(studies[s]["ids"]) for s in names]
    n = sum(sizes)
    M, C = np.zeros((n, n)), np.zeros((n, n))
    labels, o = [], 0
    for s, k in zip(names, sizes):
        D = studies[s]["D"]
        M[o:o + k, o:o + k] = D / D[~np.eye(k, dtype=bool)].mean()
        C[o:o + k, o:o + k] = 1 - np.eye(k)
        labels += studies[s]["ids"]
        o += k
    return Ratings(M, labels, counts=C)


def frame_data(nsgt, log, sounds, ids):
    """FRAMES_PER_SOUND evenly spaced log frames per sound, with the sound id of each."""
    X, y = [], []
    for f, i in zip(nsgt.transform_frames(sounds), ids):
        f = np.asarray(f)
        pick = np.linspace(0, len(f) - 1, min(FRAMES_PER_SOUND, len(f))).round().astype(int)
        X.append(log.transform(f[pick]))
        y += [i] * len(pick)
    return np.vstack(X), np.asarray(y, dtype=object)


def scores(Z_by_study, studies, names):
    from scipy.spatial.distance import pdist, squareform

    from perceptual_timbre.metrics import anchor_spearman, triplet_agreement

    out = {}
    for s in names:
        P = squareform(pdist(Z_by_study[s]))
        D = studies[s]["D"]
        out[s] = {"spearman": float(anchor_spearman(P, D)),
                  "triplet": float(triplet_agreement(P, D, margin=0.1))}
    return out


def run(data_home, quick=False, log=print):
    import torch
    from sklearn.pipeline import Pipeline

    from perceptual_timbre import PerceptualMetric, PerceptualVAE, embed_sounds
    from perceptual_timbre.baselines import MFCCEmbedding
    from perceptual_timbre.descriptors import SoundFeatures
    from perceptual_timbre.timbre_space import TimbreSpace
    from perceptual_timbre.transforms import LogMagnitude, NSGTTransformer

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    t0 = time.perf_counter()
    studies = load_all(data_home)
    timings = {"load": time.perf_counter() - t0}
    all_names = [s for names in GROUPS.values() for s in names]
    X_all, _ = _pool(studies, all_names)

    # Feature cache: the first pass analyses every sound, later passes hit the cache.
    t = time.perf_counter()
    SoundFeatures(n_jobs=2).fit(X_all).transform(X_all)
    timings["features_first_pass"] = time.perf_counter() - t
    t = time.perf_counter()
    SoundFeatures().fit(X_all).transform(X_all)
    timings["features_cached_pass"] = time.perf_counter() - t
    t = time.perf_counter()
    SoundFeatures(cache=False).fit(X_all[:40]).transform(X_all[:40])
    timings["features_uncached_serial_40_sounds"] = time.perf_counter() - t

    nsgt = NSGTTransformer("mel", bins=24, sr=SR).fit(X_all)
    logmag = LogMagnitude()
    t = time.perf_counter()
    frames = {}
    for s in all_names:
        f = nsgt.transform_frames(studies[s]["audio"])
        frames[s] = f
    timings["nsgt_frames"] = time.perf_counter() - t
    logmag.fit(np.asarray(frames[all_names[0]][0]))

    class _CachedNSGT:  # serves precomputed frames to frame_data / embed_sounds
        def __init__(self):
            self.lookup = {}
            for s in all_names:
                for a, f in zip(studies[s]["audio"], frames[s]):
                    self.lookup[id(a)] = f

        def transform_frames(self, sounds):
            return [self.lookup[id(a)] if id(a) in self.lookup else nsgt.transform_frames([a])[0]
                    for a in sounds]

    cached = _CachedNSGT()
    groups = list(GROUPS) if not quick else ["Patil", "Barthet"]
    results, recon = {}, {}
    for g in groups:
        tg = time.perf_counter()
        held = GROUPS[g]
        train = [s for s in all_names if s not in held]
        Xtr, ytr = _pool(studies, train)
        Z = {m: {} for m in METHODS}
        mf = MFCCEmbedding(sr=SR, n_mfcc=40).fit(Xtr)
        feats = SoundFeatures(standardize=True).fit(Xtr)
        metric = PerceptualMetric().fit(Xtr, ytr, {s: studies[s]["ratings"] for s in train})
        Ftr, fy = frame_data(cached, logmag, Xtr, ytr)
        vae_plain = PerceptualVAE(alpha=0.0, random_state=0, **VAE_PARAMS).fit(Ftr)
        vae_paper = PerceptualVAE(regularization="kl", random_state=0, **VAE_PARAMS).fit(
            Ftr, fy, dissimilarity=block_ratings(studies, train))
        space = TimbreSpace(teacher=metric, random_state=0, **SPACE_PARAMS).fit(Xtr)
        plain_space = TimbreSpace(teacher=None, random_state=0, **SPACE_PARAMS).fit(Xtr)
        for s in held:
            X = studies[s]["audio"]
            Z["mfcc"][s] = mf.transform(X)
            Z["features"][s] = feats.transform(X)
            Z["metric"][s] = metric.transform(X)
            for name, vae in (("vae_plain", vae_plain), ("vae_paper", vae_paper)):
                Z[name][s] = np.vstack([vae.transform(logmag.transform(np.asarray(f))).mean(0)
                                        for f in cached.transform_frames(X)])
            Z["space_teacher"][s] = space.transform(X)
        Xte, _ = _pool(studies, held)
        recon[g] = {"space_teacher": space.reconstruction_error(Xte),
                    "space_plain": plain_space.reconstruction_error(Xte)}
        results[g] = {m: scores(Z[m], studies, held) for m in METHODS}
        timings[f"fold_{g}"] = time.perf_counter() - tg
        log(f"[{g}] " + "  ".join(
            f"{m}={np.mean([v['spearman'] for v in results[g][m].values()]):.3f}"
            for m in METHODS) + f"  ({timings[f'fold_{g}']:.0f} s)")
        # embed_sounds works on the teacher space (one row per sound)
        assert embed_sounds(space, studies[held[0]]["audio"][:2], sr=SR).shape[0] == 2
        _ = Pipeline  # frame pipelines are exercised in tests/test_embedding.py
    timings["total"] = time.perf_counter() - t0
    return summarize(results, recon, timings)


def summarize(results, recon, timings):
    summary = {"groups": {}, "pooled": {}, "pooled_by_study": {}}
    for g, per in results.items():
        summary["groups"][g] = {
            m: {k: float(np.mean([v[k] for v in per[m].values()])) for k in ("spearman", "triplet")}
            for m in METHODS}
    for m in METHODS:
        summary["pooled"][m] = {k: float(np.mean([summary["groups"][g][m][k] for g in results]))
                                for k in ("spearman", "triplet")}
        summary["pooled_by_study"][m] = {
            k: float(np.mean([v[k] for g in results for v in results[g][m].values()]))
            for k in ("spearman", "triplet")}
    p = summary["pooled"]
    rec_t = float(np.mean([r["space_teacher"] for r in recon.values()]))
    rec_p = float(np.mean([r["space_plain"] for r in recon.values()]))
    summary["reconstruction"] = {"groups": recon, "space_teacher": rec_t, "space_plain": rec_p}
    summary["pass_marks"] = {
        "metric_minus_mfcc": p["metric"]["spearman"] - p["mfcc"]["spearman"],
        "metric_beats_mfcc_by_0.05": p["metric"]["spearman"] - p["mfcc"]["spearman"] >= 0.05,
        "teacher_space_beats_mfcc": p["space_teacher"]["spearman"] > p["mfcc"]["spearman"],
        "metric_minus_teacher_space": p["metric"]["spearman"] - p["space_teacher"]["spearman"],
        "teacher_space_within_0.05_of_metric":
            p["metric"]["spearman"] - p["space_teacher"]["spearman"] <= 0.05,
        "reconstruction_ratio": rec_t / rec_p,
        "reconstruction_within_10pct": rec_t <= 1.1 * rec_p,
    }
    summary["per_study"] = results
    summary["timings_s"] = timings
    return summary


def to_markdown(summary):
    lines = ["# Generalization to held-out timbre studies", "",
             "Leave-one-family-out; per-anchor Spearman (triplet agreement, margin 0.1).", "",
             "| held out | " + " | ".join(METHODS) + " |",
             "|---" * (len(METHODS) + 1) + "|"]
    for g, row in list(summary["groups"].items()) + [("**pooled**", summary["pooled"]),
                                                      ("pooled by study",
                                                       summary["pooled_by_study"])]:
        lines.append(f"| {g} | " + " | ".join(
            f"{row[m]['spearman']:.3f} ({row[m]['triplet']:.3f})" for m in METHODS) + " |")
    lines += ["", "## Pass marks", ""]
    lines += [f"- {k}: {v:.3f}" if isinstance(v, float) else f"- {k}: {v}"
              for k, v in summary["pass_marks"].items()]
    lines += ["", "## Timings (s)", ""]
    lines += [f"- {k}: {v:.2f}" for k, v in summary["timings_s"].items()]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--quick", action="store_true", help="hold out Patil and Barthet only")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    summary = run(args.data_home, quick=args.quick)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "generalization.json").write_text(json.dumps(summary, indent=2, default=str))
    (out / "generalization.md").write_text(to_markdown(summary))
    print(to_markdown(summary))


if __name__ == "__main__":
    main()
