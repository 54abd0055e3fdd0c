"""
numba kernel of the network input's asinh stretch: one parallel pass from
the image to the float32 network input, instead of float64 copies of the
frame for each NumPy step. Its slow NumPy reference is
`pais_deblend.model.normalize_image` itself (the tests compare them).
"""

import math

import numba
import numpy as np

from ..utils._numba_cache import install_cache_locator
from ..utils._numba_serial import serial_twins

__all__ = ['asinh_stretch']

install_cache_locator()


@numba.njit(parallel=True, cache=True)
def asinh_stretch(bands, divisors, mask, use_mask):
    """
    ``asinh(bands / divisors)`` per band as float32 (h, w, b), 0 where the
    result is not finite or, with ``use_mask``, where ``mask`` is True.

    Parameters
    ----------
    bands : (h, w, b) float `~numpy.ndarray`
    divisors : (b,) float64 `~numpy.ndarray`
        ``softening * noise_sigma`` of every band.
    mask : (h, w) bool `~numpy.ndarray`
    use_mask : bool
    """
    height, width, n_bands = bands.shape
    out = np.empty((height, width, n_bands), dtype=np.float32)
    for y in numba.prange(height):
        for x in range(width):
            if use_mask and mask[y, x]:
                for b in range(n_bands):
                    out[y, x, b] = 0.0
                continue
            for b in range(n_bands):
                value = math.asinh(np.float64(bands[y, x, b]) / divisors[b])
                out[y, x, b] = value if math.isfinite(value) else 0.0
    return out


serial_twins(asinh_stretch)
