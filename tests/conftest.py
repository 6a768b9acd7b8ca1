"""Test-suite settings.

The suite runs on two cores under pytest-xdist (one worker per core). Torch's
default of one intra-op thread per core would make each worker fight the other
for both cores; tiny test nets run many times faster single-threaded.
"""

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """Skip the tests marked ``gpu`` on a machine without CUDA."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (torch.cuda.is_available())")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
