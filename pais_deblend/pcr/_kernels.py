"""
numba kernels for the Partial Contribution Representation (PCR).

Every kernel here has a slow pure-NumPy twin in `._reference` that the
tests compare it with on random inputs. The kernels are compiled on first
use and cached on disk (``cache=True``, outside the package: see
``pais_deblend.utils._numba_cache``); this module is only imported inside
the functions that need it, so ``import pais_deblend`` does not pay for
importing numba.

Nearest-centre look-up (decoding step 3 on the PCR page)
--------------------------------------------------------
Decoding asks, for every pixel ``p`` and slot ``k``, which detected centre
is nearest to the target ``p + v_k``; encoding asks for the ``n`` centres
nearest to every pixel. Both use a *tile candidate list*: the plane around
the frame and the centres is cut into square tiles of side ``T``; for the
tile with centre ``t`` let ``d_n(t)`` be the distance from ``t`` to its
``n``-th nearest centre. For any point ``q`` of the tile (``|q - t| <=
T / sqrt(2) = r_t``) its ``n`` nearest centres lie within ``d_n(t) + r_t``
of ``q`` and therefore within ``d_n(t) + 2 r_t`` of ``t``. Storing, per
tile, the centres inside that radius makes each look-up an exact search
over a handful of candidates, so decoding costs O(h w n) rather than
O(h w n N), with no approximation from rasterising a Voronoi map (a
rasterised map misses centres closer than about a pixel to each other).
For the single-nearest queries of decoding the lists are pruned further:
a centre ``c`` is kept only if it can be nearer than the tile centre's
nearest centre ``c0`` to some point of the tile; ``|q - c|^2 - |q - c0|^2``
is linear in ``q``, so testing the four tile corners is exact. Most tiles
then hold a single candidate and need no distance computation at all.
Points outside the tiled region fall back to a linear scan. Decoding
first tries a per-slot cache: a point closer to centre ``c`` than half
the distance from ``c`` to its nearest other centre is strictly nearest
to ``c`` (by a margin far above float64 rounding), and the targets of
neighbouring pixels usually reach the same centre.

Distances are compared as ``(qy - cy) ** 2 + (qx - cx) ** 2`` in float64
and ties go to the lower centre index, exactly as in the references.
"""

import math

import numba
import numpy as np

from ..utils._numba_cache import install_cache_locator

__all__ = []

# before the first @numba.njit(cache=True): never cache inside the package
install_cache_locator()

# --------------------------------------------------------------------------
# tile candidate lists
# --------------------------------------------------------------------------


@numba.njit(cache=True)
def _bucket_centers(centers, y_lo, x_lo, cell, n_cy, n_cx):
    """
    Counting sort of the centres into a coarse square grid.

    Sequential (parallel=False): a counting sort over N centres is cheap
    and its scatter step writes to shared counters.
    """
    n_centers = centers.shape[0]
    cell_of = np.empty(n_centers, dtype=np.int64)
    counts = np.zeros(n_cy * n_cx + 1, dtype=np.int64)
    for i in range(n_centers):
        cy = int((centers[i, 0] - y_lo) / cell)
        cx = int((centers[i, 1] - x_lo) / cell)
        cy = min(max(cy, 0), n_cy - 1)
        cx = min(max(cx, 0), n_cx - 1)
        cell_of[i] = cy * n_cx + cx
        counts[cell_of[i] + 1] += 1
    start = np.cumsum(counts)
    fill = start[:-1].copy()
    order = np.empty(n_centers, dtype=np.int64)
    for i in range(n_centers):
        order[fill[cell_of[i]]] = i
        fill[cell_of[i]] += 1
    return start, order


@numba.njit(cache=True)
def _kth_distance2(ty, tx, centers, start, order, y_lo, x_lo, cell, n_cy,
                   n_cx, k, best):
    """
    Squared distance from (ty, tx) to its k-th nearest centre (k >= 1)
    and the index of its nearest centre, by a ring search over the coarse
    grid. ``best`` is scratch of size k.
    """
    nearest = -1
    nearest_d2 = np.inf
    for i in range(k):
        best[i] = np.inf
    c0y = min(max(int((ty - y_lo) / cell), 0), n_cy - 1)
    c0x = min(max(int((tx - x_lo) / cell), 0), n_cx - 1)
    max_ring = max(c0y, n_cy - 1 - c0y, c0x, n_cx - 1 - c0x)
    for ring in range(max_ring + 1):
        for gy in range(c0y - ring, c0y + ring + 1):
            if gy < 0 or gy >= n_cy:
                continue
            on_edge_row = gy == c0y - ring or gy == c0y + ring
            step = 1 if on_edge_row else 2 * ring
            gx = c0x - ring
            while gx <= c0x + ring:
                if 0 <= gx < n_cx:
                    c = gy * n_cx + gx
                    for j in range(start[c], start[c + 1]):
                        i = order[j]
                        dy = ty - centers[i, 0]
                        dx = tx - centers[i, 1]
                        d2 = dy * dy + dx * dx
                        if d2 < nearest_d2 or (d2 == nearest_d2
                                               and i < nearest):
                            nearest_d2 = d2
                            nearest = i
                        if d2 < best[k - 1]:
                            m = k - 1
                            while m > 0 and best[m - 1] > d2:
                                best[m] = best[m - 1]
                                m -= 1
                            best[m] = d2
                if step == 0:
                    break
                gx += step
        # every centre not seen yet is at least `ring * cell` away
        bound = ring * cell
        if best[k - 1] <= bound * bound:
            break
    return best[k - 1], nearest


@numba.njit(cache=True, inline='always')
def _may_be_nearest(i, i0, ty, tx, half, centers):
    """
    Whether centre i can be nearer than centre i0 to some point of the
    square tile of centre (ty, tx) and half-side ``half``. The difference
    of squared distances is linear in the point, so checking the corners
    is exact; ties count as "can".
    """
    if i == i0:
        return True
    ay, ax = centers[i, 0], centers[i, 1]
    by, bx = centers[i0, 0], centers[i0, 1]
    for sy in (-1.0, 1.0):
        for sx in (-1.0, 1.0):
            qy = ty + sy * half
            qx = tx + sx * half
            da = (qy - ay) * (qy - ay) + (qx - ax) * (qx - ax)
            db = (qy - by) * (qy - by) + (qx - bx) * (qx - bx)
            if da <= db + 1e-9 * (1.0 + db):
                return True
    return False


@numba.njit(cache=True, inline='always')
def _scan_tile(ty, tx, radius, i0, tight, half, centers, start, order, y_lo,
               x_lo, cell, n_cy, n_cx, write, out, pos):
    """
    The candidates of the tile of centre (ty, tx): centres within
    ``radius`` that, when ``tight``, may be nearer than centre ``i0`` to
    some point of the tile (half-side ``half``). Returns their number;
    when ``write`` they are also stored in ``out[pos:]`` (bucket order).
    One helper for the counting pass and the filling pass.
    """
    radius2 = radius * radius
    count = 0
    gy0 = max(int((ty - radius - y_lo) / cell), 0)
    gy1 = min(int((ty + radius - y_lo) / cell), n_cy - 1)
    gx0 = max(int((tx - radius - x_lo) / cell), 0)
    gx1 = min(int((tx + radius - x_lo) / cell), n_cx - 1)
    for gy in range(gy0, gy1 + 1):
        for gx in range(gx0, gx1 + 1):
            c = gy * n_cx + gx
            for j in range(start[c], start[c + 1]):
                i = order[j]
                dy = ty - centers[i, 0]
                dx = tx - centers[i, 1]
                if dy * dy + dx * dx <= radius2 and (
                        not tight or _may_be_nearest(i, i0, ty, tx, half,
                                                     centers)):
                    if write:
                        out[pos + count] = i
                    count += 1
    return count


@numba.njit(parallel=True, cache=True)
def build_tile_candidates(centers, y_lo, x_lo, tile, n_ty, n_tx, k,
                          cell, n_cy, n_cx):
    """
    Candidate centres of every tile for k-nearest queries.

    Parameters
    ----------
    centers : (N, 2) float64
    y_lo, x_lo : float
        Lower corner of the tiled region.
    tile : float
        Tile side in pixels.
    n_ty, n_tx : int
        Number of tiles along y and x.
    k : int
        Number of nearest centres the queries need (clipped to N).
    cell, n_cy, n_cx : float, int, int
        Coarse bucket grid (same lower corner) used to build the lists.

    Returns
    -------
    tile_start : (n_ty * n_tx + 1,) int64
    tile_candidates : (M,) int32
        Centre indices, sorted ascending within each tile.
    single : (n_ty * n_tx,) int32
        The only candidate of each tile that has exactly one, else -1 (one
        memory access for the common case).
    safe_radius2 : (N,) float64
        Squared radius around each centre inside which it is certainly
        the single nearest centre (see `_nearest_cached`).
    """
    n_centers = centers.shape[0]
    k = min(k, n_centers)
    start, order = _bucket_centers(centers, y_lo, x_lo, cell, n_cy, n_cx)
    n_tiles = n_ty * n_tx
    radius_of_tile = np.empty(n_tiles, dtype=np.float64)
    nearest_of_tile = np.empty(n_tiles, dtype=np.int64)
    counts = np.zeros(n_tiles + 1, dtype=np.int64)
    half_diagonal = tile * math.sqrt(0.5)
    # half-side, slightly enlarged to cover rounding in the tile index
    half = 0.5 * tile * (1.0 + 1e-9) + 1e-9
    tight = k == 1
    no_output = np.empty(0, dtype=np.int32)
    for t in numba.prange(n_tiles):
        best = np.empty(k, dtype=np.float64)
        ty = y_lo + (t // n_tx + 0.5) * tile
        tx = x_lo + (t % n_tx + 0.5) * tile
        dk2, i0 = _kth_distance2(ty, tx, centers, start, order, y_lo,
                                 x_lo, cell, n_cy, n_cx, k, best)
        dk = math.sqrt(dk2)
        nearest_of_tile[t] = i0
        # slack covers rounding in the tile index of a query
        radius = dk + 2.0 * half_diagonal + 1e-6 * (1.0 + dk + tile)
        radius_of_tile[t] = radius
        counts[t + 1] = _scan_tile(ty, tx, radius, i0, tight, half, centers,
                                   start, order, y_lo, x_lo, cell, n_cy,
                                   n_cx, False, no_output, 0)
    tile_start = np.cumsum(counts)
    candidates = np.empty(tile_start[-1], dtype=np.int32)
    single = np.empty(n_tiles, dtype=np.int32)
    for t in numba.prange(n_tiles):
        ty = y_lo + (t // n_tx + 0.5) * tile
        tx = x_lo + (t % n_tx + 0.5) * tile
        first = tile_start[t]
        count = _scan_tile(ty, tx, radius_of_tile[t], nearest_of_tile[t],
                           tight, half, centers, start, order, y_lo, x_lo,
                           cell, n_cy, n_cx, True, candidates, first)
        candidates[first:first + count].sort()
        single[t] = candidates[first] if count == 1 else -1
    # a point q with |q - c| < d / 2, d the distance from c to its nearest
    # other centre, is nearer to c than to any other centre by a margin
    # of (d / 2)^2 * 2e-6 in squared distance (far above float64
    # rounding); duplicated centres get 0 (never used)
    safe_radius2 = np.full(n_centers, np.inf)
    if n_centers > 1:
        for i in numba.prange(n_centers):
            best = np.empty(2, dtype=np.float64)
            d2, _ = _kth_distance2(centers[i, 0], centers[i, 1], centers,
                                   start, order, y_lo, x_lo, cell, n_cy,
                                   n_cx, 2, best)
            safe_radius2[i] = 0.25 * d2 * (1.0 - 1e-6)
    return tile_start, candidates, single, safe_radius2


class TileIndex:
    """
    Python-side holder of the tile candidate lists (see module docstring).

    Parameters
    ----------
    centers : (N, 2) float64 ndarray
        The centres, N >= 1.
    shape : tuple of int
        The (h, w) frame; the tiled region covers the frame and every
        centre, plus ``margin`` pixels.
    k : int
        Number of nearest centres the queries will ask for.
    tile : float, optional
        Tile side in pixels (enlarged when the region is huge).
    margin : float, optional
        Extra border of the tiled region in pixels.
    """

    def __init__(self, centers, shape, k, *, tile=16.0, margin=32.0):
        centers = np.ascontiguousarray(centers, dtype=np.float64)
        height, width = shape
        y_lo = min(-0.5, float(centers[:, 0].min())) - margin
        y_hi = max(height - 0.5, float(centers[:, 0].max())) + margin
        x_lo = min(-0.5, float(centers[:, 1].min())) - margin
        x_hi = max(width - 0.5, float(centers[:, 1].max())) + margin
        area = (y_hi - y_lo) * (x_hi - x_lo)
        max_tiles = max(height * width // 64, 4096)
        tile = max(float(tile), math.sqrt(area / max_tiles))
        n_ty = int(math.ceil((y_hi - y_lo) / tile))
        n_tx = int(math.ceil((x_hi - x_lo) / tile))
        # coarse buckets of about one centre each, never finer than a tile
        cell = max(tile, math.sqrt(area / centers.shape[0]))
        n_cy = int(math.ceil((y_hi - y_lo) / cell))
        n_cx = int(math.ceil((x_hi - x_lo) / cell))
        self.centers = centers
        self.y_lo, self.x_lo, self.tile = y_lo, x_lo, tile
        self.n_ty, self.n_tx = n_ty, n_tx
        (self.tile_start, self.tile_candidates, self.single,
         self.safe_radius2) = build_tile_candidates(
            centers, y_lo, x_lo, tile, n_ty, n_tx, int(k), cell, n_cy, n_cx)

    @property
    def arguments(self):
        """The arrays and scalars the query kernels take, in order."""
        return (self.centers, self.tile_start, self.tile_candidates,
                self.single, self.y_lo, self.x_lo, 1.0 / self.tile,
                self.n_ty, self.n_tx)

    @property
    def decode_arguments(self):
        """The arrays and scalars `decode` takes, in order."""
        return (self.centers, self.safe_radius2, self.tile_start,
                self.tile_candidates, self.single, self.y_lo, self.x_lo,
                1.0 / self.tile, self.n_ty, self.n_tx)


@numba.njit(cache=True, inline='always')
def _candidate_range(qy, qx, tile_start, y_lo, x_lo, inverse_tile, n_ty,
                     n_tx):
    """(first, stop) in the candidate list, or (-1, -1) outside the tiles."""
    fy = (qy - y_lo) * inverse_tile
    fx = (qx - x_lo) * inverse_tile
    if fy >= 0.0 and fx >= 0.0 and fy < n_ty and fx < n_tx:
        t = int(fy) * n_tx + int(fx)
        return tile_start[t], tile_start[t + 1]
    return -1, -1


@numba.njit(cache=True, inline='always')
def _nearest_cached(qy, qx, cached, cached_y, cached_x, cached_r2, centers,
                    safe_radius2, tile_start, candidates, single, y_lo, x_lo,
                    inverse_tile, n_ty, n_tx):
    """
    Index of the centre nearest to (qy, qx); ties -> lowest index.

    ``cached`` is the centre a caller's slot found last (-1 at first),
    ``cached_y``, ``cached_x`` its position and ``cached_r2`` its
    ``safe_radius2``: inside that radius it is the nearest centre by a
    margin far above the rounding of the squared distances, so
    neighbouring pixels' targets, which mostly reach the same centre, need
    no table look-up. Otherwise the target's tile gives its only
    candidate or a short list to search (a linear scan outside the
    tiles). Returns ``(index, cached, cached_y, cached_x, cached_r2)``,
    the cache updated.
    """
    dy = qy - cached_y
    dx = qx - cached_x
    if dy * dy + dx * dx < cached_r2:
        return cached, cached, cached_y, cached_x, cached_r2
    fy = (qy - y_lo) * inverse_tile
    fx = (qx - x_lo) * inverse_tile
    best = -1
    best_d2 = np.inf
    if fy >= 0.0 and fx >= 0.0 and fy < n_ty and fx < n_tx:
        t = int(fy) * n_tx + int(fx)
        best = single[t]
        if best < 0:
            for j in range(tile_start[t], tile_start[t + 1]):
                i = candidates[j]
                dy = qy - centers[i, 0]
                dx = qx - centers[i, 1]
                d2 = dy * dy + dx * dx
                if d2 < best_d2 or (d2 == best_d2 and i < best):
                    best_d2 = d2
                    best = i
    else:
        for i in range(centers.shape[0]):
            dy = qy - centers[i, 0]
            dx = qx - centers[i, 1]
            d2 = dy * dy + dx * dx
            if d2 < best_d2:
                best_d2 = d2
                best = i
    return (best, best, centers[best, 0], centers[best, 1],
            safe_radius2[best])


@numba.njit(parallel=True, cache=True)
def nearest_centers(shape_y, shape_x, k, centers, tile_start, candidates,
                    single, y_lo, x_lo, inverse_tile, n_ty, n_tx):
    """
    Indices of the ``k`` centres nearest to every pixel centre.

    Returns an (h, w, k) int32 array ordered by distance (ties: lower
    index first); slots beyond the number of centres hold -1.
    """
    out = np.full((shape_y, shape_x, k), -1, dtype=np.int32)
    n_centers = centers.shape[0]
    for y in numba.prange(shape_y):
        best = np.empty(k, dtype=np.int64)
        best_d2 = np.empty(k, dtype=np.float64)
        qy = float(y)
        for x in range(shape_x):
            qx = float(x)
            for m in range(k):
                best[m] = -1
                best_d2[m] = np.inf
            first, stop = _candidate_range(qy, qx, tile_start, y_lo, x_lo,
                                           inverse_tile, n_ty, n_tx)
            n_loop = stop - first if first >= 0 else n_centers
            for j in range(n_loop):
                i = candidates[first + j] if first >= 0 else j
                dy = qy - centers[i, 0]
                dx = qx - centers[i, 1]
                d2 = dy * dy + dx * dx
                # insert (d2, i) into the sorted list if it belongs there
                if d2 < best_d2[k - 1] or (d2 == best_d2[k - 1]
                                           and i < best[k - 1]):
                    m = k - 1
                    while m > 0 and (best_d2[m - 1] > d2 or (
                            best_d2[m - 1] == d2 and best[m - 1] > i)):
                        best_d2[m] = best_d2[m - 1]
                        best[m] = best[m - 1]
                        m -= 1
                    best_d2[m] = d2
                    best[m] = i
            for m in range(k):
                out[y, x, m] = best[m]
    return out


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


# --------------------------------------------------------------------------
# decoding
# --------------------------------------------------------------------------


@numba.njit(cache=True, inline='always')
def _softmax(maps, y, x, out):
    """
    Softmax of the logits maps[y, x, :] into ``out`` (float64).

    NaN logits count as -inf; if some logits are +inf they share the
    weight equally; if all are -inf/NaN every weight is 0.
    """
    n = maps.shape[2]
    n_inf = 0
    top = -np.inf
    for k in range(n):
        v = np.float64(maps[y, x, k])
        if v == np.inf:
            n_inf += 1
        elif v > top:
            top = v
    if n_inf > 0:
        for k in range(n):
            out[k] = 1.0 / n_inf if np.float64(maps[y, x, k]) == np.inf else 0.0
        return
    if top == -np.inf:
        for k in range(n):
            out[k] = 0.0
        return
    s = 0.0
    for k in range(n):
        v = np.float64(maps[y, x, k])
        e = math.exp(v - top) if v > -np.inf else 0.0
        out[k] = e
        s += e
    for k in range(n):
        out[k] /= s


@numba.njit(cache=True, inline='always')
def _fraction(value):
    """A contribution fraction as a slot weight: NaN and +inf give 0
    (negative values and -inf are left for the caller's ``> 0`` test)."""
    w = np.float64(value)
    return w if w < np.inf else 0.0


@numba.njit(cache=True, inline='always')
def _add_slot3(label, w, n_used, la, va, lb, vb, lc, vc):
    """
    Merge one slot (label >= 1, weight w) into the contributors met so far
    (at most three, in order of first appearance; unused ones have label
    0, which no slot has).
    """
    if label == la:
        va += w
    elif label == lb:
        vb += w
    elif n_used == 0:
        la, va, n_used = label, w, 1
    elif n_used == 1:
        lb, vb, n_used = label, w, 2
    else:
        lc, vc, n_used = label, w, 3
    return n_used, la, va, lb, vb, lc, vc


@numba.njit(cache=True, inline='always')
def _renormalise3(n_used, va, vb, vc, total):
    """
    float32 weights of two or three merged contributors (see `decode`).

    Returns the float32 weights, whether each contributor is kept (its
    float32 weight is > 0, or it is the largest) and the index (0-2) of
    the dominant one on the stored weights (-1 if none).
    """
    best = 0
    if vb > va:
        best = 1
    if n_used == 3 and vc > (vb if best == 1 else va):
        best = 2
    rest = 0.0
    fa = np.float32(0.0)
    fb = np.float32(0.0)
    fc = np.float32(0.0)
    keep_a = keep_b = keep_c = False
    if best != 0:
        fa = np.float32(va / total)
        keep_a = fa > 0
        if keep_a:
            rest += np.float64(fa)
    if best != 1:
        fb = np.float32(vb / total)
        keep_b = fb > 0
        if keep_b:
            rest += np.float64(fb)
    if n_used == 3 and best != 2:
        fc = np.float32(vc / total)
        keep_c = fc > 0
        if keep_c:
            rest += np.float64(fc)
    top = np.float32(1.0 - rest)
    if best == 0:
        fa, keep_a = top, True
    elif best == 1:
        fb, keep_b = top, True
    else:
        fc, keep_c = top, True
    # the dominant rule of PartialSegmentationImage on the stored weights:
    # largest, earlier slot on ties
    dominant = -1
    top_weight = np.float32(0.0)
    if keep_a and fa > top_weight:
        dominant, top_weight = 0, fa
    if keep_b and fb > top_weight:
        dominant, top_weight = 1, fb
    if keep_c and fc > top_weight:
        dominant = 2
    return fa, fb, fc, keep_a, keep_b, keep_c, dominant


@numba.njit(cache=True, error_model='numpy', inline='always')
def _decode_row3(y, vectors, maps, valid_row, maps_are_logits, centers,
                 safe_radius2, tile_start, candidates, single, y_lo, x_lo,
                 inverse_tile, n_ty, n_tx, contributors, weights, dominant,
                 present):
    """
    Row ``y`` of `decode_frame` for n = 3 slots, unrolled with scalars only.

    Besides the per-slot nearest-centre caches it remembers the last
    renormalisation: pixels with the same merged weights (e.g. the equal
    shares a PCR from `encode_pcr` holds away from every source) reuse its
    float32 weights, bit for bit the ones a fresh division gives.

    Repeated pixels: when a valid pixel's three map values equal those of
    the previous (valid) pixel, its slot weights are the same; if moreover
    every slot that was used there (positive weight, finite target) has
    its target inside the safe radius of the centre it reached there (its
    cache), every slot reaches the same centre again, so the merged,
    renormalised output is the previous pixel's, copied without redoing
    the merging. Slots that had a positive weight but a non-finite target
    disable the shortcut.
    """
    width = maps.shape[1]
    slot_w = np.empty(3, dtype=np.float64)
    # per-slot caches of `_nearest_cached` (r2 = -1: empty)
    near0 = near1 = near2 = -1
    y0 = x0 = y1 = x1 = y2 = x2 = 0.0
    r0 = r1 = r2 = -1.0
    key_n = 0
    key_a = key_b = key_c = key_total = 0.0
    fa = fb = fc = np.float32(0.0)
    keep_a = keep_b = keep_c = False
    top = -1
    # the previous pixel: raw map values, per-slot state (0: weight not
    # positive, 1: used, its centre in the slot cache, 2: positive weight
    # but non-finite target) and output
    have_previous = False
    pm0 = pm1 = pm2 = np.float32(0.0)
    s0 = s1 = s2 = 0
    oc0 = oc1 = oc2 = od = 0
    ow0 = ow1 = ow2 = np.float32(0.0)
    last_dominant = -1
    fy = np.float64(y)
    for x in range(width):
        fx = np.float64(x)
        if not valid_row[x]:
            oc0 = oc1 = oc2 = od = 0
            ow0 = ow1 = ow2 = np.float32(0.0)
            have_previous = False
        else:
            m0 = maps[y, x, 0]
            m1 = maps[y, x, 1]
            m2 = maps[y, x, 2]
            same = (have_previous and m0 == pm0 and m1 == pm1
                    and m2 == pm2 and s0 != 2 and s1 != 2 and s2 != 2)
            if same and s0 == 1:
                dy = fy + np.float64(vectors[y, x, 0, 0]) - y0
                dx = fx + np.float64(vectors[y, x, 0, 1]) - x0
                same = dy * dy + dx * dx < r0
            if same and s1 == 1:
                dy = fy + np.float64(vectors[y, x, 1, 0]) - y1
                dx = fx + np.float64(vectors[y, x, 1, 1]) - x1
                same = dy * dy + dx * dx < r1
            if same and s2 == 1:
                dy = fy + np.float64(vectors[y, x, 2, 0]) - y2
                dx = fx + np.float64(vectors[y, x, 2, 1]) - x2
                same = dy * dy + dx * dx < r2
            if not same:
                pm0, pm1, pm2 = m0, m1, m2
                have_previous = True
                s0 = s1 = s2 = 0
                n_used = 0
                total = 0.0
                la = lb = lc = 0
                va = vb = vc = 0.0
                if maps_are_logits:
                    _softmax(maps, y, x, slot_w)
                    w0, w1, w2 = slot_w[0], slot_w[1], slot_w[2]
                else:
                    w0 = _fraction(m0)
                    w1 = _fraction(m1)
                    w2 = _fraction(m2)
                if w0 > 0.0:
                    s0 = 2
                    qy = fy + np.float64(vectors[y, x, 0, 0])
                    qx = fx + np.float64(vectors[y, x, 0, 1])
                    if math.isfinite(qy) and math.isfinite(qx):
                        s0 = 1
                        i, near0, y0, x0, r0 = _nearest_cached(
                            qy, qx, near0, y0, x0, r0, centers,
                            safe_radius2, tile_start, candidates, single,
                            y_lo, x_lo, inverse_tile, n_ty, n_tx)
                        total += w0
                        la, va, n_used = i + 1, w0, 1
                if w1 > 0.0:
                    s1 = 2
                    qy = fy + np.float64(vectors[y, x, 1, 0])
                    qx = fx + np.float64(vectors[y, x, 1, 1])
                    if math.isfinite(qy) and math.isfinite(qx):
                        s1 = 1
                        i, near1, y1, x1, r1 = _nearest_cached(
                            qy, qx, near1, y1, x1, r1, centers,
                            safe_radius2, tile_start, candidates, single,
                            y_lo, x_lo, inverse_tile, n_ty, n_tx)
                        total += w1
                        n_used, la, va, lb, vb, lc, vc = _add_slot3(
                            i + 1, w1, n_used, la, va, lb, vb, lc, vc)
                if w2 > 0.0:
                    s2 = 2
                    qy = fy + np.float64(vectors[y, x, 2, 0])
                    qx = fx + np.float64(vectors[y, x, 2, 1])
                    if math.isfinite(qy) and math.isfinite(qx):
                        s2 = 1
                        i, near2, y2, x2, r2 = _nearest_cached(
                            qy, qx, near2, y2, x2, r2, centers,
                            safe_radius2, tile_start, candidates, single,
                            y_lo, x_lo, inverse_tile, n_ty, n_tx)
                        total += w2
                        n_used, la, va, lb, vb, lc, vc = _add_slot3(
                            i + 1, w2, n_used, la, va, lb, vb, lc, vc)
                if not math.isfinite(total):
                    n_used = 0
                if n_used == 1:
                    # the common case: a single contributor
                    oc0, oc1, oc2, od = la, 0, 0, la
                    ow0 = np.float32(1.0)
                    ow1 = ow2 = np.float32(0.0)
                elif n_used == 0:
                    oc0 = oc1 = oc2 = od = 0
                    ow0 = ow1 = ow2 = np.float32(0.0)
                else:
                    if not (n_used == key_n and va == key_a and vb == key_b
                            and vc == key_c and total == key_total):
                        key_n, key_a, key_b, key_c = n_used, va, vb, vc
                        key_total = total
                        fa, fb, fc, keep_a, keep_b, keep_c, top = (
                            _renormalise3(n_used, va, vb, vc, total))
                    # kept contributors move up, order kept; label 0 last
                    oc0 = oc1 = oc2 = 0
                    ow0 = ow1 = ow2 = np.float32(0.0)
                    if keep_a:
                        oc0, ow0 = la, fa
                    if keep_b:
                        if keep_a:
                            oc1, ow1 = lb, fb
                        else:
                            oc0, ow0 = lb, fb
                    if keep_c:
                        if keep_a and keep_b:
                            oc2, ow2 = lc, fc
                        elif keep_a or keep_b:
                            oc1, ow1 = lc, fc
                        else:
                            oc0, ow0 = lc, fc
                    if top == 0:
                        od = la
                    elif top == 1:
                        od = lb
                    elif top == 2:
                        od = lc
                    else:
                        od = 0
        contributors[y, x, 0] = oc0
        contributors[y, x, 1] = oc1
        contributors[y, x, 2] = oc2
        weights[y, x, 0] = ow0
        weights[y, x, 1] = ow1
        weights[y, x, 2] = ow2
        dominant[y, x] = od
        if od != last_dominant:
            present[od] = True
            last_dominant = od


@numba.njit(cache=True, error_model='numpy', inline='always')
def _decode_row(y, vectors, maps, valid_row, maps_are_logits, centers,
                safe_radius2, tile_start, candidates, single, y_lo, x_lo,
                inverse_tile, n_ty, n_tx, contributors, weights, dominant,
                present):
    """Row ``y`` of `decode_frame` for any number of slots."""
    width, n = maps.shape[1], maps.shape[2]
    labels = np.empty(n, dtype=np.int64)
    values = np.empty(n, dtype=np.float64)
    slot_w = np.empty(n, dtype=np.float64)
    # per-slot caches of `_nearest_cached` (r2 = -1: empty)
    cache_index = np.full(n, -1, dtype=np.int64)
    cache_y = np.zeros(n, dtype=np.float64)
    cache_x = np.zeros(n, dtype=np.float64)
    cache_r2 = np.full(n, -1.0, dtype=np.float64)
    for x in range(width):
        n_used = 0
        total = 0.0
        if valid_row[x]:
            if maps_are_logits:
                _softmax(maps, y, x, slot_w)
            # targets -> nearest centre, merging equal labels
            for k in range(n):
                if maps_are_logits:
                    w = slot_w[k]
                else:
                    w = _fraction(maps[y, x, k])
                if not w > 0.0:
                    continue
                qy = y + np.float64(vectors[y, x, k, 0])
                qx = x + np.float64(vectors[y, x, k, 1])
                if not (math.isfinite(qy) and math.isfinite(qx)):
                    continue
                i, cache_index[k], cache_y[k], cache_x[k], cache_r2[k] = (
                    _nearest_cached(qy, qx, cache_index[k], cache_y[k],
                                    cache_x[k], cache_r2[k], centers,
                                    safe_radius2, tile_start, candidates,
                                    single, y_lo, x_lo, inverse_tile, n_ty,
                                    n_tx))
                label = i + 1
                total += w
                found = False
                for m in range(n_used):
                    if labels[m] == label:
                        values[m] += w
                        found = True
                        break
                if not found:
                    labels[n_used] = label
                    values[n_used] = w
                    n_used += 1
        if n_used == 1 and math.isfinite(total):
            # the common case: a single contributor
            contributors[y, x, 0] = labels[0]
            weights[y, x, 0] = 1.0
            dominant[y, x] = labels[0]
            present[labels[0]] = True
            for m in range(1, n):
                contributors[y, x, m] = 0
                weights[y, x, m] = 0
            continue
        if not math.isfinite(total):
            n_used = 0
        # the largest weight (first one on ties) absorbs the float32
        # rounding; zero float32 weights are dropped, order is kept
        best = 0
        for m in range(1, n_used):
            if values[m] > values[best]:
                best = m
        rest = 0.0
        pos = 0
        best_pos = 0
        for m in range(n_used):
            if m == best:
                best_pos = pos
                contributors[y, x, pos] = labels[m]
                pos += 1
                continue
            w32 = np.float32(values[m] / total)
            if w32 > 0:
                rest += np.float64(w32)
                weights[y, x, pos] = w32
                contributors[y, x, pos] = labels[m]
                pos += 1
        if n_used > 0:
            weights[y, x, best_pos] = np.float32(1.0 - rest)
        # the same rule as PartialSegmentationImage's dominant map, on
        # the stored float32 weights: largest, earlier slot on ties
        top_label = 0
        top_weight = np.float32(0.0)
        for m in range(pos):
            if weights[y, x, m] > top_weight:
                top_weight = weights[y, x, m]
                top_label = contributors[y, x, m]
        dominant[y, x] = top_label
        present[top_label] = True
        for m in range(pos, n):
            weights[y, x, m] = 0
            contributors[y, x, m] = 0


def decode_frame(vectors, maps, data, allowed, check_data, check_allowed,
                 maps_are_logits, centers, safe_radius2, tile_start,
                 candidates, single, y_lo, x_lo, inverse_tile, n_ty, n_tx,
                 contributors, weights, dominant):
    """
    Decode C^v and C^m into contributor labels and weights.

    For each valid pixel p and slot k the target p + v_k goes to its
    nearest centre (label = index + 1); slot weights (softmax of the
    logits, or the fractions clipped to >= 0; NaN counts as 0) of slots
    reaching the same centre are added. Contributors keep the order in
    which they first appear among the slots (nearest first for a PCR from
    `encode_pcr`). Weights are normalised in float64 and stored as
    float32, the largest (the first one on ties) set to 1 - (sum of the
    others) so that the float64 sum of the stored weights is 1 to float32
    rounding. Contributors whose float32 weight is 0 are dropped and the
    rest moved up (label 0 at the end). Fractions that are negative or
    not finite count as 0. Invalid pixels, pixels whose slots all have
    zero weight and slots whose vector is not finite are not attributed.

    A pixel is valid when ``data[y, x]`` is finite (if ``check_data``;
    ``data`` (h, w) float) and ``allowed[y, x]`` is True (if
    ``check_allowed``; (h, w) bool); an unchecked array may be a (1, 1)
    placeholder. Reading the validity from the image here saves a pass
    over the frame and an (h, w) temporary.

    The outputs ``contributors`` (h, w, n) int32, ``weights``
    (h, w, n) float32 and ``dominant`` (h, w) int32 (the label of the
    largest weight, 0 if none, the rule of `PartialSegmentationImage`)
    are filled in place, each element written once: allocating them in
    NumPy lets it request transparent huge pages, which makes their
    first touch several times cheaper than numba's own allocation on
    large frames.

    Returns
    -------
    present : (N + 1,) bool
        Which labels occur in ``dominant`` (``present[0]`` is False), so
        that the segmentation image needs no further pass over the frame.

    Parallel over a few contiguous blocks of rows per thread (every array
    is read and written sequentially; each block records the labels it
    writes in its own row of a small table, so no two threads write the
    same memory); the usual n = 3 runs an unrolled row function
    (`_decode_row3`), other n the general one (`_decode_row`). Both give
    identical results.
    """
    # a few blocks per thread (the block count is an argument: calling
    # numba.get_num_threads inside a kernel stops it from being cached)
    n_blocks = min(maps.shape[0], 8 * numba.get_num_threads())
    return _decode_blocks(vectors, maps, data, allowed, check_data,
                          check_allowed, maps_are_logits, centers,
                          safe_radius2, tile_start, candidates, single, y_lo,
                          x_lo, inverse_tile, n_ty, n_tx, contributors,
                          weights, dominant, n_blocks)


@numba.njit(parallel=True, cache=True, error_model='numpy')
def _decode_blocks(vectors, maps, data, allowed, check_data, check_allowed,
                   maps_are_logits, centers, safe_radius2, tile_start,
                   candidates, single, y_lo, x_lo, inverse_tile, n_ty, n_tx,
                   contributors, weights, dominant, n_blocks):
    """The kernel of `decode_frame`, over ``n_blocks`` blocks of rows."""
    height, width, n = maps.shape
    n_labels = centers.shape[0] + 1
    present_blocks = np.zeros((n_blocks, n_labels), dtype=np.bool_)
    for b in numba.prange(n_blocks):
        valid_row = np.empty(width, dtype=np.bool_)
        present = present_blocks[b]
        for y in range(b * height // n_blocks,
                       (b + 1) * height // n_blocks):
            if check_data and check_allowed:
                for x in range(width):
                    valid_row[x] = (math.isfinite(data[y, x])
                                    and allowed[y, x])
            elif check_data:
                for x in range(width):
                    valid_row[x] = math.isfinite(data[y, x])
            elif check_allowed:
                for x in range(width):
                    valid_row[x] = allowed[y, x]
            else:
                valid_row[:] = True
            if n == 3:
                _decode_row3(y, vectors, maps, valid_row, maps_are_logits,
                             centers, safe_radius2, tile_start, candidates,
                             single, y_lo, x_lo, inverse_tile, n_ty, n_tx,
                             contributors, weights, dominant, present)
            else:
                _decode_row(y, vectors, maps, valid_row, maps_are_logits,
                            centers, safe_radius2, tile_start, candidates,
                            single, y_lo, x_lo, inverse_tile, n_ty, n_tx,
                            contributors, weights, dominant, present)
    result = np.zeros(n_labels, dtype=np.bool_)
    for b in range(n_blocks):
        for i in range(1, n_labels):
            if present_blocks[b, i]:
                result[i] = True
    return result


_NO_DATA = np.zeros((1, 1), dtype=np.float32)


def decode(vectors, maps, valid, maps_are_logits, centers, safe_radius2,
           tile_start, candidates, single, y_lo, x_lo, inverse_tile, n_ty,
           n_tx, contributors, weights, dominant):
    """
    `decode_frame` with the valid pixels given as an (h, w) bool map.

    Returns the ``present`` table of `decode_frame`.
    """
    return decode_frame(vectors, maps, _NO_DATA, valid, False, True,
                        maps_are_logits, centers, safe_radius2, tile_start,
                        candidates, single, y_lo, x_lo, inverse_tile, n_ty,
                        n_tx, contributors, weights, dominant)


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
