"""Tests that need a CUDA device (marked ``gpu``; skipped without one).

``benchmarks/gpu_check.sh`` runs them on a GPU machine; the CPU-runnable
counterparts of the same code paths are in ``tests/test_speed.py``.
"""

import os
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pytest
import torch
from _synthetic import make_bright_centres

from skradnod.models import NoduleCNNClassifier
from skradnod.models._data import augment_batch, augment_with_centres

pytestmark = pytest.mark.gpu




TINY = {"module__width": 4, "lr": 1e-2, "random_state": 0, "max_epochs": 15}


def test_cuda_default_is_bf16_channels_last_and_learns():
    X, y = make_bright_centres(64)
    clf = NoduleCNNClassifier(device="cuda", **TINY).fit(X, y)
    seen = []
    conv = next(m for m in clf.module_.modules() if isinstance(m, torch.nn.Conv2d))
    conv.register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))
    np.testing.assert_array_equal(clf.predict(X), y)
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    assert seen == [expected]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_cuda_fp16_with_grad_scaler_learns():
    X, y = make_bright_centres(64)
    clf = NoduleCNNClassifier(device="cuda", precision="fp16", **TINY).fit(X, y)
    assert clf._grad_scaler_ is not None
    np.testing.assert_array_equal(clf.predict(X), y)


def test_cuda_loader_workers_persist_over_the_fit():
    X, y = make_bright_centres(64)
    created = []

    class Loader(torch.utils.data.DataLoader):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            created.append(self)

    clf = NoduleCNNClassifier(
        device="cuda", iterator_train=Loader, iterator_train__num_workers=2, **TINY
    ).fit(X, y)
    (loader,) = created
    assert loader.pin_memory and loader.persistent_workers
    assert loader.collate_fn.augment is False  # augmented on the GPU instead
    np.testing.assert_array_equal(clf.predict(X), y)


def test_augmentation_on_the_gpu_matches_the_cpu():
    x = torch.rand(32, 1, 16, 16)
    centres = torch.rand(32, 2)
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        out = augment_batch(x.to(device), rotation=15.0)
        torch.manual_seed(0)
        img, ctr = augment_with_centres(x.to(device), centres.to(device))
        if device == "cpu":
            ref_out, ref_img, ref_ctr = out, img, ctr
    torch.testing.assert_close(out.cpu(), ref_out, atol=1e-4, rtol=0)
    torch.testing.assert_close(img.cpu(), ref_img, atol=1e-4, rtol=0)
    torch.testing.assert_close(ctr.cpu(), ref_ctr, atol=1e-5, rtol=0)


def test_cuda_model_predicts_alike_on_cpu_in_a_fresh_process(tmp_path):
    X, y = make_bright_centres(64)
    clf = NoduleCNNClassifier(**TINY).fit(X, y)  # device="auto": CUDA here
    assert clf.device_ == "cuda"
    path = tmp_path / "model.joblib"
    joblib.dump(clf, path)
    np.save(tmp_path / "X.npy", X)
    code = textwrap.dedent(f"""
        import joblib, numpy as np, torch
        assert not torch.cuda.is_available()
        clf = joblib.load({str(path)!r})
        X = np.load({str(tmp_path / "X.npy")!r})
        np.save({str(tmp_path / "proba.npy")!r}, clf.predict_proba(X))
        """)
    env = {"CUDA_VISIBLE_DEVICES": ""}
    subprocess.run(
        [sys.executable, "-c", code], check=True, env={**os.environ, **env}
    )
    proba_cpu = np.load(tmp_path / "proba.npy")
    proba_gpu = clf.predict_proba(X)
    np.testing.assert_array_equal(proba_cpu.argmax(1), proba_gpu.argmax(1))
    # bfloat16 on the GPU, float32 on the CPU: close, not bit-equal.
    np.testing.assert_allclose(proba_cpu, proba_gpu, atol=2e-2)
