"""Participants' response CSVs -> :class:`ListeningRatings` (:func:`read_responses`)."""

import csv
import math
import os
from pathlib import Path

import numpy as np

from ..exceptions import DataNotFoundError, ParameterError
from ..utils.validation import Ratings
from ._design import ExperimentDesign
from ._write import _read_manifest

__all__ = ["ListeningRatings", "read_responses", "REQUIRED_COLUMNS"]

#: Columns every response file must have (the page also writes ``repeat``,
#: ``response_time_ms`` and ``timestamp``; other columns are kept but not used).
REQUIRED_COLUMNS = ("participant", "trial", "sound_a", "sound_b", "rating")


class ListeningRatings(Ratings):
    """:class:`~perceptual_timbre.utils.Ratings` read from a listening test.

    A ``Ratings`` (fit estimators with it directly), with ``counts`` the number of
    responses behind each pair (0 = not rated) and two extra attributes.

    Attributes
    ----------
    responses : pandas.DataFrame
        Every response: ``participant``, ``trial``, ``sound_a``, ``sound_b``, ``rating``
        (as answered), ``dissimilarity`` (rating mapped to [0, 1]), ``file`` and ``line``.
    consistency : pandas.DataFrame
        One row per participant: ``n_responses``, ``n_repeated`` (pairs answered twice or
        more), ``mean_abs_difference`` (mean absolute difference between the answers to a
        repeated pair, in [0, 1] units; NaN without repeats) and ``spearman`` (rank
        correlation of first vs. second answers over the repeated pairs; NaN with fewer
        than 3 or with constant answers).
    """

    def __init__(self, matrix, labels, counts, *, responses, consistency):
        super().__init__(matrix, labels, counts)
        self.responses = responses
        self.consistency = consistency

    def __repr__(self):
        n = int(np.triu(self.counts > 0, 1).sum())
        total = self.n_items * (self.n_items - 1) // 2
        return (f"ListeningRatings(n_items={self.n_items}, rated_pairs={n}/{total}, "
                f"participants={len(self.consistency)})")


def _check_paths(paths):
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = sorted(p.glob("*.csv"))
            if not found:
                raise DataNotFoundError(f"{p} holds no .csv response files.")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise DataNotFoundError(f"response file {p} does not exist.")
    if not out:
        raise ParameterError("no response files given.")
    return out


def _experiment_info(experiment):
    """(sound ids, {trial: (a, b)} or None, scale) from a folder, manifest or design."""
    if experiment is None:
        return None, None, None
    if isinstance(experiment, ExperimentDesign):
        design, scale = experiment, None
    else:
        if isinstance(experiment, dict):
            manifest = experiment
        else:
            _, manifest = _read_manifest(experiment)
        design, scale = ExperimentDesign.from_dict(manifest["design"]), manifest.get("scale")
    ids = design.sound_ids
    trials = {t: (ids[a], ids[b]) for t, (a, b) in enumerate(design.trials, start=1)}
    return ids, trials, None if scale is None else tuple(scale)


def _parse(path, scale, known, trials, seen):
    """Rows of one file as dicts, with every check naming the file and the line."""
    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise DataNotFoundError(f"cannot open response file {path}: {exc}") from None
    rows = []
    with fh:
        try:
            reader = csv.DictReader(fh)
            header = reader.fieldnames
            if not header:
                raise ParameterError(f"{path}: empty file, expected a header line with "
                                     f"columns {list(REQUIRED_COLUMNS)}.")
            header = [h.strip() for h in header]
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                raise ParameterError(
                    f"{path}: line 1 (header) lacks the column(s) {missing}; it has {header}. "
                    f"Expected at least {list(REQUIRED_COLUMNS)}."
                )
            reader.fieldnames = header
            for row in reader:
                line = reader.line_num
                where = f"{path}: line {line}"
                if None in row or any(row.get(c) is None for c in REQUIRED_COLUMNS):
                    raise ParameterError(
                        f"{where} has {len([v for v in row.values() if v is not None])} fields "
                        f"but the header has {len(header)}."
                    )
                vals = {c: row[c].strip() for c in REQUIRED_COLUMNS}
                if not any(vals.values()):
                    continue  # a blank line
                rows.append(_check_row(vals, where, scale, known, trials, seen, path, line))
        except csv.Error as exc:
            raise ParameterError(
                f"{path}: line {reader.line_num}: not valid CSV ({exc})."
            ) from None
        except UnicodeDecodeError as exc:
            raise ParameterError(f"{path}: not UTF-8 text ({exc}).") from None
    if not rows:
        raise ParameterError(f"{path}: no responses (only a header).")
    return rows


def _check_row(vals, where, scale, known, trials, seen, path, line):
    participant = vals["participant"]
    if not participant:
        raise ParameterError(f"{where}: empty participant id.")
    try:
        trial = int(vals["trial"])
    except ValueError:
        raise ParameterError(f"{where}: trial must be a whole number, got {vals['trial']!r}.") \
            from None
    if trial < 1:
        raise ParameterError(f"{where}: trial must be >= 1, got {trial}.")
    a, b = vals["sound_a"], vals["sound_b"]
    for name, s in (("sound_a", a), ("sound_b", b)):
        if not s:
            raise ParameterError(f"{where}: empty {name}.")
        if known is not None and s not in known:
            shown = sorted(known)[:6]
            raise ParameterError(
                f"{where}: unknown sound id {s!r} in {name}; the experiment's ids are "
                f"{shown}{' ...' if len(known) > 6 else ''}."
            )
    if a == b:
        raise ParameterError(f"{where}: sound_a and sound_b are the same sound {a!r}.")
    if trials is not None:
        if trial not in trials:
            raise ParameterError(
                f"{where}: trial {trial} is not in the experiment, which has trials 1 to "
                f"{len(trials)}."
            )
        if {a, b} != set(trials[trial]):
            raise ParameterError(
                f"{where}: trial {trial} compares {a!r} and {b!r}, but the experiment's trial "
                f"{trial} compares {trials[trial][0]!r} and {trials[trial][1]!r}."
            )
    try:
        rating = float(vals["rating"])
    except ValueError:
        raise ParameterError(f"{where}: rating must be a number, got {vals['rating']!r}.") \
            from None
    lo, hi = scale
    if not math.isfinite(rating) or not lo <= rating <= hi:
        raise ParameterError(
            f"{where}: rating {vals['rating']!r} is outside the scale [{lo}, {hi}]."
        )
    key = (participant, trial)
    if key in seen:
        raise ParameterError(
            f"{where}: participant {participant!r} answered trial {trial} twice (first at "
            f"{seen[key]}); remove one of the two answers."
        )
    seen[key] = f"{path}: line {line}"
    return {"participant": participant, "trial": trial, "sound_a": a, "sound_b": b,
            "rating": rating, "dissimilarity": (rating - lo) / (hi - lo),
            "file": str(path), "line": line}


def _consistency(frame):
    import pandas as pd
    from scipy.stats import spearmanr

    out = []
    for participant, g in frame.groupby("participant", sort=True):
        firsts, seconds = [], []
        for _, h in g.sort_values("trial").groupby("pair", sort=False):
            if len(h) >= 2:
                firsts.append(h["dissimilarity"].iloc[0])
                seconds.append(h["dissimilarity"].iloc[1])
        firsts, seconds = np.array(firsts), np.array(seconds)
        rho = float("nan")
        if firsts.size >= 3 and np.ptp(firsts) > 0 and np.ptp(seconds) > 0:
            rho = float(spearmanr(firsts, seconds)[0])
        out.append({"participant": participant, "n_responses": len(g),
                    "n_repeated": int(firsts.size),
                    "mean_abs_difference": float(np.mean(np.abs(firsts - seconds)))
                    if firsts.size else float("nan"),
                    "spearman": rho})
    return pd.DataFrame(out).set_index("participant")


def read_responses(paths, *, experiment=None, scale=None):
    """Read participants' response CSVs into labelled ratings with per-pair counts.

    Parameters
    ----------
    paths : str, path-like or list of them
        Response files (as exported by the page of :func:`write_experiment`), or folders
        whose ``*.csv`` files are all read. Columns: at least ``participant``, ``trial``,
        ``sound_a``, ``sound_b``, ``rating``; one participant may span several files
        (e.g. a resumed session), but no trial may be answered twice. Lines whose fields
        are all empty (spreadsheet padding) hold no answer and are skipped; every other
        line is an answer or an error.
    experiment : str, path-like, dict or ExperimentDesign, default=None
        The experiment folder (or its manifest, or the design). Strongly recommended: the
        ratings then cover ALL its sounds (unrated pairs count 0), unknown sound ids are
        errors, each trial must compare the pair the design shows at that trial, and the
        scale comes from the manifest. Without it the sounds are those named in the
        files.
    scale : (float, float), default=None
        Range of the ratings; default: the manifest's, else (0, 100).

    Returns
    -------
    ratings : ListeningRatings
        A :class:`~perceptual_timbre.utils.Ratings` whose ``matrix`` holds, per pair, the
        mean over participants of each participant's mean answer, mapped from ``scale`` to
        [0, 1] (0 for unrated pairs); ``counts`` the number of answers per pair; plus
        ``responses`` and per-participant ``consistency`` on the repeated pairs.

    Raises
    ------
    DataNotFoundError
        For a missing file or a folder without CSV files.
    ParameterError
        For missing columns, unknown sound ids, a trial that is not the design's, ratings
        that are not numbers or outside the scale, a trial answered twice, or a file without
        responses. Every message names the file and the line; no row is dropped silently.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from perceptual_timbre.listening import read_responses
    >>> text = ("participant,trial,sound_a,sound_b,rating\\n"
    ...         "p1,1,oboe,flute,80\\np1,2,flute,horn,20\\np1,3,flute,oboe,70\\n")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "p1.csv"
    ...     _ = path.write_text(text)
    ...     r = read_responses(path)
    >>> r
    ListeningRatings(n_items=3, rated_pairs=2/3, participants=1)
    >>> r.to_frame().round(2)
           flute  horn  oboe
    flute   0.00   0.2  0.75
    horn    0.20   0.0  0.00
    oboe    0.75   0.0  0.00
    >>> r.counts[0].tolist(), float(r.consistency.loc["p1", "mean_abs_difference"])
    ([0.0, 1.0, 2.0], 0.1)
    """
    import pandas as pd

    files = _check_paths(paths)
    ids, trials, manifest_scale = _experiment_info(experiment)
    if scale is None:
        scale = manifest_scale if manifest_scale is not None else (0, 100)
    try:
        lo, hi = float(scale[0]), float(scale[1])
    except (TypeError, ValueError, IndexError):
        raise ParameterError(f"scale must be (low, high), got {scale!r}.") from None
    if not lo < hi:
        raise ParameterError(f"scale must be (low, high) with low < high, got {scale!r}.")
    known = None if ids is None else set(ids)
    seen = {}
    rows = []
    for f in files:
        rows += _parse(f, (lo, hi), known, trials, seen)
    frame = pd.DataFrame(rows)
    if ids is None:
        ids = sorted(set(frame["sound_a"]) | set(frame["sound_b"]))
    pos = {s: i for i, s in enumerate(ids)}
    ia = frame["sound_a"].map(pos).to_numpy()
    ib = frame["sound_b"].map(pos).to_numpy()
    frame["pair"] = [f"{min(i, j)}-{max(i, j)}" for i, j in zip(ia, ib)]
    n = len(ids)
    counts = np.zeros((n, n))
    np.add.at(counts, (ia, ib), 1)
    counts = counts + counts.T
    # each participant's mean per pair, then the mean over participants
    per = frame.assign(i=np.minimum(ia, ib), j=np.maximum(ia, ib)).groupby(
        ["i", "j", "participant"])["dissimilarity"].mean().groupby(["i", "j"]).mean()
    matrix = np.zeros((n, n))
    ii = per.index.get_level_values(0).to_numpy()
    jj = per.index.get_level_values(1).to_numpy()
    matrix[ii, jj] = per.to_numpy()
    matrix[jj, ii] = per.to_numpy()
    consistency = _consistency(frame)
    return ListeningRatings(matrix, ids, counts, responses=frame.drop(columns="pair"),
                            consistency=consistency)
