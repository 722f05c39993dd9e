"""The torch backend of the spectral transformers against their references (nsgt, librosa).

Batched NSGT forward/inverse against nsgt 0.19 for the three scales, batched fast Griffin-Lim
against the per-signal reference paths, devices, determinism and bad input. Speed is measured
by ``benchmarks/bench_transforms.py``, not here.
"""

import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone

from perceptual_timbre.exceptions import ParameterError
from perceptual_timbre.transforms import NSGTTransformer, STFTTransformer, spectral_convergence
from perceptual_timbre.transforms._torch_nsgt import TorchNSGT, fast_griffin_lim, stft_pair

pytestmark = pytest.mark.filterwarnings("ignore:Q-factor too high:UserWarning")

SR = 22050
SCALES = ["cqt", "mel", "erb"]


def _db(estimate, reference):
    estimate, reference = np.asarray(estimate), np.asarray(reference)
    return 20 * np.log10(np.linalg.norm(estimate - reference) / np.linalg.norm(reference))


def _tones(n, n_samples, seed=0):
    """Harmonic tones with a decay and a little noise (distinct pitches and spectra)."""
    rng = np.random.RandomState(seed)
    t = np.arange(n_samples) / SR
    out = []
    for i in range(n):
        f0 = 110 * 2 ** (i / 5)
        x = sum(np.sin(2 * np.pi * k * f0 * t + rng.rand()) / k for k in range(1, 12)
                if k * f0 < 10000)
        out.append(x * np.exp(-2 * t) + 0.01 * rng.randn(n_samples))
    return np.asarray(out)


@pytest.fixture(scope="module")
def tones():
    return _tones(3, SR // 2)


def _reference(scale, length):
    est = NSGTTransformer(scale, backend="nsgt").fit([np.ones(length)])
    return est._get_nsgt(length)


# -- batched NSGT against nsgt ----------------------------------------------------------------


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("length", [SR // 2, 9001])
def test_forward_and_inverse_match_nsgt(tones, scale, length):
    ref = _reference(scale, length)
    tn = TorchNSGT(ref)
    x = tones[:, :length]
    want = np.stack([np.asarray(ref.forward(xi)) for xi in x])
    for dtype in (torch.float64, torch.float32):
        got = tn.forward(x, dtype=dtype).numpy()
        assert got.shape == want.shape == (len(x), tn.n_bins, tn.n_frames)
        assert _db(got, want) < -60 if dtype == torch.float32 else _db(got, want) < -200
        # The inverse of nsgt's coefficients gives nsgt's inverse ...
        back = tn.backward(torch.as_tensor(want, dtype=torch.complex128)).numpy()
        want_back = np.stack([ref.backward(list(c)) for c in want])
        assert _db(back, want_back) < -200
        # ... and the inverse of our own coefficients the same signal (exact frame inverse).
        assert _db(tn.backward(tn.forward(x, dtype=dtype)).numpy(), want_back) < -60


@pytest.mark.parametrize("direct_max", [0, 16, 64, 10**6])
def test_direct_dft_bins_match_fft_bins(tones, direct_max):
    # Low bins use a direct DFT over their window's support, the others an FFT of length M:
    # any split gives nsgt's coefficients (0: FFT only; 10**6: every window would be direct,
    # but their DFTs would be as long as M: FFT only as well).
    ref = _reference("erb", SR // 2)
    tn = TorchNSGT(ref, direct_max=direct_max)
    assert (tn._dir_bins.size == 0) == (direct_max in (0, 10**6))
    want = np.stack([np.asarray(ref.forward(xi)) for xi in tones])
    assert _db(tn.forward(tones).numpy(), want) < -200
    want_back = np.stack([ref.backward(list(c)) for c in want])
    assert _db(tn.backward(torch.as_tensor(want)).numpy(), want_back) < -200


@pytest.mark.parametrize("scale", SCALES)
def test_exact_inverse_inside_the_band(scale):
    # Between the DC and Nyquist windows (dropped, as nsgt's reducedform=1 does) the dual
    # windows invert the transform exactly: periodic tones there come back to rounding error.
    n = SR // 2
    t = np.arange(n) / n
    x = np.stack([np.cos(2 * np.pi * k * t + k) for k in (50, 230, 2000, 4000)])  # 100 Hz-8 kHz
    tn = TorchNSGT(_reference(scale, n))
    assert _db(tn.backward(tn.forward(x)).numpy(), x) < -200
    assert _db(tn.backward(tn.forward(x, dtype=torch.float32)).numpy(), x) < -100


@pytest.mark.parametrize("scale", SCALES)
def test_transformer_backends_agree(tones, scale):
    sounds = [tones[0], tones[1], tones[2][: SR // 3]]  # two lengths in one call
    torch_est = NSGTTransformer(scale, backend="torch").fit(sounds)
    nsgt_est = NSGTTransformer(scale, backend="nsgt").fit(sounds)
    for got, want in zip(torch_est.transform_frames(sounds), nsgt_est.transform_frames(sounds),
                         strict=True):
        assert got.shape == want.shape and got.dtype == np.float64
        assert _db(got, want) < -60
    assert _db(torch_est.transform(sounds), nsgt_est.transform(sounds)) < -60


# -- Griffin-Lim --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda b: NSGTTransformer("erb", n_iter=8, duration=0.5, backend=b),
        lambda b: NSGTTransformer("cqt", n_iter=8, duration=0.5, init="random", random_state=0,
                                  backend=b),
        lambda b: STFTTransformer(n_iter=8, duration=0.5, random_state=0, backend=b),
    ],
    ids=["nsgt-erb-zeros", "nsgt-cqt-random", "stft-random"],
)
def test_griffin_lim_matches_reference(tones, make):
    reference = make("nsgt" if isinstance(make("torch"), NSGTTransformer) else "librosa")
    reference.fit(tones)
    est = make("torch").fit(tones)
    S = est.transform(tones[:2])
    # Same initial phases, same updates: the same convergence (float32 vs float64 aside).
    sc, sc_ref = spectral_convergence(est, S), spectral_convergence(reference, S)
    np.testing.assert_allclose(sc, sc_ref, atol=1.0)
    # A frame sequence too (one Griffin-Lim over the whole sequence).
    path = np.linspace(S[0], S[1], 4)
    a = est.inverse_transform_frames(path, duration=0.4)
    b = reference.inverse_transform_frames(path, duration=0.4)
    assert a.shape == b.shape == (int(0.4 * SR),)
    assert _db(a, b) < -40


def test_stft_pair_matches_librosa(tones):
    librosa = pytest.importorskip("librosa")
    window = librosa.filters.get_window("hann", 512)
    analysis, synthesis = stft_pair(512, 128, window, tones.shape[1], "cpu", torch.float64)
    S = analysis(torch.as_tensor(tones))
    want = np.stack([librosa.stft(x, n_fft=512, hop_length=128) for x in tones])
    assert _db(S.numpy(), want) < -200
    y = synthesis(S).numpy()
    want_y = np.stack([librosa.istft(s, hop_length=128, length=tones.shape[1]) for s in want])
    assert _db(y, want_y) < -200


def test_batch_is_row_independent_and_seeded(tones):
    est = NSGTTransformer("mel", n_iter=4, duration=0.25, init="random", random_state=3)
    S = est.fit(tones).transform(tones)
    together = est.inverse_transform(S)
    assert together.shape == (3, SR // 4)
    np.testing.assert_array_equal(together, clone(est).fit(tones).inverse_transform(S))
    # Zero phase: each row as if alone.
    est.set_params(init="zeros")
    alone = np.concatenate([est.inverse_transform(S[i : i + 1]) for i in range(3)])
    np.testing.assert_allclose(est.inverse_transform(S), alone, atol=1e-5 * np.abs(alone).max())


def test_fast_griffin_lim_zero_iterations_is_one_synthesis():
    x = torch.as_tensor(_tones(2, 4096))
    analysis, synthesis = stft_pair(256, 64, np.hanning(257)[:-1], 4096, "cpu", torch.float64)
    mag = analysis(x).abs()
    y = fast_griffin_lim(mag, analysis, synthesis, n_iter=0, momentum=0.99)
    np.testing.assert_allclose(y.numpy(), synthesis(mag.to(torch.complex128)).numpy())


def test_pickled_estimator_rebuilds_torch_setups(tmp_path, tones):
    est = NSGTTransformer("cqt", n_iter=2, duration=0.25).fit(tones)
    S = est.transform(tones[:1])
    est.inverse_transform(S)
    joblib.dump(est, tmp_path / "est.joblib")
    loaded = joblib.load(tmp_path / "est.joblib")
    assert "_torch_cache" not in loaded.__dict__ and loaded.device_ == est.device_
    np.testing.assert_array_equal(loaded.transform(tones[:1]), S)


# -- devices and bad input ------------------------------------------------------------------


@pytest.mark.parametrize("cls", [NSGTTransformer, STFTTransformer])
def test_devices(tones, cls):
    assert cls(device="cpu").fit(tones).device_ == "cpu"
    auto = cls().fit(tones).device_
    assert auto == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ParameterError, match="unknown device 'tpu9'"):
        cls(device="tpu9").fit(tones)
    missing = "cuda:99" if torch.cuda.is_available() else "cuda"
    with pytest.raises(ParameterError, match=rf"device='{missing}'"):
        cls(device=missing).fit(tones)
    with pytest.raises(ParameterError, match="device"):
        cls(device=0).fit(tones)
    with pytest.raises(ParameterError, match="backend"):
        cls(backend="numpy").fit(tones)


def test_cuda_fitted_estimator_falls_back_to_cpu(tones, monkeypatch):
    from perceptual_timbre.exceptions import DeviceWarning

    est = NSGTTransformer("mel", n_iter=2, duration=0.25, device="cpu").fit(tones)
    S = est.transform(tones[:1])
    est.device_ = "cuda"  # as if fitted on a GPU machine and loaded here
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(DeviceWarning, match="CUDA is not available"):
        np.testing.assert_allclose(est.transform(tones[:1]), S)


def test_bad_shapes(tones):
    tn = TorchNSGT(_reference("mel", SR // 2))
    with pytest.raises(ParameterError, match=rf"shape \(n_signals, {SR // 2}\).*equal-length"):
        tn.forward(tones[:, :-1])
    with pytest.raises(ParameterError, match=rf"shape \(n_signals, {SR // 2}\)"):
        tn.forward(tones[0])
    C = tn.forward(tones)
    with pytest.raises(ParameterError, match=rf"\(n_signals, {tn.n_bins}, {tn.n_frames}\)"):
        tn.backward(C[:, :-1])
    est = NSGTTransformer("mel").fit(tones)
    with pytest.raises(ParameterError, match=r"shape \(n, 410\)"):
        est.inverse_transform(np.ones((1, 409)))
    with pytest.raises(ParameterError, match="real=True"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from perceptual_timbre._compat import nsgt as nsgt_compat

            nsgt = nsgt_compat.apply()
            TorchNSGT(nsgt.NSGT(nsgt.OctScale(100, 1000, 6), SR, 4096, real=False,
                                matrixform=True))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(tones):
    cpu = NSGTTransformer("cqt", n_iter=4, duration=0.5, device="cpu").fit(tones)
    gpu = NSGTTransformer("cqt", n_iter=4, duration=0.5, device="cuda").fit(tones)
    assert gpu.device_ == "cuda"
    S = cpu.transform(tones)
    assert _db(gpu.transform(tones), S) < -100
    assert _db(gpu.inverse_transform(S), cpu.inverse_transform(S)) < -60


def test_estimator_pickled_before_the_torch_backend_loads(tones):
    est = NSGTTransformer("mel", n_iter=2, duration=0.25).fit(tones)
    state = dict(est.__getstate__())
    assert "_cache" in est.__dict__  # pickling leaves the live estimator's set-ups alone
    for key in ("device", "backend", "device_"):
        del state[key]  # as pickled by the previous version
    old = NSGTTransformer.__new__(NSGTTransformer)
    old.__setstate__(state)
    assert old.get_params()["backend"] == "torch" and old.device_ == "cpu"
    np.testing.assert_allclose(old.transform(tones), est.transform(tones))


def test_benchmark_speed_section_smoke(tones, monkeypatch):
    # benchmarks/bench_transforms.py's speed functions on two short tones (no timing checked:
    # only that they run and that the accuracy columns say what the tests above say).
    import sys
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    bench = pytest.importorskip("bench_transforms")
    monkeypatch.setattr(bench, "THREADS", (1,))
    rows = bench.nsgt_speed(tones[:2, : SR // 4])
    assert [r["torch_threads"] for r in rows] == [1]
    assert all(r["forward_diff_db"] < -60 and r["inverse_diff_db"] < -60 for r in rows)
    gla = bench.gla_speed(tones[:1], n_iter=2)
    for runs in gla.values():
        assert runs[0]["backend"] in ("nsgt", "librosa") and len(runs) == 2
        assert all(abs(r["sc_db_minus_reference"]) < 1 for r in runs[1:])
    lines = bench.speed_markdown({"cpu": {"nsgt_forward_inverse": rows, "gla": gla},
                                  "gla_n_iter": 2, "gla_n_notes": 1})
    assert any("nsgt_cqt | torch | cpu" in line for line in lines)
    sys.modules.pop("bench_transforms", None)
