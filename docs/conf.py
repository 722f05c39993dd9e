"""Sphinx configuration for the perceptual_timbre documentation.

Build with ``make docs`` (``sphinx -W --keep-going -b html docs docs/_build/html``).

Environment switches:

``PERCEPTUAL_TIMBRE_DOCS_GALLERY=0``
    Do not execute the example gallery (pages are still generated from the scripts).
``PERCEPTUAL_TIMBRE_FAST=1``
    The examples shrink epochs and note counts (the fast gallery mode used in CI).
"""

import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(REPO))

import perceptual_timbre  # noqa: E402

# The examples read the research data from the data home; default to the shared copy next
# to the checkout, as the Makefile does.
_shared = REPO.parent / "shared" / "data"
if "PERCEPTUAL_TIMBRE_DATA" not in os.environ and _shared.is_dir():
    os.environ["PERCEPTUAL_TIMBRE_DATA"] = str(_shared)
os.environ.setdefault("MPLBACKEND", "Agg")

project = "perceptual_timbre"
author = "perceptual_timbre developers"
copyright = "2024-2026, perceptual_timbre developers"
version = release = perceptual_timbre.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "_generated", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip"]
root_doc = "index"

# -- API reference ----------------------------------------------------------------------
# api.rst itself is generated from the modules at configuration time (see _write_api)
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = True
# Every other word of a type becomes an (unlinked) :obj: reference, so shapes such as
# "(n_features_out_,)" are not read as reST hyperlink targets.
numpydoc_xref_ignore = {"of", "or", "shape", "default", "optional", "instance", "and", "to",
                        "the", "a", "an", "with", "in", "for", "each", "one", "per", "is",
                        "same", "as", "length", "like", "any", "keyword", "only", "positive"}
# numpydoc's default aliases point into the NumPy/Python glossaries through intersphinx, which
# this offline build does not load: keep these words as plain (unlinked) references.
numpydoc_xref_aliases = {
    name: name
    for name in ("array-like", "array_like", "scalar", "bool", "boolean", "True", "False",
                 "None", "callable", "iterable", "sequence", "generator", "contextmanager",
                 "namedtuple", "dict", "list", "tuple", "str", "string", "float", "int")
}
numpydoc_validation_checks = set()

# -- Gallery ------------------------------------------------------------------------------
_run_gallery = os.environ.get("PERCEPTUAL_TIMBRE_DOCS_GALLERY", "1") not in ("0", "false", "")

sphinx_gallery_conf = {
    "examples_dirs": str(REPO / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py|_helpers\.py",
    "plot_gallery": _run_gallery,
    # IPython.display.Audio objects render as players in the built pages.
    "capture_repr": ("_repr_html_", "__repr__"),
    "ignore_repr_types": r"matplotlib[text, axes]",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
}

# -- HTML ---------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = "perceptual_timbre"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_show_sourcelink = False


# -- Results page ------------------------------------------------------------------------
def _md_inline(text):
    """Markdown inline markup to reST: code spans and bold."""
    text = re.sub(r"(?<!`)`([^`]+)`(?!`)", r"``\1``", text)
    return text


def _md_table(lines):
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    rows = [r for r in rows if not all(re.fullmatch(r":?-{2,}:?", c) for c in r if c)]
    if not rows:
        return []
    width = max(len(r) for r in rows)
    out = [".. list-table::", "   :header-rows: 1", ""]
    for row in rows:
        row = row + [""] * (width - len(row))
        out.append("   * - " + (_md_inline(row[0]) or r"\ "))
        out.extend("     - " + (_md_inline(c) or r"\ ") for c in row[1:])
    return out + [""]


def md_to_rst(markdown):
    """Convert the benchmark reports' small Markdown subset (headings, pipe tables, code
    blocks, lists, paragraphs) to reStructuredText; the top heading becomes a section."""
    underline = ["-", "~", "^", '"', "'", "+"]
    levels = [len(h) for h in re.findall(r"^(#{1,6})\s", markdown, flags=re.M)]
    level_offset = -min(levels) if levels else 0
    out, table, fence = [], [], None
    for line in markdown.splitlines():
        if fence is not None:
            if line.strip().startswith("```"):
                out.append("")
                fence = None
            else:
                out.append("   " + line)
            continue
        if line.strip().startswith("|"):
            table.append(line)
            continue
        if table:
            out.extend(_md_table(table))
            table = []
        if line.strip().startswith("```"):
            fence = True
            out.extend(["", "::", ""])
            continue
        m = re.match(r"^(#{1,6})\s+(.*)$", line)
        if m:
            title = _md_inline(m.group(2).strip())
            char = underline[min(len(m.group(1)) + level_offset, len(underline) - 1)]
            out.extend(["", title, char * max(len(title), 3), ""])
            continue
        out.append(_md_inline(line))
    if table:
        out.extend(_md_table(table))
    return "\n".join(out) + "\n"


def _write_results(app):
    """Generate docs/_generated/results_tables.rst from benchmarks/results/*.md."""
    results = REPO / "benchmarks" / "results"
    target = DOCS / "_generated" / "results_tables.rst"
    target.parent.mkdir(exist_ok=True)
    # RESULTS.md (from run_all.py) concatenates the others: include each report once
    reports = sorted(p for p in results.glob("*.md") if p.name != "RESULTS.md") if (
        results.is_dir()
    ) else []
    if reports:
        parts = []
        for path in reports:
            text = path.read_text(encoding="utf-8")
            if not re.search(r"^#{1,6}\s", text, flags=re.M):
                title = path.stem.replace("_", " ").capitalize()
                parts.append(f"{title}\n{'-' * len(title)}\n")
            parts.append(md_to_rst(text))
            parts.append(f"\n*Source:* ``benchmarks/results/{path.name}``\n\n")
        body = "\n".join(parts)
    else:
        body = (
            ".. note::\n\n"
            "   No benchmark results were found in ``benchmarks/results/``. Run ``make bench``\n"
            "   to regenerate every table, then rebuild the documentation.\n"
        )
    new = body if body.endswith("\n") else body + "\n"
    # Rewrite only on change so incremental builds stay incremental.
    if not target.exists() or target.read_text(encoding="utf-8") != new:
        target.write_text(new, encoding="utf-8")


# -- API reference sections ---------------------------------------------------------------
# (module, title, description). Entries are the module's public classes and functions that
# import, so the reference never names something that does not exist; names re-exported by
# the package itself are documented once, under the package.
API_SECTIONS = [
    ("perceptual_timbre", "Main estimators and functions",
     "Importable from the package itself."),
    ("perceptual_timbre.transforms", "Spectral transforms",
     "Invertible transformers from audio to spectral frames (:doc:`user_guide/transforms`)."),
    ("perceptual_timbre.model", "Timbre-space model", "The VAE estimator and its parts."),
    ("perceptual_timbre.timbre_space", "Timbre spaces on sounds",
     "Sound-level timbre spaces, optionally taught by a perceptual metric."),
    ("perceptual_timbre.perceptual_metric", "Perceptual metric",
     "A timbre metric learned from rating studies."),
    ("perceptual_timbre.listening", "Listening tests",
     "Design, run and read back dissimilarity listening tests (:doc:`user_guide/listening`)."),
    ("perceptual_timbre.datasets", "Datasets",
     "Timbre studies, instrument ratings and SoundFont notes (:doc:`user_guide/datasets`)."),
    ("perceptual_timbre.metrics", "Metrics",
     "Agreement between a space and ratings (:doc:`user_guide/metrics`)."),
    ("perceptual_timbre.embedding", "Embedding sounds", "Place new sounds in a fitted space."),
    ("perceptual_timbre.baselines", "Baselines", "Reference embeddings to compare with."),
    ("perceptual_timbre.descriptors", "Descriptors",
     "Audio descriptors, descriptor maps and sound-level features "
     "(:doc:`user_guide/synthesis`)."),
    ("perceptual_timbre.synthesis", "Synthesis",
     "Latent paths and descriptor-guided synthesis (:doc:`user_guide/synthesis`)."),
    ("perceptual_timbre.plotting", "Plotting", "Figures of timbre spaces."),
    ("perceptual_timbre.diagnostics", "Training diagnostics",
     "Loss history (signs and units of each term) and active latent units."),
    ("perceptual_timbre.utils", "Utilities", "Validation helpers and labelled ratings."),
    ("perceptual_timbre.exceptions", "Exceptions and warnings", ""),
]


def _public_objects(module_name):
    import importlib
    import inspect

    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    classes, functions = [], []
    for name in names:
        try:
            obj = getattr(module, name)
        except (AttributeError, ImportError):
            continue
        if inspect.ismodule(obj):
            continue
        if inspect.isclass(obj):
            classes.append(name)
        elif inspect.isfunction(obj):
            functions.append(name)
    return sorted(classes), sorted(functions)


_API_HEADER = """\
API reference
=============

Every public class and function, grouped by module. The most used names are importable from
the package itself (``from perceptual_timbre import PerceptualVAE``).

.. This file is generated by docs/conf.py from the modules' ``__all__``; do not edit.

"""


def _write_api(app):
    """Generate docs/api.rst (autosummary tables) from the modules that import."""
    top = _public_objects("perceptual_timbre")
    top_objects = {id(getattr(perceptual_timbre, n)) for n in top[0] + top[1]}
    lines = [_API_HEADER]
    for module_name, title, description in API_SECTIONS:
        found = _public_objects(module_name)
        if found is None:
            continue
        module = sys.modules[module_name]
        entries = []
        for kind, names in zip(("class", "function"), found, strict=True):
            for name in names:
                obj = getattr(module, name)
                if module_name != "perceptual_timbre" and id(obj) in top_objects:
                    continue
                # document objects of other public modules where they are defined
                home = getattr(obj, "__module__", module_name) or module_name
                if module_name == "perceptual_timbre.exceptions" and home.startswith("sklearn"):
                    continue
                entries.append((kind, name))
        if not entries:
            continue
        lines += [title, "-" * len(title), "", f".. currentmodule:: {module_name}", ""]
        if description:
            lines += [description, ""]
        for kind in ("class", "function"):
            names = [n for k, n in entries if k == kind]
            if names:
                lines += [".. autosummary::", "   :toctree: generated/",
                          f"   :template: {kind}.rst", "", *(f"   {n}" for n in names), ""]
    target = DOCS / "api.rst"
    text = "\n".join(lines) + "\n"
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")


# autosummary scans the sources when the builder starts, so write it now.
_write_api(None)


def _skip_member(app, what, name, obj, skip, options):
    # scikit-learn's generated metadata-routing methods (set_fit_request, ...) document
    # sklearn's own glossary, which is not part of this site
    if name == "get_metadata_routing" or (name.startswith("set_") and name.endswith("_request")):
        return True
    return skip


_SHAPE = re.compile(r"\(([^()`]*)\)")


def _escape_shapes(app, what, name, obj, options, lines):
    # Shapes such as "(n_samples, n_features_in_)" in prose or in multi-name attribute lines
    # would be read as reST hyperlink references ("n_features_in_"): escape the underscore.
    def escape(match):
        return "(" + re.sub(r"(\w)_(?=\s*(,|$))", r"\1\\_", match.group(1)) + ")"

    for i, line in enumerate(lines):
        if "_," in line or "_)" in line:
            lines[i] = _SHAPE.sub(escape, line)


def setup(app):
    app.connect("builder-inited", _write_results)
    app.connect("autodoc-process-docstring", _escape_shapes, priority=400)
    app.connect("autodoc-skip-member", _skip_member)
