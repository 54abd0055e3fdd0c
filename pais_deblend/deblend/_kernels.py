"""
numba kernels of the deblending pipeline's whole-frame steps, each with
a serial twin for small frames (`pais_deblend.utils._numba_serial`).
"""

import numba
import numpy as np

from ..utils._numba_cache import install_cache_locator
from ..utils._numba_serial import serial_twins

__all__ = ['companion_candidates']

install_cache_locator()


@numba.njit(parallel=True, cache=True)
def companion_candidates(smoothed, model, segments, level, fraction):
    """
    The pixels of a segment where the smoothed image and its residual
    ``smoothed - model`` both exceed ``level`` and the residual exceeds
    ``fraction`` of the image, as a boolean (h, w) frame.

    Parameters
    ----------
    smoothed, model : (h, w) float32 `~numpy.ndarray`
    segments : (h, w) int `~numpy.ndarray`
        0 outside the footprint.
    level, fraction : float32
        Compared in float32, as NumPy compares a float32 frame with a
        Python float.
    """
    height, width = smoothed.shape
    candidate = np.empty((height, width), dtype=np.bool_)
    for y in numba.prange(height):
        for x in range(width):
            value = smoothed[y, x]
            residual = value - model[y, x]
            candidate[y, x] = (segments[y, x] > 0 and value > level
                               and residual > level
                               and residual > fraction * value)
    return candidate


serial_twins(companion_candidates)
