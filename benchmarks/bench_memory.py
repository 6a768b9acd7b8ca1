"""Peak memory of one training epoch on full slices: lazy batches vs in memory.

The built-in cohort has 6,859 full 512x512 slices: 3.6 GB as int16, 7.2 GB as
float32, before the preprocessing steps' own copies. With a lazy batch
(``load_nodule_dataset(..., lazy=True)`` paths -> ``NrrdLoader(lazy=True)`` ->
the preprocessing steps appended per image -> the net's data loader reading an
item at a time) memory should stay at a few batches. The goal is at most 4 GB
peak for the lazy run on the whole cohort.

Each mode runs in a fresh subprocess, so the peak resident set size
(``resource.getrusage``: ``ru_maxrss`` of the process, and of its data-loader
workers when there are any) belongs to that mode alone. Both modes run the same
pipeline: ``NrrdLoader -> make_ct_preprocessor() (HU window, CLAHE, bilateral
filter) -> NoduleCNNClassifier`` (width 4, one epoch, batch 16, no validation
split) on the full-size slices.

Usage::

    python benchmarks/bench_memory.py            # all 6,859 slices (long)
    python benchmarks/bench_memory.py --n 300    # a stratified subset

The cohort is built once (``make_lidc_cohort``'s cache under
``SKRADNOD_DATA`` or ``~/skradnod_data``) before the measured runs. Results go
to ``benchmarks/results/memory.json`` and ``memory.md``.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
MODES = ("lazy", "memory")


def _peak_mb(who):
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(who).ru_maxrss / 1024


def child(args):
    """Run one mode and print a JSON line with its measurements."""
    import numpy as np
    import torch
    from sklearn.pipeline import make_pipeline

    from skradnod.datasets import make_lidc_cohort
    from skradnod.io import NrrdLoader
    from skradnod.models import NoduleCNNClassifier
    from skradnod.preprocessing import make_ct_preprocessor

    torch.set_num_threads(args.threads)
    lazy = args.child == "lazy"
    baseline = _peak_mb(resource.RUSAGE_SELF)
    start = time.perf_counter()
    data = make_lidc_cohort(n_samples=args.n, lazy=lazy)
    X, y = data.full, data.target
    loaded = _peak_mb(resource.RUSAGE_SELF)
    model = make_pipeline(
        NrrdLoader(lazy=lazy),
        make_ct_preprocessor(),
        NoduleCNNClassifier(
            module__width=4, max_epochs=1, batch_size=args.batch_size,
            valid_size=None, patience=None, lr_patience=None, augment=False,
            random_state=0, iterator_train__num_workers=args.workers,
        ),
    )
    fit_start = time.perf_counter()
    model.fit(X, y)
    end = time.perf_counter()
    loss = float(model[-1].history_[-1, "train_loss"])
    print(json.dumps({
        "mode": args.child,
        "n_slices": int(len(y)),
        "workers": args.workers,
        "baseline_rss_mb": round(baseline, 1),
        "after_load_rss_mb": round(loaded, 1),
        "peak_rss_mb": round(_peak_mb(resource.RUSAGE_SELF), 1),
        "workers_peak_rss_mb": round(_peak_mb(resource.RUSAGE_CHILDREN), 1),
        "fit_seconds": round(end - fit_start, 1),
        "total_seconds": round(end - start, 1),
        "train_loss": round(loss, 4),
        "classes": np.unique(y).tolist(),
    }))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=None,
                        help="number of slices (default: all 6,859)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=0,
                        help="data-loader worker processes (keep <= 2 here)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads per run")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument(
        "--malloc-mmap-threshold", type=int, default=None, metavar="BYTES",
        help="run the modes with glibc's MALLOC_MMAP_THRESHOLD_ fixed (e.g. "
             "131072): large buffers are then returned to the system when "
             "freed instead of staying in the heap; results go to "
             "memory.mmap-threshold.{json,md}",
    )
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    from skradnod.datasets import make_lidc_cohort

    print(f"Building/reusing the cohort (n={args.n or 'all'}) ...", flush=True)
    t0 = time.perf_counter()
    make_lidc_cohort(n_samples=args.n, lazy=True, n_jobs=2)
    build_seconds = time.perf_counter() - t0

    rows = []
    for mode in args.modes.split(","):
        command = [
            sys.executable, __file__, "--child", mode,
            "--batch-size", str(args.batch_size), "--workers", str(args.workers),
            "--threads", str(args.threads),
        ]
        if args.n is not None:
            command += ["--n", str(args.n)]
        print(f"Running {mode} ...", flush=True)
        env = dict(os.environ)
        if args.malloc_mmap_threshold is not None:
            env["MALLOC_MMAP_THRESHOLD_"] = str(args.malloc_mmap_threshold)
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            # The in-memory run on the whole cohort can be killed for memory:
            # that is a result too.
            rows.append({"mode": mode, "failed": True,
                         "returncode": done.returncode,
                         "stderr_tail": done.stderr[-2000:]})
            print(f"  {mode} failed (return code {done.returncode})")
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))

    header = ("| mode | slices | workers | RSS after imports (MB) | RSS after "
              "loading (MB) | peak RSS (MB) | workers' peak RSS (MB) | "
              "fit (s) | total (s) |")
    lines = [header, "|" + "---|" * 9]
    for row in rows:
        if row.get("failed"):
            lines.append(f"| {row['mode']} | failed (return code "
                         f"{row['returncode']}) | | | | | | | |")
            continue
        lines.append(
            f"| {row['mode']} | {row['n_slices']} | {row['workers']} | "
            f"{row['baseline_rss_mb']:.0f} | {row['after_load_rss_mb']:.0f} | "
            f"{row['peak_rss_mb']:.0f} | {row['workers_peak_rss_mb']:.0f} | "
            f"{row['fit_seconds']:.1f} | {row['total_seconds']:.1f} |"
        )
    load = os.getloadavg()
    table = "\n".join(lines)
    notes = (
        f"\nOne epoch of NoduleCNNClassifier (width 4, batch {args.batch_size}) "
        "on full 512x512 slices after NrrdLoader + make_ct_preprocessor(); each "
        "mode in a fresh process; peak RSS from getrusage. Goal: lazy peak "
        f"<= 4096 MB on all 6,859 slices. Machine load average during the run: "
        f"{load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} (shared machine); "
        f"torch threads per run: {args.threads}; glibc MALLOC_MMAP_THRESHOLD_: "
        f"{args.malloc_mmap_threshold or 'default (dynamic)'}.\n"
    )
    stem = "memory" if args.malloc_mmap_threshold is None else (
        "memory.mmap-threshold"
    )
    print()
    print(table)
    print(notes)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.md").write_text(
        "# Peak memory of one full-slice epoch: lazy vs in memory\n\n"
        + table + "\n" + notes
    )
    (RESULTS / f"{stem}.json").write_text(json.dumps({
        "benchmark": "bench_memory",
        "n": args.n,
        "batch_size": args.batch_size,
        "workers": args.workers,
        "threads": args.threads,
        "malloc_mmap_threshold": args.malloc_mmap_threshold,
        "cohort_build_seconds": round(build_seconds, 1),
        "rows": rows,
        "loadavg": load,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }, indent=2) + "\n")


if __name__ == "__main__":
    main()
