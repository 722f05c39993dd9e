"""The main job: fit a perceptual timbre space on the 12 default instruments and show it.

Run it with ``python -m perceptual_timbre --output output`` (or ``make demo``). It

1. renders the 12 instruments of the combined ratings from the default General MIDI SoundFont;
2. round-trips them through each spectral transform (STFT, DCT, NSGT-CQT), writes the
   resynthesized WAV files, a figure of the spectra and a reconstruction-quality table;
3. fits the timbre space a new user should take: :func:`make_timbre_space` with the
   pretrained perceptual metric as teacher (it places sounds it never heard where listeners
   would) plus the 12-instrument ratings, and its agreement with those ratings;
4. "paper mode": the paper's frame VAE (NSGT -> LogMagnitude -> PerceptualVAE) with and without
   the ratings, and the regularized-vs-unregularized table (paper KL, centroid Spearman);
   then the agreement on rating studies none of them saw, beside MFCC (leave-one-family-out,
   as measured by ``benchmarks/bench_generalization.py`` in a source checkout);
5. writes a plot of the spaces, the fitted model (joblib), and WAV files decoded from the
   instrument centroids;
6. renders, from the timbre space, a latent path between two instruments and one
   descriptor-guided synthesis.

Paper mode's fits run in a worker process beside the main one, so the demo takes about 40 s
on two cores; the results are the same as in sequence.
"""

import argparse
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

__all__ = ["main"]


def _log(msg):
    print(msg, flush=True)


def _write_wav(path, audio, sr):
    import soundfile as sf

    audio = np.asarray(audio, dtype=np.float32)
    peak = float(np.max(np.abs(audio))) or 1.0
    sf.write(path, 0.9 * audio / peak, sr)


def _table(rows, columns):
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    lines = [" | ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(str(r[c]).ljust(w) for c, w in zip(columns, widths)) for r in rows]
    return "\n".join(lines)


def _one_per_instrument(instrument):
    """Index of the first note of every instrument, in order of appearance."""
    _, first = np.unique(instrument, return_index=True)
    return np.sort(first)


def _transform_round_trip(notes, out, random_state):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .transforms import DCTTransformer, NSGTTransformer, STFTTransformer, spectral_convergence

    picks = _one_per_instrument(notes.instrument)
    audio = notes.audio[picks]
    rows = []
    fig, axes = plt.subplots(3, 1, figsize=(9, 10))
    for ax, (name, tr) in zip(
        axes,
        [("stft", STFTTransformer(random_state=random_state)), ("dct", DCTTransformer()),
         ("nsgt-cqt", NSGTTransformer(random_state=random_state))],
    ):
        t0 = time.perf_counter()
        S = tr.fit(audio).transform(audio)
        t_analysis = time.perf_counter() - t0
        t0 = time.perf_counter()
        resynth = tr.inverse_transform(S)
        t_synthesis = time.perf_counter() - t0
        sc = spectral_convergence(tr, S, audio=resynth)
        folder = out / "resynthesis" / name
        folder.mkdir(parents=True, exist_ok=True)
        for label, wav in zip(notes.instrument[picks], resynth):
            _write_wav(folder / f"{label}.wav", wav, notes.sr)
        rows.append(
            {
                "transform": name,
                "bins": tr.n_features_out_,
                "spectral convergence (dB)": f"{np.mean(sc):.1f}",
                "analysis (s)": f"{t_analysis:.2f}",
                "resynthesis (s)": f"{t_synthesis:.2f}",
            }
        )
        mag = np.abs(S)
        for label, frame in zip(notes.instrument[picks], mag):
            ax.semilogx(tr.frequencies_[1:], 20 * np.log10(frame[1:] / mag.max() + 1e-6),
                        lw=0.8, label=label)
        ax.set(title=f"{name}: stable-part spectrum per instrument", xlabel="Hz", ylabel="dB")
    axes[0].legend(ncol=4, fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "spectra.png", dpi=120)
    plt.close(fig)

    # one panel per instrument (the last transform: NSGT-CQT, on its true frequency axis)
    n_cols = 4
    n_rows = int(np.ceil(len(picks) / n_cols))
    fig, grid = plt.subplots(n_rows, n_cols, figsize=(12, 2.4 * n_rows), sharex=True, sharey=True)
    for ax, label, pitch, frame in zip(grid.ravel(), notes.instrument[picks],
                                       notes.pitch[picks], mag):
        ax.semilogx(tr.frequencies_, 20 * np.log10(frame / mag.max() + 1e-6), lw=0.7)
        ax.set_title(f"{label} (MIDI {pitch})", fontsize=9)
    for ax in grid.ravel()[len(picks):]:
        ax.set_visible(False)
    fig.supxlabel("Hz (NSGT-CQT bins)")
    fig.supylabel("dB")
    fig.tight_layout()
    fig.savefig(out / "spectra_per_instrument.png", dpi=120)
    plt.close(fig)
    return rows


def _make_space(regularized, random_state, quick):
    from sklearn.pipeline import Pipeline

    from .model import PerceptualVAE
    from .transforms import LogMagnitude, NSGTTransformer

    # one full batch per epoch (168 notes) for 500 epochs: a quarter of the optimizer steps
    # of the defaults (batch 128, 1000 epochs) and a better paper-mode fit at seed 0 (paper
    # KL 0.013 vs 0.021, centroid Spearman 0.52 vs 0.36)
    vae = PerceptualVAE(
        alpha=1.0 if regularized else 0.0,
        batch_size=256,
        max_epochs=60 if quick else 500,
        random_state=random_state,
    )
    return Pipeline([("nsgt", NSGTTransformer()), ("log", LogMagnitude()), ("vae", vae)])


# leave-one-family-out results of benchmarks/bench_generalization.py (a source checkout)
_HELDOUT = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "generalization.json"
_HELDOUT_ROWS = {"mfcc": "MFCC-40 (baseline)", "metric": "pretrained metric (the teacher)",
                 "space_teacher": "timbre space (teacher)",
                 "vae_paper": "paper mode (frame VAE + KL)"}


def _heldout_table(path=_HELDOUT):
    """Held-out-study agreement of the spaces beside MFCC, as the benchmark measured it."""
    try:
        summary = json.loads(Path(path).read_text())["anchor_summaries"]
    except (OSError, ValueError, KeyError):
        return None
    return [{"model": label, "pooled over families": f"{summary[key]['fam']:.3f}",
             "clean-9 studies": f"{summary[key]['clean9']:.3f}",
             "all anchors": f"{summary[key]['anchors']:.3f}"}
            for key, label in _HELDOUT_ROWS.items() if key in summary]


def _fit(name, space, notes, ratings):
    """Fit one space of the demo and encode the notes: ``(name, space, seconds, latents)``,
    all latent coordinates (the decoder's input)."""
    from ._space import as_space

    t0 = time.perf_counter()
    if name in ("unregularized", "regularized"):
        space.fit(notes.audio, notes.instrument,
                  vae__dissimilarity=ratings if name == "regularized" else None)
    else:
        space.fit(notes.audio, None if ratings is None else notes.instrument,
                  dissimilarity=ratings)
    seconds = time.perf_counter() - t0
    return name, space, seconds, as_space(space).encode(notes.audio)


def _paper_fits(notes, ratings, random_state, quick):
    """Paper mode's fits, plain then regularized (in the worker process)."""
    paper = {"unregularized": _make_space(False, random_state, quick)}
    if ratings is not None:
        paper["regularized"] = _make_space(True, random_state, quick)
    return [_fit(name, est, notes, ratings) for name, est in paper.items()]


def _synthesize(space, Z, notes, out, random_state):
    """Sound from the timbre space: instrument centroids decoded to audio, a
    latent path between two instruments and one descriptor-guided synthesis; log lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .descriptors import audio_descriptors
    from .plotting import plot_descriptor_curves, plot_spectrogram
    from .synthesis import DescriptorPathSynthesizer, interpolate_sounds

    labels = np.unique(notes.instrument)
    centroids = np.stack([Z[notes.instrument == lab].mean(axis=0) for lab in labels])
    folder = out / "centroids"
    folder.mkdir(exist_ok=True)
    for lab, wav in zip(labels, space.inverse_transform(centroids)):
        _write_wav(folder / f"{lab}.wav", wav, notes.sr)

    # Endpoints are single notes (G4, forte): an instrument centroid averages its pitches
    # into a blurred spectrum.
    def note(instrument):
        mask = notes.instrument == instrument
        pitch = 67 if np.any(mask & (notes.pitch == 67)) else notes.pitch[mask][0]
        idx = np.flatnonzero(mask & (notes.pitch == pitch))
        return notes.audio[idx[np.argmax(notes.velocity[idx])]]

    path = interpolate_sounds(space, note("Flute"), note("Trumpet"), n_steps=32, duration=3.0)
    _write_wav(out / "path_flute_to_trumpet.wav", path.audio, path.sr)
    fig, axes = plt.subplots(2, 1, figsize=(8, 7))
    axes[0].imshow(np.log(path.frames.T + 1e-3), origin="lower", aspect="auto", cmap="magma")
    axes[0].set(title="Latent path Flute -> Trumpet (G4): decoded frames",
                xlabel="path step", ylabel="frequency bin")
    plot_spectrogram(path.audio, path.sr, ax=axes[1])
    axes[1].set_title("Rendered audio (one Griffin-Lim over the whole path)")
    fig.tight_layout()
    fig.savefig(out / "path_flute_to_trumpet.png", dpi=120)
    plt.close(fig)

    synth = DescriptorPathSynthesizer(space=space, descriptors="spectral_centroid",
                                      method="gradient", random_state=random_state)
    synth.fit(notes.audio, notes.instrument)
    result = synth.synthesize(note("Clarinet"), "increase", duration=3.0)
    _write_wav(out / "centroid_increase_clarinet.wav", result.audio, result.sr)
    measured = audio_descriptors(result.audio, result.sr, "spectral_centroid",
                                 n_points=len(result.target))
    r_audio = np.corrcoef(np.ravel(result.target), measured[:, 0])[0, 1]
    fig, ax = plt.subplots(figsize=(6, 4))
    plot_descriptor_curves(result, measured=measured, ax=ax)
    ax.set_title(f"Spectral centroid from a clarinet note (r on audio = {r_audio:.3f})")
    fig.tight_layout()
    fig.savefig(out / "centroid_increase_clarinet.png", dpi=120)
    plt.close(fig)
    return [
        f"Wrote {len(labels)} WAVs decoded from the instrument centroids to {folder}/.",
        f"Wrote a Flute->Trumpet path and a centroid-increase synthesis: Pearson r with the "
        f"target {result.correlation[0]:.3f} on the decoded frames, {r_audio:.3f} re-measured "
        f"on the audio.",
    ]


def _space_scores(Z, notes, ratings):
    from .metrics import centroid_correlation, latent_kl_divergence

    return {
        "paper KL (lower better)": latent_kl_divergence(Z, notes.instrument, ratings),
        "centroid Spearman": centroid_correlation(Z, notes.instrument, ratings),
        "centroid Pearson": centroid_correlation(Z, notes.instrument, ratings, method="pearson"),
    }


def main(argv=None):
    """Run the demo; ``argv`` as for the command line (``--output``, ``--quick``)."""
    parser = argparse.ArgumentParser(prog="python -m perceptual_timbre", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default="output", help="folder for figures, WAVs, model")
    parser.add_argument("--data-home", default=None,
                        help="research data folder (default: $PERCEPTUAL_TIMBRE_DATA)")
    parser.add_argument("--quick", action="store_true", help="fewer notes and epochs")
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)

    import joblib
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ._space import as_space
    from .datasets import get_data_home, load_instrument_ratings, render_instrument_notes

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    # 1. real sampled notes of the 12 rated instruments
    kw = {"pitches": (60, 67, 72), "velocities": (100,)} if args.quick else {}
    notes = render_instrument_notes(**kw)
    _log(f"Rendered {len(notes.audio)} notes of {len(np.unique(notes.instrument))} instruments "
         f"from {Path(notes.soundfont).name} at {notes.sr} Hz.")

    # the ratings, if any
    home = get_data_home(args.data_home)
    try:
        ratings = load_instrument_ratings(data_home=args.data_home).ratings
        where = home / "esling2018"
        where = where if where.is_dir() else "bundled copy"
        ratings_msg = f"\nRatings: 12-instrument combined dissimilarities from {where}."
    except (OSError, ValueError) as exc:
        ratings = None
        ratings_msg = (
            f"\nNo instrument ratings found ({exc}). Looked in the data home {home} "
            f"(set PERCEPTUAL_TIMBRE_DATA or --data-home to a folder with esling2018/"
            f"dissimilarity_mean.csv, see ../shared/data/README.md). Fitting the "
            f"unregularized space instead."
        )
    # One worker process fits paper mode's two spaces while this one fits the timbre space,
    # synthesizes from it (its teacher's features are cached in this process) and runs the
    # transform round trip. A fit gives the same result in either process; each further
    # process would pay its own imports (torch alone takes 5 s).
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        paper = pool.submit(_paper_fits, notes, ratings, args.random_state, args.quick)
        _log(ratings_msg)
        from . import make_timbre_space

        space = make_timbre_space(teacher="pretrained", random_state=args.random_state,
                                  **({"max_epochs": 20} if args.quick else {}))
        fitted = [_fit("timbre space (teacher + ratings)", space, notes, ratings)]
        synthesized = _synthesize(space, fitted[0][3], notes, out, args.random_state)
        rows = _transform_round_trip(notes, out, args.random_state)
        fitted += paper.result()

    # 2. transforms: analysis, phase reconstruction, quality
    _log("\n== Spectral transforms: round trip of one note per instrument ==")
    _log(_table(rows, list(rows[0])))

    # 3./4. the timbre space, then paper mode's results
    latents, results = {}, []
    for name, est, fit_s, Z_space in fitted:
        # distances are read on the perceptual coordinates (what embed_sounds gives)
        latents[name] = Z_space = Z_space[:, :as_space(est).perceptual_dims]
        row = {"space": name, "fit (s)": f"{fit_s:.1f}",
               "epochs": len((est if est is space else est[-1]).history_)}
        if ratings is not None:
            row.update({k: f"{v:.3f}" for k, v in
                        _space_scores(Z_space, notes, ratings).items()})
        results.append(row)
    _log("\n== Timbre space (pretrained teacher + ratings), and paper mode: the frame VAE "
         "regularized vs unregularized (same seed) ==")
    _log(_table(results, list(results[-1])))
    (out / "space_scores.json").write_text(json.dumps(results, indent=2))
    heldout = _heldout_table()
    _log("\n== On rating studies it never saw: leave-one-family-out over the 13 shared studies "
         "(per-anchor Spearman) ==")
    if heldout:
        _log(_table(heldout, list(heldout[0])))
        _log(f"(each family's studies held out of training in turn; measured by "
             f"benchmarks/bench_generalization.py, about 6 min on 2 cores: {_HELDOUT})")
    else:
        _log("Run `python benchmarks/bench_generalization.py` in a source checkout (about 6 min "
             "on 2 cores) to measure it.")

    # 5. plot of the spaces and the model
    from .plotting import plot_timbre_space

    fig, axes = plt.subplots(1, len(latents), figsize=(6 * len(latents), 5), squeeze=False)
    for ax, (name, Z_space) in zip(axes[0], latents.items()):
        plot_timbre_space(Z_space, notes.instrument, ax=ax)
        ax.set_title(f"{name} (PCA of latents)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "timbre_space.png", dpi=120)
    plt.close(fig)
    joblib.dump(space, out / "timbre_space.joblib")
    _log(f"\nWrote the space plot and the model to {out}/.")
    for line in synthesized:
        _log(line)
    _log(f"\nDone in {time.perf_counter() - t_start:.0f} s. Outputs in {out.resolve()}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
