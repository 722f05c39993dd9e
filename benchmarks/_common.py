"""Shared helpers of the benchmark scripts: command line, timing, JSON + Markdown output.

Every ``benchmarks/bench_*.py`` is a plain script run as
``python benchmarks/bench_x.py [--output DIR] [--quick]``. It imports this module (the
script's folder is on ``sys.path``), which also puts the repository root on ``sys.path`` so
the scripts run from a checkout without installing the package.

Typical use::

    from _common import Timer, make_parser, markdown_table, write_results

    args = make_parser(__doc__).parse_args()
    with Timer() as t:
        rows = [{"case": "a", "score": 0.5}]
    write_results(args.output, "bench_x", {"rows": rows, "seconds": t.seconds},
                  title="Benchmark X", sections=[("Scores", markdown_table(rows))])
"""

import argparse
import json
import math
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_OUTPUT",
    "REPO",
    "STUDY_FAMILIES",
    "SUSPECT_STUDIES",
    "Timer",
    "environment_info",
    "format_value",
    "make_parser",
    "markdown_table",
    "to_jsonable",
    "write_results",
]

#: Root of the repository (the folder that holds ``perceptual_timbre/``).
REPO = Path(__file__).resolve().parents[1]
#: Where results go unless ``--output`` says otherwise.
DEFAULT_OUTPUT = REPO / "benchmarks" / "results"
#: The 13 shared studies by family (the folds of leave-one-family-out).
STUDY_FAMILIES = {
    "Grey": ["Grey1977", "Grey1978"],
    "Iverson": ["Iverson1993_Onset", "Iverson1993_Remainder", "Iverson1993_Whole"],
    "Lakatos": ["Lakatos2000_Comb", "Lakatos2000_Harm", "Lakatos2000_Perc"],
    "Patil": ["Patil2012_A3", "Patil2012_DX4", "Patil2012_GD4"],
    "Barthet": ["Barthet2010"],
    "McAdams": ["McAdams1995"],
}
#: Studies that agree with their siblings at about chance (../shared/data/README.md): the
#: "clean-9" are the others.
SUSPECT_STUDIES = ("Iverson1993_Onset", "Iverson1993_Remainder", "Lakatos2000_Comb", "Grey1978")

if str(REPO) not in sys.path:
    # plain scripts run from a checkout: make the package importable without installing it
    sys.path.insert(0, str(REPO))


def make_parser(description=None):
    """Argument parser with the options every benchmark script shares.

    ``--output DIR`` (default ``benchmarks/results`` of the repository; created when
    missing) and ``--quick`` (a small configuration for smoke runs). Scripts add their own
    options to the returned parser.

    Parameters
    ----------
    description : str, default=None
        Shown by ``--help`` (usually the script's docstring).

    Returns
    -------
    parser : argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT,
        help=f"folder for the JSON and Markdown results (default: {DEFAULT_OUTPUT})",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small configuration for a fast smoke run"
    )
    return parser


class Timer:
    """Wall-clock timer, as a context manager: ``with Timer() as t: ...; t.seconds``."""

    def __init__(self):
        self.seconds = float("nan")
        self._start = None

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._start
        return False


def environment_info():
    """Machine and library versions, stored with every result so numbers can be compared."""
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "numpy": np.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    for name in ("torch", "sklearn", "librosa", "scipy"):
        module = sys.modules.get(name)
        if module is not None:
            info[name] = getattr(module, "__version__", "?")
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
    return info


def to_jsonable(value):
    """Convert numpy scalars/arrays, paths and non-finite floats to plain JSON values."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN/inf
    if isinstance(value, Path):
        return str(value)
    return value


def format_value(value, digits=3):
    """A table cell: floats rounded to ``digits`` decimals, NaN/None as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return "—"
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(rows, columns=None, *, digits=3):
    """A GitHub-flavoured Markdown table of a list of dicts.

    Parameters
    ----------
    rows : list of dict
    columns : list of str, default=None
        Column order; default: the keys of the first row.
    digits : int, default=3
        Decimals of float cells.

    Returns
    -------
    table : str
    """
    if not rows:
        return "_(no rows)_\n"
    columns = list(rows[0]) if columns is None else list(columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        cells = [format_value(row.get(c), digits).replace("|", "\\|") for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def dumps(obj):
    """JSON indented by 2, with every list of numbers or strings on one line.

    ``indent=2`` alone puts each number of the per-seed score arrays on a line of its own
    (bench_listening's results passed 1 MB that way).
    """
    text = json.dumps(obj, indent=2)
    # a JSON string never holds a raw newline, so ",<newline>" only separates items
    return re.sub(r"\[\s*\n\s*([^\[\]{}]*?)\s*\n\s*\]",
                  lambda m: "[" + re.sub(r",\s*\n\s*", ", ", m.group(1)) + "]", text)


def write_results(output, name, payload, *, title, sections, intro=None):
    """Write ``<output>/<name>.json`` and ``<output>/<name>.md``.

    Parameters
    ----------
    output : path-like
        Results folder (created when missing).
    name : str
        File stem, usually the script's stem (``bench_perceptual``).
    payload : dict
        Machine-readable results; ``environment`` is added when absent.
    title : str
        Markdown heading of the report.
    sections : list of (str, str)
        ``(heading, markdown body)`` pairs, in order.
    intro : str, default=None
        Paragraph under the title.

    Returns
    -------
    json_path, md_path : pathlib.Path
    """
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    payload = dict(payload)
    payload.setdefault("environment", environment_info())
    json_path = output / f"{name}.json"
    json_path.write_text(dumps(to_jsonable(payload)) + "\n")
    parts = [f"## {title}\n"]
    if intro:
        parts.append(intro.strip() + "\n")
    for heading, body in sections:
        parts.append(f"### {heading}\n\n{body.strip()}\n")
    md_path = output / f"{name}.md"
    md_path.write_text("\n".join(parts))
    return json_path, md_path
