"""The measured steps of ``benchmarks/gpu_check.sh``, one subcommand each.

Each subcommand runs one check on ``--device`` and writes ``<out>/<step>.json``:

env
    Python, torch, skradnod, the CUDA device, ``nvidia-smi`` if present.
fusion
    ``FusionClassifier`` (image branch ``make_ct_preprocessor(size=64)``,
    feature branch Original radiomics + scaling) on the whole cohort: branch
    fitting time, seconds per epoch and images per second.
lazy
    One pass of full 512x512 slices read lazily (NRRD paths, ``NrrdLoader(
    lazy=True)``, ``make_ct_preprocessor()``) through ``NoduleCNNClassifier``
    with data-loader workers: images/s per epoch and GPU utilisation sampled
    with ``nvidia-smi`` while it trains.
pickle
    A model trained on ``--device`` saved with joblib and loaded in a fresh
    process that sees no GPU (``CUDA_VISIBLE_DEVICES=""``); its predictions
    must equal those on the training device (labels identical, probabilities
    within 1e-4 of the float32 ones).
junit
    Convert a pytest ``--junitxml`` report to JSON (counts and failures).

Usage: python benchmarks/gpu_check.py STEP --out DIR [--device cuda|cpu]
       [--quick]
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np


def _write(out, step, payload):
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{step}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(json.dumps(payload, default=str)[:2000])
    return payload


def _cohort(n, **kwargs):
    from skradnod.datasets import make_lidc_cohort

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_lidc_cohort(n_samples=n, n_jobs=-1, **kwargs)


def _version(name):
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def step_env(args):
    import torch

    import skradnod

    payload = {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "skradnod": _version("skradnod"),
        "skradnod_path": os.path.dirname(skradnod.__file__),
        "skradnod_cli": shutil.which("skradnod"),
        "cuda_available": torch.cuda.is_available(),
        "device": args.device,
    }
    if torch.cuda.is_available():
        payload["cuda_device"] = torch.cuda.get_device_name(0)
        payload["bf16_supported"] = torch.cuda.is_bf16_supported()
    if shutil.which("nvidia-smi"):
        payload["nvidia_smi"] = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
             "--format=csv,noheader"], capture_output=True, text=True,
        ).stdout.strip()
    return _write(args.out, "env", payload)


def step_fusion(args):
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skradnod.compose import FusionClassifier
    from skradnod.preprocessing import make_ct_preprocessor
    from skradnod.radiomics import RadiomicsExtractor

    n = 300 if args.quick else None  # None: the whole cohort (6,859 pairs)
    epochs = 1 if args.quick else 3
    start = time.perf_counter()
    data = _cohort(n)
    built = time.perf_counter() - start
    features = make_pipeline(
        RadiomicsExtractor(image_types=("Original",), n_jobs=-1),
        SimpleImputer(), StandardScaler(),
    )
    model = FusionClassifier(
        [("image", make_ct_preprocessor(size=64), "nodule"),
         ("features", features, "nodule")],
        max_epochs=epochs, patience=None, device=args.device, random_state=0,
        # --quick is a functional dry run: a narrow image branch keeps it short.
        **({"module__image_width": 8} if args.quick else {}),
    )
    start = time.perf_counter()
    model.fit(data.frame, data.target)
    fit = time.perf_counter() - start
    epoch_s = [float(d) for d in model.history_[:, "dur"]]
    n_images = len(data.target)
    return _write(args.out, "fusion", {
        "n_images": n_images, "size": 64, "epochs": epochs,
        "device": model.device_, "precision": model.precision,
        "cohort_build_s": built,
        "branches_fit_s": fit - sum(epoch_s),
        "epoch_s": epoch_s,
        "images_per_s_per_epoch": [n_images / s for s in epoch_s],
        "train_loss": float(model.history_[-1, "train_loss"]),
    })


class _GpuSampler:
    """``nvidia-smi`` utilisation samples in the background, when available."""

    def __init__(self, interval_ms=200):
        self.interval_ms = interval_ms
        self.samples = []
        self._proc = None

    def __enter__(self):
        if shutil.which("nvidia-smi"):
            self._proc = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
                 "--format=csv,noheader,nounits", f"-lms={self.interval_ms}"],
                stdout=subprocess.PIPE, text=True,
            )
            self._thread = threading.Thread(target=self._read, daemon=True)
            self._thread.start()
        return self

    def _read(self):
        for line in self._proc.stdout:
            try:
                util, mem = (float(v) for v in line.split(",")[:2])
            except ValueError:
                continue
            self.samples.append((util, mem))

    def __exit__(self, *exc):
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)

    def summary(self):
        if self._proc is None:
            return {"nvidia_smi": None}
        util = [s[0] for s in self.samples] or [float("nan")]
        mem = [s[1] for s in self.samples] or [float("nan")]
        return {
            "n_samples": len(self.samples),
            "gpu_util_mean": float(np.mean(util)),
            "gpu_util_max": float(np.max(util)),
            "gpu_mem_max_mb": float(np.max(mem)),
        }


def _first_image(batch):
    from skradnod.io import read_nrrd

    first = batch[0]
    if isinstance(first, (str, os.PathLike)):
        return read_nrrd(first)[0]
    return np.asarray(first)


def step_lazy(args):
    from sklearn.pipeline import make_pipeline

    from skradnod.io import NrrdLoader
    from skradnod.models import NoduleCNNClassifier
    from skradnod.preprocessing import make_ct_preprocessor

    n = 8 if args.quick else 2048
    workers = min(8, max(1, (os.cpu_count() or 2) - 1))
    start = time.perf_counter()
    data = _cohort(n, lazy=True)
    built = time.perf_counter() - start
    net = NoduleCNNClassifier(
        # Two epochs: the first pays for starting the workers, the second
        # shows the steady state (the workers persist on a GPU).
        module__width=4 if args.quick else 32, max_epochs=1 if args.quick else 2,
        batch_size=16,
        valid_size=None, patience=None, lr_patience=None, random_state=0,
        device=args.device, iterator_train__num_workers=workers,
    )
    model = make_pipeline(NrrdLoader(lazy=True), make_ct_preprocessor(), net)
    with _GpuSampler() as sampler:
        model.fit(data.full, data.target)
    epoch_s = [float(d) for d in net.history_[:, "dur"]]
    return _write(args.out, "lazy", {
        "n_slices": len(data.target), "size": list(_first_image(data.full).shape),
        "workers": workers, "device": net.device_, "precision": net.precision,
        "cohort_build_s": built, "epoch_s": epoch_s,
        "images_per_s_per_epoch": [len(data.target) / s for s in epoch_s],
        **sampler.summary(),
    })


_LOAD_ON_CPU = """
import sys, joblib, numpy as np, torch
clf = joblib.load(sys.argv[1])
X = np.load(sys.argv[2])
np.save(sys.argv[3], clf.predict_proba(X))
print(torch.cuda.is_available(), clf.device, clf.device_)
"""


def step_pickle(args):
    import joblib

    from skradnod.models import NoduleCNNClassifier
    from skradnod.preprocessing import make_ct_preprocessor

    data = _cohort(100 if args.quick else 1000)
    X = make_ct_preprocessor(size=64).fit_transform(data.nodule)
    clf = NoduleCNNClassifier(
        max_epochs=2, patience=None, device=args.device, random_state=0,
        **({"module__width": 8} if args.quick else {}),
    ).fit(X, data.target)
    proba_trained = clf.predict_proba(X)  # in the precision it trained with
    clf.set_params(precision="32")
    proba_fp32 = clf.predict_proba(X)
    clf.set_params(precision="auto")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        joblib.dump(clf, tmp / "model.joblib")
        np.save(tmp / "X.npy", X)
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
        run = subprocess.run(
            [sys.executable, "-c", _LOAD_ON_CPU, str(tmp / "model.joblib"),
             str(tmp / "X.npy"), str(tmp / "proba.npy")],
            env=env, capture_output=True, text=True,
        )
        if run.returncode:
            raise RuntimeError(f"loading on CPU failed:\n{run.stderr}")
        proba_cpu = np.load(tmp / "proba.npy")
    labels_cpu = proba_cpu.argmax(1)
    ok = bool(
        np.array_equal(labels_cpu, proba_fp32.argmax(1))
        and np.abs(proba_cpu - proba_fp32).max() <= 1e-4
    )
    payload = {
        "trained_on": clf.device_, "n_images": len(X),
        "fresh_process": run.stdout.strip(),
        "labels_identical_to_fp32_on_device": bool(
            np.array_equal(labels_cpu, proba_fp32.argmax(1))),
        "max_abs_proba_diff_vs_fp32_on_device": float(
            np.abs(proba_cpu - proba_fp32).max()),
        "n_label_differences_vs_trained_precision": int(
            (labels_cpu != proba_trained.argmax(1)).sum()),
        "max_abs_proba_diff_vs_trained_precision": float(
            np.abs(proba_cpu - proba_trained).max()),
        "passed": ok,
    }
    _write(args.out, "pickle", payload)
    if not ok:
        raise SystemExit("predictions on CPU differ from those on the device")
    return payload


def step_junit(args):
    import xml.etree.ElementTree as ET

    root = ET.parse(args.junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    counts = {k: sum(int(s.get(k, 0)) for s in suites)
              for k in ("tests", "failures", "errors", "skipped")}
    failed = [
        f"{case.get('classname')}::{case.get('name')}"
        for suite in suites for case in suite.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]
    passed = [
        f"{case.get('classname')}::{case.get('name')}"
        for suite in suites for case in suite.iter("testcase")
        if not list(case)
    ]
    return _write(args.out, "pytest_gpu", {**counts, "passed": passed,
                                           "failed": failed})


STEPS = {"env": step_env, "fusion": step_fusion, "lazy": step_lazy,
         "pickle": step_pickle, "junit": step_junit}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=sorted(STEPS))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--junit", type=Path, help="pytest XML report (junit)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and args.step in ("fusion", "lazy", "pickle"):
        import torch

        if not torch.cuda.is_available():
            raise SystemExit("--device cuda but torch sees no CUDA device")
    STEPS[args.step](args)


if __name__ == "__main__":
    main()
