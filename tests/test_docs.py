"""Build the documentation with warnings as errors (the gallery pages without executing them).

The gallery scripts themselves are executed by ``tests/test_examples.py``; ``make docs`` runs
them inside the build. Skipped when Sphinx (the ``docs`` extra) is not installed.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("numpydoc")
    pytest.importorskip("sphinx_gallery")
    pytest.importorskip("pydata_sphinx_theme")
    env = dict(os.environ, PERCEPTUAL_TIMBRE_DOCS_GALLERY="0", MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(REPO / "docs"), str(tmp_path / "html")],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-6000:]
    html = tmp_path / "html"
    # every user-guide page, the API reference and the gallery index were written
    for page in ["index", "getting_started", "api", "results", "auto_examples/index",
                 "user_guide/regularizer", "user_guide/transforms", "user_guide/datasets",
                 "user_guide/metrics", "user_guide/synthesis"]:
        assert (html / f"{page}.html").is_file(), page
    api = (html / "api.html").read_text(encoding="utf-8")
    for name in ["PerceptualVAE", "NSGTTransformer", "load_timbre_study",
                 "make_perceptual_scorer", "DescriptorPathSynthesizer"]:
        assert name in api, name
    # one page per example script
    for script in (REPO / "examples").glob("plot_*.py"):
        assert (html / "auto_examples" / f"{script.stem}.html").is_file(), script.name
