"""Every public estimator of perceptual_timbre passes scikit-learn's estimator checks.

The estimators are discovered by walking the package (like ``sklearn.utils.discovery``):
every class deriving from ``BaseEstimator`` whose name does not start with ``_``. Most
modules' own test files already run ``parametrize_with_checks`` on their estimators (with
fast parameters and reasoned expected failures); running them again here would only double
the suite's runtime. So this file

1. reads which estimator classes the other test modules already check (their
   ``parametrize_with_checks`` marks), and
2. runs the checks itself only for the discovered estimators that no other module checks,
   with the fast parameters and expected failures of ``_OWN_CHECKS`` below, and
3. fails when a public estimator is checked nowhere.

An estimator whose test module adds its own checks later drops out of 2 automatically.
"""

import importlib
import inspect
import pkgutil
import sys
from pathlib import Path

import pytest
from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import parametrize_with_checks

import perceptual_timbre

TESTS = Path(__file__).resolve().parent
_SKIP_MODULES = {"perceptual_timbre.__main__"}  # runs the demo on import


def all_estimators():
    """Public BaseEstimator subclasses defined in perceptual_timbre, sorted by name."""
    found = {}
    for info in pkgutil.walk_packages(perceptual_timbre.__path__, "perceptual_timbre."):
        if info.name in _SKIP_MODULES:
            continue
        try:
            module = importlib.import_module(info.name)
        except ModuleNotFoundError as exc:  # an optional dependency (e.g. for plotting)
            if exc.name and exc.name.startswith("perceptual_timbre"):
                raise
            continue
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, BaseEstimator)
                and cls.__module__.startswith("perceptual_timbre.")
                and not cls.__name__.startswith("_")
                and not inspect.isabstract(cls)
            ):
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return sorted(found.values(), key=lambda c: (c.__name__, c.__module__))


def _test_module(path):
    """The test module at ``path``, imported as pytest (rootdir-relative, prepend) would."""
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    try:
        return importlib.import_module(path.stem)
    except (Exception, pytest.skip.Exception):  # broken or skipped: it checks nothing
        return None


def checked_elsewhere():
    """Estimator class -> names of the test modules that run sklearn's checks on it."""
    covered = {}
    for path in sorted(TESTS.glob("test_*.py")):
        if path.name == Path(__file__).name:
            continue
        module = _test_module(path)
        if module is None:
            continue
        for obj in vars(module).values():
            for mark in getattr(obj, "pytestmark", []):
                if mark.name != "parametrize" or mark.args[0] != "estimator, check":
                    continue
                for value in mark.args[1]:
                    estimator = value.values[0] if hasattr(value, "values") else value[0]
                    covered.setdefault(type(estimator), set()).add(path.name)
    return covered


# ----------------------------------------------------------------------------- own checks
# Estimators that no module of their own checks yet: fast parameters and the checks that
# cannot apply (with the reason).
_AUDIO_ROWS = (
    "input rows are sounds of any length: there is no fixed number of input features, so "
    "n_features_in_ is not set and a longer sound in transform is valid"
)
_SOUND_FEATURES_XFAIL = {
    "check_n_features_in": _AUDIO_ROWS,
    "check_n_features_in_after_fitting": _AUDIO_ROWS,
    "check_transformer_general": _AUDIO_ROWS,
    "check_estimators_dtypes": "the check's data holds an all-zero row, rejected as a silent "
    "sound",
    "check_dtype_object": "non-numeric audio raises ParameterError (a ValueError), not TypeError",
    "check_estimators_empty_data_messages": "an empty sound gets an audio-specific message "
    "('X[0] is empty (0 samples)')",
    "check_fit2d_predict1d": "a 1-D array is one signal; the message says how to pass it as a "
    "list of sounds instead of sklearn's 'Reshape your data'",
    # Gaps (reported): neither sparse input nor array-likes with __array__ are handled before
    # check_audio.
    "check_complex_data": "complex audio is rejected with our own message ('X[0] is complex; "
    "audio must be real-valued samples'), not sklearn's wording",
    "check_estimator_sparse_tag": "GAP: sparse input fails without saying sparse input is "
    "not supported",
    "check_estimator_sparse_array": "GAP: sparse input fails without saying sparse input is "
    "not supported",
    "check_estimator_sparse_matrix": "GAP: sparse input fails without saying sparse input is "
    "not supported",
    "check_transformer_data_not_an_array": "GAP: array-likes with __array__ are rejected by "
    "check_audio (the transforms convert them first)",
}
_NEEDS_SPACE = (
    "fit encodes sounds through a fitted timbre space (Pipeline of spectral transformer and "
    "VAE); the checks build the estimator with space=None, and sklearn's clone would unfit "
    "any space passed in"
)
# the checks that fit or transform the checks' generic 2-D arrays
_FITTING_CHECKS = (
    "check_fit_score_takes_y",
    "check_estimators_overwrite_params",
    "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self",
    "check_readonly_memmap_input",
    "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit",
    "check_estimators_dtypes",
    "check_complex_data",
    "check_dtype_object",
    "check_estimators_empty_data_messages",
    "check_pipeline_consistency",
    "check_estimators_nan_inf",
    "check_estimator_sparse_tag",
    "check_estimator_sparse_array",
    "check_estimator_sparse_matrix",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_fit2d_1sample",
    "check_fit2d_1feature",
    "check_dict_unchanged",
    "check_fit_idempotent",
    "check_fit_check_is_fitted",
    "check_n_features_in",
    "check_fit2d_predict1d",
)
_TRANSFORMER_FITTING_CHECKS = _FITTING_CHECKS + (
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformer_preserve_dtypes",
)
_SYNTHESIZER_XFAIL = dict.fromkeys(_FITTING_CHECKS, _NEEDS_SPACE)

_NEEDS_RATED_SOUNDS = (
    "fit learns from rated sounds: it needs stimulus ids (y) and a Ratings per study, which "
    "the checks' generic 2-D arrays do not have; every check that fits cannot apply"
)
_METRIC_XFAIL = dict.fromkeys(
    _TRANSFORMER_FITTING_CHECKS
    + ("check_fit1d", "check_requires_y_none", "check_transformer_n_iter"),
    _NEEDS_RATED_SOUNDS,
)
_NEEDS_NOTES = (
    "fit analyses each row as a sound with the NSGT (fmin 30 Hz, fmax 11 kHz) and needs "
    "several frames per sound; the checks' rows of a few samples at most are not notes"
)
_SPACE_XFAIL = dict.fromkeys(_TRANSFORMER_FITTING_CHECKS, _NEEDS_NOTES)


def _sound_features():
    from perceptual_timbre.descriptors import SoundFeatures

    # YIN wants two periods of fmin_f0 in a 16-sample frame at 8 kHz
    return SoundFeatures(sr=8000, n_mels=4, n_fft=16, hop_length=4, fmin_f0=1000.0, cache=False)


def _synthesizer():
    from perceptual_timbre.synthesis import DescriptorPathSynthesizer

    return DescriptorPathSynthesizer(method="greedy", n_steps=4, n_grid=10, max_iter=2)


def _metric():
    from perceptual_timbre import PerceptualMetric

    return PerceptualMetric(n_components=2, max_iter=2, sr=8000)


def _space():
    from perceptual_timbre import make_timbre_space

    return make_timbre_space(latent_dim=2, hidden_layer_sizes=(4,), max_epochs=1, sr=8000)


# class name -> (fast instance factory, expected failed checks)
_OWN_CHECKS = {
    "SoundFeatures": (_sound_features, _SOUND_FEATURES_XFAIL),
    "DescriptorPathSynthesizer": (_synthesizer, _SYNTHESIZER_XFAIL),
    "PerceptualMetric": (_metric, _METRIC_XFAIL),
    "TimbreSpace": (_space, _SPACE_XFAIL),
}

ESTIMATORS = all_estimators()
COVERED = checked_elsewhere()
CHECKED_HERE = [
    _OWN_CHECKS[cls.__name__][0]()
    for cls in ESTIMATORS
    if cls not in COVERED and cls.__name__ in _OWN_CHECKS
]


def test_discovery_finds_the_core_estimators():
    names = {cls.__name__ for cls in ESTIMATORS}
    core = {"PerceptualVAE", "STFTTransformer", "DCTTransformer", "NSGTTransformer",
            "LogMagnitude", "MFCCEmbedding", "DescriptorPathSynthesizer"}
    assert core <= names, f"not discovered: {sorted(core - names)}"
    assert not any(cls.__name__.startswith("_") for cls in ESTIMATORS)


def test_every_public_estimator_is_checked():
    unchecked = [
        f"{cls.__module__}.{cls.__name__}"
        for cls in ESTIMATORS
        if cls not in COVERED and cls.__name__ not in _OWN_CHECKS
    ]
    assert not unchecked, (
        f"public estimators that no test runs sklearn's checks on: {unchecked}. Add "
        f"parametrize_with_checks to their test module, or fast params to _OWN_CHECKS here."
    )


@parametrize_with_checks(
    CHECKED_HERE,
    expected_failed_checks=lambda est: _OWN_CHECKS[type(est).__name__][1],
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
