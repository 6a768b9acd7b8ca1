"""Test-suite settings.

The suite runs on two cores under pytest-xdist (one worker per core). Torch's
default of one intra-op thread per core would make each worker fight the other
for both cores; tiny test nets run many times faster single-threaded.
"""

import matplotlib
import torch

matplotlib.use("Agg")
torch.set_num_threads(1)
