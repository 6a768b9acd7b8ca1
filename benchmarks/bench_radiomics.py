"""Radiomic feature extraction: plain pyradiomics loop vs RadiomicsExtractor.

On nodule crops of the built-in cohort (``make_lidc_cohort``), with the method's
settings (Original + Wavelet images, every 2D feature class, centre 70 % mask):

(a) a plain sequential loop calling pyradiomics' ``execute`` image by image, the
    way a script would do it;
(b) ``RadiomicsExtractor(n_jobs=2)``;
(c) the same with a warm joblib ``Memory`` (what a refit inside cross-validation
    or a grid search costs).

Goals on 2 cores: (b) >= 1.9x (a), (c) >= 100x (a). The values of (b) must equal
those of (a). When the crops come from the cohort, the features of (b) are also
scored: accuracy of a random forest on the selected features
(``make_radiomics_selector(preset="fast")``), 5-class and binary, under
patient-grouped 5-fold CV (``StratifiedGroupKFold``). Prints a table and writes
benchmarks/results/radiomics.{json,md}.

Usage: python benchmarks/bench_radiomics.py [--n 500] [--n-jobs 2]
"""

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"


def _fixture_crops(n, seed=0):
    """Fallback: real CT crops around the fixture's nodule plus synthetic ones."""
    import nrrd

    data = Path(__file__).parent.parent / "tests" / "data"
    volume, _ = nrrd.read(str(data / "lung1_image.nrrd"), index_order="C")
    rng = np.random.RandomState(seed)
    crops = []
    for z in (2, 3, 4):
        for size in (48, 64, 80):
            r, c = 358 - size // 2, 218 - size // 2
            crops.append(volume[z, r : r + size, c : c + size].astype(np.float64))
    rr, cc = np.mgrid[:64, :64]
    while len(crops) < n:
        size = int(rng.randint(45, 100))
        rr, cc = np.mgrid[:size, :size]
        radius = rng.uniform(size / 8, size / 3)
        disc = (rr - size / 2) ** 2 + (cc - size / 2) ** 2 < radius**2
        crops.append(
            np.where(disc, rng.uniform(-100, 60), -850.0)
            + rng.normal(0, 25, (size, size))
        )
    return crops[:n]


def load_crops(n):
    """Crops, a description, and (target, groups) when they come from the cohort."""
    try:
        from skradnod.datasets import make_lidc_cohort
    except ImportError:
        return _fixture_crops(n), "CT fixture crops + synthetic discs (no cohort)", None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bunch = make_lidc_cohort(n_samples=n)
    return (
        list(bunch.nodule),
        f"make_lidc_cohort(n_samples={n}) nodule crops",
        (np.asarray(bunch.target), np.asarray(bunch.groups)),
    )


def grouped_accuracy(features, target, groups, n_jobs):
    """RF on selected features, patient-grouped 5-fold CV: 5-class and binary."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_score

    from skradnod.evaluation import to_binary
    from skradnod.feature_selection import make_radiomics_selector

    scores = {}
    for task, y in (("5-class", target), ("binary", to_binary(target))):
        model = make_radiomics_selector(
            preset="fast",
            random_state=0,
            classifier=RandomForestClassifier(n_estimators=200, random_state=0),
        )
        cv = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            folds = cross_val_score(
                model, features, y, groups=groups, cv=cv, scoring="accuracy",
                n_jobs=n_jobs,
            )
        majority = float(np.bincount(np.asarray(y)).max() / len(y))
        scores[task] = {
            "accuracy_mean": float(folds.mean()),
            "accuracy_std": float(folds.std()),
            "folds": folds.tolist(),
            "majority_class_rate": majority,
        }
    return scores


def plain_loop(crops, params):
    """(a): what a script does: one extractor, execute() per image."""
    import radiomics
    import SimpleITK as sitk
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    from skradnod.radiomics import _center_mask

    radiomics.setVerbosity(logging.ERROR)
    extractor = RadiomicsFeatureExtractor(params)
    rows = []
    for crop in crops:
        crop = np.asarray(crop, dtype=np.float64)
        mask = _center_mask(crop.shape, 0.7).astype(np.uint8)
        result = extractor.execute(
            sitk.GetImageFromArray(crop[np.newaxis]),
            sitk.GetImageFromArray(mask[np.newaxis]),
        )
        rows.append(
            [float(v) for k, v in result.items() if not k.startswith("diagnostics")]
        )
    return np.array(rows)


def _time(func):
    start = time.perf_counter()
    out = func()
    return time.perf_counter() - start, out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="number of crops")
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args(argv)

    from joblib import Memory

    from skradnod.radiomics import RadiomicsExtractor, _pyradiomics_params

    load_before = os.getloadavg()
    crops, source, labels = load_crops(args.n)
    n = len(crops)
    extractor = RadiomicsExtractor()  # the method's defaults
    params = _pyradiomics_params(
        extractor.image_types, extractor.feature_classes, extractor.settings
    )

    t_a, ref = _time(lambda: plain_loop(crops, params))
    t_b, out_b = _time(
        lambda: RadiomicsExtractor(n_jobs=args.n_jobs).fit_transform(crops)
    )
    equal = bool(np.array_equal(out_b, ref, equal_nan=True))
    max_rel = float(
        np.nanmax(np.abs(out_b - ref) / np.maximum(np.abs(ref), 1e-300))
    )
    with tempfile.TemporaryDirectory() as cache:
        memory = Memory(cache, verbose=0)
        t_cold, _ = _time(
            lambda: RadiomicsExtractor(n_jobs=args.n_jobs, memory=memory)
            .fit_transform(crops)
        )
        t_c, out_c = _time(
            lambda: RadiomicsExtractor(n_jobs=args.n_jobs, memory=memory)
            .fit_transform(crops)
        )
    equal_c = bool(np.array_equal(out_c, ref, equal_nan=True))
    accuracy = None
    if labels is not None:
        accuracy = grouped_accuracy(out_b, *labels, n_jobs=args.n_jobs)
    load_after = os.getloadavg()

    rows = [
        ("(a) plain pyradiomics loop", t_a),
        (f"(b) RadiomicsExtractor(n_jobs={args.n_jobs})", t_b),
        ("(b') same, cold Memory (first fill)", t_cold),
        ("(c) same, warm Memory", t_c),
    ]
    lines = [
        f"Radiomic features of {n} crops ({source}); {ref.shape[1]} features "
        f"each (Original + Wavelet, centre 70 % mask); {os.cpu_count()} CPUs, "
        f"load average {load_before[0]:.2f} before / {load_after[0]:.2f} after.",
        "",
        "| method | seconds | images/s | speed-up vs (a) |",
        "|---|---:|---:|---:|",
    ]
    for name, seconds in rows:
        lines.append(
            f"| {name} | {seconds:.3f} | {n / seconds:.1f} | {t_a / seconds:.1f}x |"
        )
    lines += [
        "",
        f"(b) values equal (a): {equal} (max relative difference {max_rel:.2e}); "
        f"(c) values equal (a): {equal_c}.",
        f"Goals: (b) >= 1.9x (a): {'met' if t_a / t_b >= 1.9 else 'NOT met'} "
        f"({t_a / t_b:.2f}x); (c) >= 100x (a): "
        f"{'met' if t_a / t_c >= 100 else 'NOT met'} ({t_a / t_c:.0f}x).",
    ]
    if accuracy is not None:
        lines += [
            "",
            "Random forest on the selected features (fast selector preset), "
            "patient-grouped 5-fold CV:",
            "",
            "| task | accuracy | majority-class rate |",
            "|---|---:|---:|",
        ]
        for task, score in accuracy.items():
            lines.append(
                f"| {task} | {score['accuracy_mean']:.3f} ± "
                f"{score['accuracy_std']:.3f} | {score['majority_class_rate']:.3f} |"
            )
    table = "\n".join(lines)
    print(table)

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "radiomics.md").write_text(table + "\n")
    result = {
        "n_images": n,
        "source": source,
        "n_features": int(ref.shape[1]),
        "n_jobs": args.n_jobs,
        "seconds": {
            "plain_loop": t_a,
            "extractor": t_b,
            "extractor_cold_memory": t_cold,
            "extractor_warm_memory": t_c,
        },
        "speedup_vs_plain": {
            "extractor": t_a / t_b,
            "extractor_warm_memory": t_a / t_c,
        },
        "values_equal": equal,
        "max_relative_difference": max_rel,
        "warm_values_equal": equal_c,
        "goals_met": {
            "extractor_1.9x": t_a / t_b >= 1.9,
            "warm_memory_100x": t_a / t_c >= 100,
        },
        "grouped_cv_accuracy": accuracy,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    (RESULTS / "radiomics.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
