"""Tiny synthetic image data with a known answer, shared by the test modules."""

import numpy as np


def make_bright_centres(n, size=16, seed=0, *, interleaved=False):
    """Noise images; label 5 has a bright centre square, label 1 has none.

    Labels come in two halves (1s then 5s), or alternate when ``interleaved``.
    """
    rng = np.random.RandomState(seed)
    X = rng.rand(n, size, size).astype(np.float32)
    y = np.tile([1, 5], n // 2) if interleaved else np.repeat([1, 5], n // 2)
    X[y == 5, 4:12, 4:12] += 2.0
    return X, y
