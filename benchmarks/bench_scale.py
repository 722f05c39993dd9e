"""Scale: render, analyse and fit the default timbre space on 1k, 5k and 10k notes.

Each size runs in a fresh Python process, so its peak memory (``ru_maxrss``) is its own:
render a corpus of General MIDI notes from the bundled TimGM6mb SoundFont
(:func:`~perceptual_timbre.datasets.load_instrument_corpus`, no cache), fit
``make_timbre_space(teacher="pretrained")`` on it (NSGT analysis, the teacher's sound
features, VAE training) and embed every note. Sizes are reached with more General MIDI
programs (96 notes each: MIDI 48-79 at 3 velocities), so the notes per instrument stay the
same as the corpus grows. The report gives wall time per stage, training epochs/s, peak
memory, and the growth of each against the smallest size (linear growth = the size ratio).

Run::

    python benchmarks/bench_scale.py                  # 1k, 5k, 10k notes, all cores
    python benchmarks/bench_scale.py --quick          # 200 and 500 notes
    python benchmarks/bench_scale.py --device cuda    # VAE training on the GPU
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _common import make_parser, markdown_table, write_results

PITCHES = tuple(range(48, 80))
VELOCITIES = (50, 80, 110)
NOTES_PER_PROGRAM = len(PITCHES) * len(VELOCITIES)
# melodic General MIDI programs (0-103); 104-127 are ethnic, percussive and sound effects
MAX_PROGRAM = 104


def _child(n_notes, device, n_jobs, epochs):
    """Run one size in this process and print its measurements as JSON."""
    import resource

    import numpy as np

    from perceptual_timbre import PerceptualMetric, make_timbre_space
    from perceptual_timbre.datasets import default_soundfont, load_instrument_corpus

    n_programs = min(MAX_PROGRAM, -(-n_notes // NOTES_PER_PROGRAM))
    t0 = time.perf_counter()
    corpus = load_instrument_corpus(
        default_soundfont(), instruments={f"program {p}": p for p in range(n_programs)},
        pitches=PITCHES, velocities=VELOCITIES, cache=False, n_jobs=n_jobs)
    render_s = time.perf_counter() - t0
    audio, labels = corpus.audio, corpus.instrument
    teacher = PerceptualMetric.pretrained().set_params(n_jobs=n_jobs)
    space = make_timbre_space(teacher=teacher, random_state=0, device=device,
                              **({} if epochs is None else {"max_epochs": epochs}))
    t0 = time.perf_counter()
    space.fit(list(audio), labels)
    fit_s = time.perf_counter() - t0
    train_s = space.history_[-1]["time"]
    t0 = time.perf_counter()
    Z = space.transform(list(audio))
    embed_s = time.perf_counter() - t0
    assert np.all(np.isfinite(Z))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "n_notes": len(audio), "n_programs": n_programs, "n_skipped": len(corpus.skipped),
        "render_s": render_s, "fit_s": fit_s, "train_s": train_s,
        "analysis_and_features_s": fit_s - train_s, "epochs": len(space.history_),
        "epochs_per_s": len(space.history_) / train_s, "embed_s": embed_s,
        "peak_memory_mb": peak_mb, "audio_mb": audio.nbytes / 2**20, "device": device,
    }))


def main(argv=None):
    parser = make_parser(__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=None,
                        help="numbers of notes (default 1000 5000 10000; --quick: 200 500)")
    parser.add_argument("--device", default="cpu", help="torch device of the VAE training")
    parser.add_argument("--n-jobs", type=int, default=-1,
                        help="joblib workers for rendering and sound features (default: all)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="VAE epochs (default: the space's own)")
    parser.add_argument("--name", default="bench_scale", help="results file stem")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        _child(args.child, args.device, args.n_jobs, args.epochs)
        return 0

    sizes = args.sizes or ([200, 500] if args.quick else [1000, 5000, 10000])
    rows = []
    for n in sizes:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(n),
               "--device", args.device, "--n-jobs", str(args.n_jobs)]
        if args.epochs is not None:
            cmd += ["--epochs", str(args.epochs)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f"size {n} failed:\n{proc.stderr[-4000:]}")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{row['n_notes']} notes: render {row['render_s']:.1f} s, fit {row['fit_s']:.1f} s "
              f"({row['epochs_per_s']:.2f} epochs/s), embed {row['embed_s']:.1f} s, peak "
              f"{row['peak_memory_mb']:.0f} MB", flush=True)
    base = rows[0]
    for row in rows:
        size = row["n_notes"] / base["n_notes"]
        row["size_ratio"] = size
        for key in ("render_s", "fit_s", "embed_s", "peak_memory_mb"):
            # growth per unit of size: <= 1 means no worse than linear
            row[f"{key}_growth"] = row[key] / base[key] / size
    columns = ["n_notes", "render_s", "fit_s", "train_s", "analysis_and_features_s", "epochs",
               "epochs_per_s", "embed_s", "peak_memory_mb", "audio_mb"]
    growth = [{"n_notes": r["n_notes"], "size ratio": r["size_ratio"],
               **{k: r[f"{k}_growth"] for k in ("render_s", "fit_s", "embed_s",
                                                 "peak_memory_mb")}} for r in rows]
    linear = all(g[k] <= 1.1 for g in growth for k in ("render_s", "fit_s", "embed_s"))
    write_results(
        args.output, args.name,
        {"rows": rows, "growth": growth, "no_worse_than_linear": linear,
         "device": args.device, "n_jobs": args.n_jobs},
        title="Scale: render, analyse and fit the default timbre space",
        intro=(f"TimGM6mb notes (1 s, 22,050 Hz; MIDI 48-79 x velocities 50/80/110 per "
               f"General MIDI program), `make_timbre_space(teacher='pretrained')`, VAE on "
               f"`{args.device}`, joblib n_jobs={args.n_jobs}; one fresh process per size."),
        sections=[("Wall time (s) and peak memory (MB)", markdown_table(rows, columns)),
                  ("Growth per unit of size (1 = linear; below 1 = better than linear)",
                   markdown_table(growth)
                   + f"\nTime grows no worse than linearly (10 % slack): {linear}.\n")],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
