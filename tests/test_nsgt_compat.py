"""The nsgt 0.19 / numpy >= 1.25 fix in perceptual_timbre._compat.nsgt."""

import numpy as np
import pytest

from perceptual_timbre._compat import nsgt as nsgt_compat

pytestmark = pytest.mark.filterwarnings("ignore:Q-factor too high:UserWarning")


def _build(nsgt):
    return nsgt.CQ_NSGT(50, 4000, 12, 16000, 16000)


def test_unpatched_nsgt_fails_on_this_numpy():
    # If this starts passing, nsgt or numpy fixed the bug and the patch can go.
    nsgt = nsgt_compat.apply()
    with nsgt_compat.unpatched():
        assert not nsgt_compat.is_applied()
        with pytest.raises(TypeError, match="clip|cast"):
            _build(nsgt)
        with pytest.raises(TypeError, match="clip|cast"):
            nsgt.NSGT_sliced(nsgt.OctScale(50, 4000, 12), 4096, 1024, 16000)
    assert nsgt_compat.is_applied()


def test_patched_nsgt_builds_and_reconstructs():
    nsgt = nsgt_compat.apply()
    assert nsgt_compat.apply() is nsgt and nsgt_compat.is_applied()  # idempotent
    transform = _build(nsgt)
    x = np.random.RandomState(0).randn(16000)
    y = transform.backward(transform.forward(x))
    assert np.max(np.abs(y - x)) < 1e-8
    # min_win clipping still happens: no window shorter than 4 samples.
    assert np.min(transform.M) >= 4
    sliced = nsgt.NSGT_sliced(nsgt.OctScale(50, 4000, 12), 4096, 1024, 16000)
    assert np.min(sliced.M) >= 4


def test_transforms_import_applies_patch():
    import perceptual_timbre.transforms  # noqa: F401

    assert nsgt_compat.is_applied()
