"""Small synthetic data sets shared by the model and callback tests."""

import numpy as np


def quadrant_data(n, seed):
    """4 classes of 1x8x8 images: the class's quadrant is brighter, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = rng.normal(0.0, 0.5, (n, 1, 8, 8)).astype(np.float32)
    for k in range(4):
        r, c = divmod(k, 2)
        x[y == k, 0, 4 * r:4 * r + 4, 4 * c:4 * c + 4] += 1.0
    return x, y
