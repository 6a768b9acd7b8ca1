"""Draw the example figures of skradnod.inspection shown in the API reference.

Run from the repository root (about 15 s on 2 cores)::

    PYTHONPATH=. python docs/make_inspection_figures.py

It writes ``docs/_static/gradcam_example.png`` (a nodule CNN trained on crops
whose label is a bright blob at a random place, explained on a held-out crop)
and ``docs/_static/feature_importance_example.png`` (a random forest on
pyradiomics features of crops whose label is the brightness of the nodule).
"""

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline

from skradnod.inspection import FeatureImportanceDisplay, GradCAMDisplay
from skradnod.models import NoduleCNNClassifier
from skradnod.radiomics import RadiomicsExtractor

STATIC = Path(__file__).parent / "_static"


def blob_crops(n, seed, size=32, radius=3):
    """Noisy crops; odd ones hold a bright disk at a random place (label 1)."""
    rng = np.random.RandomState(seed)
    X = rng.normal(0.3, 0.05, (n, size, size)).astype(np.float32)
    y = np.arange(n) % 2
    rows, cols = np.mgrid[:size, :size]
    for i in np.flatnonzero(y == 1):
        r, c = rng.randint(radius + 1, size - radius - 1, 2)
        X[i][(rows - r) ** 2 + (cols - c) ** 2 <= radius**2] = 1.0
    return X, y


def gradcam_figure(path):
    X, y = blob_crops(200, seed=0)
    net = NoduleCNNClassifier(
        module__width=4, max_epochs=8, lr=1e-2, valid_size=None, augment=False,
        random_state=0, n_jobs=1,
    ).fit(X, y)
    X_new, _ = blob_crops(4, seed=1)
    fig = Figure(figsize=(6.4, 3.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    GradCAMDisplay.from_estimator(net, X_new, index=1, ax=left)
    GradCAMDisplay.from_estimator(net, X_new, index=3, ax=right)
    fig.savefig(path, dpi=100)


def importance_figure(path):
    rng = np.random.RandomState(0)
    X = rng.normal(-700, 30, (80, 24, 24))
    y = np.arange(80) % 2
    X[y == 1, 8:16, 8:16] += 600
    model = make_pipeline(
        # Two classes: with the texture classes as well, each class holds a
        # copy of the brightness and permuting any one of them changes nothing.
        RadiomicsExtractor(image_types=("Original",),
                           feature_classes=["firstorder", "shape2D"]),
        RandomForestClassifier(n_estimators=50, random_state=0),
    )
    display = FeatureImportanceDisplay.from_estimator(
        model, X, y, groups=np.arange(80) // 2, cv=4
    )
    display.figure_.savefig(path, dpi=100)


if __name__ == "__main__":
    STATIC.mkdir(exist_ok=True)
    gradcam_figure(STATIC / "gradcam_example.png")
    importance_figure(STATIC / "feature_importance_example.png")
    print(f"wrote {STATIC}/gradcam_example.png, feature_importance_example.png")
