"""Torch plumbing: device resolution, private generators and tensor <-> numpy conversion.

Only this module decides where tensors live, so estimators stay device-agnostic and a model
trained on a GPU can be loaded on a CPU-only machine.
"""

import contextlib
import warnings

import numpy as np
import torch

from ..exceptions import DeviceWarning, ParameterError

__all__ = [
    "ModuleStateMixin",
    "cpu_threads",
    "load_map_location",
    "make_generator",
    "resolve_device",
    "to_numpy",
    "to_tensor",
]


def resolve_device(device="auto"):
    """Return the :class:`torch.device` that ``device`` names.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"} or str
        ``"auto"`` picks CUDA when available, else the CPU. ``"cuda:1"`` style names work.

    Raises
    ------
    ParameterError
        If the device does not exist here: CUDA asked for but not available, a CUDA index
        beyond the visible devices, an unavailable MPS, or an unknown device type.

    Examples
    --------
    >>> from perceptual_timbre.utils._torch import resolve_device
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ParameterError(f"unknown device {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(
            f"device={device!r} was requested but CUDA is not available; use 'auto' or 'cpu'."
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ParameterError(
            f"device={device!r} does not exist: {torch.cuda.device_count()} CUDA device(s) "
            f"visible (cuda:0 ... cuda:{torch.cuda.device_count() - 1})."
        )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ParameterError(f"device={device!r} was requested but MPS is not available.")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ParameterError(
            f"device={device!r} is not supported: use 'auto', 'cpu', 'cuda' or 'cuda:<index>'."
        )
    return dev


def make_generator(seed, device="cpu"):
    """A :class:`torch.Generator` on ``device`` seeded with ``seed`` (the global RNG is untouched).

    Examples
    --------
    >>> from perceptual_timbre.utils._torch import make_generator
    >>> g1, g2 = make_generator(3), make_generator(3)
    >>> bool(torch.equal(torch.rand(2, generator=g1), torch.rand(2, generator=g2)))
    True
    """
    gen = torch.Generator(device=torch.device(device))
    gen.manual_seed(int(seed))
    return gen


def to_tensor(X, device="cpu", dtype=torch.float32):
    """Convert an array to a tensor of ``dtype`` on ``device``."""
    return torch.as_tensor(np.asarray(X), dtype=dtype, device=torch.device(device))


def to_numpy(tensor, dtype=np.float64):
    """Detach a tensor, move it to the CPU and return a numpy array of ``dtype``."""
    return tensor.detach().cpu().numpy().astype(dtype, copy=False)


def load_map_location(device):
    """Device to restore a model saved on ``device`` onto, falling back to the CPU.

    A model whose ``device`` was CUDA is mapped to the CPU, with a :class:`DeviceWarning`,
    when CUDA is not available here.

    Returns
    -------
    device : torch.device
    """
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        warnings.warn(
            f"the model was saved on {device!r} but CUDA is not available; it is loaded on the "
            f"CPU instead.",
            DeviceWarning,
            stacklevel=3,
        )
        return torch.device("cpu")
    return dev


@contextlib.contextmanager
def cpu_threads(n_threads):
    """Temporarily set torch's intra-op CPU threads (``None``: leave them), then restore.

    Small networks run faster on one thread: splitting tiny matrix products costs more in
    synchronization than it saves, and far more when other processes share the cores.

    Examples
    --------
    >>> import torch
    >>> from perceptual_timbre.utils._torch import cpu_threads
    >>> before = torch.get_num_threads()
    >>> with cpu_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    before = torch.get_num_threads()
    if n_threads is not None and n_threads != before:
        torch.set_num_threads(int(n_threads))
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


class ModuleStateMixin:
    """Pickle an estimator's torch ``module_`` as a CPU state dict and rebuild it on load.

    Keeps pickles device-independent and free of optimizer or progress-bar state: a model
    trained on CUDA loads on a CPU-only machine (with a :class:`DeviceWarning`). The estimator
    class names its module class in ``_module_class`` and stores the keyword arguments of its
    module in ``_module_kwargs`` (no import runs back up the package).
    """

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never strip the live estimator
        module = state.pop("module_", None)
        if module is not None:
            state["_module_state"] = {
                k: v.detach().cpu().clone() for k, v in module.state_dict().items()
            }
        return state

    def __setstate__(self, state):
        state = dict(state)
        module_state = state.pop("_module_state", None)
        super().__setstate__(state)
        if module_state is not None:
            device = load_map_location(self.device_)
            module = self._module_class(**self._module_kwargs)
            module.load_state_dict(module_state)
            self.module_ = module.to(device).eval()
            self.device_ = str(device)
