"""Model files: skradnod.save_model against joblib.dump, size and load time.

Two fitted models of the demo's size:

* ``features``: StandardScaler + RandomForestClassifier(n_estimators=100,
  class_weight="balanced"), the demo preset's forest, fitted on a table of
  ``--n`` rows x 100 radiomic-like columns (Gaussian noise with a planted
  signal: the file size depends on the trees, not on the feature values);
* ``nodule_cnn``: the CT preprocessor + NoduleCNNClassifier (width 16, the
  demo's), trained ``--epochs`` epochs on ``--n`` 32 px crops of
  ``make_lidc_cohort``.

Each is written with :func:`skradnod.save_model` and :func:`joblib.dump`,
then loaded ``--repeats`` times; the table gives the file size and the median
load time. ``load_model`` predicts exactly as the model saved (checked here).

Usage: python benchmarks/bench_persist.py [--n 400] [--epochs 2]
       [--repeats 5] [--out DIR]
"""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"


def _models(n, epochs):
    import torch
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skradnod.datasets import make_lidc_cohort
    from skradnod.models import NoduleCNNClassifier
    from skradnod.preprocessing import make_ct_preprocessor

    torch.set_num_threads(1)
    rng = np.random.RandomState(0)
    table = rng.normal(size=(n, 100))
    labels = np.arange(n) % 5 + 1
    table[:, 0] += labels
    forest = make_pipeline(
        StandardScaler(),
        RandomForestClassifier(
            n_estimators=100, class_weight="balanced", random_state=0, n_jobs=1
        ),
    ).fit(table, labels)
    data = make_lidc_cohort(n_samples=n, random_state=0)
    cnn = make_pipeline(
        make_ct_preprocessor(size=32),
        NoduleCNNClassifier(
            module__width=16, batch_size=32, max_epochs=epochs, patience=None,
            random_state=0, n_jobs=1,
        ),
    ).fit(data.nodule, np.asarray(data.target),
          nodulecnnclassifier__groups=np.asarray(data.groups))
    return {"features": (forest, table), "nodule_cnn": (cnn, data.nodule)}


def _measure(model, X, folder, repeats):
    import joblib

    from skradnod import load_model, save_model

    expected = model.predict_proba(X)
    paths = {
        "save_model": save_model(model, os.path.join(folder, "m.skradnod")),
        "joblib": joblib.dump(model, os.path.join(folder, "m.joblib"))[0],
    }
    loaders = {"save_model": load_model, "joblib": joblib.load}
    out = {}
    for name, path in paths.items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            loaded = loaders[name](path)
            times.append(time.perf_counter() - start)
        np.testing.assert_array_equal(loaded.predict_proba(X), expected)
        out[name] = {"bytes": os.path.getsize(path),
                     "load_s": statistics.median(times)}
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    import skops
    import torch

    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, (model, X) in _models(args.n, args.epochs).items():
            results[name] = _measure(model, X, folder, args.repeats)
            print(f"{name}: {results[name]}", file=sys.stderr, flush=True)
    context = {
        "command": "python benchmarks/bench_persist.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{os.cpu_count()} CPU cores (shared), 1 torch thread",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "skops": skops.__version__,
    }
    lines = [
        f"Command: `{context['command']}`",
        "",
        f"n={args.n}; median of {args.repeats} loads; {context['machine']}; "
        f"skops {skops.__version__}, torch {torch.__version__}.",
        "",
        "| model | format | size (KiB) | load (ms) |",
        "|---|---|---:|---:|",
    ]
    for name, formats in results.items():
        for fmt, r in formats.items():
            lines.append(f"| {name} | {fmt} | {r['bytes'] / 1024:.0f} "
                         f"| {r['load_s'] * 1000:.1f} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "persist.json").write_text(
        json.dumps({"context": context, "results": results}, indent=1) + "\n")
    table = "\n".join(lines) + "\n"
    (args.out / "persist.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
