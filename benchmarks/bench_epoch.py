"""Where a nodule CNN's epoch goes: BatchNorm recalibration on all or 256 samples.

Trains ``NoduleCNNClassifier`` (the demo's size: width 16, batches of 32, one
torch thread) on preprocessed crops of the built-in cohort with early stopping
off, once with :class:`~skradnod.callbacks.BatchNormRecalibration` over the
whole training split (``max_samples=None``, the recipe before) and once over
256 evenly spaced training samples (the default since), interleaved
``--repeats`` times to spread a shared machine's load. It reports the median
seconds per epoch, the ratio, and the validation loss and accuracy of the last
epoch (the statistics estimated from 256 samples must not change what early
stopping reads).

Usage: python benchmarks/bench_epoch.py [--n 1000] [--size 32] [--epochs 4]
       [--repeats 3] [--out DIR] [--name epoch]
"""

import argparse
import json
import os
import platform
import statistics
import sys
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"


def fit_once(X, y, groups, max_samples, epochs):
    from skradnod.models import NoduleCNNClassifier

    clf = NoduleCNNClassifier(
        module__width=16, batch_size=32, max_epochs=epochs, patience=None,
        random_state=0, n_jobs=1,
        callbacks__bn_recalibration__max_samples=max_samples,
    )
    clf.fit(X, y, groups=groups)
    history = clf.history_
    return {
        "s_per_epoch": statistics.median(history[:, "dur"]),
        "valid_loss": float(history[-1, "valid_loss"]),
        "valid_acc": float(history[-1, "valid_acc"]),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--name", default="epoch")
    args = parser.parse_args(argv)

    import torch

    from skradnod.datasets import make_lidc_cohort
    from skradnod.preprocessing import make_ct_preprocessor

    torch.set_num_threads(1)
    data = make_lidc_cohort(n_samples=args.n, random_state=0)
    X = make_ct_preprocessor(size=args.size).fit_transform(data.nodule)
    y, groups = np.asarray(data.target), np.asarray(data.groups)
    load_before = os.getloadavg()[0]
    runs = {"all": [], "256": []}
    for _ in range(args.repeats):
        for name, max_samples in (("all", None), ("256", 256)):
            runs[name].append(fit_once(X, y, groups, max_samples, args.epochs))
            print(f"{name}: {runs[name][-1]}", file=sys.stderr, flush=True)
    summary = {
        name: {
            "s_per_epoch": statistics.median(r["s_per_epoch"] for r in rs),
            "valid_loss": statistics.median(r["valid_loss"] for r in rs),
            "valid_acc": statistics.median(r["valid_acc"] for r in rs),
        }
        for name, rs in runs.items()
    }
    ratio = summary["256"]["s_per_epoch"] / summary["all"]["s_per_epoch"]
    context = {
        "command": "python benchmarks/bench_epoch.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "data": f"make_lidc_cohort(n_samples={args.n}) crops at {args.size} px "
        f"(80 % train / 20 % patient-grouped validation)",
        "machine": f"{os.cpu_count()} CPU cores, 1 torch thread, load "
        f"{load_before:.1f} before / {os.getloadavg()[0]:.1f} after",
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    lines = [
        f"Command: `{context['command']}`",
        "",
        f"{context['data']}; NoduleCNN width 16, batch 32, {args.epochs} epochs x "
        f"{args.repeats} interleaved repeats; {context['machine']}.",
        "",
        "| BatchNorm recalibration on | s/epoch (median) | valid loss | valid acc |",
        "|---|---:|---:|---:|",
    ]
    for name, label in (("all", "the whole training split"), ("256", "256 samples")):
        s = summary[name]
        lines.append(f"| {label} | {s['s_per_epoch']:.2f} | {s['valid_loss']:.3f} "
                     f"| {s['valid_acc']:.3f} |")
    lines += ["", f"Ratio 256 / all: {ratio:.2f}."]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(
        {"context": context, "runs": runs, "summary": summary, "ratio": ratio},
        indent=1) + "\n")
    table = "\n".join(lines) + "\n"
    (args.out / f"{args.name}.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
