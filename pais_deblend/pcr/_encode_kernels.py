"""
numba kernels of PCR encoding (`pais_deblend.pcr.encode`).

The nearest centres of every pixel come from `._index`.

Each kernel has a pure-NumPy twin in `._reference`; compiling, caching
and lazy importing are as described in `._index`.
"""

import math

import numba
import numpy as np

from ..utils._numba_cache import install_cache_locator

__all__ = []

# before the first @numba.njit(cache=True): never cache inside the package
install_cache_locator()

# --------------------------------------------------------------------------
# encoding
# --------------------------------------------------------------------------


@numba.njit(parallel=True, cache=True)
def draw_center_of_mass(shape_y, shape_x, sorted_centers, sigma, radius):
    """
    Max-combined unit-peak Gaussians, each drawn only within ``radius``.

    ``sorted_centers`` (N, 2) must be sorted by y. Pixel (y, x) of source
    c gets exp(-((y - cy)^2 + (x - cx)^2) / (2 sigma^2)) when
    |y - cy| <= radius and |x - cx| <= radius. Parallel over rows, so the
    maximum needs no atomics.
    """
    out = np.zeros((shape_y, shape_x), dtype=np.float32)
    n_centers = sorted_centers.shape[0]
    inverse_two_sigma2 = 1.0 / (2.0 * sigma * sigma)
    cys = sorted_centers[:, 0].copy()
    for y in numba.prange(shape_y):
        first = np.searchsorted(cys, y - radius, side='left')
        for i in range(first, n_centers):
            cy = sorted_centers[i, 0]
            if cy > y + radius:
                break
            cx = sorted_centers[i, 1]
            dy = y - cy
            x0 = max(int(math.ceil(cx - radius)), 0)
            x1 = min(int(math.floor(cx + radius)), shape_x - 1)
            for x in range(x0, x1 + 1):
                dx = x - cx
                value = math.exp(-(dy * dy + dx * dx) * inverse_two_sigma2)
                if value > out[y, x]:
                    out[y, x] = value
    return out


@numba.njit(cache=True)
def gather_flux(cutout, y0, x0, source, contributors, flux):
    """
    Store max(S, 0) of one source's cutout in the slots naming it.

    ``contributors`` (h, w, n) holds source indices (-1 = padding);
    ``flux`` (h, w, n) float64 is updated in place. NaN counts as 0.
    Sequential: called once per cutout from a Python loop, and one cutout
    is too small to be worth a thread launch; slots of different sources
    never collide, so the caller could also parallelise over sources.
    """
    ny, nx = cutout.shape
    n = contributors.shape[2]
    for yy in range(ny):
        for xx in range(nx):
            value = cutout[yy, xx]
            if not value > 0.0:
                continue
            for k in range(n):
                if contributors[y0 + yy, x0 + xx, k] == source:
                    flux[y0 + yy, x0 + xx, k] = value
    return


@numba.njit(cache=True)
def insert_top_flux(cutout, y0, x0, source, top_index, top_flux):
    """
    Insert one source's positive pixels into the per-pixel top-n lists.

    ``top_index`` (h, w, n) int32 (-1 = empty) and ``top_flux`` (h, w, n)
    float64 are kept sorted by flux, largest first; among equal fluxes the
    source inserted first (the lower index, as sources arrive in order)
    stays first. Sequential for the same reason as `gather_flux`, and
    because two sources covering one pixel update the same list.
    """
    ny, nx = cutout.shape
    n = top_index.shape[2]
    for yy in range(ny):
        for xx in range(nx):
            value = cutout[yy, xx]
            if not value > 0.0:
                continue
            y = y0 + yy
            x = x0 + xx
            if value <= top_flux[y, x, n - 1] and top_index[y, x, n - 1] >= 0:
                continue
            m = n - 1
            while m > 0 and (top_index[y, x, m - 1] < 0
                             or top_flux[y, x, m - 1] < value):
                top_flux[y, x, m] = top_flux[y, x, m - 1]
                top_index[y, x, m] = top_index[y, x, m - 1]
                m -= 1
            top_flux[y, x, m] = value
            top_index[y, x, m] = source
    return


@numba.njit(parallel=True, cache=True)
def merge_most_flux(top_index, top_flux, nearest):
    """
    Complete the most-flux contributor lists.

    Slots left empty (fewer than n sources with flux at the pixel) are
    filled from ``nearest`` (h, w, n), skipping sources already present;
    these extra slots carry zero flux. ``top_index`` / ``top_flux`` are
    modified in place (they are scratch arrays of `encode_pcr`). The
    nearest-first order is applied afterwards by `finalize_encoding`,
    from the distances themselves: a most-flux contributor may lie beyond
    the n nearest centres, so ranks in ``nearest`` would not do.
    """
    height, width, n = top_index.shape
    for y in numba.prange(height):
        for x in range(width):
            filled = 0
            for m in range(n):
                if top_index[y, x, m] >= 0:
                    filled += 1
            j = 0
            while filled < n and j < n:
                candidate = nearest[y, x, j]
                j += 1
                if candidate < 0:
                    break
                present = False
                for m in range(filled):
                    if top_index[y, x, m] == candidate:
                        present = True
                if not present:
                    top_index[y, x, filled] = candidate
                    top_flux[y, x, filled] = 0.0
                    filled += 1
    return


@numba.njit(parallel=True, cache=True)
def finalize_encoding(contributors, flux, centers, sort_by_distance):
    """
    Turn per-slot contributors and fluxes into C^v and C^m.

    Parameters
    ----------
    contributors : (h, w, n) int32
        Source indices, -1 for padding (only when N < n; padding comes
        after the real slots).
    flux : (h, w, n) float64
        max(S, 0) of each slot's source at the pixel.
    centers : (N, 2) float64
    sort_by_distance : bool
        Reorder the real slots nearest first (ties: lower index).

    Returns
    -------
    vectors : (h, w, n, 2) float32
        (dy, dx) = centre - pixel; padded slots repeat the first slot.
    maps : (h, w, n) float32
        flux / sum(flux) computed in float64; equal shares over the real
        slots when the sum is zero; 0 for padded slots.
    """
    height, width, n = contributors.shape
    vectors = np.empty((height, width, n, 2), dtype=np.float32)
    maps = np.empty((height, width, n), dtype=np.float32)
    for y in numba.prange(height):
        index = np.empty(n, dtype=np.int64)
        values = np.empty(n, dtype=np.float64)
        d2 = np.empty(n, dtype=np.float64)
        for x in range(width):
            n_real = 0
            for m in range(n):
                i = contributors[y, x, m]
                if i >= 0:
                    index[n_real] = i
                    values[n_real] = flux[y, x, m]
                    dy = centers[i, 0] - y
                    dx = centers[i, 1] - x
                    d2[n_real] = dy * dy + dx * dx
                    n_real += 1
            if sort_by_distance:
                for a in range(1, n_real):
                    m = a
                    while m > 0 and (d2[m - 1] > d2[m] or (
                            d2[m - 1] == d2[m] and index[m - 1] > index[m])):
                        d2[m - 1], d2[m] = d2[m], d2[m - 1]
                        index[m - 1], index[m] = index[m], index[m - 1]
                        values[m - 1], values[m] = values[m], values[m - 1]
                        m -= 1
            total = 0.0
            for m in range(n_real):
                total += values[m]
            for m in range(n):
                if m < n_real:
                    i = index[m]
                    if total > 0.0:
                        maps[y, x, m] = values[m] / total
                    else:
                        maps[y, x, m] = 1.0 / n_real
                else:
                    i = index[0]
                    maps[y, x, m] = 0.0
                vectors[y, x, m, 0] = centers[i, 0] - y
                vectors[y, x, m, 1] = centers[i, 1] - x
    return vectors, maps
