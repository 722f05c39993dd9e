"""Listening tests from the toolkit: design, run in a browser, read back, refit.

- :func:`design_experiment` chooses the pairs to rate (all, random, coverage, stratified or
  uncertainty) and a balanced, randomized trial order with repeated pairs;
- :func:`write_experiment` writes loudness-normalized WAV files, the trial list, a
  checksummed JSON manifest and a static HTML page that runs the test in any browser,
  offline, and exports the answers as CSV;
- :func:`read_responses` turns the participants' CSVs into
  :class:`~perceptual_timbre.utils.Ratings` with per-pair counts (0 = not rated) and
  per-participant consistency, ready for :class:`~perceptual_timbre.PerceptualMetric`.

Examples
--------
>>> from perceptual_timbre.listening import design_experiment
>>> design = design_experiment(8, n_pairs=14, random_state=0)
>>> sorted(design.pairs_per_sound().tolist())  # every sound anchors 3 or 4 pairs
[3, 3, 3, 3, 4, 4, 4, 4]
"""

from ._design import STRATEGIES, ExperimentDesign, design_experiment
from ._ensemble import bootstrap_dissimilarities
from ._read import REQUIRED_COLUMNS, ListeningRatings, read_responses
from ._write import integrated_loudness, load_experiment, write_experiment

__all__ = [
    "STRATEGIES",
    "REQUIRED_COLUMNS",
    "ExperimentDesign",
    "ListeningRatings",
    "bootstrap_dissimilarities",
    "design_experiment",
    "integrated_loudness",
    "load_experiment",
    "read_responses",
    "write_experiment",
]
