"""
Nearest-centre index of the PCR kernels: tile candidate lists,
`TileIndex` and the nearest-centre look-ups of encoding and
decoding.

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
from ..utils._numba_serial import pick, serial_twins

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


# serial twin of the parallel kernel, for small frames
serial_twins(build_tile_candidates)


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
         self.safe_radius2) = pick(build_tile_candidates, height * width)(
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
