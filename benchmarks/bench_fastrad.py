"""fastrad against pyradiomics: feature-by-feature parity and speed.

fastrad (``pip install fastrad``) is a PyTorch reimplementation of pyradiomics
that claims parity within 1e-4 and large speed-ups on CPU and GPU. skradnod
adopts it as a ``RadiomicsExtractor`` backend only if parity holds for the
features the method uses (Original + Wavelet images, every 2D feature class,
``force2D``). This script measures:

1. parity, feature by feature, fastrad's names mapped to pyradiomics keys:
   (a) the real CT fixture (``tests/data/lung1_*.nrrd``): the three slices
   through the nodule with its real segmentation and pixel spacing, 2D; and the
   whole volume in 3D (fastrad's native mode);
   (b) ``--n`` nodule crops of the built-in cohort with the method's mask (the
   central 70 %) and the cohort's pixel spacing.
   A feature passes when ``|fastrad - pyradiomics| <= 1e-4 |pyradiomics| +
   1e-12`` on every image.
2. speed on nodule crops: fastrad (Original image, one process, ``--device``)
   against ``RadiomicsExtractor(n_jobs=2)`` with the same Original features, and
   with the method's Original + Wavelet.

Prints a summary and writes ``<out>/fastrad.json`` and ``<out>/fastrad.md``
(``--out`` defaults to benchmarks/results).

Usage: python benchmarks/bench_fastrad.py [--n 100] [--n-jobs 2] [--device cpu]
       [--out DIR]
"""

import argparse
import json
import logging
import os
import platform
import re
import time
import warnings
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
DATA = Path(__file__).parent.parent / "tests" / "data"
# Classes of the method (pyradiomics' default 2D set; 3D shape is excluded).
CLASSES_2D = ["firstorder", "shape2D", "glcm", "glrlm", "glszm", "gldm", "ngtdm"]
CLASSES_3D = ["firstorder", "shape", "glcm", "glrlm", "glszm", "gldm", "ngtdm"]
RTOL, ATOL = 1e-4, 1e-12

# Measured causes of the mismatches and gaps, per pyradiomics feature group.
REASONS = {
    "glrlm": (
        "fastrad's GLRLM ignores force2D: it averages the 13 3D directions, and "
        "on a one-slice image the 9 through-plane ones only hold runs of length "
        "1 (pyradiomics uses the 4 in-plane directions)"
    ),
    "shape2D_MaximumDiameter": (
        "fastrad's 2D maximum diameter is taken over a different vertex set than "
        "pyradiomics' marching-squares mesh"
    ),
    "firstorder_RobustMeanAbsoluteDeviation": (
        "fastrad computes the 10th/90th percentiles in float32: where one is a "
        "whole HU value the float32 result falls just short of it and the voxels "
        "equal to it leave the robust range"
    ),
    "firstorder_Median": (
        "torch.median returns the lower of the two middle values when the mask "
        "holds an even number of pixels; pyradiomics (numpy) averages them"
    ),
    "wavelet": "fastrad has no image filters: no Wavelet (nor LoG, ...) images",
}


def _norm(name):
    """A name both libraries' spellings reduce to (case, underscores, '10th')."""
    return re.sub(r"[^a-z0-9]", "", name.lower().replace("th_percentile", "percentile"))


def map_names(fastrad_names, pyradiomics_keys, prefix="original"):
    """fastrad ``class:feature`` -> pyradiomics ``original_Class_Feature``."""
    lookup = {
        _norm(key.split("_", 1)[1]): key
        for key in pyradiomics_keys
        if key.startswith(prefix + "_")
    }
    mapping, unmatched = {}, []
    for name in fastrad_names:
        feature_class, feature = name.split(":")
        key = lookup.get(_norm(feature_class + feature))
        if key is None:
            unmatched.append(name)
        else:
            mapping[name] = key
    return mapping, unmatched


def _pyradiomics(image, mask, spacing, classes, image_types=("Original",), d2=True):
    """Features from pyradiomics itself (diagnostics dropped)."""
    import radiomics
    import SimpleITK as sitk
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    radiomics.setVerbosity(logging.ERROR)
    extractor = RadiomicsFeatureExtractor(force2D=d2, additionalInfo=False)
    extractor.disableAllImageTypes()
    for name in image_types:
        extractor.enableImageTypeByName(name)
    extractor.disableAllFeatures()
    for name in classes:
        extractor.enableFeatureClassByName(name)
    if image.ndim == 2:
        image, mask = image[np.newaxis], mask[np.newaxis]
        spacing = (1.0, *spacing)
    sitk_image = sitk.GetImageFromArray(np.asarray(image, dtype=np.float64))
    sitk_mask = sitk.GetImageFromArray(np.asarray(mask, dtype=np.uint8))
    # SimpleITK's spacing is (x, y, z); ours is (z, row, col).
    for item in (sitk_image, sitk_mask):
        item.SetSpacing(tuple(float(s) for s in spacing[::-1]))
    result = extractor.execute(sitk_image, sitk_mask)
    return {k: float(v) for k, v in result.items() if not k.startswith("diagnostics")}


def _fastrad_extractor(device, classes, d2=True):
    from fastrad import FeatureExtractor, FeatureSettings

    names = [c.lower() if c != "shape2D" else "shape2d" for c in classes]
    settings = FeatureSettings(
        feature_classes=names, bin_width=25.0, device=device, force2D=d2,
        force2Ddimension=0,
    )
    return FeatureExtractor(settings)


def _fastrad(extractor, image, mask, spacing):
    import torch
    from fastrad import Mask, MedicalImage

    if image.ndim == 2:
        image, mask = image[np.newaxis], mask[np.newaxis]
        spacing = (1.0, *spacing)
    spacing = tuple(float(s) for s in spacing)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its anisotropic-spacing advice
        return extractor.extract(
            MedicalImage(torch.as_tensor(np.asarray(image, np.float64)), spacing),
            Mask(torch.as_tensor(np.asarray(mask, np.float32)), spacing),
        )


def compare(pairs):
    """Per pyradiomics key: worst relative difference and failing images."""
    table = {}
    for fast, ref in pairs:
        mapping, _ = map_names(fast, ref)
        for name, key in mapping.items():
            f, p = float(fast[name]), ref[key]
            diff = abs(f - p)
            rel = diff / max(abs(p), ATOL)
            ok = diff <= RTOL * abs(p) + ATOL
            row = table.setdefault(
                key, {"fastrad_name": name, "n": 0, "n_fail": 0, "max_rel": 0.0}
            )
            row["n"] += 1
            row["n_fail"] += int(not ok)
            row["max_rel"] = max(row["max_rel"], rel)
    for key, row in table.items():
        row["parity"] = row["n_fail"] == 0
        if not row["parity"]:
            group = key.split("_", 1)[1]
            row["reason"] = REASONS.get(group, REASONS.get(group.split("_")[0], ""))
            if not row["reason"]:
                row["reason"] = "cause not identified"
    return table


def ct_fixture(device):
    """Real CT: 2D slices 2-4 with the real mask; the whole volume in 3D."""
    import nrrd

    volume, header = nrrd.read(str(DATA / "lung1_image.nrrd"), index_order="C")
    label, _ = nrrd.read(str(DATA / "lung1_label.nrrd"), index_order="C")
    directions = np.abs(np.asarray(header["space directions"], dtype=float))
    # NRRD axes are (x, y, z); the C-order array is (z, row, col).
    col, row, z = (float(np.linalg.norm(d)) for d in directions)
    volume = volume.astype(np.float64)
    extractor = _fastrad_extractor(device, CLASSES_2D)
    pairs2d = []
    for s in (2, 3, 4):
        mask = label[s] > 0
        pairs2d.append((
            _fastrad(extractor, volume[s], mask, (row, col)),
            _pyradiomics(volume[s], mask, (row, col), CLASSES_2D),
        ))
    pair3d = (
        _fastrad(_fastrad_extractor(device, CLASSES_3D, d2=False), volume,
                 label > 0, (z, row, col)),
        _pyradiomics(volume, label > 0, (z, row, col), CLASSES_3D, d2=False),
    )
    return pairs2d, pair3d, (z, row, col)


def cohort_crops(n):
    from skradnod.datasets import make_lidc_cohort

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bunch = make_lidc_cohort(n_samples=n)
    spacings = [
        (float(s), float(s)) for s in bunch.frame["pixel_spacing"].to_numpy()
    ]
    return [np.asarray(c, dtype=np.float64) for c in bunch.nodule], spacings


def _timed(func):
    start = time.perf_counter()
    out = func()
    return time.perf_counter() - start, out


def summarise(table):
    n_fail = sum(not row["parity"] for row in table.values())
    return {"n_features": len(table), "n_parity": len(table) - n_fail,
            "n_mismatch": n_fail}


def _md_table(table):
    lines = [
        "| pyradiomics feature | fastrad name | images | failing | max rel. diff |",
        "|---|---|---:|---:|---:|",
    ]
    for key, row in sorted(table.items()):
        lines.append(
            f"| {key} | {row['fastrad_name']} | {row['n']} | {row['n_fail']} | "
            f"{row['max_rel']:.1e} |"
        )
    return lines


def write_report(result, out):
    out.mkdir(parents=True, exist_ok=True)
    (out / "fastrad.json").write_text(json.dumps(result, indent=2) + "\n")
    speed, method = result["speed"], result["method_features"]
    lines = [
        f"fastrad {result['fastrad_version']} against pyradiomics "
        f"{result['pyradiomics_version']}, {result['machine']}.",
        "",
        f"Decision: **{result['decision']}** -- {result['decision_reason']}",
        "",
        "Features the method uses (Original + Wavelet, 2D classes): "
        f"{method['n_total']}; fastrad computes {method['n_computed']} of them "
        f"and matches pyradiomics within {RTOL:g} relative on "
        f"{method['n_parity']}; {method['n_wavelet']} Wavelet features are "
        "missing (" + REASONS["wavelet"] + ").",
        "",
        "Parity (a feature passes when every image is within "
        f"{RTOL:g} relative):",
        "",
        "| data | features compared | equal | differ |",
        "|---|---:|---:|---:|",
    ]
    for part in result["parity"].values():
        s = part["summary"]
        lines.append(
            f"| {part['description']} | {s['n_features']} | {s['n_parity']} | "
            f"{s['n_mismatch']} |"
        )
    for part in result["parity"].values():
        failing = {k: row for k, row in part["features"].items() if not row["parity"]}
        if not failing:
            continue
        lines += ["", f"Features that differ on the {part['description']}:", ""]
        lines += _md_table(failing)
        causes = {}
        for key, row in failing.items():
            causes.setdefault(row["reason"], []).append(key.split("_", 2)[1])
        lines += [""] + [
            f"- {', '.join(sorted(set(classes)))}: {reason}"
            for reason, classes in sorted(causes.items())
        ]
    unmatched = result["unmatched_fastrad_names"]
    lines += [
        "",
        f"fastrad names with no pyradiomics key ({len(unmatched)}): "
        + ", ".join(unmatched)
        + " (pyradiomics does not compute these by default).",
        "",
        f"Speed on {speed['n_images']} cohort crops (images/s; "
        f"load average {result['load_before']:.2f} before / "
        f"{result['load_after']:.2f} after):",
        "",
        "| method | seconds | images/s |",
        "|---|---:|---:|",
    ]
    for row in speed["rows"]:
        lines.append(
            f"| {row['method']} | {row['seconds']:.2f} | {row['images_per_s']:.1f} |"
        )
    text = "\n".join(lines) + "\n"
    (out / "fastrad.md").write_text(text)
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="number of cohort crops")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="fastrad's device")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    from importlib.metadata import version

    try:
        import fastrad  # noqa: F401
    except ImportError:
        raise SystemExit(
            "bench_fastrad.py needs fastrad: pip install fastrad "
            "(or pip install 'skradnod[bench]')"
        ) from None
    import radiomics
    import torch

    from skradnod.radiomics import RadiomicsExtractor, _center_mask

    torch.set_num_threads(args.n_jobs)
    load_before = os.getloadavg()[0]
    pairs2d, pair3d, _ = ct_fixture(args.device)
    crops, spacings = cohort_crops(args.n)
    masks = [_center_mask(c.shape, 0.7) for c in crops]

    extractor = _fastrad_extractor(args.device, CLASSES_2D)
    _fastrad(extractor, crops[0], masks[0], spacings[0])  # warm-up, not timed
    t_fast, fast = _timed(lambda: [
        _fastrad(extractor, c, m, s) for c, m, s in zip(crops, masks, spacings)
    ])
    refs = [_pyradiomics(c, m, s, CLASSES_2D)
            for c, m, s in zip(crops, masks, spacings)]
    t_orig, _ = _timed(lambda: RadiomicsExtractor(
        image_types=("Original",), n_jobs=args.n_jobs).fit_transform(crops))
    method = RadiomicsExtractor(n_jobs=args.n_jobs)  # the method's defaults
    t_method, _ = _timed(lambda: method.fit_transform(crops))
    method_names = list(method.get_feature_names_out())
    load_after = os.getloadavg()[0]

    parity = {
        "ct_2d": {"description": "CT fixture, 3 slices, real mask, 2D",
                  "features": compare(pairs2d)},
        "ct_3d": {"description": "CT fixture, whole volume, real mask, 3D",
                  "features": compare([pair3d])},
        "cohort_2d": {"description": f"{args.n} cohort crops, centre 70 % mask, 2D",
                      "features": compare(list(zip(fast, refs)))},
    }
    for part in parity.values():
        part["summary"] = summarise(part["features"])
    cohort = parity["cohort_2d"]["features"]
    n_parity = sum(cohort.get(k, {}).get("parity", False) for k in method_names)
    n_computed = sum(k in cohort for k in method_names)
    n_wavelet = sum(k.startswith("wavelet") for k in method_names)
    adopted = n_parity == len(method_names)
    device = args.device
    rows = [
        {"method": f"fastrad, Original, 1 process, {device}", "seconds": t_fast},
        {"method": f"RadiomicsExtractor(n_jobs={args.n_jobs}), Original",
         "seconds": t_orig},
        {"method": f"RadiomicsExtractor(n_jobs={args.n_jobs}), Original + Wavelet "
                   "(the method)", "seconds": t_method},
    ]
    for row in rows:
        row["images_per_s"] = args.n / row["seconds"]
    result = {
        "fastrad_version": version("fastrad"),
        "pyradiomics_version": radiomics.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch "
                   f"{torch.__version__}, fastrad on {device} with "
                   f"{torch.get_num_threads()} torch threads",
        "decision": "adopted" if adopted else "not adopted",
        "decision_reason": (
            "every feature of the method matches pyradiomics" if adopted else
            f"only {n_parity} of the method's {len(method_names)} features match "
            "pyradiomics within 1e-4; pyradiomics stays the only backend"
        ),
        "method_features": {"n_total": len(method_names), "n_computed": n_computed,
                            "n_parity": n_parity, "n_wavelet": n_wavelet},
        "parity": parity,
        "unmatched_fastrad_names": sorted(
            map_names(fast[0], refs[0])[1]
        ),
        "speed": {"n_images": args.n, "rows": rows,
                  "fastrad_vs_pyradiomics_original": t_orig / t_fast},
        "load_before": load_before,
        "load_after": load_after,
    }
    print(write_report(result, args.out))
    return result


if __name__ == "__main__":
    main()
