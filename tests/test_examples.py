"""Run every gallery script end to end, in a subprocess, in fast mode.

``PERCEPTUAL_TIMBRE_FAST=1`` makes the examples use fewer notes and epochs; every script still
runs from its first line to its last, on the real data (SoundFont notes, the bundled
12-instrument ratings and, where a script needs them, the shared timbre studies).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "examples").glob("plot_*.py"))
# Each example must finish well within this in fast mode (the whole file stays under ~4 min).
TIMEOUT = 150


def _needs_studies(path):
    return re.search(r"load_timbre_study|list_timbre_studies|combine_studies|fit_perceptual_metric",
                     path.read_text(encoding="utf-8")) is not None


def _params():
    # every script is a subprocess of 9-50 s: slow (make test runs them, make test-fast not)
    for path in EXAMPLES:
        yield pytest.param(path, id=path.stem, marks=[pytest.mark.slow])


@pytest.mark.parametrize("path", list(_params()))
def test_example_runs(path, tmp_path, request):
    """The script runs end to end, writes its audio, and has a sphinx-gallery header."""
    source = path.read_text(encoding="utf-8")
    # sphinx-gallery needs a title docstring (a reST title) and `# %%` cells.
    header = re.match(r'^"""\s*\n?(.+)\n(=+)\n', source)
    assert header is not None and len(header.group(2)) >= len(header.group(1).strip()), (
        f"{path.name} must start with a docstring whose first line is an '=' underlined title"
    )
    assert "# %%" in source

    env = dict(os.environ)
    if _needs_studies(path):
        env["PERCEPTUAL_TIMBRE_DATA"] = str(request.getfixturevalue("data_home"))
    else:
        # Bundled ratings and SoundFont notes only: no data home needed.
        env.setdefault("PERCEPTUAL_TIMBRE_DATA", str(tmp_path / "no_data_home"))
    env.update(
        PERCEPTUAL_TIMBRE_FAST="1",
        PERCEPTUAL_TIMBRE_OUTPUT=str(tmp_path),
        MPLBACKEND="Agg",
        PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    env.setdefault("OMP_NUM_THREADS", "2")
    proc = subprocess.run(
        [sys.executable, str(path)], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, (
        f"{path.name} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n"
        f"{proc.stderr[-5000:]}"
    )
    if "soundfile" in source and ".wav" in source:
        wavs = list(tmp_path.rglob("*.wav"))
        assert wavs, f"{path.name} writes audio but no .wav file appeared in {tmp_path}"
        assert all(w.stat().st_size > 1000 for w in wavs)
