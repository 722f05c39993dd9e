"""Spread of every quality check of the test suite over seeds: are the thresholds safe?

Runs the tests marked ``quality`` once per seed offset (``PERCEPTUAL_TIMBRE_TEST_SEED``), with
``PERCEPTUAL_TIMBRE_QUALITY_LOG`` set so that each ``check(...)`` of ``tests/_quality.py``
records its value instead of failing, then reports, per check, the mean, standard deviation
and worst value over the seeds, the threshold, and the margin in standard deviations. A check
is "safe" when its threshold lies at least ``--min-sigma`` (default 3) standard deviations from
the mean AND beyond the worst seed; the script exits 1 when one is not.

Not part of ``make bench`` (it trains every quality model once per seed: about 5 x 4 min of
CPU; ``--jobs 2`` runs two seeds at a time)::

    .venv/bin/python benchmarks/quality_margins.py --seeds 0 1 2 3 4 --threads 1 --jobs 2
"""

import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from _common import REPO, Timer, make_parser, markdown_table, write_results


def run_seed(seed, log, threads, extra):
    env = dict(os.environ, PERCEPTUAL_TIMBRE_TEST_SEED=str(seed),
               PERCEPTUAL_TIMBRE_QUALITY_LOG=str(log), OMP_NUM_THREADS=str(threads),
               PERCEPTUAL_TIMBRE_TEST_THREADS=str(threads))
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "quality", "-p", "no:cacheprovider",
           *extra]
    return subprocess.run(cmd, cwd=REPO, env=env).returncode


def summarize(records, min_sigma):
    groups = defaultdict(list)
    for r in records:
        groups[(r["test"], r["what"], r["op"], r["threshold"])].append(r["value"])
    rows = []
    for (test, what, op, threshold), values in sorted(groups.items()):
        v = np.asarray(values)
        higher = op.startswith(">")
        worst = v.min() if higher else v.max()
        gap = (v.mean() - threshold) if higher else (threshold - v.mean())
        sigma = gap / v.std() if v.std() > 0 else np.inf
        beyond_worst = (worst > threshold) if higher else (worst < threshold)
        rows.append({"test": test.split("::", 1)[-1], "check": f"{what} {op} {threshold:g}",
                     "seeds": len(v), "mean": v.mean(), "std": v.std(), "worst": worst,
                     "margin (std)": sigma,
                     "safe": bool(beyond_worst and sigma >= min_sigma)})
    return rows


def main():
    parser = make_parser(__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--min-sigma", type=float, default=3.0)
    parser.add_argument("--jobs", type=int, default=1, help="seeds run at the same time")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (test files)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, Timer() as t:
        logs = [Path(tmp) / f"seed{seed}.jsonl" for seed in args.seeds]
        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(lambda sl: run_seed(*sl, args.threads, args.pytest_args),
                          zip(args.seeds, logs)))
        records = [json.loads(line) for log in logs if log.exists()
                   for line in log.read_text().splitlines()]
    if not records:
        print("no quality check ran (see the pytest output above)", file=sys.stderr)
        return 2
    rows = summarize(records, args.min_sigma)
    unsafe = [r for r in rows if not r["safe"]]
    # test ids and check names as code: they hold underscores and brackets
    table = markdown_table([{**r, "test": f"`{r['test']}`", "check": f"`{r['check']}`"}
                            for r in rows])
    text = (f"{len(rows)} quality checks over seeds {args.seeds} on {args.threads} thread(s); "
            f"safe = threshold beyond the worst seed and >= {args.min_sigma:g} std from the "
            f"mean. Unsafe: {len(unsafe)}.\n\n" + table)
    write_results(args.output, "quality_margins",
                  {"seeds": args.seeds, "threads": args.threads, "rows": rows,
                   "seconds": t.seconds},
                  title="Quality test margins", sections=[("Checks", text)])
    print(text)
    return 1 if unsafe else 0


if __name__ == "__main__":
    sys.exit(main())
