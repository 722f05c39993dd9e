"""Download of the timbremetrics studies, verified against bundled sha256 checksums."""

import hashlib
import json
import logging
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from importlib import resources
from pathlib import Path

from sklearn.utils import Bunch

from ..exceptions import DataNotFoundError, ParameterError
from ._base import get_data_home

__all__ = ["TIMBREMETRICS_URL", "download_timbre_studies"]

logger = logging.getLogger(__name__)

#: Public source of the timbremetrics layout (Tian et al.), read as ``base_url + path``.
TIMBREMETRICS_URL = "https://raw.githubusercontent.com/tiianhk/timbremetrics/main/"

_MANIFEST = "timbremetrics_manifest.json"


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _load_manifest():
    """``{relative path: {"sha256", "size", "study"}}`` of every file of the 13 studies."""
    text = (resources.files(__package__) / "data" / _MANIFEST).read_text(encoding="utf-8")
    return json.loads(text)["files"]


def _make_manifest(data_home):  # pragma: no cover - maintenance helper
    """Rebuild the manifest from a complete local copy (``data_home/timbremetrics``)."""
    home = get_data_home(data_home)
    files = {}
    for p in sorted((home / "timbremetrics").rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            rel = p.relative_to(home).as_posix()
            kind, name = rel.split("/")[1], p.name
            study = p.parent.name if kind == "sounds" else name.split("_dissimilarity_matrix")[0]
            files[rel] = {"sha256": _sha256(p), "size": p.stat().st_size, "study": study}
    return {"source": TIMBREMETRICS_URL, "files": files}


def download_timbre_studies(data_home=None, base_url=TIMBREMETRICS_URL, studies=None, *,
                            timeout=60):
    """Download the timbre studies (matrices and stimuli) into the data home.

    Files are fetched as ``base_url + relative path`` (the ``timbremetrics/true_dissim``
    and ``timbremetrics/sounds/<Study>`` layout) and checked against sha256 checksums
    bundled with the package. Files already present with the right checksum are skipped,
    so an interrupted download resumes.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Destination, see :func:`get_data_home`; created if needed.
    base_url : str, default=TIMBREMETRICS_URL
        ``http(s)://`` or ``file://`` URL of a folder holding ``timbremetrics/``.
    studies : list of str, default=None
        Studies to fetch; all 13 by default.
    timeout : float, default=60
        Seconds before a stalled connection is abandoned.

    Returns
    -------
    result : sklearn.utils.Bunch
        ``data_home`` (pathlib.Path), ``downloaded`` and ``skipped`` (lists of relative
        paths).

    Raises
    ------
    ParameterError
        For an unknown study or a URL that is not http(s) or file.
    DataNotFoundError
        If a file cannot be fetched or its checksum differs (the partial file is removed).

    Examples
    --------
    >>> from perceptual_timbre.datasets import download_timbre_studies
    >>> download_timbre_studies("~/perceptual_timbre_data")  # doctest: +SKIP
    """
    manifest = _load_manifest()
    known = sorted({entry["study"] for entry in manifest.values()})
    if studies is None:
        studies = known
    elif isinstance(studies, str):
        studies = [studies]
    unknown = sorted(set(studies) - set(known))
    if unknown:
        raise ParameterError(f"unknown timbre studies {unknown}; choose among {known}.")
    scheme = urllib.parse.urlsplit(base_url).scheme
    if scheme not in ("http", "https", "file"):
        raise ParameterError(f"base_url must be an http(s):// or file:// URL, got {base_url!r}.")
    if not base_url.endswith("/"):
        base_url += "/"
    home = get_data_home(data_home)
    downloaded, skipped = [], []
    for rel, entry in manifest.items():
        if entry["study"] not in studies:
            continue
        target = home / rel
        if target.is_file() and _sha256(target) == entry["sha256"]:
            skipped.append(rel)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        url = base_url + urllib.parse.quote(rel)
        part = target.with_name(target.name + ".part")
        logger.info("downloading %s", url)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as fh:
                shutil.copyfileobj(response, fh)
        except (urllib.error.URLError, OSError) as exc:
            part.unlink(missing_ok=True)
            raise DataNotFoundError(f"could not download {url}: {exc}") from None
        digest = _sha256(part)
        if digest != entry["sha256"]:
            part.unlink()
            raise DataNotFoundError(
                f"checksum mismatch for {url}: sha256 {digest}, expected {entry['sha256']}; "
                f"the file is corrupted or the source changed. Nothing was written to {target}."
            )
        os.replace(part, target)
        downloaded.append(rel)
    return Bunch(data_home=Path(home), downloaded=downloaded, skipped=skipped)
