"""Time the build of the built-in LIDC-IDRI cohort (``make_lidc_cohort``).

Goal: all 6,859 (full slice, nodule crop) NRRD pairs written in <= 3 minutes on
2 cores. Builds the full cohort as ``make_lidc_cohort(out, n_jobs=..., lazy=True)``
(render, write, read the manifest back) and records

- the wall time and pairs/s;
- the CPU time of the build, this process plus its joblib workers (the workers
  are shut down at the end so that ``getrusage(RUSAGE_CHILDREN)`` counts them),
  and the wall time that CPU implies on ``n_jobs`` idle cores;
- the load average (``os.getloadavg``) before and after: the machine may be
  shared with other work, which slows the wall time but not the CPU time.

Prints a table and writes benchmarks/results/cohort.{json,md}.

With ``--level nodule`` it builds the per-nodule cohort (2,653 pairs, the
grouping of the readings included) and writes results/cohort.nodule.{json,md}.

Usage: python benchmarks/bench_cohort.py [--n-jobs 2] [--level nodule] [--out DIR]
"""

import argparse
import json
import os
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

from joblib.externals.loky import get_reusable_executor

RESULTS = Path(__file__).parent / "results"
GOAL_S = 180.0


def _du(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--level", choices=["annotation", "nodule"],
                        default="annotation")
    parser.add_argument("--variant", choices=["a", "b"], default="a",
                        help="the rendering (make_lidc_cohort's variant)")
    parser.add_argument("--out", default=None,
                        help="folder for the cohort (kept); default: a temporary one")
    args = parser.parse_args(argv)

    from skradnod.datasets import make_lidc_cohort

    work = Path(tempfile.mkdtemp(prefix="bench-cohort-"))
    out = Path(args.out) if args.out else work / "full"
    get_reusable_executor().shutdown(wait=True)
    try:
        load_before = os.getloadavg()
        cpu0 = time.process_time()
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        data = make_lidc_cohort(out, n_jobs=args.n_jobs, lazy=True, level=args.level,
                                variant=args.variant)
        wall_full = time.perf_counter() - t0
        load_after = os.getloadavg()
        get_reusable_executor().shutdown(wait=True)
        children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_full = time.process_time() - cpu0 + sum(
            getattr(children1, f) - getattr(children0, f)
            for f in ("ru_utime", "ru_stime")
        )
        n_pairs = len(data.ids)
        size = _du(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    projected = cpu_full / args.n_jobs
    result = {
        "benchmark": "make_lidc_cohort full build",
        "level": args.level,
        "variant": args.variant,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
        },
        "n_jobs": args.n_jobs,
        "n_pairs": n_pairs,
        "full_build_wall_s": round(wall_full, 1),
        "full_build_pairs_per_s": round(n_pairs / wall_full, 1),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in load_after],
        "disk_bytes": size,
        "cpu_s": round(cpu_full, 1),
        "cpu_ms_per_pair": round(1000 * cpu_full / n_pairs, 2),
        "projected_wall_s_on_idle_cores": round(projected, 1),
        "goal_s": GOAL_S,
        "goal_met": bool(wall_full <= GOAL_S),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "cohort" if args.level == "annotation" else f"cohort.{args.level}"
    if args.variant != "a":
        name += f".{args.variant}"
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = [
        ("pairs written", f"{n_pairs:,}"),
        (f"full build, n_jobs={args.n_jobs} (wall)",
         f"{wall_full:.1f} s ({n_pairs / wall_full:.1f} pairs/s)"),
        ("goal", f"<= {GOAL_S:.0f} s: {'met' if wall_full <= GOAL_S else 'NOT met'}"),
        ("load average before / after (1, 5, 15 min)",
         f"{', '.join(f'{x:.2f}' for x in load_before)} / "
         f"{', '.join(f'{x:.2f}' for x in load_after)}"),
        ("CPU time (this process + workers)",
         f"{cpu_full:.1f} s ({1000 * cpu_full / n_pairs:.1f} ms per pair)"),
        (f"implied full build on {args.n_jobs} idle cores", f"{projected:.1f} s"),
        ("disk", f"{size / 1e9:.2f} GB"),
        ("machine", f"{os.cpu_count()} CPUs, {platform.platform()}"),
    ]
    width = max(len(k) for k, _ in rows)
    table = "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
    print(table)
    flag = "" if args.level == "annotation" else f" --level {args.level}"
    flag += "" if args.variant == "a" else f" --variant {args.variant}"
    md = [f"# make_lidc_cohort: full cohort build (level={args.level}, "
          f"variant={args.variant})", "",
          f"`python benchmarks/bench_cohort.py --n-jobs {args.n_jobs}{flag}`", "",
          "| measure | value |", "| --- | --- |"]
    md += [f"| {k} | {v} |" for k, v in rows]
    md += ["", "A load average above the core count means other work shared the "
           "machine during the build: the wall time then grows, the CPU time "
           "does not."]
    (RESULTS / f"{name}.md").write_text("\n".join(md) + "\n")
    return result


if __name__ == "__main__":
    main()
