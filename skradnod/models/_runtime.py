"""Where and how a net runs: its device, torch's threads and its random seed.

:class:`RuntimeMixin` resolves ``device="auto"`` (CUDA when available, else
CPU) into ``device_`` and loads a pickled net where its tensors can live;
``n_jobs`` sets torch's intra-op threads for a call and ``random_state`` seeds
torch for a fit, both restored afterwards.

skorch reads ``net.device`` as a concrete device while it initialises,
re-initialises (``set_params`` of module or criterion parameters), trains and
loads parameters (its private ``_initialize_module`` moves the module there),
and has no hook to give it another one, so during those calls ``device`` holds
the resolved device; it is "auto" again when they return, whether they succeed
or raise, so ``get_params`` after ``fit``, ``clone`` and pickling see the
parameter as given. skorch's own ``device="auto"`` (skorch-dev/skorch#1141,
merged after skorch 1.4.0, the newest release) resolves it at each use
instead; with it this swap can go.
"""

import os
import warnings
from contextlib import contextmanager
from numbers import Integral

import numpy as np
import torch
from sklearn.utils import check_random_state
from skorch.utils import get_map_location

from ..base import resolve_device

__all__ = ["RuntimeMixin", "torch_seeded"]

_UNSET = object()


@contextmanager
def torch_seeded(seed, device):
    """Seed torch for a block, restoring its random state afterwards.

    Parameters
    ----------
    seed : int
        The seed (``torch.manual_seed``).
    device : str or torch.device
        The device that trains: on a CUDA device its generator is forked and
        restored too (the one of that device's index, else the current one).
    """
    device = torch.device(device)
    devices = []
    if device.type == "cuda":
        devices = [
            device.index if device.index is not None else torch.cuda.current_device()
        ]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class RuntimeMixin:
    """Device, threads and seeding of a skorch net with ``n_jobs``/``random_state``."""

    @contextmanager
    def _torch_threads(self):
        if self.n_jobs is None:
            yield
            return
        n_threads = self.n_jobs
        if n_threads < 0:
            n_threads = max(1, (os.cpu_count() or 1) + 1 + n_threads)
        previous = torch.get_num_threads()
        torch.set_num_threads(n_threads)
        try:
            yield
        finally:
            torch.set_num_threads(previous)

    @contextmanager
    def _seeded(self):
        if self.random_state is None:
            yield
            return
        seed = (
            self.random_state
            if isinstance(self.random_state, Integral)
            else check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )
        with torch_seeded(seed, self.device_):
            yield

    @contextmanager
    def _on_resolved_device(self):
        # skorch reads ``self.device`` while initialising and training; it
        # sees the resolved device there while get_params keeps "auto".
        requested = self.device
        if requested == "auto":
            self.device = getattr(self, "device_", None) or resolve_device(requested)
        try:
            yield
        finally:
            self.device = requested

    def initialize(self):
        self.device_ = resolve_device(self.device)
        with self._on_resolved_device():
            return super().initialize()

    def set_params(self, **params):
        # On an initialised net skorch re-initialises the module and criterion
        # when their parameters change, moving them to ``self.device``. A new
        # ``device`` is set after the others, so the swap cannot undo it.
        device = params.pop("device", _UNSET)
        with self._on_resolved_device():
            super().set_params(**params)
        if device is not _UNSET:
            super().set_params(device=device)
        return self

    def load_params(self, *args, **kwargs):
        with self._on_resolved_device():
            return super().load_params(*args, **kwargs)

    def __setstate__(self, state):
        if state.get("device") != "auto":
            super().__setstate__(state)
            return
        # A net fitted with device="auto" on a GPU machine: load its tensors
        # where they can live here, keep the parameter "auto".
        fitted = state.get("device_") or "cpu"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            location = str(get_map_location(fitted))
        super().__setstate__({**state, "device": location})
        self.device = "auto"
        if "device_" in state:
            self.device_ = location
