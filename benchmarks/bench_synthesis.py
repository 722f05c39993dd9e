"""Benchmark descriptor-guided synthesis and descriptor maps of the timbre space.

On SoundFont notes of the 12 rated instruments (Esling et al. 2018), a
``NSGTTransformer -> LogMagnitude -> PerceptualVAE`` pipeline is fitted twice (perceptually
regularized, ``alpha=1``, and unregularized, ``alpha=0``; same seed and epochs). Then, in one
run:

- for every descriptor x target shape x origin instrument, ``DescriptorPathSynthesizer`` with
  the greedy method (the paper's Algorithm 1) and the gradient method synthesizes a sound; the
  descriptor is re-measured on the SYNTHESIZED AUDIO (librosa STFT, averaged over 8 equal
  segments) and correlated (Pearson) with the target; also reported: the correlation on the
  decoded frames, the normalized RMSE to the target (frames), the mean latent distance to the
  origin relative to the median distance between instrument centroids, and the search time;
- descriptor maps on the PCA plane of each space: local smoothness (mean relative change
  between grid neighbours) and global non-linearity (1 - R^2 of a planar fit), with figures.

Writes ``bench_synthesis.json``, ``bench_synthesis.md`` and PNG figures to ``--output``.

Usage: ``python benchmarks/bench_synthesis.py [--output benchmarks/results] [--quick]``
"""

import time
import warnings

import numpy as np
from _common import Timer, make_parser, markdown_table, write_results

from perceptual_timbre.datasets import load_instrument_ratings, render_instrument_notes
from perceptual_timbre.descriptors import (
    audio_descriptors,
    descriptor_map,
    global_nonlinearity,
    local_smoothness,
)
from perceptual_timbre.model import PerceptualVAE
from perceptual_timbre.synthesis import DescriptorPathSynthesizer, interpolate_sounds
from perceptual_timbre.transforms import LogMagnitude, NSGTTransformer

DESCRIPTORS = ["spectral_centroid", "spectral_bandwidth", "spectral_rolloff", "loudness",
               "spectral_flatness"]
SHAPES = ["increase", "decrease", "exp_increase", "exp_decrease", "log_increase",
          "log_decrease"]
ORIGINS = ["Flute", "Trumpet", "Cello", "Oboe"]
N_SEGMENTS = 8


def fit_space(notes, alpha, args):
    from sklearn.pipeline import Pipeline

    pipe = Pipeline([
        ("nsgt", NSGTTransformer(random_state=0)),
        ("log", LogMagnitude()),
        ("vae", PerceptualVAE(latent_dim=args.latent_dim, hidden_layer_sizes=(args.hidden,),
                              max_epochs=args.epochs, alpha=alpha, random_state=0)),
    ])
    with Timer() as t:
        pipe.fit(notes.audio, notes.instrument,
                 vae__dissimilarity=load_instrument_ratings().ratings)
    return pipe, t.seconds


def pearson(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    if np.std(a) < 1e-12 or np.std(b) < 1e-12:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def synthesis_rows(space, notes, args):
    rows, examples = [], {}
    origins = ORIGINS[: args.n_origins]
    for name in args.descriptors:
        base = DescriptorPathSynthesizer(space=space, descriptors=name, n_steps=args.n_steps,
                                         random_state=0)
        with Timer() as t_fit:
            base.fit(notes.audio, notes.instrument)
        C = np.array(list(base.centroids_.values()))
        inter = np.median(np.linalg.norm(C[:, None] - C[None], axis=-1)[np.triu_indices(len(C), 1)])
        for method in ("greedy", "gradient"):
            synth = base.set_params(method=method)
            for shape in args.shapes:
                for origin in origins:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", UserWarning)
                        out = synth.synthesize(origin, shape, duration=args.duration)
                    measured = audio_descriptors(out.audio, out.sr, name,
                                                 n_points=N_SEGMENTS)[:, 0]
                    seg_target = [s.mean() for s in np.array_split(out.target[:, 0], N_SEGMENTS)]
                    span = base.range_[1, 0] - base.range_[0, 0]
                    rows.append({
                        "descriptor": name, "shape": shape, "origin": origin, "method": method,
                        "pearson_audio": pearson(measured, seg_target),
                        "pearson_frames": pearson(out.achieved[:, 0], out.target[:, 0]),
                        "nrmse_frames": float(np.sqrt(np.mean((out.achieved[:, 0]
                                                               - out.target[:, 0]) ** 2)) / span),
                        "timbre_distance": float(np.mean(np.linalg.norm(
                            out.latent_path - out.origin, axis=1)) / inter),
                        "search_s": out.time,
                        "fit_s": t_fit.seconds,
                    })
                    if name == "spectral_centroid" and shape == "exp_increase" and \
                            origin == origins[0]:
                        examples[method] = (out, measured)
    return rows, examples


def summarize(rows, keys):
    groups = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    out = []
    for key, rs in groups.items():
        row = dict(zip(keys, key))
        for m in ("pearson_audio", "pearson_frames", "nrmse_frames", "timbre_distance",
                  "search_s"):
            vals = np.array([r[m] for r in rs], float)
            row[m] = float(np.nanmean(vals))
        row["min_pearson_audio"] = float(np.nanmin([r["pearson_audio"] for r in rs]))
        row["n"] = len(rs)
        out.append(row)
    return out


def map_rows(spaces, notes, args, output):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from perceptual_timbre.plotting import plot_descriptor_map

    rows, maps = [], {}
    for label, space in spaces.items():
        Z = space.transform(notes.audio)
        with Timer() as t:
            dmap = descriptor_map(space, Z, args.descriptors, resolution=args.resolution,
                                  labels=notes.instrument)
        maps[label] = dmap
        smooth, nonlin = local_smoothness(dmap), global_nonlinearity(dmap)
        for name in args.descriptors:
            rows.append({"space": label, "descriptor": name,
                         "local_smoothness": smooth[name],
                         "global_nonlinearity": nonlin[name], "map_s": t.seconds})
    figures = []
    for name in args.descriptors:
        fig, axes = plt.subplots(1, len(maps), figsize=(6 * len(maps), 5))
        for ax, (label, dmap) in zip(np.atleast_1d(axes), maps.items()):
            plot_descriptor_map(dmap, name, ax=ax)
            ax.set_title(f"{name} -- {label}")
        fig.tight_layout()
        path = output / f"bench_synthesis_map_{name}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        figures.append(path.name)
    return rows, figures


def example_figures(examples, space, notes, output):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from perceptual_timbre.plotting import plot_descriptor_curves, plot_spectrogram

    figures = []
    fig, axes = plt.subplots(1, len(examples), figsize=(6 * len(examples), 4))
    for ax, (method, (out, measured)) in zip(np.atleast_1d(axes), examples.items()):
        steps = np.linspace(0, len(out.target) - 1, N_SEGMENTS)
        plot_descriptor_curves(out, ax=ax)
        ax.plot(steps, measured, "o:", label="re-analysed audio (8 segments)")
        ax.legend(fontsize=7)
        ax.set_title(f"{method}: centroid exp_increase")
    fig.tight_layout()
    fig.savefig(output / "bench_synthesis_curves.png", dpi=80)
    plt.close(fig)
    figures.append("bench_synthesis_curves.png")
    path = interpolate_sounds(space, notes.audio[list(notes.instrument).index("Flute")],
                              notes.audio[list(notes.instrument).index("Trumpet")],
                              n_steps=32, duration=2.0)
    ax = plot_spectrogram(path.audio, path.sr)
    ax.set_title("latent path Flute -> Trumpet (one Griffin-Lim over the path)")
    ax.figure.savefig(output / "bench_synthesis_path.png", dpi=80)
    plt.close(ax.figure)
    figures.append("bench_synthesis_path.png")
    return figures


def main():
    parser = make_parser(__doc__)
    parser.add_argument("--n-steps", type=int, default=24)
    parser.add_argument("--duration", type=float, default=2.0)
    args = parser.parse_args()
    if args.quick:
        args.pitches, args.velocities = (60, 67), (100,)
        args.latent_dim, args.hidden, args.epochs = 4, 64, 150
        args.descriptors, args.shapes, args.n_origins = DESCRIPTORS[:2], SHAPES[:4], 2
        args.resolution = 15
    else:
        args.pitches, args.velocities = (60, 67), (64, 100)
        args.latent_dim, args.hidden, args.epochs = 4, 64, 300
        args.descriptors, args.shapes, args.n_origins = DESCRIPTORS, SHAPES, 3
        args.resolution = 25
    output = args.output
    output.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    notes = render_instrument_notes(pitches=args.pitches, velocities=args.velocities)
    regularized, fit_reg = fit_space(notes, 1.0, args)
    plain, fit_plain = fit_space(notes, 0.0, args)
    rows, examples = synthesis_rows(regularized, notes, args)
    by_method = summarize(rows, ["method"])
    by_desc = summarize(rows, ["descriptor", "method"])
    by_shape = summarize(rows, ["shape", "method"])
    maps, map_figs = map_rows({"regularized": regularized, "unregularized": plain}, notes,
                              args, output)
    figures = map_figs + example_figures(examples, regularized, notes, output)
    cols = ["pearson_audio", "min_pearson_audio", "pearson_frames", "nrmse_frames",
            "timbre_distance", "search_s", "n"]
    payload = {
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()
                   if k != "output"},
        "n_notes": int(len(notes.audio)),
        "fit_seconds": {"regularized": fit_reg, "unregularized": fit_plain},
        "cases": rows, "by_method": by_method, "by_descriptor": by_desc, "by_shape": by_shape,
        "maps": maps, "figures": figures, "seconds": time.perf_counter() - start,
    }
    intro = (
        f"{len(notes.audio)} SoundFont notes of the 12 rated instruments; NSGT -> LogMagnitude "
        f"-> PerceptualVAE(latent_dim={args.latent_dim}, hidden=({args.hidden},), "
        f"{args.epochs} epochs). Each synthesis: {args.n_steps} path steps rendered to "
        f"{args.duration} s with one Griffin-Lim over the whole path. `pearson_audio`: the "
        f"descriptor re-measured on the synthesized audio (librosa STFT, {N_SEGMENTS} segment "
        f"means) vs the target; `pearson_frames`: on the decoded frames; `nrmse_frames`: RMSE "
        f"/ reachable range; `timbre_distance`: mean latent distance to the origin / median "
        f"distance between instrument centroids; `search_s`: path search time (s). "
        f"Total run {payload['seconds']:.0f} s."
    )
    write_results(
        output, "bench_synthesis", payload, title="Descriptor-guided synthesis",
        intro=intro,
        sections=[
            ("Greedy (Algorithm 1) vs gradient", markdown_table(by_method, ["method"] + cols)),
            ("Per descriptor", markdown_table(by_desc, ["descriptor", "method"] + cols)),
            ("Per target shape", markdown_table(by_shape, ["shape", "method"] + cols)),
            ("Descriptor maps: local smoothness (lower = smoother; a random field gives ~0.33) "
             "and global non-linearity (1 - R^2 of a plane)", markdown_table(maps)),
            ("Figures", "\n".join(f"- `{f}`" for f in figures)),
        ],
    )


if __name__ == "__main__":
    main()
