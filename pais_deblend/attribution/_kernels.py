"""
numba kernels of the template attribution (`pais_deblend.attribution`).

Every kernel has a slow, literal twin in `._reference` that the tests
compare it with on seeded scenes. The kernels are compiled on first use and
cached on disk (``cache=True``); this module is imported only inside the
functions that need it, so importing the subpackage does not import numba.

Conventions shared with the references
--------------------------------------
* Images are stacks of planes of shape (p, h, w), float32, C-contiguous.
* The nearest pixel of a position ``c`` is ``floor(c + 0.5)``.
* A template box is ``(y0, y1, x0, x1)`` (inclusive bounds); its values
  lie in one flat float32 buffer at ``offsets[i]``, plane after plane,
  each plane in row-major order. A source without a template has an empty
  box (``y1 < y0``) and no values.
* Arithmetic is float64; stored templates and weights are float32.
"""

import math

import numba
import numpy as np

from ..utils._numba_cache import install_cache_locator
from ..utils._numba_serial import pick, serial_twins  # noqa: F401

__all__ = []

# before the first decorator: the cache goes to numba's user-wide folder,
# never into the installed package
install_cache_locator()


# --------------------------------------------------------------------------
# segments
# --------------------------------------------------------------------------


@numba.njit(cache=True)
def segment_bounding_boxes(segments, max_id):
    """
    Bounding box of every segment id.

    Parameters
    ----------
    segments : (h, w) int
        Segment ids, 0 for no segment.
    max_id : int
        The largest id.

    Returns
    -------
    boxes : (max_id + 1, 4) int64
        ``(y_min, y_max, x_min, x_max)`` of each id (inclusive pixel
        indices); ``(h, -1, w, -1)`` for an id that is absent (and id 0).
    """
    height, width = segments.shape
    boxes = np.empty((max_id + 1, 4), dtype=np.int64)
    boxes[:, 0] = height
    boxes[:, 1] = -1
    boxes[:, 2] = width
    boxes[:, 3] = -1
    for y in range(height):
        for x in range(width):
            s = segments[y, x]
            if s <= 0:
                continue
            if y < boxes[s, 0]:
                boxes[s, 0] = y
            if y > boxes[s, 1]:
                boxes[s, 1] = y
            if x < boxes[s, 2]:
                boxes[s, 2] = x
            if x > boxes[s, 3]:
                boxes[s, 3] = x
    return boxes


# --------------------------------------------------------------------------
# centre refinement
# --------------------------------------------------------------------------


@numba.njit(cache=True, inline='always')
def _parabola_offset(below, peak, above):
    """Vertex offset (clipped to +-0.5) of the parabola through three
    equally spaced values, 0 where it is not a maximum."""
    curvature = below - 2.0 * peak + above
    if not curvature < 0.0:
        return 0.0
    offset = 0.5 * (below - above) / curvature
    return min(max(offset, -0.5), 0.5)


@numba.njit(cache=True)
def _refine_one(image, cy, cx, max_shift, segments, use_segments):
    """The refined (y, x) of one centre; see `refine_centers`."""
    height, width = image.shape
    y = int(math.floor(cy + 0.5))
    x = int(math.floor(cx + 0.5))
    if y < 0 or y >= height or x < 0 or x >= width:
        return cy, cx
    segment = segments[y, x] if use_segments else 0
    if use_segments and segment <= 0:
        return cy, cx
    # a climb that left the disc of radius max_shift + 1 cannot come back
    # within max_shift after the +-0.5 parabola step
    limit2 = (max_shift + 1.0) * (max_shift + 1.0)
    while True:
        best_y = y
        best_x = x
        best = image[y, x]
        for dy in range(-1, 2):
            for dx in range(-1, 2):
                ny = y + dy
                nx = x + dx
                if ny < 0 or ny >= height or nx < 0 or nx >= width:
                    continue
                if use_segments and segments[ny, nx] != segment:
                    continue
                if image[ny, nx] > best:
                    best = image[ny, nx]
                    best_y = ny
                    best_x = nx
        if best_y == y and best_x == x:
            break
        y = best_y
        x = best_x
        if (y - cy) ** 2 + (x - cx) ** 2 > limit2:
            return cy, cx
    if y == 0 or y == height - 1 or x == 0 or x == width - 1:
        return cy, cx
    peak = np.float64(image[y, x])
    ry = y + _parabola_offset(np.float64(image[y - 1, x]), peak,
                              np.float64(image[y + 1, x]))
    rx = x + _parabola_offset(np.float64(image[y, x - 1]), peak,
                              np.float64(image[y, x + 1]))
    if (ry - cy) ** 2 + (rx - cx) ** 2 > max_shift * max_shift:
        return cy, cx
    return ry, rx


@numba.njit(parallel=True, cache=True)
def refine_centers(image, centers, max_shift, segments, use_segments):
    """
    Refined centres: steepest 8-neighbour ascent from the nearest pixel,
    then a parabola in y and in x through the peak.

    Parameters
    ----------
    image : (h, w) float32 or float64
    centers : (N, 2) float64
    max_shift : float
    segments : (h, w) int
        Only read when ``use_segments``: the climb stays in the segment of
        its first pixel (a centre on segment 0 is kept).
    use_segments : bool

    Returns
    -------
    refined : (N, 2) float64
    """
    n_centers = centers.shape[0]
    refined = np.empty((n_centers, 2), dtype=np.float64)
    for i in numba.prange(n_centers):
        ry, rx = _refine_one(image, centers[i, 0], centers[i, 1], max_shift,
                             segments, use_segments)
        refined[i, 0] = ry
        refined[i, 1] = rx
    return refined


# --------------------------------------------------------------------------
# templates (phase 1)
# --------------------------------------------------------------------------


@numba.njit(cache=True, inline='always')
def _bilinear(plane, y, x):
    """Bilinear interpolation of ``plane`` at (y, x) inside the frame."""
    height, width = plane.shape
    y0 = min(int(math.floor(y)), height - 1)
    x0 = min(int(math.floor(x)), width - 1)
    y1 = min(y0 + 1, height - 1)
    x1 = min(x0 + 1, width - 1)
    fy = y - y0
    fx = x - x0
    top = (1.0 - fx) * plane[y0, x0] + fx * plane[y0, x1]
    bottom = (1.0 - fx) * plane[y1, x0] + fx * plane[y1, x1]
    return (1.0 - fy) * top + fy * bottom


@numba.njit(cache=True, inline='always')
def _mirror_is_masked(masked, y, x):
    """Whether the bilinear interpolation at (y, x) touches a masked
    pixel."""
    height, width = masked.shape
    y0 = min(int(math.floor(y)), height - 1)
    x0 = min(int(math.floor(x)), width - 1)
    y1 = min(y0 + 1, height - 1)
    x1 = min(x0 + 1, width - 1)
    return masked[y0, x0] or masked[y0, x1] or masked[y1, x0] or masked[y1, x1]


@numba.njit(cache=True)
def _fill_template(plane, segments, segment, cy, cx, py, px, y0, y1, x0, x1,
                   monotonic, threshold, masked, use_mask, out):
    """
    The template of one source on one plane, written to ``out`` (the
    box's pixels, row-major); see `build_templates`.
    """
    height, width = plane.shape
    box_width = x1 - x0 + 1
    # symmetric template over the whole box (pixels of other segments
    # included: they carry the monotonic bound, below)
    for y in range(y0, y1 + 1):
        my = 2.0 * cy - y
        for x in range(x0, x1 + 1):
            mx = 2.0 * cx - x
            value = np.float64(plane[y, x])
            if (0.0 <= my <= height - 1 and 0.0 <= mx <= width - 1
                    and not (use_mask and _mirror_is_masked(masked, my, mx))):
                value = min(value, _bilinear(plane, my, mx))
            out[(y - y0) * box_width + (x - x0)] = max(value, 0.0)
    if monotonic:
        # ring by ring about (py, px); a pixel outside the segment takes
        # its parent's bound unchanged (it is transparent)
        d_max = max(py - y0, y1 - py, px - x0, x1 - px)
        for d in range(1, d_max + 1):
            for y in range(max(y0, py - d), min(y1, py + d) + 1):
                dy = y - py
                on_edge_row = dy == d or dy == -d
                x = max(x0, px - d)
                x_end = min(x1, px + d)
                while x <= x_end:
                    dx = x - px
                    if on_edge_row or dx == d or dx == -d:
                        sy = 0
                        if 2 * abs(dy) >= abs(dx):
                            sy = 1 if dy > 0 else -1
                        sx = 0
                        if 2 * abs(dx) >= abs(dy):
                            sx = 1 if dx > 0 else -1
                        index = (y - y0) * box_width + (x - x0)
                        bound = out[(y - sy - y0) * box_width
                                    + (x - sx - x0)]
                        if segments[y, x] == segment:
                            out[index] = min(out[index], bound)
                        else:
                            out[index] = bound
                    if on_edge_row or dx == d:
                        x += 1
                    else:
                        x = max(px + d, x + 1)
    for y in range(y0, y1 + 1):
        for x in range(x0, x1 + 1):
            index = (y - y0) * box_width + (x - x0)
            if segments[y, x] != segment or out[index] < threshold:
                out[index] = 0.0


@numba.njit(parallel=True, cache=True)
def build_templates(planes, segments, centers, pixels, source_segments,
                    boxes, offsets, monotonic, thresholds, masked, use_mask,
                    buffer):
    """
    Symmetric (optionally monotonic) templates of every source on every
    plane, in parallel over the sources.

    Parameters
    ----------
    planes : (p, h, w) float32
        The smoothed images.
    segments : (h, w) int
    centers : (N, 2) float64
        Sub-pixel (y, x) centres.
    pixels : (N, 2) int64
        Their nearest pixels.
    source_segments : (N,) int64
        Segment id of each centre's pixel (0: no template).
    boxes : (N, 4) int64
        ``(y0, y1, x0, x1)``; empty (``y1 < y0``) without a template.
    offsets : (N + 1,) int64
        Start of each source's values in ``buffer``
        (``offsets[i + 1] - offsets[i] = p * box area``).
    monotonic : bool
    thresholds : (p,) float64
        Values below ``thresholds[plane]`` are set to 0.
    masked : (h, w) bool
        Only read when ``use_mask``: pixels that were not finite in the
        input image. A mirror point whose interpolation touches one is
        treated like one outside the frame (``S(x)`` alone).
    use_mask : bool
    buffer : (offsets[-1],) float32
        Output.
    """
    n_planes = planes.shape[0]
    for i in numba.prange(centers.shape[0]):
        y0, y1, x0, x1 = boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3]
        if y1 < y0 or x1 < x0:
            continue
        area = (y1 - y0 + 1) * (x1 - x0 + 1)
        scratch = np.empty(area, dtype=np.float64)
        for p in range(n_planes):
            _fill_template(planes[p], segments, source_segments[i],
                           centers[i, 0], centers[i, 1], pixels[i, 0],
                           pixels[i, 1], y0, y1, x0, x1, monotonic,
                           thresholds[p], masked, use_mask, scratch)
            start = offsets[i] + p * area
            for k in range(area):
                buffer[start + k] = scratch[k]


@numba.njit(parallel=True, cache=True)
def template_sums(planes, segments, centers, pixels, source_segments, boxes,
                  monotonic, thresholds, masked, use_mask):
    """
    Sum over its box of each source's template on each plane, without
    storing the templates (the per-band fluxes of the 'sed' mode).

    Parameters are those of `build_templates`. The sums are over the
    float32-rounded template values, as if they had been stored.

    Returns
    -------
    sums : (N, p) float64
    """
    n_planes = planes.shape[0]
    n_centers = centers.shape[0]
    sums = np.zeros((n_centers, n_planes), dtype=np.float64)
    for i in numba.prange(n_centers):
        y0, y1, x0, x1 = boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3]
        if y1 < y0 or x1 < x0:
            continue
        area = (y1 - y0 + 1) * (x1 - x0 + 1)
        scratch = np.empty(area, dtype=np.float64)
        for p in range(n_planes):
            _fill_template(planes[p], segments, source_segments[i],
                           centers[i, 0], centers[i, 1], pixels[i, 0],
                           pixels[i, 1], y0, y1, x0, x1, monotonic,
                           thresholds[p], masked, use_mask, scratch)
            total = 0.0
            for k in range(area):
                total += np.float64(np.float32(scratch[k]))
            sums[i, p] = total
    return sums


# --------------------------------------------------------------------------
# sharing (phase 2)
# --------------------------------------------------------------------------


@numba.njit(parallel=True, cache=True)
def zero_rows(array):
    """Set a 2-D array to 0, in parallel over the rows (the first
    write of a freshly allocated frame is shared among the cores)."""
    for y in numba.prange(array.shape[0]):
        for x in range(array.shape[1]):
            array[y, x] = 0


@numba.njit(cache=True)
def scatter_top(buffer, n_planes, offsets, boxes, coefficients,
                contributors, values):
    """
    Keep, at every pixel, the ``n`` sources of largest combined template
    value (> 0), in decreasing order (ties to the lower label).

    Serial over the sources, in label order; ``contributors`` and
    ``values`` (zeros on entry) are the (h, w, n) output arrays of the
    attribution, used as scratch.

    Parameters
    ----------
    buffer, offsets, boxes :
        The templates (`build_templates`).
    n_planes : int
    coefficients : (N, p) float64
        The combined template value of source i at a pixel is
        ``float32(sum_p coefficients[i, p] * T_ip)``.
    contributors : (h, w, n) int32
        Output: labels (i + 1), 0 in empty slots.
    values : (h, w, n) float32
        Output: their combined template values.
    """
    n = contributors.shape[2]
    for i in range(boxes.shape[0]):
        y0, y1, x0, x1 = boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3]
        if y1 < y0 or x1 < x0:
            continue
        box_width = x1 - x0 + 1
        area = (y1 - y0 + 1) * box_width
        label = i + 1
        for k in range(area):
            total = 0.0
            for p in range(n_planes):
                total += coefficients[i, p] * np.float64(
                    buffer[offsets[i] + p * area + k])
            value = np.float32(total)
            if not value > 0:
                continue
            y = y0 + k // box_width
            x = x0 + k % box_width
            if value <= values[y, x, n - 1]:
                continue
            m = n - 1
            while m > 0 and values[y, x, m - 1] < value:
                values[y, x, m] = values[y, x, m - 1]
                contributors[y, x, m] = contributors[y, x, m - 1]
                m -= 1
            values[y, x, m] = value
            contributors[y, x, m] = label


@numba.njit(cache=True, inline='always')
def _band_value(buffer, offsets, boxes, n_planes, band_scale, label, band, y,
                x):
    """Band template value of source ``label`` at (y, x), float64."""
    i = label - 1
    y0, x0, x1 = boxes[i, 0], boxes[i, 2], boxes[i, 3]
    box_width = x1 - x0 + 1
    area = (boxes[i, 1] - y0 + 1) * box_width
    plane = band if n_planes > 1 else 0
    value = buffer[offsets[i] + plane * area + (y - y0) * box_width
                   + (x - x0)]
    return band_scale[i, band] * np.float64(value)


@numba.njit(parallel=True, cache=True)
def normalise_shares(contributors, weights, buffer, offsets, boxes, n_planes,
                     band_scale, with_bands, band_weights, dominant,
                     covered):
    """
    Turn the kept combined template values of `scatter_top` into weights,
    in place, in parallel over the rows.

    Weights are ``value / sum(kept values)`` in float64, stored as
    float32; weights that round to 0 are dropped, the largest (first on
    ties) is set to one minus the sum of the others, and the contributors
    are sorted by decreasing stored weight (stable). Band b's weights are
    the shares of ``band_scale[i, b] * T_ib`` (plane b, or plane 0 when
    there is one plane) among the kept contributors, with the same
    rounding rule, or the combined weights where these are all 0.

    Parameters
    ----------
    contributors : (h, w, n) int32
        In: from `scatter_top`; out: the contributors.
    weights : (h, w, n) float32
        In: the kept values; out: the weights.
    buffer, offsets, boxes, n_planes :
        The templates.
    band_scale : (N, b) float64
    with_bands : bool
        Whether to fill ``band_weights``.
    band_weights : (h, w, n, b) float32
        Output (zeros on entry), when ``with_bands``.
    dominant : (h, w) int32
        Output: the first contributor (largest weight), 0 if none.
    covered : (h, w) bool
        Output: whether the pixel has a contributor.
    """
    height, width, n = contributors.shape
    n_bands = band_weights.shape[3]
    for y in numba.prange(height):
        shares = np.empty(n, dtype=np.float64)
        stored = np.empty(n, dtype=np.float32)
        for x in range(width):
            n_used = 0
            total = 0.0
            for m in range(n):
                if contributors[y, x, m] == 0:
                    break
                total += np.float64(weights[y, x, m])
                n_used += 1
            if n_used == 0:
                dominant[y, x] = 0
                covered[y, x] = False
                continue
            if n_used == 1:
                weights[y, x, 0] = 1.0
            else:
                # drop weights that round to 0, then the largest (first,
                # the values are sorted) absorbs the float32 rounding
                pos = 1
                rest = 0.0
                for m in range(1, n_used):
                    w32 = np.float32(np.float64(weights[y, x, m]) / total)
                    if w32 > 0:
                        rest += np.float64(w32)
                        weights[y, x, pos] = w32
                        contributors[y, x, pos] = contributors[y, x, m]
                        pos += 1
                for m in range(pos, n_used):
                    weights[y, x, m] = 0.0
                    contributors[y, x, m] = 0
                weights[y, x, 0] = np.float32(1.0 - rest)
                n_used = pos
                # stable insertion sort by decreasing stored weight
                for m in range(1, n_used):
                    w = weights[y, x, m]
                    label = contributors[y, x, m]
                    j = m
                    while j > 0 and weights[y, x, j - 1] < w:
                        weights[y, x, j] = weights[y, x, j - 1]
                        contributors[y, x, j] = contributors[y, x, j - 1]
                        j -= 1
                    weights[y, x, j] = w
                    contributors[y, x, j] = label
            dominant[y, x] = contributors[y, x, 0]
            covered[y, x] = True
            if not with_bands:
                continue
            for b in range(n_bands):
                band_total = 0.0
                for m in range(n_used):
                    shares[m] = _band_value(buffer, offsets, boxes, n_planes,
                                            band_scale, contributors[y, x, m],
                                            b, y, x)
                    band_total += shares[m]
                if not band_total > 0:
                    for m in range(n_used):
                        band_weights[y, x, m, b] = weights[y, x, m]
                    continue
                best = 0
                for m in range(1, n_used):
                    if shares[m] > shares[best]:
                        best = m
                rest = 0.0
                for m in range(n_used):
                    if m != best:
                        stored[m] = np.float32(shares[m] / band_total)
                        rest += np.float64(stored[m])
                stored[best] = np.float32(1.0 - rest)
                for m in range(n_used):
                    band_weights[y, x, m, b] = stored[m]


# --------------------------------------------------------------------------
# serial twins
# --------------------------------------------------------------------------

# the twins of the parallel kernels, picked on frames of at most
# SERIAL_PIXELS pixels by ``pick`` (see pais_deblend.utils._numba_serial)
_SERIAL = serial_twins(refine_centers, build_templates, template_sums,
                       normalise_shares, zero_rows)
