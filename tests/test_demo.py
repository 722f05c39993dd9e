"""The main job (``make demo``) runs end to end and writes what it promises."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from _quality import check, seed


@pytest.mark.slow
@pytest.mark.quality
def test_demo_quick_run(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "perceptual_timbre", "--quick", "--output", str(out),
         "--random-state", str(seed())],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for line in ("Spectral transforms", "pretrained teacher + ratings", "paper mode",
                 "never saw", "MFCC-40 (baseline)", "Done in"):
        assert line in proc.stdout
    for name in ("spectra.png", "spectra_per_instrument.png", "timbre_space.png",
                 "timbre_space.joblib", "path_flute_to_trumpet.wav", "path_flute_to_trumpet.png",
                 "centroid_increase_clarinet.wav", "centroid_increase_clarinet.png"):
        assert (out / name).stat().st_size > 0, name
    centroid_wavs = sorted((out / "centroids").glob("*.wav"))
    assert len(centroid_wavs) == 12
    audio, sr = sf.read(out / "path_flute_to_trumpet.wav")
    assert sr == 22050 and audio.shape[0] == 3 * sr and np.max(np.abs(audio)) > 0.1
    scores = {row["space"]: row for row in json.loads((out / "space_scores.json").read_text())}
    # even the quick run must show the ratings organising the space
    check(float(scores["regularized"]["centroid Spearman"])
          - float(scores["unregularized"]["centroid Spearman"]), ">", 0,
          "centroid Spearman, regularized - unregularized")
    # the space the demo leads with follows the 12-instrument ratings (0.84 at seed 0)
    check(float(scores["timbre space (teacher + ratings)"]["centroid Spearman"]), ">", 0.5,
          "timbre space: centroid Spearman with the ratings")
