"""
numba kernels of the PCR peak finder (`pais_deblend.pcr.peaks`).

Each kernel has a pure-NumPy twin in `._reference`; compiling, caching
and lazy importing are as described in `._index`.
"""

import numba
import numpy as np

from ..utils._numba_cache import install_cache_locator
from ..utils._numba_serial import serial_twins

__all__ = []

# before the first @numba.njit(cache=True): never cache inside the package
install_cache_locator()

# --------------------------------------------------------------------------
# peak finding
# --------------------------------------------------------------------------


@numba.njit(cache=True, inline='always')
def _is_local_maximum(image, y, x, threshold, half_window):
    """Whether pixel (y, x) is a candidate of `local_maxima`."""
    height, width = image.shape
    value = image[y, x]
    if not value >= threshold:
        return False
    y0 = max(y - half_window, 0)
    y1 = min(y + half_window, height - 1)
    x0 = max(x - half_window, 0)
    x1 = min(x + half_window, width - 1)
    for yy in range(y0, y1 + 1):
        for xx in range(x0, x1 + 1):
            if image[yy, xx] > value:
                return False
    return True


@numba.njit(parallel=True, cache=True)
def local_maxima(image, threshold, half_window):
    """
    Mask of pixels >= threshold that equal the maximum of their
    (2 half_window + 1)^2 window (clipped at the frame edges, so edge
    pixels are considered). NaN pixels are never maxima and are ignored
    as neighbours.
    """
    height, width = image.shape
    out = np.zeros((height, width), dtype=np.bool_)
    for y in numba.prange(height):
        for x in range(width):
            out[y, x] = _is_local_maximum(image, y, x, threshold,
                                          half_window)
    return out


@numba.njit(parallel=True, cache=True)
def local_maxima_positions(image, threshold, half_window):
    """
    The (y, x) positions of the `local_maxima` candidates in raster order
    (``np.nonzero(local_maxima(...))``) as two int64 arrays, without the
    (h, w) mask: candidates are few, so a counting pass over the rows and
    a filling pass over the rows that have any replace a pass over a
    full-frame mask.
    """
    height, width = image.shape
    counts = np.zeros(height + 1, dtype=np.int64)
    for y in numba.prange(height):
        count = 0
        for x in range(width):
            if _is_local_maximum(image, y, x, threshold, half_window):
                count += 1
        counts[y + 1] = count
    start = np.cumsum(counts)
    ys = np.empty(start[-1], dtype=np.int64)
    xs = np.empty(start[-1], dtype=np.int64)
    for y in numba.prange(height):
        if counts[y + 1] == 0:
            continue
        pos = start[y]
        for x in range(width):
            if _is_local_maximum(image, y, x, threshold, half_window):
                ys[pos] = y
                xs[pos] = x
                pos += 1
    return ys, xs


# serial twin of the kernel of `pais_deblend.pcr.find_centers`, for small
# frames
serial_twins(local_maxima_positions)
