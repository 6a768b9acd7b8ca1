"""Tiny synthetic image data with a known answer, shared by the test modules."""

import numpy as np

SPACING = (0.7, 0.7)


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


def make_pair(i, rng):
    """A 64 px slice and a 16-24 px crop; the crop's blob grows with the label."""
    label = 1 + i % 5
    full = (-800 + 40 * rng.standard_normal((64, 64))).astype(np.int16)
    size = 16 + i % 9
    crop = (-700 + 30 * rng.standard_normal((size, size))).astype(np.int16)
    c = size // 2
    crop[c - 3:c + 3, c - 3:c + 3] += 150 * label
    return label, full, crop


def write_pairs_dataset(root, *, labelled=True, n_pairs=40):
    """40 pairs (20 patients, labels 1-5 in turn, spacing 0.7 mm) in ``root``.

    ``labelled``: ``full/<id>.nrrd``, ``nodule/<id>.nrrd`` and a manifest.csv
    (id, full, nodule, malignancy, patient_id) listing them in reverse id
    order; else the same images as ``<id>_full.nrrd`` + ``<id>_nodule.nrrd``
    and no labels. Returns ``root``.
    """
    from skradnod.io import write_nrrd

    rng = np.random.default_rng(0)
    rows = []
    for i in range(n_pairs):
        label, full, crop = make_pair(i, rng)
        name = f"{i:03d}"  # ids that are not numbers: "007" stays "007"
        if labelled:
            write_nrrd(root / "full" / f"{name}.nrrd", full, spacing=SPACING)
            write_nrrd(root / "nodule" / f"{name}.nrrd", crop, spacing=SPACING)
            rows.append(f"{name},full/{name}.nrrd,nodule/{name}.nrrd,{label},"
                        f"p{i // 2}")
        else:
            write_nrrd(root / f"{name}_full.nrrd", full, spacing=SPACING)
            write_nrrd(root / f"{name}_nodule.nrrd", crop, spacing=SPACING)
    if labelled:
        # Not in id order, so that "manifest order" is tested.
        rows = rows[::-1]
        (root / "manifest.csv").write_text(
            "id,full,nodule,malignancy,patient_id\n" + "\n".join(rows) + "\n"
        )
    return root
