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

Ratios (NSGT vs librosa STFT and CQT) are computed in the same run.

Speed of the torch backend (issue 13), also in the same run:

- NSGT-CQT forward + exact inverse of 100 one-second notes (12 instruments, 7 pitches, 2
  dynamics): the batched torch transform (``TorchNSGT``, single precision, default torch
  threads) against the per-signal ``nsgt`` loop (``forward`` then ``backward``, set-ups built
  beforehand for both), with the difference of the torch coefficients and audio to nsgt's;
- fast Griffin-Lim, 100 iterations, momentum 0.99, one sustained 1 s tone per note on 12
  notes: ``NSGTTransformer(backend="torch")`` (all notes in one batch) against
  ``backend="nsgt"`` (today's per-signal path), and ``STFTTransformer(backend="torch")``
  against ``backend="librosa"``; spectral convergence of each output, re-analysed by the same
  (torch) analysis;
- the same on CUDA when a GPU is present (skipped otherwise).

Writes ``bench_transforms.json`` and ``bench_transforms.md`` to ``--output``.

Usage: ``python benchmarks/bench_transforms.py [--output benchmarks/results] [--quick]``
(``--quick``: 4 notes for the comparisons, 20 notes and 2 x 10 Griffin-Lim iterations for
the speed part).
"""

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import librosa
import numpy as np
import torch

from perceptual_timbre.datasets import INSTRUMENT_PROGRAMS, render_instrument_notes
from perceptual_timbre.transforms import NSGTTransformer, STFTTransformer
from perceptual_timbre.transforms import _torch_nsgt as tnsgt
from perceptual_timbre.transforms._base import _sc_db, _select_frame
from perceptual_timbre.transforms._torch_nsgt import TorchNSGT, chunks
from perceptual_timbre.utils._torch import cpu_threads

SR = 22050
# librosa refuses 410 bins (the top filter would cross Nyquist): it gets 408 (30-10.7 kHz).
FMIN, BPO, N_BINS, HOP_CQT = 30.0, 48, 408, 256
N_ITER, MOMENTUM = 32, 0.99
# torch intra-op threads tried for the CPU speed rows (the reference paths are one thread)
THREADS = (1, 2)


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


def _db(estimate, reference):
    return float(20 * np.log10(np.linalg.norm(estimate - reference) / np.linalg.norm(reference)))


def nsgt_speed(notes, device="cpu"):
    """Forward + inverse of all notes: batched torch vs the per-signal nsgt loop."""
    est = NSGTTransformer(backend="nsgt").fit(notes)
    length = notes.shape[1]
    ref = est._get_nsgt(length)  # set-ups built outside the timings
    tn = TorchNSGT(ref)
    dev = torch.device(device)

    def new():
        coefs, audio = [], []
        x_all = torch.as_tensor(notes, dtype=torch.float32)
        for part in chunks(len(notes), tn.n_bins * tn.n_frames):
            C = tn.forward(x_all[part].to(dev), dtype=torch.float32)
            audio.append(tn.backward(C).cpu())
            coefs.append(C.cpu())
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return torch.cat(coefs).numpy(), torch.cat(audio).numpy()

    def old():
        coefs = [np.asarray(ref.forward(x)) for x in notes]
        return np.stack(coefs), np.stack([ref.backward(c) for c in coefs])

    start = time.perf_counter()
    c_old, a_old = old()
    t_old = time.perf_counter() - start
    rows = []
    for threads in THREADS if dev.type == "cpu" else (torch.get_num_threads(),):
        with cpu_threads(threads):
            t_new, (c_new, a_new) = timed(new)
        rows.append({
            "n_notes": len(notes), "seconds_per_note": length / SR, "device": str(dev),
            "torch_threads": threads, "torch_s": t_new, "nsgt_loop_s": t_old,
            "speedup": t_old / t_new, "forward_diff_db": _db(c_new, c_old),
            "inverse_diff_db": _db(a_new, a_old),
        })
    return rows


def gla_speed(notes, n_iter, device="cpu"):
    """Griffin-Lim of one sustained tone per note: new (torch, batched) vs old path."""
    rows, default_threads = {}, tnsgt.TORCH_CPU_THREADS
    analysis = NSGTTransformer(device=device).fit(notes)
    stft_analysis = STFTTransformer(device=device).fit(notes)
    cases = [
        ("nsgt_cqt", NSGTTransformer, "nsgt", analysis),
        ("stft", STFTTransformer, "librosa", stft_analysis),
    ]
    for name, cls, reference, measure in cases:
        S = measure.transform(notes)
        runs = [(reference, None)] if device == "cpu" else []
        runs += [("torch", t) for t in (THREADS if device == "cpu" else (None,))]
        out = []
        for backend, threads in runs:
            est = cls(n_iter=n_iter, momentum=MOMENTUM, random_state=0, backend=backend,
                      device=device).fit(notes)
            tnsgt.TORCH_CPU_THREADS = threads  # the estimators' own CPU thread setting
            if device != "cpu":
                est.inverse_transform(S[:1])  # warm-up: CUDA context, FFT plans
                torch.cuda.synchronize()
            start = time.perf_counter()
            audio = est.inverse_transform(S)
            seconds = time.perf_counter() - start
            tnsgt.TORCH_CPU_THREADS = default_threads
            got = measure._transform(audio, "stable")
            sc = float(np.mean([_sc_db(g, t) for g, t in zip(got, S, strict=True)]))
            out.append({"backend": backend, "torch_threads": threads, "s": seconds,
                        "sc_db_mean": sc})
        ref = out[0] if out and out[0]["backend"] == reference else None
        for row in out:
            if ref is not None and row is not ref:
                row["speedup"] = ref["s"] / row["s"]
                row["sc_db_minus_reference"] = row["sc_db_mean"] - ref["sc_db_mean"]
        rows[name] = out
    return rows


def speed_section(quick, cpu=True):
    names = list(INSTRUMENT_PROGRAMS)
    notes = render_instrument_notes(names, duration=1.0 / 0.75, sr=SR).audio[:, :SR]
    notes = notes.astype(np.float64)[: 20 if quick else 100]
    gla_notes = notes[np.linspace(0, len(notes) - 1, 2 if quick else 12).astype(int)]
    n_iter = 10 if quick else 100
    speed = {"gla_n_iter": n_iter, "gla_n_notes": len(gla_notes)}
    if cpu:
        speed["cpu"] = {"nsgt_forward_inverse": nsgt_speed(notes),
                        "gla": gla_speed(gla_notes, n_iter)}
    if torch.cuda.is_available():
        speed["cuda"] = {"nsgt_forward_inverse": nsgt_speed(notes, "cuda"),
                         "gla": gla_speed(gla_notes, n_iter, "cuda")}
    return speed


def speed_markdown(speed):
    fi = next(speed[d]["nsgt_forward_inverse"][0] for d in ("cpu", "cuda") if d in speed)
    lines = [
        "## Speed of the torch backend",
        "",
        f"NSGT-CQT (30-11000 Hz, 48 bins/octave) forward + inverse of {fi['n_notes']} "
        f"{fi['seconds_per_note']:.0f}-second notes (torch batched, single precision) against "
        f"the per-signal nsgt loop (one thread, double precision), same run; difference of the "
        f"torch coefficients and audio to nsgt's:",
        "",
        "| device | torch threads | torch batched (s) | nsgt loop (s) | speed-up "
        "| forward diff (dB) | inverse diff (dB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for dev in ("cpu", "cuda"):
        for r in speed.get(dev, {}).get("nsgt_forward_inverse", []):
            lines.append(f"| {dev} | {r['torch_threads']} | {r['torch_s']:.2f} | "
                         f"{r['nsgt_loop_s']:.2f} | {r['speedup']:.1f}x | "
                         f"{r['forward_diff_db']:.1f} | {r['inverse_diff_db']:.1f} |")
    lines += [
        "",
        f"Fast Griffin-Lim, {speed['gla_n_iter']} iterations, momentum {MOMENTUM}, one 1 s "
        f"tone per note on {speed['gla_n_notes']} notes (torch: all in one batch). Spectral "
        f"convergence of the re-analysed output (lower is better):",
        "",
        "| transform | path | device | torch threads | time (s) | speed-up vs reference "
        "| SC (dB) | SC minus reference (dB) |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for dev in ("cpu", "cuda"):
        for name, runs in speed.get(dev, {}).get("gla", {}).items():
            for r in runs:
                path = "torch" if r["backend"] == "torch" else f"reference ({r['backend']})"
                lines.append(
                    f"| {name} | {path} | {dev} | {r['torch_threads'] or '-'} | {r['s']:.2f} | "
                    + (f"{r['speedup']:.1f}x | " if "speedup" in r else "- | ")
                    + f"{r['sc_db_mean']:.1f} | "
                    + (f"{r['sc_db_minus_reference']:+.2f} |" if "speedup" in r else "- |")
                )
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="benchmarks/results")
    parser.add_argument("--quick", action="store_true", help="fewer notes (smoke run)")
    parser.add_argument("--cuda-only", action="store_true",
                        help="only the GPU rows of the speed section (bench_transforms_cuda.*)")
    args = parser.parse_args(argv)
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    warnings.filterwarnings("ignore", message="Q-factor too high")
    warnings.filterwarnings("ignore", category=UserWarning, module="librosa")
    if args.cuda_only:
        if not torch.cuda.is_available():
            sys.exit("--cuda-only needs a CUDA device")
        speed = speed_section(args.quick, cpu=False)
        speed["device_name"] = torch.cuda.get_device_name()
        (out_dir / "bench_transforms_cuda.json").write_text(json.dumps(speed, indent=2))
        lines = speed_markdown(speed)
        lines[0] += f" on {speed['device_name']}"
        (out_dir / "bench_transforms_cuda.md").write_text("\n".join(lines) + "\n")
        print("\n".join(lines))
        return

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
    results["speed"] = speed_section(args.quick)
    results["setup"] = {
        "notes": names, "gla_notes": names[: len(gla_notes)], "sr": SR, "n_iter": N_ITER,
        "momentum": MOMENTUM, "cqt": {"fmin": FMIN, "bins_per_octave": BPO, "n_bins": N_BINS},
        "machine": platform.platform(), "cpus": os.cpu_count(),
        "torch": torch.__version__, "quick": args.quick,
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
    lines += [""] + speed_markdown(results["speed"])
    (out_dir / "bench_transforms.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
