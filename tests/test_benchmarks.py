"""Tests of the benchmark machinery: run_all.py, the shared helpers, and bench_perceptual.py.

run_all.py is exercised on a small folder of real (tiny) benchmark scripts; bench_perceptual.py
runs end to end in its smallest configuration on the real SoundFont notes and study data.
Every script runs in a subprocess, as ``make bench`` runs it.
"""

import importlib.util
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from _quality import check, seed

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"


def _load(name):
    """Import a module of benchmarks/ (a plain-script folder, not a package)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(args, timeout):
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    return subprocess.run(
        [sys.executable, *map(str, args)], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=timeout, check=False,
    )


# ------------------------------------------------------------------------------ _common
def test_markdown_table_and_json_conversion():
    common = _load("_common")
    rows = [{"name": "a|b", "score": 0.12345, "missing": float("nan")},
            {"name": "c", "score": np.float32(2.0), "missing": None}]
    table = common.markdown_table(rows, digits=2).splitlines()
    assert table[0] == "| name | score | missing |"
    assert table[2] == "| a\\|b | 0.12 | — |"  # pipes escaped, NaN shown as a dash
    assert table[3] == "| c | 2.00 | — |"
    payload = common.to_jsonable({"x": np.arange(3), "y": np.float64("inf"), "z": (Path("p"),)})
    assert json.loads(json.dumps(payload)) == {"x": [0, 1, 2], "y": None, "z": ["p"]}


def test_write_results_and_parser_defaults(tmp_path):
    common = _load("_common")
    args = common.make_parser().parse_args([])
    assert args.output == REPO / "benchmarks" / "results" and args.quick is False
    args = common.make_parser().parse_args(["--output", str(tmp_path / "o"), "--quick"])
    json_path, md_path = common.write_results(
        args.output, "bench_x", {"value": float("nan")}, title="X",
        sections=[("Scores", "| a |\n|---|\n| 1 |")], intro="Intro.",
    )
    data = json.loads(json_path.read_text())
    assert data["value"] is None and data["environment"]["cpu_count"] == os.cpu_count()
    assert md_path.read_text().startswith("## X\n\nIntro.\n\n### Scores\n\n| a |")


# ------------------------------------------------------------------------------ run_all
_GOOD = """
import argparse, json, pathlib, sys
p = argparse.ArgumentParser()
p.add_argument("--output")
p.add_argument("--quick", action="store_true")
a = p.parse_args()
out = pathlib.Path(a.output)
(out / "{stem}.md").write_text("## {stem} report\\n\\nquick={{}}\\n".format(a.quick))
(out / "{stem}.json").write_text(json.dumps({{"quick": a.quick}}))
"""
_TOP_LEVEL = """
import argparse, pathlib
p = argparse.ArgumentParser()
p.add_argument("--output")
p.add_argument("--quick", action="store_true")
out = pathlib.Path(p.parse_args().output)
(out / "d_top.md").write_text("# D top\\n\\n## D sub\\n\\n```\\n# not a heading\\n```\\n")
"""
_BAD = """
import sys
print("fitting went wrong: loss is nan", file=sys.stderr)
sys.exit(3)
"""


@pytest.fixture
def fake_benchmarks(tmp_path):
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    (folder / "bench_b_ok.py").write_text(textwrap.dedent(_GOOD.format(stem="b_ok")))
    (folder / "bench_a_ok.py").write_text(textwrap.dedent(_GOOD.format(stem="a_ok")))
    (folder / "bench_c_fails.py").write_text(textwrap.dedent(_BAD))
    (folder / "bench_d_top.py").write_text(textwrap.dedent(_TOP_LEVEL))
    # not a benchmark: must not run
    (folder / "helper.py").write_text("raise SystemExit('helper.py must not be run')\n")
    return folder


def test_run_all_runs_each_script_and_concatenates_in_order(tmp_path, fake_benchmarks):
    out = tmp_path / "results"
    out.mkdir()
    # a stale report of a script that no longer exists must not reach RESULTS.md
    (out / "old_report.md").write_text("## stale\n")
    proc = _run([BENCH / "run_all.py", "--benchmarks-dir", fake_benchmarks,
                 "--output", out, "--quick"], timeout=60)
    assert proc.returncode == 1, proc.stderr  # one script failed
    assert "fitting went wrong" in proc.stderr  # its stderr is passed through

    results = (out / "RESULTS.md").read_text()
    assert results.startswith("# Benchmark results")
    assert "run_all.py --quick" in results
    # both good reports, in script order, with --quick forwarded
    a, b = results.index("## a_ok report"), results.index("## b_ok report")
    assert a < b and results.count("quick=True") == 2
    assert "stale" not in results and "helper.py" not in results
    # the failing script gets a section with the end of its error output
    assert "## bench_c_fails.py: no results" in results
    assert "loss is nan" in results[results.index("bench_c_fails.py: no results"):]
    assert "| bench_c_fails.py | failed (exit 3) |" in results
    # a report with a level-1 title is nested under RESULTS.md's title; code is untouched
    assert "\n## D top\n" in results and "\n### D sub\n" in results
    assert "\n# not a heading\n" in results

    summary = json.loads((out / "run_all.json").read_text())
    assert [r["script"] for r in summary["scripts"]] == [
        "bench_a_ok.py", "bench_b_ok.py", "bench_c_fails.py", "bench_d_top.py"]
    assert [r["returncode"] for r in summary["scripts"]] == [0, 0, 3, 0]
    assert summary["scripts"][0]["markdown"] == ["a_ok.md"]
    assert json.loads((out / "a_ok.json").read_text()) == {"quick": True}


def test_run_all_without_quick_and_discovery(tmp_path, fake_benchmarks):
    run_all = _load("run_all")
    assert [p.name for p in run_all.discover(fake_benchmarks)] == [
        "bench_a_ok.py", "bench_b_ok.py", "bench_c_fails.py", "bench_d_top.py"]
    (fake_benchmarks / "bench_c_fails.py").unlink()
    out = tmp_path / "results"
    proc = _run([BENCH / "run_all.py", "--benchmarks-dir", fake_benchmarks, "--output", out],
                timeout=60)
    assert proc.returncode == 0, proc.stderr
    results = (out / "RESULTS.md").read_text()
    assert results.count("quick=False") == 2 and "no results" not in results


def test_run_all_finds_the_real_benchmarks():
    run_all = _load("run_all")
    names = [p.name for p in run_all.discover(BENCH)]
    assert "bench_perceptual.py" in names and "run_all.py" not in names
    assert "_common.py" not in names


# --------------------------------------------------------------------- bench_perceptual
@pytest.fixture(scope="module")
def perceptual_results(tmp_path_factory, data_home):
    """bench_perceptual.py in its smallest configuration (DCT spaces, quick settings)."""
    pytest.importorskip("tinysoundfont")
    out = tmp_path_factory.mktemp("bench_perceptual")
    proc = _run([BENCH / "bench_perceptual.py", "--quick", "--output", out,
                 "--transforms", "dct", "nsgt-mel", "--space-transform", "dct",
                 "--data-home", data_home, "--seed", str(seed())], timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "bench_perceptual.json").read_text()), (
        out / "bench_perceptual.md").read_text()


@pytest.mark.quality
def test_bench_perceptual_transform_comparison(perceptual_results):
    data, md = perceptual_results
    r = data["transforms"]
    assert [row["transform"] for row in r["side_by_side"]] == ["dct", "nsgt-mel"]
    assert r["n_train_notes"] == 24 and r["n_held_out_notes"] == 12  # 12 x 3 pitches, 1 held out
    for row in r["side_by_side"]:
        # the ratings organise the space: KL drops by a large factor, Spearman rises
        check(row["KL ratio (unreg / reg)"], ">", 5, f"{row['transform']}: KL ratio")
        check(row["Spearman regularized"] - row["Spearman unregularized"], ">", 0,
              f"{row['transform']}: centroid Spearman gain")
    phase = {row["transform"]: row for row in r["transforms"]}
    assert phase["dct"]["phase reconstruction SC (dB)"] < -100  # exact inverse
    assert -100 < phase["nsgt-mel"]["phase reconstruction SC (dB)"] < -10  # Griffin-Lim
    assert all(m["epochs"] == 30 for m in r["models"])
    assert "| dct |" in md and "Transform comparison (RQ2)" in md


def test_bench_perceptual_novel_instruments(perceptual_results):
    data, md = perceptual_results
    r = data["novel"]
    assert len(r["rows"]) == 12
    assert {row["held-out instrument"] for row in r["rows"]} == set(data["notes"]["instruments"])
    for col in ("VAE regularized", "VAE unregularized", "MFCC", "log spectrum"):
        values = [row[col] for row in r["rows"]]
        assert all(-1 <= v <= 1 for v in values)
        assert math.isclose(r["mean"][col], np.mean(values))
    assert "| mean |" in md


@pytest.mark.quality
def test_bench_perceptual_study_stimuli(perceptual_results):
    data, md = perceptual_results
    r = data["studies"]
    assert r["train_studies"] == ["Grey1977"]
    assert r["eval_studies"] == ["McAdams1995", "Patil2012_A3"]
    rows = {row["study"]: row for row in r["rows"]}
    assert rows["Grey1977"]["in fit"] == "yes" and rows["McAdams1995"]["in fit"] == "no"
    assert rows["McAdams1995"]["stimuli"] == 18
    for row in r["rows"]:
        for key, value in row.items():
            if key.endswith("triplet"):
                assert 0 <= value <= 1
            elif key.endswith("Spearman"):
                assert -1 <= value <= 1
    # on the study it was fitted on, the regularized space follows the ratings closely
    check(rows["Grey1977"]["VAE regularized anchor Spearman"]
          - rows["Grey1977"]["VAE unregularized anchor Spearman"], ">", 0,
          "Grey1977 anchor Spearman gain")
    held = [rows["McAdams1995"], rows["Patil2012_A3"]]
    assert math.isclose(r["mean_left_out"]["MFCC triplet"],
                        np.mean([row["MFCC triplet"] for row in held]))
    assert "mean, left out" in md


# --------------------------------------------------------------------- quality_margins
def test_quality_margins_flags_thresholds_inside_the_spread():
    summarize = _load("quality_margins").summarize
    rec = [{"test": "t.py::a", "what": "r", "op": ">", "threshold": 0.8, "value": v}
           for v in (0.90, 0.92, 0.94, 0.91, 0.93)]  # mean 0.92, std 0.014: 8.5 std above
    rec += [{"test": "t.py::b", "what": "e", "op": "<", "threshold": 1.1, "value": v}
            for v in (1.02, 1.06, 1.05, 1.04, 1.08)]  # below 1.1, but only 2.5 std
    rec += [{"test": "t.py::c", "what": "g", "op": ">", "threshold": 0.0, "value": v}
            for v in (0.3, -0.01, 0.4, 0.5, 0.6)]  # one seed fails
    rows = {r["test"]: r for r in summarize(rec, min_sigma=3)}
    assert rows["a"]["safe"] and rows["a"]["margin (std)"] == pytest.approx(8.49, abs=0.01)
    assert not rows["b"]["safe"] and rows["b"]["worst"] == pytest.approx(1.08)
    assert not rows["c"]["safe"] and rows["c"]["worst"] == pytest.approx(-0.01)


# --------------------------------------------------------------------- bench_scale
@pytest.mark.slow
def test_bench_scale_smallest_run(tmp_path):
    """Two corpus sizes, one epoch: each size in its own process, rows and growth reported."""
    proc = _run([BENCH / "bench_scale.py", "--sizes", "96", "192", "--epochs", "1",
                 "--n-jobs", "1", "--output", tmp_path], timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "bench_scale.json").read_text())
    rows = result["rows"]
    assert [r["n_programs"] for r in rows] == [1, 2]
    # 96 notes per General MIDI program (32 pitches x 3 velocities), less silent ones
    assert [r["n_notes"] + r["n_skipped"] for r in rows] == [96, 192]
    for row in rows:
        assert row["epochs"] == 1 and row["peak_memory_mb"] > row["audio_mb"] > 0
        assert row["fit_s"] > row["train_s"] > 0
    assert result["growth"][0]["render_s"] == 1.0
    assert "Growth per unit of size" in (tmp_path / "bench_scale.md").read_text()
