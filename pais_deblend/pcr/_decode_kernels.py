"""
numba kernels of PCR decoding (`pais_deblend.pcr.decode`).

Targets go to their nearest centre through the tile candidate
lists of `._index` (see its docstring). numba's disk cache is only
invalidated by changes to the file of a cached function, not to the
functions it calls from other files: after editing `._index`, touch
this file (or clear the cache) so that the decode kernels recompile.

Each kernel has a pure-NumPy twin in `._reference`; compiling, caching
and lazy importing are as described in `._index`.
"""

import math

import numba
import numpy as np

from ..utils._numba_cache import install_cache_locator
from ..utils._numba_serial import serial_twins, use_serial
from ._index import _nearest_cached

__all__ = []

# before the first @numba.njit(cache=True): never cache inside the package
install_cache_locator()

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


@numba.njit(cache=True, inline='always')
def _pixel_scratch(n):
    """The scratch arrays of `_decode_pixel` for n slots: labels,
    values, slot weights and the per-slot caches of `_nearest_cached`
    (index, y, x, r2; r2 = -1: empty)."""
    return (np.empty(n, dtype=np.int64), np.empty(n, dtype=np.float64),
            np.empty(n, dtype=np.float64), np.full(n, -1, dtype=np.int64),
            np.zeros(n, dtype=np.float64), np.zeros(n, dtype=np.float64),
            np.full(n, -1.0, dtype=np.float64))


@numba.njit(cache=True, error_model='numpy', inline='always')
def _decode_pixel(y, x, oy, ox, vectors, maps, maps_are_logits, centers,
                  safe_radius2, tile_start, candidates, single, y_lo, x_lo,
                  inverse_tile, n_ty, n_tx, labels, values, slot_w,
                  cache_index, cache_y, cache_x, cache_r2, contributors,
                  weights, dominant, present):
    """
    Decode the valid pixel (y, x) of the PCR arrays for any number of
    slots, writing output element (oy, ox). ``labels``, ``values`` and
    ``slot_w`` are (n,) scratch arrays; ``cache_*`` the per-slot caches
    of `_nearest_cached` (geometric, so valid for pixels in any order).
    """
    n = maps.shape[2]
    n_used = 0
    total = 0.0
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
    _write_pixel(oy, ox, labels, values, n_used, total, contributors,
                 weights, dominant, present)


@numba.njit(cache=True, error_model='numpy', inline='always')
def _write_pixel(oy, ox, labels, values, n_used, total, contributors,
                 weights, dominant, present):
    """Normalise the merged slot weights of one pixel and write them."""
    n = contributors.shape[2]
    if n_used == 1 and math.isfinite(total):
        # the common case: a single contributor
        contributors[oy, ox, 0] = labels[0]
        weights[oy, ox, 0] = 1.0
        dominant[oy, ox] = labels[0]
        present[labels[0]] = True
        for m in range(1, n):
            contributors[oy, ox, m] = 0
            weights[oy, ox, m] = 0
        return
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
            contributors[oy, ox, pos] = labels[m]
            pos += 1
            continue
        w32 = np.float32(values[m] / total)
        if w32 > 0:
            rest += np.float64(w32)
            weights[oy, ox, pos] = w32
            contributors[oy, ox, pos] = labels[m]
            pos += 1
    if n_used > 0:
        weights[oy, ox, best_pos] = np.float32(1.0 - rest)
    # the same rule as PartialSegmentationImage's dominant map, on
    # the stored float32 weights: largest, earlier slot on ties
    top_label = 0
    top_weight = np.float32(0.0)
    for m in range(pos):
        if weights[oy, ox, m] > top_weight:
            top_weight = weights[oy, ox, m]
            top_label = contributors[oy, ox, m]
    dominant[oy, ox] = top_label
    present[top_label] = True
    for m in range(pos, n):
        weights[oy, ox, m] = 0
        contributors[oy, ox, m] = 0


@numba.njit(cache=True, error_model='numpy', inline='always')
def _decode_row(y, vectors, maps, valid_row, maps_are_logits, centers,
                safe_radius2, tile_start, candidates, single, y_lo, x_lo,
                inverse_tile, n_ty, n_tx, contributors, weights, dominant,
                present):
    """Row ``y`` of `decode_frame` for any number of slots."""
    width = maps.shape[1]
    (labels, values, slot_w, cache_index, cache_y, cache_x,
     cache_r2) = _pixel_scratch(maps.shape[2])
    for x in range(width):
        if valid_row[x]:
            _decode_pixel(y, x, y, x, vectors, maps, maps_are_logits,
                          centers, safe_radius2, tile_start, candidates,
                          single, y_lo, x_lo, inverse_tile, n_ty, n_tx,
                          labels, values, slot_w, cache_index, cache_y,
                          cache_x, cache_r2, contributors, weights,
                          dominant, present)
        else:
            _write_pixel(y, x, labels, values, 0, 0.0, contributors,
                         weights, dominant, present)


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
    identical results. A frame of at most
    ``pais_deblend.utils._numba_serial.SERIAL_PIXELS`` pixels is decoded
    by the serial twin, in one block.
    """
    if use_serial(maps.shape[0] * maps.shape[1]):
        kernel, n_blocks = _decode_blocks.serial_twin, 1
    else:
        # a few blocks per thread (the block count is an argument: calling
        # numba.get_num_threads inside a kernel stops it from being cached)
        kernel = _decode_blocks
        n_blocks = min(maps.shape[0], 8 * numba.get_num_threads())
    return kernel(vectors, maps, data, allowed, check_data,
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


# serial twin of the parallel kernel, for small frames
serial_twins(_decode_blocks)

_NO_DATA = np.zeros((1, 1), dtype=np.float32)


@numba.njit(cache=True, error_model='numpy')
def decode_listed(vectors, maps, ys, xs, valid, maps_are_logits, centers,
                  safe_radius2, tile_start, candidates, single, y_lo, x_lo,
                  inverse_tile, n_ty, n_tx, contributors, weights, dominant):
    """
    `decode_frame` on the listed pixels only.

    Pixel j = (``ys[j]``, ``xs[j]``) of the (h, w, n) PCR arrays is
    decoded into element (0, j) of ``contributors`` (1, m, n) int32,
    ``weights`` (1, m, n) float32 and ``dominant`` (1, m) int32, as
    `decode_frame` decodes it on the whole frame (bit for bit: a pixel's
    output depends only on its own slots and the centres); ``valid``
    (m,) bool says which of them to attribute (the others get nothing).
    The index arguments are those of a `._index.TileIndex` of the whole
    frame. Serial: the pixels no template covers are few.

    Returns the ``present`` table of `decode_frame` (labels in
    ``dominant``).
    """
    present = np.zeros(centers.shape[0] + 1, dtype=np.bool_)
    (labels, values, slot_w, cache_index, cache_y, cache_x,
     cache_r2) = _pixel_scratch(maps.shape[2])
    for j in range(ys.shape[0]):
        if valid[j]:
            _decode_pixel(ys[j], xs[j], 0, j, vectors, maps,
                          maps_are_logits, centers, safe_radius2,
                          tile_start, candidates, single, y_lo, x_lo,
                          inverse_tile, n_ty, n_tx, labels, values, slot_w,
                          cache_index, cache_y, cache_x, cache_r2,
                          contributors, weights, dominant, present)
        else:
            _write_pixel(0, j, labels, values, 0, 0.0, contributors,
                         weights, dominant, present)
    present[0] = False
    return present


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
