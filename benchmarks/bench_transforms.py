"""Benchmark the spectral transformers: throughput and Griffin-Lim quality, in one run.

Compares, on real SoundFont notes (the 12 instruments of the combined ratings, C4, 1.2 s):

- transform throughput (sounds/s, one stable frame per sound) of ``NSGTTransformer`` (nsgt,
  CQT 30-11000 Hz, 48 bins/octave), ``STFTTransformer`` (librosa STFT) and librosa's own CQT
  (``librosa.cqt`` with the same fmin / bins per octave / number of bins);
- phase reconstruction of one sustained 1 s tone per note: spectral convergence (dB, of the
  re-analysed output against the target frame, as ``spectral_convergence``; lower is
  better; also after matching the overall gain) and time per sound, for
  our NSGT fast Griffin-Lim, librosa's ``griffinlim`` (via ``STFTTransformer``) and
  ``librosa.griffinlim_cqt``, all with 32 iterations and momentum 0.99.

Ratios (NSGT vs librosa STFT and CQT) are computed in the same run. Writes
``bench_transforms.json`` and ``bench_transforms.md`` to ``--output``.

Usage: ``python benchmarks/bench_transforms.py [--output benchmarks/results] [--quick]``
"""

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path

import librosa
import numpy as np

from perceptual_timbre.datasets import INSTRUMENT_PROGRAMS, render_instrument_notes
from perceptual_timbre.transforms import NSGTTransformer, STFTTransformer
from perceptual_timbre.transforms._base import _sc_db, _select_frame

SR = 22050
# librosa refuses 410 bins (the top filter would cross Nyquist): it gets 408 (30-10.7 kHz).
FMIN, BPO, N_BINS, HOP_CQT = 30.0, 48, 408, 256
N_ITER, MOMENTUM = 32, 0.99


def librosa_cqt_frames(x):
    C = librosa.cqt(x, sr=SR, hop_length=HOP_CQT, fmin=FMIN, n_bins=N_BINS, bins_per_octave=BPO)
    return np.abs(C).T


def _gain_match(estimate, target):
    # librosa's icqt output comes out far too loud with these settings (x700 on the piano):
    # also report the convergence after the best overall gain, which ignores level.
    return estimate * (estimate @ target) / max(estimate @ estimate, 1e-300)


def timed(fn, repeat=1):
    fn()  # warm-up (numba, caches)
    start = time.perf_counter()
    for _ in range(repeat):
        out = fn()
    return (time.perf_counter() - start) / repeat, out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="benchmarks/results")
    parser.add_argument("--quick", action="store_true", help="fewer notes (smoke run)")
    args = parser.parse_args(argv)
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    warnings.filterwarnings("ignore", message="Q-factor too high")
    warnings.filterwarnings("ignore", category=UserWarning, module="librosa")

    names = list(INSTRUMENT_PROGRAMS)[: 4 if args.quick else 12]
    # C4 held 1 s, then 0.2 s of release (the renderer holds 3/4 of the duration)
    notes = list(render_instrument_notes(names, pitches=(60,), velocities=(100,),
                                         duration=1.0 / 0.75, sr=SR).audio[:, : int(1.2 * SR)]
                 .astype(np.float64))
    gla_notes = notes[: 1 if args.quick else 2]  # librosa's CQT GLA takes ~30 s per sound

    nsgt = NSGTTransformer(n_iter=N_ITER, momentum=MOMENTUM, random_state=0).fit(notes)
    stft = STFTTransformer(n_iter=N_ITER, momentum=MOMENTUM, random_state=0).fit(notes)

    results = {"throughput_sounds_per_s": {}, "gla": {}}
    t, _ = timed(lambda: nsgt.transform(notes))
    results["throughput_sounds_per_s"]["nsgt_cqt (ours)"] = len(notes) / t
    t, _ = timed(lambda: stft.transform(notes))
    results["throughput_sounds_per_s"]["librosa_stft"] = len(notes) / t
    t, _ = timed(lambda: [_select_frame(librosa_cqt_frames(x), "stable") for x in notes])
    results["throughput_sounds_per_s"]["librosa_cqt"] = len(notes) / t

    def record(key, pairs, seconds):
        results["gla"][key] = {
            "sc_db_mean": float(np.mean([_sc_db(g, t) for g, t in pairs])),
            "sc_db_gain_matched_mean": float(np.mean([_sc_db(_gain_match(g, t), t)
                                                      for g, t in pairs])),
            "s_per_sound": seconds / len(pairs),
        }

    for key, est in (("nsgt_cqt (ours)", nsgt), ("librosa_stft", stft)):
        S = est.transform(gla_notes)
        start = time.perf_counter()
        got = est._transform(est.inverse_transform(S), "stable")  # as spectral_convergence
        record(key, list(zip(got, S, strict=True)), time.perf_counter() - start)

    pairs, start = [], time.perf_counter()
    for x in gla_notes:
        target = _select_frame(librosa_cqt_frames(x), "stable")
        n_frames = 1 + SR // HOP_CQT
        y = librosa.griffinlim_cqt(
            np.repeat(target[:, None], n_frames, axis=1), sr=SR, hop_length=HOP_CQT, fmin=FMIN,
            bins_per_octave=BPO, n_iter=N_ITER, momentum=MOMENTUM, random_state=0, length=SR,
        )
        pairs.append((_select_frame(librosa_cqt_frames(y), "stable"), target))
    record("librosa_cqt", pairs, time.perf_counter() - start)

    thr, gla = results["throughput_sounds_per_s"], results["gla"]
    ours = "nsgt_cqt (ours)"
    results["ratios"] = {
        "throughput_nsgt_vs_librosa_cqt": thr[ours] / thr["librosa_cqt"],
        "throughput_nsgt_vs_librosa_stft": thr[ours] / thr["librosa_stft"],
        "gla_time_nsgt_vs_librosa_cqt": (
            gla[ours]["s_per_sound"] / gla["librosa_cqt"]["s_per_sound"]
        ),
        "gla_sc_db_nsgt_minus_librosa_cqt": (
            gla[ours]["sc_db_mean"] - gla["librosa_cqt"]["sc_db_mean"]
        ),
        "gla_sc_gain_matched_db_nsgt_minus_librosa_cqt": (
            gla[ours]["sc_db_gain_matched_mean"] - gla["librosa_cqt"]["sc_db_gain_matched_mean"]
        ),
    }
    results["setup"] = {
        "notes": names, "gla_notes": names[: len(gla_notes)], "sr": SR, "n_iter": N_ITER,
        "momentum": MOMENTUM, "cqt": {"fmin": FMIN, "bins_per_octave": BPO, "n_bins": N_BINS},
        "machine": platform.platform(), "cpus": os.cpu_count(),
    }
    (out_dir / "bench_transforms.json").write_text(json.dumps(results, indent=2))

    lines = [
        "# Spectral transformers: throughput and Griffin-Lim quality",
        "",
        f"{len(notes)} SoundFont notes (C4, 1.2 s, {SR} Hz); GLA on {len(gla_notes)} of them, "
        f"{N_ITER} iterations, momentum {MOMENTUM}. Spectral convergence: lower is better.",
        "",
        "| transform | transform (sounds/s) | GLA SC (dB) | GLA SC gain-matched (dB) "
        "| GLA time (s/sound) |",
        "|---|---:|---:|---:|---:|",
    ]
    for key in (ours, "librosa_stft", "librosa_cqt"):
        lines.append(
            f"| {key} | {thr[key]:.1f} | {gla[key]['sc_db_mean']:.1f} | "
            f"{gla[key]['sc_db_gain_matched_mean']:.1f} | {gla[key]['s_per_sound']:.2f} |"
        )
    lines += ["", "Ratios (same run):", ""]
    lines += [f"- {k}: {v:.2f}" for k, v in results["ratios"].items()]
    (out_dir / "bench_transforms.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
