"""Scale-out as it exists: a grid search over a net on a dask cluster, and the
prepared GPU check script's interface (its CPU dry run is run by ``.ci/run``)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _synthetic import make_bright_centres
from joblib import parallel_config
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from skradnod.models import NoduleCNNClassifier

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"




def test_grid_search_over_a_net_on_a_dask_local_cluster():
    distributed = pytest.importorskip("distributed")
    X, y = make_bright_centres(48, interleaved=True)
    net = NoduleCNNClassifier(
        module__width=4, max_epochs=6, patience=None, lr_patience=None,
        valid_size=None, random_state=0, n_jobs=1,
    )
    # A learning rate that learns the bright centres in 6 epochs, and one that
    # cannot move the weights: the search must find the first.
    search = GridSearchCV(
        net, {"lr": [1e-2, 1e-6]}, cv=StratifiedKFold(2, shuffle=True, random_state=0),
        n_jobs=2,
    )
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    )
    with cluster, distributed.Client(cluster) as client, distributed.get_task_stream(
        client
    ) as stream, parallel_config(backend="dask"):
        search.fit(X, y)
        addresses = set(client.scheduler_info()["workers"])
    # The four (candidate, fold) fits ran as dask tasks on the cluster's workers.
    workers = {task["worker"] for task in stream.data}
    assert len(stream.data) >= 4
    assert workers and workers <= addresses and len(addresses) == 2
    assert search.best_params_ == {"lr": 1e-2}
    scores = search.cv_results_["mean_test_score"]
    assert scores[0] >= 0.9 and scores[1] <= 0.75
    np.testing.assert_array_equal(search.predict(X[:2]), y[:2])


def _gpu_check(*args):
    return subprocess.run(
        ["bash", str(BENCHMARKS / "gpu_check.sh"), *args],
        capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "Usage"),
        (("OUT", "--device", "tpu"), "--device must be cuda or cpu, got 'tpu'"),
        (("OUT", "--fast"), "unknown argument '--fast'"),
    ],
)
def test_gpu_check_rejects_bad_arguments(tmp_path, args, message):
    args = tuple(str(tmp_path / a) if a == "OUT" else a for a in args)
    run = _gpu_check(*args)
    assert run.returncode == 2
    assert message in run.stdout + run.stderr
    assert os.access(BENCHMARKS / "gpu_check.sh", os.X_OK)


def test_gpu_check_junit_report_to_json(tmp_path):
    xml = tmp_path / "report.xml"
    xml.write_text(
        '<testsuites><testsuite name="pytest" tests="3" failures="1" errors="0" '
        'skipped="1"><testcase classname="tests.test_gpu" name="test_a"/>'
        '<testcase classname="tests.test_gpu" name="test_b"><failure message="x"/>'
        '</testcase><testcase classname="tests.test_gpu" name="test_c">'
        '<skipped message="no CUDA"/></testcase></testsuite></testsuites>'
    )
    subprocess.run(
        [sys.executable, str(BENCHMARKS / "gpu_check.py"), "junit", "--out",
         str(tmp_path), "--junit", str(xml)],
        check=True, capture_output=True,
    )
    report = json.loads((tmp_path / "pytest_gpu.json").read_text())
    assert report["tests"] == 3 and report["failures"] == 1
    assert report["skipped"] == 1
    assert report["failed"] == ["tests.test_gpu::test_b"]
    assert report["passed"] == ["tests.test_gpu::test_a"]
