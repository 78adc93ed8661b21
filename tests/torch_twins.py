"""PyTorch pieces shared by the tests that compare cnnfast with torch.

Import it only after ``pytest.importorskip("torch")``.  Importing
``one_torch_thread`` into a test module makes that autouse fixture apply there.
"""

import pytest
import torch
from torch import nn


class TorchResidual(nn.Module):
    """torch twin of cnnfast.layers.Residual: block(x) + (shortcut(x) or x)."""

    def __init__(self, block, shortcut=None):
        super().__init__()
        self.block = block
        self.shortcut = shortcut

    def forward(self, x):
        return self.block(x) + (x if self.shortcut is None else self.shortcut(x))


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny problems; the machine's cores belong to the test run, not to torch's pool."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
