"""Run every benchmark script and gather their Markdown into one RESULTS.md.

Each ``bench_*.py`` next to this file runs in its own subprocess (a crash or a leaked
thread setting cannot affect the others) as ``python bench_x.py --output OUTPUT [--quick]``,
with the repository root on ``PYTHONPATH`` (and ``PERCEPTUAL_TIMBRE_DATA`` pointing at
``../shared/data`` when it is unset and that folder exists). The Markdown files each script
writes (or rewrites) in OUTPUT are then concatenated, in script order, into
``OUTPUT/RESULTS.md`` (headings shifted so that each report starts at ``##``), and a summary
(exit status and wall time per script) goes to ``OUTPUT/run_all.json``. A failing script
does not stop the others; its section of RESULTS.md shows the end of its error output, and
the exit status of ``run_all.py`` is 1.

``make bench`` runs ``python benchmarks/run_all.py --output benchmarks/results``.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from _common import REPO, Timer, environment_info, make_parser

HERE = Path(__file__).resolve().parent
RESULTS_NAME = "RESULTS.md"
SUMMARY_NAME = "run_all.json"
# characters of a failed script's stderr quoted in RESULTS.md
_ERROR_TAIL = 3000


def discover(folder, pattern="bench_*.py"):
    """Benchmark scripts in ``folder`` matching ``pattern``, sorted by name."""
    return sorted(p for p in Path(folder).glob(pattern) if p.is_file())


def _markdown_state(output):
    """Modification time of every Markdown report in ``output`` (RESULTS.md excluded)."""
    return {
        p.name: p.stat().st_mtime_ns
        for p in Path(output).glob("*.md")
        if p.name != RESULTS_NAME
    }


def _script_env():
    env = dict(os.environ)
    paths = [str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    # as the Makefile does: the shared research data next to the checkout, unless set
    shared = REPO.parent / "shared" / "data"
    if not env.get("PERCEPTUAL_TIMBRE_DATA") and shared.is_dir():
        env["PERCEPTUAL_TIMBRE_DATA"] = str(shared)
    return env


def _nest(text, level=2):
    """Shift Markdown headings so the report's top heading is at ``level`` (## by default).

    Reports are concatenated under RESULTS.md's single ``#`` title; lines inside code
    fences are left alone.
    """
    lines, fence, levels = text.splitlines(), False, []
    for line in lines:
        if line.lstrip().startswith("```"):
            fence = not fence
        elif not fence and (m := re.match(r"^(#{1,6})\s", line)):
            levels.append(len(m.group(1)))
    shift = level - min(levels) if levels else 0
    if shift <= 0:
        return text
    out, fence = [], False
    for line in lines:
        if line.lstrip().startswith("```"):
            fence = not fence
        elif not fence and re.match(r"^#{1,6}\s", line):
            line = "#" * shift + line
        out.append(line)
    return "\n".join(out)


def run_script(script, output, *, quick=False, timeout=None, python=sys.executable):
    """Run one benchmark script; return its record and the Markdown files it wrote.

    Returns
    -------
    record : dict
        ``script``, ``returncode`` (None on timeout), ``seconds``, ``markdown`` (file names,
        in name order) and ``stderr_tail`` (failures only).
    """
    before = _markdown_state(output)
    cmd = [python, str(script), "--output", str(output)] + (["--quick"] if quick else [])
    print(f"[run_all] {' '.join(cmd)}", flush=True)
    stderr_tail = ""
    with Timer() as t:
        try:
            proc = subprocess.run(
                cmd, cwd=REPO, env=_script_env(), stdout=None, stderr=subprocess.PIPE,
                text=True, timeout=timeout, check=False,
            )
            returncode = proc.returncode
            stderr = proc.stderr or ""
        except subprocess.TimeoutExpired as exc:
            returncode = None
            stderr = (exc.stderr or b"").decode() if isinstance(exc.stderr, bytes) else (
                exc.stderr or ""
            )
            stderr += f"\n[run_all] timed out after {timeout} s"
    # the script's own stderr (progress, warnings) still reaches the console
    sys.stderr.write(stderr)
    if returncode != 0:
        stderr_tail = stderr[-_ERROR_TAIL:]
    after = _markdown_state(output)
    written = sorted(name for name, mtime in after.items() if before.get(name) != mtime)
    status = "ok" if returncode == 0 else f"FAILED (exit {returncode})"
    print(f"[run_all] {script.name}: {status} in {t.seconds:.1f} s", flush=True)
    return {
        "script": script.name,
        "returncode": returncode,
        "seconds": round(t.seconds, 2),
        "markdown": written,
        "stderr_tail": stderr_tail,
    }


def concatenate(records, output, *, quick=False):
    """Write ``OUTPUT/RESULTS.md`` from the records of :func:`run_script`; return its path."""
    output = Path(output)
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `benchmarks/run_all.py{' --quick' if quick else ''}` on "
        f"{time.strftime('%Y-%m-%d %H:%M')} ({os.cpu_count()} CPU cores, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}). Ratios and "
        f"comparisons are computed within one run of each script.",
        "",
        "| script | status | wall time (s) |",
        "|---|---|---|",
    ]
    for rec in records:
        status = "ok" if rec["returncode"] == 0 else (
            "timed out" if rec["returncode"] is None else f"failed (exit {rec['returncode']})"
        )
        lines.append(f"| {rec['script']} | {status} | {rec['seconds']:.1f} |")
    lines.append("")
    for rec in records:
        for name in rec["markdown"]:
            lines += [_nest((output / name).read_text(encoding="utf-8")).rstrip(), ""]
        if rec["returncode"] != 0:
            lines += [
                f"## {rec['script']}: no results",
                "",
                "The script did not finish; the end of its error output:",
                "",
                "```",
                rec["stderr_tail"].rstrip(),
                "```",
                "",
            ]
        elif not rec["markdown"]:
            lines += [f"## {rec['script']}", "", "_(wrote no Markdown report)_", ""]
    path = output / RESULTS_NAME
    path.write_text("\n".join(lines))
    return path


def main(argv=None):
    parser = make_parser(__doc__)
    parser.add_argument(
        "--benchmarks-dir", type=Path, default=HERE,
        help="folder searched for bench_*.py scripts (default: this script's folder)",
    )
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds allowed per script (default: none)"
    )
    args = parser.parse_args(argv)
    output = args.output.resolve()
    output.mkdir(parents=True, exist_ok=True)
    scripts = discover(args.benchmarks_dir)
    if not scripts:
        parser.error(f"no bench_*.py scripts found in {args.benchmarks_dir}")
    records = [
        run_script(s, output, quick=args.quick, timeout=args.timeout) for s in scripts
    ]
    path = concatenate(records, output, quick=args.quick)
    summary = {"quick": args.quick, "scripts": records, "environment": environment_info()}
    (output / SUMMARY_NAME).write_text(json.dumps(summary, indent=2) + "\n")
    failed = [r["script"] for r in records if r["returncode"] != 0]
    print(f"[run_all] wrote {path}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
