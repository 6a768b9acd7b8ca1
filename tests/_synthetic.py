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


def write_tiny_manifest(folder):
    """12 constant NRRD pairs (64 px slices, 20 px crops) and their manifest.

    Malignancy cycles 1-5; two readings per patient. Returns ``folder``.
    """
    from skradnod.io import write_nrrd

    rows = ["id,full,nodule,malignancy,patient_id"]
    for i in range(12):
        write_nrrd(folder / f"f{i}.nrrd", np.full((64, 64), i, np.int16))
        write_nrrd(folder / f"n{i}.nrrd", np.full((20, 20), i, np.int16))
        rows.append(f"{i},f{i}.nrrd,n{i}.nrrd,{1 + i % 5},p{i // 2}")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    return folder
