"""Seeds and thresholds for the quality tests (tests marked ``quality``).

A seed fixes a fit on one CPU and torch build only: another machine (another CPU, another
thread count) trains a different model. So every quality threshold keeps a documented margin
below the spread of its value over seeds, and that margin is checked, not assumed:

* ``PERCEPTUAL_TIMBRE_TEST_SEED=k`` shifts every ``random_state`` of the quality tests by
  ``k`` (``seed(i)`` returns ``i + k``); ``.ci/run`` runs the quality tests a second time with
  another ``k`` on one thread, which is what another machine looks like.
* ``check(value, ">", threshold, "what")`` asserts with a message that names the value and
  the threshold. With ``PERCEPTUAL_TIMBRE_QUALITY_LOG=path`` set, it appends the value to that
  JSON-lines file and does not fail, so that ``benchmarks/quality_margins.py`` can run the
  quality tests over several seeds and report each check's mean, spread and margin
  (``benchmarks/results/quality_margins.md``). A threshold must sit at least 3 standard
  deviations (over 5 seeds) below the mean, and below the worst seed.
"""

import json
import operator
import os

SEED = int(os.environ.get("PERCEPTUAL_TIMBRE_TEST_SEED", "0"))
_LOG = os.environ.get("PERCEPTUAL_TIMBRE_QUALITY_LOG")
_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def seed(k=0):
    """The ``random_state`` of a quality test: ``k`` shifted by PERCEPTUAL_TIMBRE_TEST_SEED."""
    return SEED + k


def check(value, op, threshold, what):
    """Assert ``value op threshold`` (a quality number of a trained model), or log it."""
    value, threshold = float(value), float(threshold)
    ok = _OPS[op](value, threshold)
    if _LOG:
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" ", 1)[0]
        with open(_LOG, "a") as f:
            f.write(json.dumps({"test": test, "what": what, "value": value, "op": op,
                                "threshold": threshold, "seed": SEED, "ok": ok}) + "\n")
        return
    assert ok, f"{what}: {value:.4g} is not {op} {threshold:.4g} (seed offset {SEED})"
