"""
numba kernels of `pais_deblend.utils._smoothing` (imported only there,
so that importing the package does not import numba).

Each pass accumulates a row in float64, tap by tap, over the pixels the
tap reaches inside the frame (0 beyond it), so the inner loop runs along
contiguous memory.
"""

import numba
import numpy as np

from ._numba_cache import install_cache_locator
from ._numba_serial import serial_twins

__all__ = []

install_cache_locator()


@numba.njit(parallel=True, cache=True)
def smooth_rows(image, weights, out):
    """``out[y, x] = sum_k weights[k] image[y, x + k - r]`` (0 outside)."""
    height, width = image.shape
    radius = (weights.size - 1) // 2
    for y in numba.prange(height):
        row = np.zeros(width, dtype=np.float64)
        for k in range(weights.size):
            shift = k - radius
            weight = weights[k]
            for x in range(max(0, -shift), min(width, width - shift)):
                row[x] += weight * image[y, x + shift]
        for x in range(width):
            out[y, x] = row[x]


@numba.njit(parallel=True, cache=True)
def smooth_columns(image, weights, out):
    """``out[y, x] = sum_k weights[k] image[y + k - r, x]`` (0 outside)."""
    height, width = image.shape
    radius = (weights.size - 1) // 2
    for y in numba.prange(height):
        row = np.zeros(width, dtype=np.float64)
        for k in range(weights.size):
            source = y + k - radius
            if source < 0 or source >= height:
                continue
            weight = weights[k]
            for x in range(width):
                row[x] += weight * image[source, x]
        for x in range(width):
            out[y, x] = row[x]


_SERIAL = serial_twins(smooth_rows, smooth_columns)
